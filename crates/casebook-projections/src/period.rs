//! Reporting periods in the desk's time zone, and exact distributions of durations.
//!
//! # Periods
//!
//! A [`Period`] is a half-open interval `[start, end)` of instants: a calendar month
//! or quarter as the desk's wall clock in its IANA time zone sees it. `start` is the
//! first instant of the period's first local day, `end` the first instant of the day
//! after its last. An event recorded at exactly `end` belongs to the next period.
//! When a zone skips local midnight (a daylight-saving change at 00:00), the day
//! starts at the first local time that exists.
//!
//! # Percentiles
//!
//! Durations are kept as whole seconds in a `u32` (negative durations count as 0,
//! durations over 136 years saturate), so a million samples take 4 MB. Percentiles
//! are exact and **nearest-rank**: after sorting the `n` samples ascending, the p-th
//! percentile is the sample at 1-based rank `ceil(p/100 · n)` (rank 1 for p = 0).
//! The median is the 50th percentile by that rule: for an even count it is the lower
//! of the two middle samples (never an average, so it is always an observed value).

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// Why a period could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    /// The month is not 1–12, the quarter not 1–4, or the year out of range.
    #[error("no such period: {0}")]
    NoSuchPeriod(String),
    /// A period label that is neither `YYYY-MM` nor `YYYY-Qn`.
    #[error("{0:?} is not a month (2026-03) or a quarter (2026-Q1)")]
    BadLabel(String),
}

/// A calendar month or quarter in a time zone: `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    /// `2026-03` for a month, `2026-Q1` for a quarter (the names assessments use).
    pub label: String,
    /// The IANA time zone it is reckoned in.
    pub time_zone: String,
    /// First instant (inclusive).
    pub start: DateTime<Utc>,
    /// First instant after it (exclusive).
    pub end: DateTime<Utc>,
}

/// The first instant of a local date in `tz`.
fn local_midnight(tz: Tz, date: NaiveDate) -> Option<DateTime<Utc>> {
    let midnight = date.and_hms_opt(0, 0, 0)?;
    // A gap at midnight: step forward in quarter hours (every real offset change is a
    // multiple of 15 minutes) until the local time exists.
    for step in 0..=96 {
        let local = midnight + TimeDelta::minutes(15 * step);
        if let Some(t) = tz.from_local_datetime(&local).earliest() {
            return Some(t.with_timezone(&Utc));
        }
    }
    None
}

impl Period {
    fn between(
        label: String,
        tz: Tz,
        first: NaiveDate,
        next: NaiveDate,
    ) -> Result<Period, PeriodError> {
        let start =
            local_midnight(tz, first).ok_or_else(|| PeriodError::NoSuchPeriod(label.clone()))?;
        let end =
            local_midnight(tz, next).ok_or_else(|| PeriodError::NoSuchPeriod(label.clone()))?;
        Ok(Period {
            label,
            time_zone: tz.name().to_owned(),
            start,
            end,
        })
    }

