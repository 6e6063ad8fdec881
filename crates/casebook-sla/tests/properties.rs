//! Property tests: the fast deadline arithmetic against a slow, obviously correct
//! reference that steps minute by minute, over small random calendars in zones with
//! daylight saving (including half-hour shifts and midnight transitions), holidays
//! and extra working days.

use casebook_sla::{
    add_business_time, business_time_between, AlertKind, BusinessHoursSpec, Calendar, CalendarSpec,
    ClockState, ExtraWorkingDay, TargetClock, WarningLadder, WeeklyHours, WorkingInterval,
};
use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use proptest::prelude::*;

const ZONES: &[&str] = &[
    "UTC",
    "Asia/Shanghai",
    "America/New_York",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Asia/Kathmandu",
];

/// Local dates near daylight-saving changes and a year end, as window starts.
const BASES: &[(i32, u32, u32)] = &[
    (2026, 3, 4),   // New York spring forward on 03-08
    (2026, 3, 26),  // Berlin spring forward on 03-29
    (2026, 10, 22), // Berlin fall back on 10-25
    (2026, 10, 29), // New York fall back on 11-01
    (2026, 4, 1),   // Lord Howe / Santiago fall back
    (2026, 9, 2),   // Santiago spring forward
    (2025, 12, 26), // New Year
];

const DAYS: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

/// The spec a test calendar was built from; the reference reads only this.
#[derive(Debug, Clone)]
struct Case {
    spec: BusinessHoursSpec,
    tz: Tz,
    calendar: Calendar,
    base: DateTime<Utc>,
}

/// Up to two intervals on half-hour boundaries (so they meet DST transitions exactly).
fn day_intervals() -> impl Strategy<Value = Vec<WorkingInterval>> {
    prop::collection::btree_set(0u16..=48, 0..=4).prop_map(|cuts| {
        let cuts: Vec<u16> = cuts.into_iter().map(|c| c * 30).collect();
        cuts.chunks_exact(2)
            .filter_map(|pair| match pair {
                [a, b] => WorkingInterval::new(*a, *b).ok(),
                _ => None,
            })
            .collect()
    })
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::sample::select(ZONES),
        prop::sample::select(BASES),
        prop::collection::vec(day_intervals(), 7),
        prop::collection::btree_set(0i64..30, 0..4),
        prop::collection::btree_map(0i64..30, day_intervals(), 0..3),
    )
        .prop_map(|(zone, (y, m, d), days, holidays, extra)| {
            let base_date = NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
            let mut weekly = WeeklyHours::new();
            for (day, intervals) in DAYS.iter().zip(days) {
                *weekly.get_mut(*day) = intervals;
            }
            if DAYS.iter().all(|d| weekly.get(*d).is_empty()) {
                weekly = WeeklyHours::weekdays(vec![
                    WorkingInterval::new(540, 1020).unwrap_or_else(|e| panic!("{e}"))
                ]);
            }
            let holidays: Vec<NaiveDate> = holidays
                .iter()
                .map(|&o| base_date + TimeDelta::days(o))
                .collect();
            let extra_working_days = extra
                .into_iter()
                .filter(|(o, hours)| {
                    !holidays.contains(&(base_date + TimeDelta::days(*o))) && !hours.is_empty()
                })
                .map(|(o, hours)| ExtraWorkingDay {
                    date: base_date + TimeDelta::days(o),
                    hours,
                })
                .collect();
            let spec = BusinessHoursSpec {
                time_zone: zone.to_owned(),
                weekly,
                holidays,
                extra_working_days,
            };
            let calendar = Calendar::new(CalendarSpec::BusinessHours(spec.clone()))
                .unwrap_or_else(|e| panic!("{e}"));
            let tz: Tz = zone.parse().unwrap_or_else(|e| panic!("{e}"));
            let base = Utc.from_utc_datetime(&base_date.and_hms_opt(0, 0, 0).unwrap_or_default());
            Case {
                spec,
                tz,
                calendar,
                base,
            }
        })
}

/// The obvious definition: is the local time of `t` inside an interval of its local
/// date?
fn reference_working(case: &Case, t: DateTime<Utc>) -> bool {
    let local = case.tz.from_utc_datetime(&t.naive_utc()).naive_local();
    let date = local.date();
    let second = local.time().num_seconds_from_midnight();
    let intervals: &[WorkingInterval] = if case.spec.holidays.contains(&date) {
        &[]
    } else if let Some(extra) = case.spec.extra_working_days.iter().find(|e| e.date == date) {
        &extra.hours
    } else {
        case.spec.weekly.get(date.weekday())
    };
    intervals.iter().any(|iv| {
        u32::from(iv.start_minute()) * 60 <= second && second < u32::from(iv.end_minute()) * 60
    })
}

