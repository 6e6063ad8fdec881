//! Deadline arithmetic over a [`Calendar`]: [`add_business_time`] and
//! [`business_time_between`].
//!
//! # Resolution
//!
//! All arithmetic is exact in **whole seconds**. Sub-second parts of instants are
//! truncated toward the past (`2026-03-02T09:00:00.7Z` counts as `09:00:00`) and
//! sub-second parts of durations are dropped; results are always whole seconds.
//! Calendars themselves are written in whole minutes, so with whole-minute inputs every
//! result is a whole minute too.
//!
//! # How it works, and what it costs
//!
//! The walk never steps minute by minute. It advances through UTC time in stretches
//! over which the zone's UTC offset is constant. Inside such a stretch local time is
//! UTC plus a constant, so the working time inside it is just the local working
//! intervals of the dates it covers, shifted back by the offset. The stretches of a
//! zone are found once per zone and year (by probing every three hours and bisecting
//! each change to the second) and shared by every calendar of the process, so a day
//! costs one pass over that day's intervals and a step to the next stretch costs a
//! binary search in a short list:
//! **O(days spanned × (intervals per day + log holidays))**, well under a microsecond
//! per day. A 24×7 calendar costs O(1).
//!
//! The probe step assumes that a zone never changes its offset twice within three
//! hours and returns to the first value; no IANA zone does.
//!
//! # Bound
//!
//! [`add_business_time`] searches at most [`SEARCH_HORIZON_DAYS`] days past the start
//! and answers [`DeadlineError::BeyondHorizon`] if the deadline lies further (a
//! calendar with only a few extra working days, or a very long target on a very sparse
//! calendar). It can never hang. A target of 365 business days (the policy limit) fits
//! within the horizon for any calendar with at least 24 working hours a week (fewer
//! holidays permitting).

use std::ops::ControlFlow;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use crate::calendar::{BusinessHours, Calendar, CalendarKind};

/// How many days past the start [`add_business_time`] searches before giving up:
/// ten years (3,653 days covers any ten consecutive years with their leap days).
pub const SEARCH_HORIZON_DAYS: i64 = 3_653;

const DAY_SECS: i64 = 86_400;
/// The Unix day number of 0001-01-01 subtracted from chrono's days-from-CE count.
const UNIX_EPOCH_DAYS_FROM_CE: i64 = 719_163;

/// Why a deadline could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeadlineError {
    /// The duration to add is negative.
    #[error("cannot add a negative business duration ({seconds} s)")]
    NegativeDuration {
        /// The duration, in seconds.
        seconds: i64,
    },
    /// The calendar does not provide the requested business time within
    /// [`SEARCH_HORIZON_DAYS`] of the start.
    #[error(
        "the calendar has less than {requested_seconds} s of business time in the \
         {SEARCH_HORIZON_DAYS} days after {start}"
    )]
    BeyondHorizon {
        /// The start of the search.
        start: DateTime<Utc>,
        /// The business time that was asked for, in seconds.
        requested_seconds: i64,
    },
    /// The deadline falls outside the instants `chrono` can represent.
    #[error("the deadline falls outside the representable range of instants")]
    OutOfRange,
}