    /// The calendar month `month` (1–12) of `year` in `tz`.
    ///
    /// # Errors
    ///
    /// [`PeriodError::NoSuchPeriod`] for a month outside 1–12 or a year chrono cannot
    /// represent.
    pub fn month(year: i32, month: u32, tz: Tz) -> Result<Period, PeriodError> {
        let label = format!("{year:04}-{month:02}");
        let bad = || PeriodError::NoSuchPeriod(label.clone());
        let first = NaiveDate::from_ymd_opt(year, month, 1).ok_or_else(bad)?;
        let next = if month == 12 {
            NaiveDate::from_ymd_opt(year + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(year, month + 1, 1)
        }
        .ok_or_else(bad)?;
        Period::between(label, tz, first, next)
    }

    /// The calendar quarter `quarter` (1–4: January–March, ...) of `year` in `tz`.
    ///
    /// # Errors
    ///
    /// [`PeriodError::NoSuchPeriod`] for a quarter outside 1–4 or a year chrono cannot
    /// represent.
    pub fn quarter(year: i32, quarter: u32, tz: Tz) -> Result<Period, PeriodError> {
        let label = format!("{year:04}-Q{quarter}");
        if !(1..=4).contains(&quarter) {
            return Err(PeriodError::NoSuchPeriod(label));
        }
        let bad = || PeriodError::NoSuchPeriod(label.clone());
        let first = NaiveDate::from_ymd_opt(year, 3 * quarter - 2, 1).ok_or_else(bad)?;
        let next = if quarter == 4 {
            NaiveDate::from_ymd_opt(year + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(year, 3 * quarter + 1, 1)
        }
        .ok_or_else(bad)?;
        Period::between(label, tz, first, next)
    }

    /// Parses `2026-03` or `2026-Q1` into the period in `tz`.
    ///
    /// # Errors
    ///
    /// [`PeriodError::BadLabel`] if the text is neither; [`PeriodError::NoSuchPeriod`]
    /// for a month or quarter out of range.
    pub fn parse(label: &str, tz: Tz) -> Result<Period, PeriodError> {
        let bad = || PeriodError::BadLabel(label.to_owned());
        let (year, rest) = label.trim().split_once('-').ok_or_else(bad)?;
        if year.len() != 4 {
            return Err(bad());
        }
        let year: i32 = year.parse().map_err(|_| bad())?;
        if let Some(q) = rest.strip_prefix('Q') {
            Period::quarter(year, q.parse().map_err(|_| bad())?, tz)
        } else if rest.len() == 2 {
            Period::month(year, rest.parse().map_err(|_| bad())?, tz)
        } else {
            Err(bad())
        }
    }

    /// The month containing `instant` in `tz`.
    ///
    /// # Errors
    ///
    /// As [`Period::month`].
    pub fn month_of(instant: DateTime<Utc>, tz: Tz) -> Result<Period, PeriodError> {
        let local = instant.with_timezone(&tz);
        Period::month(local.year(), local.month(), tz)
    }

    /// Whether `instant` lies in `[start, end)`.
    pub fn contains(&self, instant: DateTime<Utc>) -> bool {
        self.start <= instant && instant < self.end
    }
}

/// A duration as whole seconds in a `u32`: negative counts as 0, huge saturates.
pub fn seconds(d: TimeDelta) -> u32 {
    u32::try_from(d.num_seconds().max(0)).unwrap_or(u32::MAX)
}

/// The nearest-rank p-th percentile (`p` 0–100) of ascending `sorted` samples, `None`
/// when there are none. See the [module docs](self).
pub fn percentile(sorted: &[u32], p: u32) -> Option<u32> {
    let n = sorted.len() as u64;
    if n == 0 {
        return None;
    }
    let p = u64::from(p.min(100));
    // ceil(p·n/100) in integers, at least rank 1.
    let rank = (p * n).div_ceil(100).max(1);
    let index = usize::try_from(rank - 1).ok()?;
    sorted.get(index).copied()
}

/// Count, mean, median and 90th percentile of a set of durations, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    /// How many samples.
    pub count: u64,
    /// Arithmetic mean, `None` without samples.
    pub mean_seconds: Option<f64>,
    /// Nearest-rank median.
    pub median_seconds: Option<u32>,
    /// Nearest-rank 90th percentile.
    pub p90_seconds: Option<u32>,
}

impl Distribution {
    /// The distribution of `samples` (sorted in place: the caller's order is lost).
    pub fn of(samples: &mut [u32]) -> Distribution {
        samples.sort_unstable();
        let count = samples.len() as u64;
        let sum: u64 = samples.iter().map(|&s| u64::from(s)).sum();
        // Sums of u32 samples stay below 2^53 for any realistic count, so the
        // conversions are exact.
        #[allow(clippy::cast_precision_loss)]
        let mean_seconds = (count > 0).then(|| sum as f64 / count as f64);
        Distribution {
            count,
            mean_seconds,
            median_seconds: percentile(samples, 50),
            p90_seconds: percentile(samples, 90),
        }
    }
}

/// `part ÷ whole`, `None` when `whole` is 0.
pub fn ratio(part: u64, whole: u64) -> Option<f64> {
    // Counts stay far below 2^53, so the conversion is exact.
    #[allow(clippy::cast_precision_loss)]
    (whole > 0).then(|| part as f64 / whole as f64)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use chrono_tz::America::Santiago;
    use chrono_tz::Asia::Shanghai;
    use chrono_tz::Europe::Berlin;

    #[test]
    fn shanghai_march_and_q1() {
        let m = Period::month(2026, 3, Shanghai).unwrap();
        assert_eq!(m.label, "2026-03");
        assert_eq!(m.start.to_rfc3339(), "2026-02-28T16:00:00+00:00");
        assert_eq!(m.end.to_rfc3339(), "2026-03-31T16:00:00+00:00");
        let q = Period::quarter(2026, 1, Shanghai).unwrap();
        assert_eq!(q.start.to_rfc3339(), "2025-12-31T16:00:00+00:00");
        assert_eq!(q.end, m.end);
        let q4 = Period::quarter(2026, 4, Shanghai).unwrap();
        assert_eq!(q4.end.to_rfc3339(), "2026-12-31T16:00:00+00:00");
        assert!(m.contains(m.start));
        assert!(!m.contains(m.end));
        assert_eq!(Period::parse("2026-Q1", Shanghai).unwrap(), q);
        assert_eq!(Period::parse("2026-03", Shanghai).unwrap(), m);
        assert_eq!(Period::month_of(m.start, Shanghai).unwrap(), m);
    }

    #[test]
    fn daylight_saving_months_have_their_real_length() {
        // Berlin springs forward on 29 March 2026: March is one hour short.
        let m = Period::month(2026, 3, Berlin).unwrap();
        assert_eq!((m.end - m.start).num_hours(), 31 * 24 - 1);
        // Santiago skips local midnight on 6 September 2026: the day begins at 01:00,
        // but a month still starts at its own midnight.
        let s = Period::month(2026, 9, Santiago).unwrap();
        assert!(s.start < s.end);
    }

    #[test]
    fn bad_periods_are_refused() {
        assert!(Period::month(2026, 13, Shanghai).is_err());
        assert!(Period::month(2026, 0, Shanghai).is_err());
        assert!(Period::quarter(2026, 5, Shanghai).is_err());
        assert!(matches!(
            Period::parse("March", Shanghai),
            Err(PeriodError::BadLabel(_))
        ));
        assert!(Period::parse("2026-3", Shanghai).is_err());
    }

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[7], 90), Some(7));
        let ten: Vec<u32> = (1..=10).collect();
        assert_eq!(percentile(&ten, 50), Some(5));
        assert_eq!(percentile(&ten, 90), Some(9));
        assert_eq!(percentile(&ten, 91), Some(10));
        assert_eq!(percentile(&ten, 100), Some(10));
        assert_eq!(percentile(&ten, 0), Some(1));
        let mut four = vec![40, 10, 30, 20];
        let d = Distribution::of(&mut four);
        assert_eq!(d.count, 4);
        assert_eq!(d.mean_seconds, Some(25.0));
        assert_eq!(d.median_seconds, Some(20));
        assert_eq!(d.p90_seconds, Some(40));
        assert_eq!(Distribution::of(&mut []).mean_seconds, None);
        assert_eq!(seconds(TimeDelta::seconds(-5)), 0);
    }
}
