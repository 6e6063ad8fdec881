//! Business calendars: when the service-level clock runs.
//!
//! A [`Calendar`] is either around the clock (24×7) or weekly working hours in an IANA
//! time zone, with dated holidays and extra working days. It is built from a plain-data
//! [`CalendarSpec`] (which is also its serde form) and validated once, at construction:
//! a `Calendar` value is always usable.
//!
//! # What counts as working time
//!
//! An instant is working time when its **local** wall-clock time, in the calendar's time
//! zone, falls inside one of the working intervals of its **local** date. The intervals
//! of a date are, in order of precedence: none if the date is a holiday; the extra
//! working day's own hours if it is one; otherwise the weekly hours of its weekday.
//!
//! This definition settles daylight saving without special cases: a working interval
//! that crosses the spring-forward gap contains fewer real instants (09:00–18:00 on a
//! day that skips 02:00–03:00 is unaffected; 01:00–04:00 on that day counts 2 hours),
//! and one that crosses the repeated hour of a fall-back contains it twice (01:00–04:00
//! counts 4 hours). Business time is always the real elapsed time spent inside working
//! intervals.
//!
//! Intervals are given in whole minutes of the local day, `00:00` to `24:00`; an
//! overnight shift is written as two intervals on consecutive days
//! (`22:00-24:00` and `00:00-06:00`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// The most working intervals one day may have.
pub const MAX_INTERVALS_PER_DAY: usize = 48;
/// The most holidays plus extra working days one calendar may list.
pub const MAX_SPECIAL_DAYS: usize = 20_000;

const MINUTES_PER_DAY: u16 = 24 * 60;

/// Why a calendar, or one of its working intervals, was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CalendarError {
    /// The time-zone name is not an IANA zone known to `chrono-tz`.
    #[error("unknown time zone {name:?}: expected an IANA name such as \"Asia/Shanghai\"")]
    UnknownTimeZone {
        /// The name as given.
        name: String,
    },
    /// The weekly hours are empty and there are no extra working days: the clock would
    /// never run.
    #[error("the calendar has no working time: no weekly hours and no extra working days")]
    NoWorkingTime,
    /// A working interval that is not `HH:MM-HH:MM`.
    #[error("malformed working interval {text:?}: expected HH:MM-HH:MM, e.g. 09:00-18:00")]
    MalformedInterval {
        /// The text as given.
        text: String,
    },
    /// A time of day outside `00:00`..=`24:00`.
    #[error("time of day {hour:02}:{minute:02} is out of range 00:00..=24:00")]
    TimeOutOfRange {
        /// The hour as given.
        hour: u32,
        /// The minute as given.
        minute: u32,
    },
    /// A working interval whose end is before its start.
    #[error("working interval {start}-{end} ends before it starts")]
    InvertedInterval {
        /// The start, `HH:MM`.
        start: String,
        /// The end, `HH:MM`.
        end: String,
    },
    /// A working interval whose end equals its start.
    #[error("working interval {start}-{start} is empty")]
    EmptyInterval {
        /// The start (and end), `HH:MM`.
        start: String,
    },
    /// Two working intervals of the same day overlap (touching is fine:
    /// `09:00-12:00` and `12:00-18:00`).
    #[error("working intervals {first} and {second} on {day} overlap")]
    OverlappingIntervals {
        /// The weekday or date they were given for.
        day: String,
        /// The earlier interval.
        first: WorkingInterval,
        /// The interval overlapping it.
        second: WorkingInterval,
    },
    /// More than [`MAX_INTERVALS_PER_DAY`] intervals on one day.
    #[error("{day} has {count} working intervals, more than the limit of {MAX_INTERVALS_PER_DAY}")]
    TooManyIntervals {
        /// The weekday or date.
        day: String,
        /// How many were given.
        count: usize,
    },
    /// More than [`MAX_SPECIAL_DAYS`] holidays and extra working days.
    #[error("{count} holidays and extra working days, more than the limit of {MAX_SPECIAL_DAYS}")]
    TooManySpecialDays {
        /// How many were given.
        count: usize,
    },
    /// The same date is listed twice as a holiday.
    #[error("holiday {date} is listed twice")]
    DuplicateHoliday {
        /// The date.
        date: NaiveDate,
    },
    /// The same date is listed twice as an extra working day.
    #[error("extra working day {date} is listed twice")]
    DuplicateExtraWorkingDay {
        /// The date.
        date: NaiveDate,
    },
    /// A date is both a holiday and an extra working day.
    #[error("{date} is both a holiday and an extra working day")]
    HolidayIsExtraWorkingDay {
        /// The date.
        date: NaiveDate,
    },
    /// An extra working day without any working interval (list it as nothing, or as a
    /// holiday, instead).
    #[error("extra working day {date} has no working hours")]
    ExtraWorkingDayWithoutHours {
        /// The date.
        date: NaiveDate,
    },
}