/// The deadline: the earliest instant at which `duration` of business time has elapsed
/// since `start` under `calendar`.
///
/// "Earliest" settles the edges: a duration that ends exactly at the close of a working
/// interval yields that close (Friday 14:00 plus 4 hours on a 09:00–18:00 day is Friday
/// 18:00, not Monday 09:00), and a zero duration yields `start` itself (truncated to
/// the second). For every whole-second `start` and `duration ≥ 0`,
/// `business_time_between(calendar, start, deadline) == duration`.
///
/// # Errors
///
/// - [`DeadlineError::NegativeDuration`] if `duration` is negative;
/// - [`DeadlineError::BeyondHorizon`] if the deadline lies more than
///   [`SEARCH_HORIZON_DAYS`] days after `start`;
/// - [`DeadlineError::OutOfRange`] if it is not representable.
///
/// # Example
///
/// Opened Friday 17:30 in Shanghai with a 4-business-hour target and hours 09:00–18:00
/// Monday to Friday: half an hour on Friday, three and a half on Monday.
///
/// ```
/// use casebook_sla::{add_business_time, Calendar, WeeklyHours};
/// use chrono::{TimeDelta, TimeZone};
/// use chrono_tz::Asia::Shanghai;
///
/// let calendar = Calendar::business("Asia/Shanghai", WeeklyHours::weekdays(vec!["09:00-18:00".parse()?]))?;
/// let opened = Shanghai.with_ymd_and_hms(2026, 2, 27, 17, 30, 0).single().ok_or("time")?;
/// let deadline = add_business_time(&calendar, opened.to_utc(), TimeDelta::hours(4))?;
/// assert_eq!(deadline.with_timezone(&Shanghai).to_string(), "2026-03-02 12:30:00 CST");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn add_business_time(
    calendar: &Calendar,
    start: DateTime<Utc>,
    duration: TimeDelta,
) -> Result<DateTime<Utc>, DeadlineError> {
    let requested = duration.num_seconds();
    if requested < 0 {
        return Err(DeadlineError::NegativeDuration { seconds: requested });
    }
    let from = start.timestamp();
    let at = match &calendar.kind {
        CalendarKind::AroundTheClock => from.checked_add(requested),
        CalendarKind::Business(business) => {
            if requested == 0 {
                Some(from)
            } else {
                let limit = from.saturating_add(SEARCH_HORIZON_DAYS * DAY_SECS);
                let mut remaining = requested;
                let mut found = None;
                business.walk(from, limit, |a, b| {
                    let len = b - a;
                    if remaining <= len {
                        found = Some(a + remaining);
                        ControlFlow::Break(())
                    } else {
                        remaining -= len;
                        ControlFlow::Continue(())
                    }
                });
                match found {
                    Some(t) => Some(t),
                    None => {
                        return Err(DeadlineError::BeyondHorizon {
                            start: instant(from).unwrap_or(start),
                            requested_seconds: requested,
                        })
                    }
                }
            }
        }
    };
    at.and_then(instant).ok_or(DeadlineError::OutOfRange)
}

/// The business time between `a` and `b` under `calendar`: the real time, in whole
/// seconds, that lies in working intervals within `[a, b)`.
///
/// Antisymmetric: if `b` is before `a` the result is the negation of
/// `business_time_between(calendar, b, a)`. It never fails; instants so far out that
/// they have no local date count as non-working.
///
/// # Example
///
/// ```
/// use casebook_sla::{business_time_between, Calendar, WeeklyHours};
/// use chrono::{TimeDelta, TimeZone, Utc};
///
/// let calendar = Calendar::business("UTC", WeeklyHours::weekdays(vec!["09:00-12:00".parse()?, "13:00-18:00".parse()?]))?;
/// let friday_11 = Utc.with_ymd_and_hms(2026, 3, 6, 11, 0, 0).single().ok_or("time")?;
/// let monday_10 = Utc.with_ymd_and_hms(2026, 3, 9, 10, 0, 0).single().ok_or("time")?;
/// // Friday 11–12 and 13–18, Monday 09–10.
/// assert_eq!(business_time_between(&calendar, friday_11, monday_10), TimeDelta::hours(7));
/// assert_eq!(business_time_between(&calendar, monday_10, friday_11), TimeDelta::hours(-7));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn business_time_between(calendar: &Calendar, a: DateTime<Utc>, b: DateTime<Utc>) -> TimeDelta {
    TimeDelta::seconds(between_secs(calendar, a.timestamp(), b.timestamp()))
}

/// [`business_time_between`] on Unix seconds.
pub(crate) fn between_secs(calendar: &Calendar, a: i64, b: i64) -> i64 {
    if b < a {
        return -between_secs(calendar, b, a);
    }
    match &calendar.kind {
        CalendarKind::AroundTheClock => b - a,
        CalendarKind::Business(business) => {
            let mut total = 0_i64;
            business.walk(a, b, |x, y| {
                total += y - x;
                ControlFlow::Continue(())
            });
            total
        }
    }
}

/// The instant at Unix second `t`, if representable.
pub(crate) fn instant(t: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t, 0)
}

fn date_of_day(day: i64) -> Option<NaiveDate> {
    let from_ce = i32::try_from(day.checked_add(UNIX_EPOCH_DAYS_FROM_CE)?).ok()?;
    NaiveDate::from_num_days_from_ce_opt(from_ce)
}

