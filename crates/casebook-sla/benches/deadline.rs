//! Deadline arithmetic timings: `cargo bench -p casebook-sla --bench deadline`.
//!
//! A plain timing loop (no criterion) that prints nanoseconds per call and per day
//! scanned, so the documented O(days) cost can be checked on the machine at hand.

use std::hint::black_box;
use std::time::Instant;

use casebook_sla::{
    add_business_time, business_time_between, Calendar, TargetClock, WarningLadder, WeeklyHours,
    WorkingInterval,
};
use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};

fn time<T>(label: &str, iterations: u32, days_per_call: f64, mut f: impl FnMut() -> T) {
    // Warm up, then measure.
    for _ in 0..iterations / 10 + 1 {
        black_box(f());
    }
    let started = Instant::now();
    for _ in 0..iterations {
        black_box(f());
    }
    let per_call = started.elapsed().as_nanos() as f64 / f64::from(iterations);
    if days_per_call > 0.0 {
        println!(
            "{label:<55} {per_call:>12.0} ns/call {:>8.0} ns/day",
            per_call / days_per_call
        );
    } else {
        println!("{label:<55} {per_call:>12.0} ns/call");
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let hours: WorkingInterval = "09:00-18:00".parse()?;
    let shanghai = Calendar::business("Asia/Shanghai", WeeklyHours::weekdays(vec![hours]))?;
    let holidays: Vec<NaiveDate> = (0..30)
        .filter_map(|i| NaiveDate::from_ymd_opt(2026, 1 + i % 12, 1 + i / 12 * 7))
        .collect();
    let new_york = Calendar::business(
        "America/New_York",
        WeeklyHours::weekdays(vec!["09:00-12:00".parse()?, "13:00-18:00".parse()?]),
    )?
    .with_holidays(holidays)?;
    let friday: DateTime<Utc> = Utc
        .with_ymd_and_hms(2026, 2, 27, 9, 30, 0)
        .single()
        .ok_or("t")?;
    let year_later = friday + TimeDelta::days(365);

    time("24x7 add 4 h", 1_000_000, 0.0, || {
        add_business_time(&Calendar::around_the_clock(), friday, TimeDelta::hours(4))
    });
    time(
        "Shanghai 9-18 add 4 h from Friday 17:30 (3 days)",
        200_000,
        3.0,
        || add_business_time(&shanghai, friday, TimeDelta::hours(4)),
    );
    let long = add_business_time(&shanghai, friday, TimeDelta::days(365))?;
    let long_days = (long - friday).num_days() as f64;
    time(
        &format!("Shanghai add 365 business days ({long_days:.0} days)"),
        200,
        long_days,
        || add_business_time(&shanghai, friday, TimeDelta::days(365)),
    );
    time(
        "New York split shift + holidays, between over 365 days",
        500,
        365.0,
        || business_time_between(&new_york, friday, year_later),
    );
    let mut clock = TargetClock::start(
        friday,
        TimeDelta::hours(40),
        WarningLadder::from_fractions(&[0.75, 0.9])?,
    )?;
    for i in 0..10 {
        let p = friday + TimeDelta::hours(6 * i + 1);
        clock.pause(p)?;
        clock.resume(p + TimeDelta::hours(2))?;
    }
    let now = friday + TimeDelta::days(5);
    time(
        "TargetClock::status, 40 h target, 10 pauses",
        20_000,
        0.0,
        || clock.status(&new_york, now),
    );
    time(
        "TargetClock::alert_instants, 2 warnings, 10 pauses",
        20_000,
        0.0,
        || clock.alert_instants(&new_york, now),
    );
    Ok(())
}