/// Formats minutes of the day as `HH:MM` (`24:00` for the end of the day).
fn hhmm(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// One working interval of a local day, `[start, end)`, in whole minutes.
///
/// Its text (and serde) form is `HH:MM-HH:MM`; `24:00` is allowed as an end and means
/// the end of the day.
///
/// # Example
///
/// ```
/// use casebook_sla::WorkingInterval;
/// let morning: WorkingInterval = "09:00-12:00".parse()?;
/// assert_eq!(morning, WorkingInterval::from_hm(9, 0, 12, 0)?);
/// assert_eq!(morning.start_minute(), 540);
/// assert_eq!(morning.to_string(), "09:00-12:00");
/// assert!("18:00-09:00".parse::<WorkingInterval>().is_err());
/// # Ok::<(), casebook_sla::CalendarError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WorkingInterval {
    start: u16,
    end: u16,
}

impl WorkingInterval {
    /// The interval from `start_minute` to `end_minute`, both counted from local
    /// midnight (`0..=1440`).
    ///
    /// # Errors
    ///
    /// [`CalendarError::TimeOutOfRange`] past 1440 minutes,
    /// [`CalendarError::EmptyInterval`] if the two are equal,
    /// [`CalendarError::InvertedInterval`] if the end is before the start.
    pub fn new(start_minute: u16, end_minute: u16) -> Result<Self, CalendarError> {
        for m in [start_minute, end_minute] {
            if m > MINUTES_PER_DAY {
                return Err(CalendarError::TimeOutOfRange {
                    hour: u32::from(m / 60),
                    minute: u32::from(m % 60),
                });
            }
        }
        if start_minute == end_minute {
            return Err(CalendarError::EmptyInterval {
                start: hhmm(start_minute),
            });
        }
        if end_minute < start_minute {
            return Err(CalendarError::InvertedInterval {
                start: hhmm(start_minute),
                end: hhmm(end_minute),
            });
        }
        Ok(WorkingInterval {
            start: start_minute,
            end: end_minute,
        })
    }

    /// The interval from `start_hour:start_minute` to `end_hour:end_minute`.
    ///
    /// # Errors
    ///
    /// As [`WorkingInterval::new`], plus [`CalendarError::TimeOutOfRange`] for a minute
    /// past 59 or a time past 24:00.
    pub fn from_hm(
        start_hour: u32,
        start_minute: u32,
        end_hour: u32,
        end_minute: u32,
    ) -> Result<Self, CalendarError> {
        let start = minutes_of(start_hour, start_minute)?;
        let end = minutes_of(end_hour, end_minute)?;
        WorkingInterval::new(start, end)
    }

    /// Minutes from local midnight to the start.
    pub const fn start_minute(self) -> u16 {
        self.start
    }

    /// Minutes from local midnight to the (exclusive) end; 1440 for `24:00`.
    pub const fn end_minute(self) -> u16 {
        self.end
    }

    /// The length in minutes.
    pub const fn minutes(self) -> u16 {
        self.end - self.start
    }