impl BusinessHours {
    /// Calls `visit(a, b)` for every maximal-or-smaller working segment `[a, b)` (Unix
    /// seconds) inside `[from, until)`, in increasing order, until `visit` breaks.
    fn walk(&self, from: i64, until: i64, mut visit: impl FnMut(i64, i64) -> ControlFlow<()>) {
        let mut t = from;
        while t < until {
            let (offset, end) = crate::offsets::stretch_at(self.tz, t);
            let stretch_end = end.min(until);
            // Within [t, stretch_end) local time is UTC + offset: a monotone shift.
            let local_from = t + offset;
            let local_to = stretch_end + offset;
            let mut day = local_from.div_euclid(DAY_SECS);
            while day * DAY_SECS < local_to {
                let midnight = day * DAY_SECS;
                let intervals = date_of_day(day).map_or(&[][..], |d| self.intervals_on(d));
                for iv in intervals {
                    let a = (midnight + i64::from(iv.start_minute()) * 60).max(local_from);
                    let b = (midnight + i64::from(iv.end_minute()) * 60).min(local_to);
                    if a < b && visit(a - offset, b - offset).is_break() {
                        return;
                    }
                }
                day += 1;
            }
            t = stretch_end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::{WeeklyHours, WorkingInterval};
    use chrono::{TimeZone, Weekday};
    use chrono_tz::Tz;

    fn iv(s: &str) -> WorkingInterval {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_else(|| panic!("{y}-{m}-{d}"))
    }

    /// Local wall-clock time in `tz` to UTC; the earlier instant if ambiguous.
    fn local(tz: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        tz.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .earliest()
            .unwrap_or_else(|| panic!("{y}-{mo}-{d} {h}:{mi} does not exist in {tz}"))
            .to_utc()
    }

    fn shanghai_9_to_6() -> Calendar {
        Calendar::business(
            "Asia/Shanghai",
            WeeklyHours::weekdays(vec![iv("09:00-18:00")]),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn add(cal: &Calendar, start: DateTime<Utc>, minutes: i64) -> DateTime<Utc> {
        add_business_time(cal, start, TimeDelta::minutes(minutes)).unwrap_or_else(|e| panic!("{e}"))
    }

    fn check_add(cal: &Calendar, start: DateTime<Utc>, minutes: i64, expected: DateTime<Utc>) {
        let got = add(cal, start, minutes);
        assert_eq!(got, expected, "add {minutes} min to {start}");
        assert_eq!(
            business_time_between(cal, start, got),
            TimeDelta::minutes(minutes),
            "between {start} and {got}"
        );
    }

    const SH: Tz = chrono_tz::Asia::Shanghai;
    const NY: Tz = chrono_tz::America::New_York;
    const BER: Tz = chrono_tz::Europe::Berlin;

    #[test]
    fn friday_evening_plus_four_hours_is_monday_noon_thirty() {
        let cal = shanghai_9_to_6();
        // 2026-02-27 is a Friday.
        let opened = local(SH, 2026, 2, 27, 17, 30);
        check_add(&cal, opened, 240, local(SH, 2026, 3, 2, 12, 30));
        // With that Monday a holiday: Tuesday 12:30.
        let cal = cal
            .with_holidays([date(2026, 3, 2)])
            .unwrap_or_else(|e| panic!("{e}"));
        check_add(&cal, opened, 240, local(SH, 2026, 3, 3, 12, 30));
    }

    #[test]
    fn starts_outside_hours_and_on_holidays() {
        let cal = shanghai_9_to_6();
        // Before opening: Tuesday 07:00 + 2 h = Tuesday 11:00.
        check_add(
            &cal,
            local(SH, 2026, 3, 3, 7, 0),
            120,
            local(SH, 2026, 3, 3, 11, 0),
        );
        // After closing: Tuesday 20:00 + 2 h = Wednesday 11:00.
        check_add(
            &cal,
            local(SH, 2026, 3, 3, 20, 0),
            120,
            local(SH, 2026, 3, 4, 11, 0),
        );
        // Saturday: Monday 11:00.
        check_add(
            &cal,
            local(SH, 2026, 3, 7, 10, 0),
            120,
            local(SH, 2026, 3, 9, 11, 0),
        );
        // On a holiday (Wed 2026-03-04) at 10:00: Thursday 11:00.
        let cal = cal
            .with_holidays([date(2026, 3, 4)])
            .unwrap_or_else(|e| panic!("{e}"));
        check_add(
            &cal,
            local(SH, 2026, 3, 4, 10, 0),
            120,
            local(SH, 2026, 3, 5, 11, 0),
        );
    }

    #[test]
    fn exactly_at_interval_edges() {
        let cal = shanghai_9_to_6();
        // Ending exactly at closing time stays on Friday 18:00.
        check_add(
            &cal,
            local(SH, 2026, 2, 27, 14, 0),
            240,
            local(SH, 2026, 2, 27, 18, 0),
        );
        // Starting exactly at closing time: nothing left on Friday.
        check_add(
            &cal,
            local(SH, 2026, 2, 27, 18, 0),
            240,
            local(SH, 2026, 3, 2, 13, 0),
        );
        // Starting exactly at opening time.
        check_add(
            &cal,
            local(SH, 2026, 3, 2, 9, 0),
            540,
            local(SH, 2026, 3, 2, 18, 0),
        );
        check_add(
            &cal,
            local(SH, 2026, 3, 2, 9, 0),
            541,
            local(SH, 2026, 3, 3, 9, 1),
        );
        // Zero is the start itself, even outside hours.
        check_add(
            &cal,
            local(SH, 2026, 2, 28, 3, 0),
            0,
            local(SH, 2026, 2, 28, 3, 0),
        );
    }

    #[test]
    fn split_shifts_skip_the_lunch_break() {
        let cal = Calendar::business(
            "Asia/Shanghai",
            WeeklyHours::weekdays(vec![iv("09:00-12:00"), iv("13:00-18:00")]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        // Monday 11:00 + 2 h = 12:00 (1 h) + 13:00..14:00.
        check_add(
            &cal,
            local(SH, 2026, 3, 2, 11, 0),
            120,
            local(SH, 2026, 3, 2, 14, 0),
        );
        // A start inside the break counts from 13:00.
        check_add(
            &cal,
            local(SH, 2026, 3, 2, 12, 30),
            30,
            local(SH, 2026, 3, 2, 13, 30),
        );
        // A full day is 8 hours.
        check_add(
            &cal,
            local(SH, 2026, 3, 2, 9, 0),
            8 * 60,
            local(SH, 2026, 3, 2, 18, 0),
        );
    }

    #[test]
    fn across_new_year_with_chinese_make_up_day() {
        // 2025-12-31 is a Wednesday; 2026-01-01 (Thu) and 01-02 (Fri) are holidays;
        // Sunday 2026-01-04 is a make-up working day 09:00-18:00.
        let cal = shanghai_9_to_6()
            .with_holidays([date(2026, 1, 1), date(2026, 1, 2)])
            .and_then(|c| c.with_extra_working_day(date(2026, 1, 4), vec![iv("09:00-18:00")]))
            .unwrap_or_else(|e| panic!("{e}"));
        // Wed 16:00 + 5 h: 2 h on Wed, 3 h on Sunday 01-04 → Sunday 12:00.
        check_add(
            &cal,
            local(SH, 2025, 12, 31, 16, 0),
            300,
            local(SH, 2026, 1, 4, 12, 0),
        );
        // + 12 h: 2 h Wed, 9 h Sun, 1 h Monday → Monday 10:00.
        check_add(
            &cal,
            local(SH, 2025, 12, 31, 16, 0),
            720,
            local(SH, 2026, 1, 5, 10, 0),
        );
    }

    #[test]
    fn around_the_clock_is_plain_addition() {
        let cal = Calendar::around_the_clock();
        let start = local(SH, 2025, 12, 31, 23, 30);
        check_add(&cal, start, 90, local(SH, 2026, 1, 1, 1, 0));
        // Across the New York spring-forward night, 24×7 counts real time.
        let start = local(NY, 2026, 3, 8, 0, 0);
        check_add(&cal, start, 4 * 60, local(NY, 2026, 3, 8, 5, 0));
    }

    #[test]
    fn new_york_spring_forward_counts_real_time() {
        // 2026-03-08 (Sunday): 02:00 EST jumps to 03:00 EDT. Work 00:00-06:00 Sundays.
        let cal = Calendar::business(
            "America/New_York",
            WeeklyHours::new().with(Weekday::Sun, vec![iv("00:00-06:00")]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let sunday = local(NY, 2026, 3, 8, 0, 0);
        // Only 5 real hours that night.
        assert_eq!(
            business_time_between(&cal, sunday, local(NY, 2026, 3, 8, 12, 0)),
            TimeDelta::hours(5)
        );
        // 01:00 + 90 min: 01:00-02:00 then 03:00-03:30.
        check_add(
            &cal,
            local(NY, 2026, 3, 8, 1, 0),
            90,
            local(NY, 2026, 3, 8, 3, 30),
        );
        // 5 h from midnight ends at 06:00; 5 h 1 min rolls to the next Sunday.
        check_add(&cal, sunday, 300, local(NY, 2026, 3, 8, 6, 0));
        check_add(&cal, sunday, 301, local(NY, 2026, 3, 15, 0, 1));
        // A normal 9-18 weekday calendar has 9 h on the Monday after.
        let weekdays = Calendar::business(
            "America/New_York",
            WeeklyHours::weekdays(vec![iv("09:00-18:00")]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        // Friday 2026-03-06 17:00 EST + 2 h = Monday 10:00 EDT.
        check_add(
            &weekdays,
            local(NY, 2026, 3, 6, 17, 0),
            120,
            local(NY, 2026, 3, 9, 10, 0),
        );
    }

    #[test]
    fn new_york_fall_back_counts_the_repeated_hour_twice() {
        // 2026-11-01 (Sunday): 02:00 EDT falls back to 01:00 EST.
        let cal = Calendar::business(
            "America/New_York",
            WeeklyHours::new().with(Weekday::Sun, vec![iv("00:00-06:00")]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let sunday = local(NY, 2026, 11, 1, 0, 0);
        assert_eq!(
            business_time_between(&cal, sunday, local(NY, 2026, 11, 1, 12, 0)),
            TimeDelta::hours(7)
        );
        // 00:30 EDT + 2 h = 01:30 EST (the second 01:30): 04:30Z + 2h = 06:30Z.
        let start = local(NY, 2026, 11, 1, 0, 30);
        let expected = Utc
            .with_ymd_and_hms(2026, 11, 1, 6, 30, 0)
            .single()
            .unwrap_or_else(|| panic!("instant"));
        check_add(&cal, start, 120, expected);
        // 7 h from midnight ends at 06:00 EST.
        check_add(&cal, sunday, 420, local(NY, 2026, 11, 1, 6, 0));
    }

    #[test]
    fn berlin_transitions_inside_an_overnight_shift() {
        // Work 01:00-04:00 every day in Berlin. 2026-03-29: 02:00 CET → 03:00 CEST;
        // 2026-10-25: 03:00 CEST → 02:00 CET.
        let cal = Calendar::business(
            "Europe/Berlin",
            WeeklyHours::new()
                .with(Weekday::Sat, vec![iv("01:00-04:00")])
                .with(Weekday::Sun, vec![iv("01:00-04:00")]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let spring = local(BER, 2026, 3, 29, 0, 0);
        let fall = local(BER, 2026, 10, 25, 0, 0);
        let day = |t: DateTime<Utc>| business_time_between(&cal, t, t + TimeDelta::hours(24));
        assert_eq!(day(spring), TimeDelta::hours(2));
        assert_eq!(day(fall), TimeDelta::hours(4));
        assert_eq!(day(local(BER, 2026, 3, 28, 0, 0)), TimeDelta::hours(3));
        // Spring: 01:30 + 1 h = 01:30..02:00, then 03:00..03:30.
        check_add(
            &cal,
            local(BER, 2026, 3, 29, 1, 30),
            60,
            local(BER, 2026, 3, 29, 3, 30),
        );
        // Fall: 01:00 + 3 h = 03:00 CET (the clock passes 02:00-03:00 twice).
        // 01:00 CEST is 23:00Z; three real hours later is 02:00Z = 03:00 CET.
        let expected = Utc
            .with_ymd_and_hms(2026, 10, 25, 2, 0, 0)
            .single()
            .unwrap_or_else(|| panic!("instant"));
        check_add(&cal, local(BER, 2026, 10, 25, 1, 0), 180, expected);
    }

    #[test]
    fn between_is_antisymmetric_and_truncates_subseconds() {
        let cal = shanghai_9_to_6();
        let a = local(SH, 2026, 3, 2, 9, 0);
        let b = local(SH, 2026, 3, 2, 10, 0);
        assert_eq!(business_time_between(&cal, a, b), TimeDelta::hours(1));
        assert_eq!(business_time_between(&cal, b, a), TimeDelta::hours(-1));
        assert_eq!(business_time_between(&cal, a, a), TimeDelta::zero());
        let a_late = a + TimeDelta::milliseconds(700);
        assert_eq!(business_time_between(&cal, a_late, b), TimeDelta::hours(1));
        assert_eq!(add(&cal, a_late, 60), b);
    }

    #[test]
    fn errors_are_typed() {
        let cal = shanghai_9_to_6();
        let start = local(SH, 2026, 3, 2, 9, 0);
        assert_eq!(
            add_business_time(&cal, start, TimeDelta::minutes(-1)),
            Err(DeadlineError::NegativeDuration { seconds: -60 })
        );
        // A calendar with one working hour ever runs out.
        let once = Calendar::new(crate::CalendarSpec::BusinessHours(
            crate::BusinessHoursSpec {
                time_zone: "UTC".into(),
                weekly: WeeklyHours::new(),
                holidays: vec![],
                extra_working_days: vec![crate::ExtraWorkingDay {
                    date: date(2026, 3, 3),
                    hours: vec![iv("10:00-11:00")],
                }],
            },
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        check_add(&once, start, 60, local(Tz::UTC, 2026, 3, 3, 11, 0));
        assert!(matches!(
            add_business_time(&once, start, TimeDelta::minutes(61)),
            Err(DeadlineError::BeyondHorizon {
                requested_seconds: 3660,
                ..
            })
        ));
        assert_eq!(
            add_business_time(
                &Calendar::around_the_clock(),
                DateTime::<Utc>::MAX_UTC,
                TimeDelta::days(1)
            ),
            Err(DeadlineError::OutOfRange)
        );
    }

    #[test]
    fn a_year_of_business_time_is_found_within_the_horizon() {
        let cal = shanghai_9_to_6();
        let start = local(SH, 2026, 1, 5, 9, 0);
        // 365 days × 24 h of business time at 45 h a week: about 3.7 years.
        let d = TimeDelta::days(365);
        let deadline = add_business_time(&cal, start, d).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(business_time_between(&cal, start, deadline), d);
        assert!(deadline.signed_duration_since(start) < TimeDelta::days(SEARCH_HORIZON_DAYS));
    }

    #[test]
    fn half_hour_dst_and_midnight_transitions() {
        // Lord Howe Island shifts by 30 minutes; Santiago falls back at midnight, so the
        // local date goes backwards.
        for (zone, y, m, d) in [
            ("Australia/Lord_Howe", 2026, 4, 5),
            ("America/Santiago", 2026, 4, 4),
            ("America/Santiago", 2026, 9, 5),
        ] {
            let tz: Tz = zone.parse().unwrap_or_else(|e| panic!("{e}"));
            let cal = Calendar::business(
                zone,
                WeeklyHours::new()
                    .with(Weekday::Sat, vec![iv("00:00-24:00")])
                    .with(Weekday::Sun, vec![iv("00:00-24:00")]),
            )
            .unwrap_or_else(|e| panic!("{e}"));
            let from = local(tz, y, m, d, 12, 0) - TimeDelta::days(1);
            let to = from + TimeDelta::days(3);
            // Slow reference: minute by minute.
            let mut reference = 0;
            let mut t = from;
            while t < to {
                if cal.is_working_at(t) {
                    reference += 60;
                }
                t += TimeDelta::minutes(1);
            }
            assert_eq!(
                business_time_between(&cal, from, to).num_seconds(),
                reference,
                "{zone} {y}-{m}-{d}"
            );
        }
    }
}
