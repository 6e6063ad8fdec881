//! Service-level arithmetic for Casebook: business calendars, deadlines, pauses,
//! warning ladders and effective-dated policies.
//!
//! This crate is pure: no I/O, no clock reads, no randomness. Every answer is a
//! function of its arguments, so a view computed as of a past instant gives the same
//! answer tomorrow as today.
//!
//! - [`Calendar`]: when the clock runs — 24×7, or weekly working hours in an IANA time
//!   zone with holidays and extra working days ([`calendar`] explains exactly what
//!   counts, including across daylight-saving changes).
//! - [`add_business_time`] and [`business_time_between`]: deadline arithmetic, exact to
//!   the second, O(days spanned), bounded by [`SEARCH_HORIZON_DAYS`] ([`arith`]).
//! - [`SlaPolicy`] and [`PolicyBook`]: effective-dated versions with a target table by
//!   ([`CaseKind`], [`CustomerTier`], [`Severity`]), a [`WarningLadder`] and a reopen
//!   window ([`policy`]).
//! - [`TargetClock`]: the state machine of one target of one case — pause, resume,
//!   retarget, stop, reopen, restart — with its deadline, time left, [`ClockState`] and
//!   the [`Alert`]s a scheduler records once per cycle ([`clock`]).
//!
//! # Quickstart
//!
//! ```
//! use casebook_sla::*;
//! use chrono::{DateTime, TimeDelta, TimeZone, Utc};
//! use chrono_tz::Asia::Shanghai;
//!
//! // The desk works 09:00–18:00 Monday to Friday in Shanghai.
//! let policy: SlaPolicy = serde_json::from_str(r#"{
//!     "version": 1,
//!     "effective_from": "2026-01-01T00:00:00Z",
//!     "calendar": {"kind": "business_hours", "time_zone": "Asia/Shanghai",
//!                  "weekly": {"monday": ["09:00-18:00"], "tuesday": ["09:00-18:00"],
//!                             "wednesday": ["09:00-18:00"], "thursday": ["09:00-18:00"],
//!                             "friday": ["09:00-18:00"]},
//!                  "holidays": ["2026-10-01"]},
//!     "targets": [{"kind": "ticket", "tier": "premium", "severity": "high",
//!                  "first_response_minutes": 60, "resolution_minutes": 240}],
//!     "warnings": [0.75, 0.9],
//!     "reopen_window_minutes": 10080
//! }"#)?;
//! let book = PolicyBook::new(vec![policy])?;
//!
//! // A premium customer's high-severity ticket opened Friday 2026-02-27 17:30.
//! let opened = Shanghai.with_ymd_and_hms(2026, 2, 27, 17, 30, 0).single().ok_or("time")?.to_utc();
//! let policy = book.in_force_at(opened).ok_or("no policy")?;
//! let target = policy
//!     .target(CaseKind::Ticket, CustomerTier::Premium, Severity::High, TargetKind::Resolution)
//!     .ok_or("no target")?;
//! let clock = TargetClock::start(opened, target, policy.warnings().clone())?;
//!
//! // Half an hour on Friday, three and a half on Monday.
//! let monday_noon = Shanghai.with_ymd_and_hms(2026, 3, 2, 12, 0, 0).single().ok_or("time")?.to_utc();
//! let status = clock.status(policy.calendar(), monday_noon)?;
//! assert_eq!(status.deadline.with_timezone(&Shanghai).to_string(), "2026-03-02 12:30:00 CST");
//! assert_eq!(status.state, ClockState::AtRisk);
//! assert_eq!(status.left, TimeDelta::minutes(30));
//!
//! // The 75 % warning is dated when the share fell, not when someone asked.
//! let due = clock.due_alerts(policy.calendar(), monday_noon)?;
//! assert_eq!(due[0].at.to_rfc3339(), "2026-03-02T03:30:00+00:00");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod arith;
pub mod calendar;
pub mod clock;
mod keys;
mod offsets;
pub mod policy;

pub use arith::{add_business_time, business_time_between, DeadlineError, SEARCH_HORIZON_DAYS};
pub use calendar::{
    BusinessHoursSpec, Calendar, CalendarError, CalendarSpec, ExtraWorkingDay, WeeklyHours,
    WorkingInterval,
};
pub use clock::{
    Alert, AlertKind, ClockError, ClockMark, ClockState, ClockStatus, Pause, RunningInstants,
    TargetClock,
};
pub use keys::{CaseKind, CustomerTier, ParseKeyError, Severity, TargetKind};
pub use policy::{
    PolicyBook, PolicyError, SlaPolicy, SlaPolicySpec, TargetKey, TargetRule, TargetSet,
    WarningLadder, WarningShare,
};