    /// Whether the second of the local day `second_of_day` lies inside `[start, end)`.
    pub(crate) fn contains_second(self, second_of_day: u32) -> bool {
        let s = u32::from(self.start) * 60;
        let e = u32::from(self.end) * 60;
        s <= second_of_day && second_of_day < e
    }
}

fn minutes_of(hour: u32, minute: u32) -> Result<u16, CalendarError> {
    let total = hour.checked_mul(60).and_then(|h| h.checked_add(minute));
    match total {
        Some(t) if minute < 60 && t <= u32::from(MINUTES_PER_DAY) => {
            u16::try_from(t).map_err(|_| CalendarError::TimeOutOfRange { hour, minute })
        }
        _ => Err(CalendarError::TimeOutOfRange { hour, minute }),
    }
}

fn parse_hhmm(text: &str, whole: &str) -> Result<u16, CalendarError> {
    let malformed = || CalendarError::MalformedInterval {
        text: whole.to_owned(),
    };
    let (h, m) = text.trim().split_once(':').ok_or_else(malformed)?;
    let digits = |s: &str| !s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(h) || m.len() != 2 || !digits(m) {
        return Err(malformed());
    }
    let hour: u32 = h.parse().map_err(|_| malformed())?;
    let minute: u32 = m.parse().map_err(|_| malformed())?;
    minutes_of(hour, minute)
}

impl FromStr for WorkingInterval {
    type Err = CalendarError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, b) = s
            .split_once('-')
            .ok_or_else(|| CalendarError::MalformedInterval { text: s.to_owned() })?;
        WorkingInterval::new(parse_hhmm(a, s)?, parse_hhmm(b, s)?)
    }
}

impl TryFrom<String> for WorkingInterval {
    type Error = CalendarError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<WorkingInterval> for String {
    fn from(value: WorkingInterval) -> Self {
        value.to_string()
    }
}

impl fmt::Display for WorkingInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", hhmm(self.start), hhmm(self.end))
    }
}

/// Working intervals per weekday. Days left out have no working time.
///
/// The serde form has one optional field per weekday (`monday` … `sunday`), each a list
/// of `HH:MM-HH:MM` strings.
///
/// # Example
///
/// ```
/// use casebook_sla::{WeeklyHours, WorkingInterval};
/// use chrono::Weekday;
/// let split = vec!["09:00-12:00".parse()?, "13:00-18:00".parse()?];
/// let weekly = WeeklyHours::weekdays(split.clone()).with(Weekday::Sat, vec!["10:00-14:00".parse()?]);
/// assert_eq!(weekly.get(Weekday::Tue), &split[..]);
/// assert!(weekly.get(Weekday::Sun).is_empty());
/// # Ok::<(), casebook_sla::CalendarError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WeeklyHours {
    /// Monday's intervals.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub monday: Vec<WorkingInterval>,
    /// Tuesday's intervals.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tuesday: Vec<WorkingInterval>,
    /// Wednesday's intervals.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub wednesday: Vec<WorkingInterval>,
    /// Thursday's intervals.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub thursday: Vec<WorkingInterval>,
    /// Friday's intervals.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub friday: Vec<WorkingInterval>,
    /// Saturday's intervals.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub saturday: Vec<WorkingInterval>,
    /// Sunday's intervals.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sunday: Vec<WorkingInterval>,
}

impl WeeklyHours {
    /// No working time on any day.
    pub fn new() -> Self {
        WeeklyHours::default()
    }

    /// The same intervals Monday to Friday, nothing at the weekend.
    pub fn weekdays(intervals: Vec<WorkingInterval>) -> Self {
        WeeklyHours {
            monday: intervals.clone(),
            tuesday: intervals.clone(),
            wednesday: intervals.clone(),
            thursday: intervals.clone(),
            friday: intervals,
            ..WeeklyHours::default()
        }
    }