/// Minute by minute: the end of the minute in which the `minutes`-th working minute
/// falls. `None` past `cap_days`.
fn reference_add(
    case: &Case,
    start: DateTime<Utc>,
    minutes: i64,
    cap_days: i64,
) -> Option<DateTime<Utc>> {
    if minutes == 0 {
        return Some(start);
    }
    let mut left = minutes;
    let mut t = start;
    let cap = start + TimeDelta::days(cap_days);
    while t < cap {
        if reference_working(case, t) {
            left -= 1;
            if left == 0 {
                return Some(t + TimeDelta::minutes(1));
            }
        }
        t += TimeDelta::minutes(1);
    }
    None
}

fn reference_between(case: &Case, a: DateTime<Utc>, b: DateTime<Utc>) -> TimeDelta {
    let mut total = 0;
    let mut t = a;
    while t < b {
        if reference_working(case, t) {
            total += 1;
        }
        t += TimeDelta::minutes(1);
    }
    TimeDelta::minutes(total)
}

fn at(case: &Case, minutes: i64) -> DateTime<Utc> {
    case.base + TimeDelta::minutes(minutes)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn add_agrees_with_the_reference(case in case(), start in 0i64..20 * 1440, minutes in 0i64..1500) {
        let start = at(&case, start);
        let expected = reference_add(&case, start, minutes, 60);
        prop_assume!(expected.is_some());
        let got = add_business_time(&case.calendar, start, TimeDelta::minutes(minutes)).ok();
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn between_agrees_with_the_reference(case in case(), a in 0i64..20 * 1440, span in 0i64..6 * 1440) {
        let a = at(&case, a);
        let b = a + TimeDelta::minutes(span);
        prop_assert_eq!(business_time_between(&case.calendar, a, b), reference_between(&case, a, b));
        prop_assert_eq!(business_time_between(&case.calendar, b, a), -reference_between(&case, a, b));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn between_inverts_add(case in case(), start in 0i64..40 * 1440, seconds in 0i64..3 * 86_400) {
        let start = at(&case, start) + TimeDelta::seconds(seconds % 59);
        let d = TimeDelta::seconds(seconds);
        let deadline = add_business_time(&case.calendar, start, d);
        prop_assert!(deadline.is_ok(), "{:?}", deadline);
        let deadline = deadline.unwrap_or(start);
        prop_assert_eq!(business_time_between(&case.calendar, start, deadline), d);
        // Earliest: one second less of the deadline is one second less of business time,
        // unless the duration is zero.
        if d > TimeDelta::zero() {
            prop_assert!(case.calendar.is_working_at(deadline - TimeDelta::seconds(1)));
        }
    }

    #[test]
    fn add_is_monotone(case in case(), s1 in 0i64..30 * 1440, ds in 0i64..3 * 1440, d1 in 0i64..3000, dd in 0i64..3000) {
        let (s1, s2) = (at(&case, s1), at(&case, s1 + ds));
        let (d1, d2) = (TimeDelta::minutes(d1), TimeDelta::minutes(d1 + dd));
        let add = |s, d| add_business_time(&case.calendar, s, d).ok();
        prop_assert!(add(s1, d1) <= add(s1, d2));
        prop_assert!(add(s1, d1) <= add(s2, d1));
    }

    #[test]
    fn between_is_additive(case in case(), a in 0i64..30 * 1440, ab in 0i64..5 * 1440, bc in 0i64..5 * 1440) {
        let a = at(&case, a);
        let b = a + TimeDelta::minutes(ab);
        let c = b + TimeDelta::minutes(bc);
        let between = |x, y| business_time_between(&case.calendar, x, y);
        prop_assert_eq!(between(a, b) + between(b, c), between(a, c));
    }

    #[test]
    fn a_pause_moves_the_deadline_by_paused_business_time(
        case in case(),
        start in 0i64..20 * 1440,
        target in 1i64..2000,
        pause_at in 0i64..4000,
        pause_len in 0i64..4000,
    ) {
        let cal = &case.calendar;
        let start = at(&case, start);
        let target = TimeDelta::minutes(target);
        let unpaused = add_business_time(cal, start, target);
        prop_assert!(unpaused.is_ok());
        let unpaused = unpaused.unwrap_or(start);
        let p = start + TimeDelta::minutes(pause_at);
        let r = p + TimeDelta::minutes(pause_len);
        let mut clock = TargetClock::start(start, target, WarningLadder::default()).unwrap_or_else(|e| panic!("{e}"));
        clock.pause(p).unwrap_or_else(|e| panic!("{e}"));
        clock.resume(r).unwrap_or_else(|e| panic!("{e}"));
        let now = r.max(unpaused) + TimeDelta::days(1);
        let status = clock.status(cal, now).unwrap_or_else(|e| panic!("{e}"));
        if p < unpaused {
            // The pause began before the deadline: it moves by the business time paused.
            let paused = business_time_between(cal, p, r);
            let expected = add_business_time(cal, start, target + paused).unwrap_or(start);
            prop_assert_eq!(status.deadline, expected);
        } else if p == unpaused && r > p {
            // Paused exactly at the deadline: not missed until the pause ends.
            prop_assert_eq!(status.deadline, r);
        } else {
            // A pause after the deadline changes nothing.
            prop_assert_eq!(status.deadline, unpaused);
        }
        // Elapsed and paused business time partition the business time since the start.
        prop_assert_eq!(status.elapsed + status.paused, business_time_between(cal, start, now));
        prop_assert_eq!(status.left, target - status.elapsed);
        prop_assert_eq!(status.state == ClockState::Breached, now > status.deadline);
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Pause,
    Resume,
    Stop,
    Reopen,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Queries use only facts recorded by `now`: a clock with later facts answers about
    /// an earlier instant exactly as the clock that had only the facts up to then.
    #[test]
    fn status_as_of_an_earlier_instant_ignores_later_facts(
        case in case(),
        start in 0i64..10 * 1440,
        target in 1i64..1500,
        steps in prop::collection::vec((prop::sample::select(&[Op::Pause, Op::Resume, Op::Stop, Op::Reopen][..]), 0i64..1500), 1..8),
        probe in 0.0f64..1.0,
    ) {
        let cal = &case.calendar;
        let ladder = WarningLadder::from_fractions(&[0.5, 0.8]).unwrap_or_default();
        let mut t = at(&case, start);
        let mut clock = TargetClock::start(t, TimeDelta::minutes(target), ladder).unwrap_or_else(|e| panic!("{e}"));
        // Snapshots of the clock after each accepted fact, with the instant it applied.
        let mut history = vec![(t, clock.clone())];
        for (op, gap) in steps {
            t += TimeDelta::minutes(gap);
            let mut next = clock.clone();
            let applied = match op {
                Op::Pause => next.pause(t),
                Op::Resume => next.resume(t),
                Op::Stop => next.stop(t),
                Op::Reopen => next.reopen(t),
            };
            if applied.is_ok() {
                clock = next;
                history.push((t, clock.clone()));
            } else {
                // A refused transition leaves the clock unchanged.
                prop_assert_eq!(&next, &clock);
            }
        }
        // A running clock's first warning and deadline are its earliest alert and
        // its breach.
        if let Ok(Some(running)) = clock.running_instants(cal) {
            let alerts = clock.alert_instants(cal, clock.last_recorded()).unwrap_or_default();
            prop_assert_eq!(alerts.iter().map(|a| a.at).min(), Some(running.first_warning));
            prop_assert_eq!(
                alerts.iter().find(|a| a.kind == AlertKind::Breach).map(|a| a.at),
                Some(running.deadline)
            );
        } else {
            prop_assert!(clock.stopped_at().is_some() || clock.paused_since().is_some());
        }
        for pair in history.windows(2) {
            if let [(from, earlier), (to, _)] = pair {
                let span = to.signed_duration_since(*from).num_minutes();
                if span == 0 {
                    continue;
                }
                let now = *from + TimeDelta::minutes(((span as f64) * probe) as i64);
                let now = now.min(*to - TimeDelta::seconds(1));
                prop_assert_eq!(
                    earlier.status(cal, now).ok(),
                    clock.status(cal, now).ok(),
                    "as of {}", now
                );
                prop_assert_eq!(
                    earlier.due_alerts(cal, now).ok(),
                    clock.due_alerts(cal, now).ok(),
                    "as of {}", now
                );
                // The short breach query agrees with the full status.
                prop_assert_eq!(
                    clock.missed_deadline(cal, now).ok(),
                    clock
                        .status(cal, now)
                        .ok()
                        .map(|s| (s.state == ClockState::Breached).then_some(s.deadline)),
                    "as of {}", now
                );
            }
        }
    }
}