    /// These hours with `day`'s intervals replaced by `intervals`.
    pub fn with(mut self, day: Weekday, intervals: Vec<WorkingInterval>) -> Self {
        *self.get_mut(day) = intervals;
        self
    }

    /// The intervals of `day`, as given.
    pub fn get(&self, day: Weekday) -> &[WorkingInterval] {
        match day {
            Weekday::Mon => &self.monday,
            Weekday::Tue => &self.tuesday,
            Weekday::Wed => &self.wednesday,
            Weekday::Thu => &self.thursday,
            Weekday::Fri => &self.friday,
            Weekday::Sat => &self.saturday,
            Weekday::Sun => &self.sunday,
        }
    }

    /// The intervals of `day`, for editing.
    pub fn get_mut(&mut self, day: Weekday) -> &mut Vec<WorkingInterval> {
        match day {
            Weekday::Mon => &mut self.monday,
            Weekday::Tue => &mut self.tuesday,
            Weekday::Wed => &mut self.wednesday,
            Weekday::Thu => &mut self.thursday,
            Weekday::Fri => &mut self.friday,
            Weekday::Sat => &mut self.saturday,
            Weekday::Sun => &mut self.sunday,
        }
    }
}

/// A date worked although its weekday normally is not (or with other hours), such as
/// the make-up Saturdays around Chinese public holidays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraWorkingDay {
    /// The local date.
    pub date: NaiveDate,
    /// Its working intervals, replacing the weekday's.
    pub hours: Vec<WorkingInterval>,
}

/// The parameters of a business-hours calendar, as plain data (not yet validated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessHoursSpec {
    /// IANA time-zone name, e.g. `"Asia/Shanghai"`.
    pub time_zone: String,
    /// Working intervals per weekday.
    pub weekly: WeeklyHours,
    /// Whole local days off.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holidays: Vec<NaiveDate>,
    /// Dates with their own working hours.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_working_days: Vec<ExtraWorkingDay>,
}

/// The plain-data form of a [`Calendar`], and its serde form.
///
/// ```json
/// {"kind": "around_the_clock"}
/// {"kind": "business_hours", "time_zone": "Asia/Shanghai",
///  "weekly": {"monday": ["09:00-18:00"], "friday": ["09:00-12:00", "13:00-18:00"]},
///  "holidays": ["2026-10-01"],
///  "extra_working_days": [{"date": "2026-09-27", "hours": ["09:00-18:00"]}]}
/// ```
// Plain configuration data, built rarely: boxing the large variant would only make it
// clumsier to write.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CalendarSpec {
    /// Every instant is working time (24×7).
    AroundTheClock,
    /// Weekly working hours in a time zone, with holidays and extra working days.
    BusinessHours(BusinessHoursSpec),
}

/// A validated business-hours calendar; see [`Calendar`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BusinessHours {
    pub(crate) tz: Tz,
    /// Sorted, non-overlapping intervals; index 0 is Monday.
    pub(crate) weekly: [Vec<WorkingInterval>; 7],
    pub(crate) holidays: BTreeSet<NaiveDate>,
    pub(crate) extra: BTreeMap<NaiveDate, Vec<WorkingInterval>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CalendarKind {
    AroundTheClock,
    /// Shared: policies, clocks and views clone calendars freely.
    Business(Arc<BusinessHours>),
}

/// When the service-level clock runs: around the clock, or business hours in a time
/// zone. Always valid: built only through [`Calendar::new`] (or
/// [`Calendar::around_the_clock`]), and validated the same way when deserialised.
///
/// See the [module documentation](crate::calendar) for what counts as working time.
///
/// # Example
///
/// ```
/// use casebook_sla::{Calendar, WeeklyHours};
/// use chrono::{NaiveDate, TimeZone, Utc};
///
/// let calendar = Calendar::business("Asia/Shanghai", WeeklyHours::weekdays(vec!["09:00-18:00".parse()?]))?
///     .with_holidays([NaiveDate::from_ymd_opt(2026, 10, 1).ok_or("date")?])?;
/// // Wednesday 2026-09-30 10:00 in Shanghai is 02:00 UTC.
/// assert!(calendar.is_working_at(Utc.with_ymd_and_hms(2026, 9, 30, 2, 0, 0).single().ok_or("instant")?));
/// // The National Day holiday is not.
/// assert!(!calendar.is_working_at(Utc.with_ymd_and_hms(2026, 10, 1, 2, 0, 0).single().ok_or("instant")?));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CalendarSpec", into = "CalendarSpec")]
pub struct Calendar {
    pub(crate) kind: CalendarKind,
}

impl Calendar {
    /// The 24×7 calendar: every instant is working time.
    pub fn around_the_clock() -> Self {
        Calendar {
            kind: CalendarKind::AroundTheClock,
        }
    }

    /// Business hours in the IANA zone `time_zone`, with no holidays and no extra
    /// working days (add them with [`Calendar::with_holidays`] and
    /// [`Calendar::with_extra_working_day`]).
    ///
    /// # Errors
    ///
    /// As [`Calendar::new`].
    pub fn business(time_zone: &str, weekly: WeeklyHours) -> Result<Self, CalendarError> {
        Calendar::new(CalendarSpec::BusinessHours(BusinessHoursSpec {
            time_zone: time_zone.to_owned(),
            weekly,
            holidays: Vec::new(),
            extra_working_days: Vec::new(),
        }))
    }

    /// Validates `spec` into a calendar.
    ///
    /// # Errors
    ///
    /// - [`CalendarError::UnknownTimeZone`] for a name `chrono-tz` does not know;
    /// - [`CalendarError::OverlappingIntervals`] or [`CalendarError::TooManyIntervals`]
    ///   for a day's intervals (inverted or empty intervals cannot be built at all);
    /// - [`CalendarError::NoWorkingTime`] if neither the weekly hours nor any extra
    ///   working day has an interval;
    /// - [`CalendarError::DuplicateHoliday`], [`CalendarError::DuplicateExtraWorkingDay`],
    ///   [`CalendarError::HolidayIsExtraWorkingDay`],
    ///   [`CalendarError::ExtraWorkingDayWithoutHours`] and
    ///   [`CalendarError::TooManySpecialDays`] for the dated days.
    ///
    /// # Example
    ///
    /// ```
    /// use casebook_sla::{BusinessHoursSpec, Calendar, CalendarError, CalendarSpec, WeeklyHours};
    /// let spec = CalendarSpec::BusinessHours(BusinessHoursSpec {
    ///     time_zone: "Mars/Olympus_Mons".into(),
    ///     weekly: WeeklyHours::weekdays(vec!["09:00-18:00".parse()?]),
    ///     holidays: vec![],
    ///     extra_working_days: vec![],
    /// });
    /// assert!(matches!(Calendar::new(spec), Err(CalendarError::UnknownTimeZone { .. })));
    /// # Ok::<(), CalendarError>(())
    /// ```
    pub fn new(spec: CalendarSpec) -> Result<Self, CalendarError> {
        let spec = match spec {
            CalendarSpec::AroundTheClock => return Ok(Calendar::around_the_clock()),
            CalendarSpec::BusinessHours(spec) => spec,
        };
        let tz: Tz = spec
            .time_zone
            .parse()
            .map_err(|_| CalendarError::UnknownTimeZone {
                name: spec.time_zone.clone(),
            })?;

        let days = [
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
            Weekday::Sat,
            Weekday::Sun,
        ];
        let mut weekly: [Vec<WorkingInterval>; 7] = Default::default();
        for (slot, day) in weekly.iter_mut().zip(days) {
            *slot = normalise_day(spec.weekly.get(day), || format!("{day}"))?;
        }

        let count = spec.holidays.len() + spec.extra_working_days.len();
        if count > MAX_SPECIAL_DAYS {
            return Err(CalendarError::TooManySpecialDays { count });
        }
        let mut holidays = BTreeSet::new();
        for &date in &spec.holidays {
            if !holidays.insert(date) {
                return Err(CalendarError::DuplicateHoliday { date });
            }
        }
        let mut extra = BTreeMap::new();
        for day in &spec.extra_working_days {
            if holidays.contains(&day.date) {
                return Err(CalendarError::HolidayIsExtraWorkingDay { date: day.date });
            }
            if day.hours.is_empty() {
                return Err(CalendarError::ExtraWorkingDayWithoutHours { date: day.date });
            }
            let hours = normalise_day(&day.hours, || day.date.to_string())?;
            if extra.insert(day.date, hours).is_some() {
                return Err(CalendarError::DuplicateExtraWorkingDay { date: day.date });
            }
        }
        if weekly.iter().all(Vec::is_empty) && extra.is_empty() {
            return Err(CalendarError::NoWorkingTime);
        }
        Ok(Calendar {
            kind: CalendarKind::Business(Arc::new(BusinessHours {
                tz,
                weekly,
                holidays,
                extra,
            })),
        })
    }

    /// This calendar with `dates` added as holidays.
    ///
    /// # Errors
    ///
    /// As [`Calendar::new`]; a 24×7 calendar has no days off and is returned unchanged.
    pub fn with_holidays(
        self,
        dates: impl IntoIterator<Item = NaiveDate>,
    ) -> Result<Self, CalendarError> {
        match self.to_spec() {
            CalendarSpec::AroundTheClock => Ok(self),
            CalendarSpec::BusinessHours(mut spec) => {
                spec.holidays.extend(dates);
                Calendar::new(CalendarSpec::BusinessHours(spec))
            }
        }
    }

    /// This calendar with `date` worked during `hours`.
    ///
    /// # Errors
    ///
    /// As [`Calendar::new`]; a 24×7 calendar already works every day and is returned
    /// unchanged.
    pub fn with_extra_working_day(
        self,
        date: NaiveDate,
        hours: Vec<WorkingInterval>,
    ) -> Result<Self, CalendarError> {
        match self.to_spec() {
            CalendarSpec::AroundTheClock => Ok(self),
            CalendarSpec::BusinessHours(mut spec) => {
                spec.extra_working_days
                    .push(ExtraWorkingDay { date, hours });
                Calendar::new(CalendarSpec::BusinessHours(spec))
            }
        }
    }

    /// The plain-data form: intervals sorted, holidays and extra days in date order.
    /// `Calendar::new(c.to_spec()) == Ok(c)` for every calendar `c`.
    pub fn to_spec(&self) -> CalendarSpec {
        match &self.kind {
            CalendarKind::AroundTheClock => CalendarSpec::AroundTheClock,
            CalendarKind::Business(b) => {
                let [monday, tuesday, wednesday, thursday, friday, saturday, sunday] =
                    b.weekly.clone();
                CalendarSpec::BusinessHours(BusinessHoursSpec {
                    time_zone: b.tz.name().to_owned(),
                    weekly: WeeklyHours {
                        monday,
                        tuesday,
                        wednesday,
                        thursday,
                        friday,
                        saturday,
                        sunday,
                    },
                    holidays: b.holidays.iter().copied().collect(),
                    extra_working_days: b
                        .extra
                        .iter()
                        .map(|(date, hours)| ExtraWorkingDay {
                            date: *date,
                            hours: hours.clone(),
                        })
                        .collect(),
                })
            }
        }
    }

    /// Whether this is the 24×7 calendar.
    pub fn is_around_the_clock(&self) -> bool {
        matches!(self.kind, CalendarKind::AroundTheClock)
    }

    /// The time zone of a business-hours calendar; `None` for 24×7.
    pub fn time_zone(&self) -> Option<Tz> {
        match &self.kind {
            CalendarKind::AroundTheClock => None,
            CalendarKind::Business(b) => Some(b.tz),
        }
    }

    /// Whether `instant` is working time (see the [module documentation](crate::calendar)).
    pub fn is_working_at(&self, instant: DateTime<Utc>) -> bool {
        match &self.kind {
            CalendarKind::AroundTheClock => true,
            CalendarKind::Business(b) => {
                let local = b.tz.from_utc_datetime(&instant.naive_utc()).naive_local();
                let second = local.time().num_seconds_from_midnight();
                b.intervals_on(local.date())
                    .iter()
                    .any(|iv| iv.contains_second(second))
            }
        }
    }

    /// The working intervals of the local date `date`: none on a holiday, the extra
    /// working day's hours, or the weekday's; sorted. Always empty for 24×7, which has
    /// no local days.
    pub fn intervals_on(&self, date: NaiveDate) -> &[WorkingInterval] {
        match &self.kind {
            CalendarKind::AroundTheClock => &[],
            CalendarKind::Business(b) => b.intervals_on(date),
        }
    }
}

impl BusinessHours {
    pub(crate) fn intervals_on(&self, date: NaiveDate) -> &[WorkingInterval] {
        if self.holidays.contains(&date) {
            return &[];
        }
        if let Some(hours) = self.extra.get(&date) {
            return hours;
        }
        let index = date.weekday().num_days_from_monday() as usize;
        self.weekly.get(index).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// Sorts one day's intervals and checks them against each other.
fn normalise_day(
    intervals: &[WorkingInterval],
    day: impl Fn() -> String,
) -> Result<Vec<WorkingInterval>, CalendarError> {
    if intervals.len() > MAX_INTERVALS_PER_DAY {
        return Err(CalendarError::TooManyIntervals {
            day: day(),
            count: intervals.len(),
        });
    }
    let mut sorted = intervals.to_vec();
    sorted.sort();
    for pair in sorted.windows(2) {
        if let [first, second] = pair {
            if second.start < first.end {
                return Err(CalendarError::OverlappingIntervals {
                    day: day(),
                    first: *first,
                    second: *second,
                });
            }
        }
    }
    Ok(sorted)
}

impl TryFrom<CalendarSpec> for Calendar {
    type Error = CalendarError;

    fn try_from(spec: CalendarSpec) -> Result<Self, Self::Error> {
        Calendar::new(spec)
    }
}

impl From<Calendar> for CalendarSpec {
    fn from(calendar: Calendar) -> Self {
        calendar.to_spec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(s: &str) -> WorkingInterval {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    #[test]
    fn intervals_parse_and_reject_bad_text() {
        assert_eq!(iv("09:00-18:00").minutes(), 540);
        assert_eq!(iv("00:00-24:00").minutes(), 1440);
        assert_eq!(iv(" 9:30 - 12:00").start_minute(), 570);
        assert!(matches!(
            "18:00-09:00".parse::<WorkingInterval>(),
            Err(CalendarError::InvertedInterval { .. })
        ));
        assert!(matches!(
            "09:00-09:00".parse::<WorkingInterval>(),
            Err(CalendarError::EmptyInterval { .. })
        ));
        assert!(matches!(
            "09:00-24:01".parse::<WorkingInterval>(),
            Err(CalendarError::TimeOutOfRange { .. })
        ));
        assert!(matches!(
            "09:60-10:00".parse::<WorkingInterval>(),
            Err(CalendarError::TimeOutOfRange { .. })
        ));
        for bad in [
            "",
            "09:00",
            "9-10",
            "09:00-10:0",
            "a9:00-10:00",
            "09:00-10:00-11:00",
        ] {
            assert!(
                matches!(
                    bad.parse::<WorkingInterval>(),
                    Err(CalendarError::MalformedInterval { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn construction_rejects_bad_calendars() {
        let nine_to_six = WeeklyHours::weekdays(vec![iv("09:00-18:00")]);
        assert_eq!(
            Calendar::business("Europe/Nowhere", nine_to_six.clone()),
            Err(CalendarError::UnknownTimeZone {
                name: "Europe/Nowhere".into()
            })
        );
        assert_eq!(
            Calendar::business("UTC", WeeklyHours::new()),
            Err(CalendarError::NoWorkingTime)
        );
        let overlapping =
            WeeklyHours::new().with(Weekday::Mon, vec![iv("13:00-18:00"), iv("09:00-13:30")]);
        assert_eq!(
            Calendar::business("UTC", overlapping),
            Err(CalendarError::OverlappingIntervals {
                day: "Mon".into(),
                first: iv("09:00-13:30"),
                second: iv("13:00-18:00"),
            })
        );
        let touching =
            WeeklyHours::new().with(Weekday::Mon, vec![iv("12:00-18:00"), iv("09:00-12:00")]);
        assert!(Calendar::business("UTC", touching).is_ok());

        let base = Calendar::business("Asia/Shanghai", nine_to_six.clone());
        let d = date(2026, 10, 1);
        let both = base
            .clone()
            .and_then(|c| c.with_holidays([d]))
            .and_then(|c| c.with_extra_working_day(d, vec![iv("09:00-18:00")]));
        assert_eq!(
            both,
            Err(CalendarError::HolidayIsExtraWorkingDay { date: d })
        );
        let twice = base.clone().and_then(|c| c.with_holidays([d, d]));
        assert_eq!(twice, Err(CalendarError::DuplicateHoliday { date: d }));
        let no_hours = base.and_then(|c| c.with_extra_working_day(d, vec![]));
        assert_eq!(
            no_hours,
            Err(CalendarError::ExtraWorkingDayWithoutHours { date: d })
        );
        // Only extra working days is a (strange but) valid calendar.
        let only_extra = Calendar::business("UTC", WeeklyHours::new());
        assert!(only_extra.is_err());
        let spec = CalendarSpec::BusinessHours(BusinessHoursSpec {
            time_zone: "UTC".into(),
            weekly: WeeklyHours::new(),
            holidays: vec![],
            extra_working_days: vec![ExtraWorkingDay {
                date: d,
                hours: vec![iv("10:00-11:00")],
            }],
        });
        assert!(Calendar::new(spec).is_ok());
    }

    #[test]
    fn serde_round_trips_and_validates() {
        let json = r#"{"kind":"business_hours","time_zone":"Asia/Shanghai",
            "weekly":{"monday":["13:00-18:00","09:00-12:00"],"friday":["09:00-18:00"]},
            "holidays":["2026-10-01"],
            "extra_working_days":[{"date":"2026-09-27","hours":["09:00-18:00"]}]}"#;
        let cal: Calendar = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            cal.intervals_on(date(2026, 9, 28)),
            &[iv("09:00-12:00"), iv("13:00-18:00")]
        );
        assert_eq!(cal.intervals_on(date(2026, 9, 27)), &[iv("09:00-18:00")]);
        assert!(cal.intervals_on(date(2026, 10, 1)).is_empty());
        let text = serde_json::to_string(&cal).unwrap_or_default();
        let back: Calendar = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, cal);
        assert_eq!(Calendar::new(cal.to_spec()), Ok(cal));

        let always: Calendar = serde_json::from_str(r#"{"kind":"around_the_clock"}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(always.is_around_the_clock());

        for bad in [
            r#"{"kind":"business_hours","time_zone":"Nowhere/Zone","weekly":{"monday":["09:00-18:00"]}}"#,
            r#"{"kind":"business_hours","time_zone":"UTC","weekly":{}}"#,
            r#"{"kind":"business_hours","time_zone":"UTC","weekly":{"monday":["18:00-09:00"]}}"#,
            r#"{"kind":"business_hours","time_zone":"UTC","weekly":{"mondy":["09:00-18:00"]}}"#,
            r#"{"kind":"business_hours","time_zone":"UTC","weekly":{"monday":["09:00-12:00","11:00-13:00"]}}"#,
        ] {
            assert!(serde_json::from_str::<Calendar>(bad).is_err(), "{bad}");
        }
    }
}
