//! Target clocks: the pure state machine of one target of one case.
//!
//! A [`TargetClock`] records facts — when it started, under which target, when it was
//! paused and resumed, when it stopped — and answers, for any instant `now` and the
//! calendar of the policy it runs under, its deadline, the business time left, its
//! [`ClockState`], and the exact instants of its warnings and breach.
//!
//! # Definitions
//!
//! - **Counted time** at `now` is the business time from the start to `now` (or to the
//!   stop, if stopped) outside pauses.
//! - The **deadline** is the earliest instant at which counted time reaches the target.
//!   Pausing (waiting on the customer) therefore moves the deadline by exactly the
//!   business time spent paused, and a pause that begins after the deadline moves
//!   nothing: a breach is never undone by a later pause. (One edge: a clock paused or
//!   stopped exactly at its deadline has not missed it; if it resumes or is reopened
//!   with nothing left, the deadline is that resume instant.)
//! - A **warning** for share `s` falls at the earliest instant counted time reaches
//!   `s × target` (rounded up to the second).
//! - **Retargeting** (a severity change) replaces the target and recomputes everything
//!   from the original start, keeping every pause already recorded.
//! - **Stopping** freezes the clock: met if it stopped at or before the deadline,
//!   breached otherwise. **Reopening** a stopped clock resumes the same cycle; the time
//!   between the stop and the reopen counts as paused. **Restarting** begins a new
//!   cycle from scratch (next-update after each customer-visible update).
//!
//! While the clock is paused, everything past the pause depends on when it will resume:
//! queries then assume it resumes at `now` and say so ([`ClockStatus::provisional`]).
//!
//! Queries only use facts recorded at or before `now`, so the same clock answers "as of"
//! questions about earlier instants consistently.
//!
//! # Alerts and the scheduler
//!
//! Each warning share and the breach fire at most once per cycle ([`Alert::cycle`]). An
//! [`Alert`] carries the instant it is dated at (`at`: the computed share or deadline,
//! not the moment anyone noticed) and the first instant it is due (`due_from`: `at` for
//! warnings; one second after the deadline for the breach, because a stop exactly at the
//! deadline is still on time). A scheduler sleeps until [`TargetClock::next_alert`]'s
//! `due_from`, then records [`TargetClock::due_alerts`] it has not recorded for that
//! cycle yet, and asks again after every event that changes the clock.
//!
//! # Cost
//!
//! A query costs O(pauses + warning shares) deadline computations (see
//! [`crate::arith`]); a clock holds at most [`MAX_PAUSES`] pauses.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::arith::{add_business_time, between_secs, instant, DeadlineError};
use crate::calendar::Calendar;
use crate::policy::{WarningLadder, WarningShare, MAX_TARGET};

/// The most pauses one clock cycle may record.
pub const MAX_PAUSES: usize = 1_000;

/// Why a clock refused a transition. The clock is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClockError {
    /// The target is zero, negative or longer than [`MAX_TARGET`].
    #[error("target of {seconds} s must be positive and at most 365 days")]
    InvalidTarget {
        /// The target given, in seconds.
        seconds: i64,
    },
    /// An instant earlier than the clock's last recorded fact.
    #[error("{at} is before the clock's last recorded instant {last}")]
    OutOfOrder {
        /// The instant given.
        at: DateTime<Utc>,
        /// The last instant already recorded.
        last: DateTime<Utc>,
    },
    /// Pause on a clock that is already paused.
    #[error("the clock is already paused")]
    AlreadyPaused,
    /// Resume on a clock that is not paused.
    #[error("the clock is not paused")]
    NotPaused,
    /// Pause, resume or stop on a stopped clock.
    #[error("the clock is stopped")]
    Stopped,
    /// Reopen on a clock that is not stopped.
    #[error("the clock is not stopped")]
    NotStopped,
    /// More than [`MAX_PAUSES`] pauses in one cycle.
    #[error("more than {MAX_PAUSES} pauses in one cycle")]
    TooManyPauses,
    /// The cycle counter would overflow.
    #[error("too many cycles")]
    TooManyCycles,
    /// A deserialised clock whose facts are inconsistent.
    #[error("inconsistent clock record: {0}")]
    Inconsistent(&'static str),
}

/// One pause of a clock: `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Pause {
    /// When the pause began.
    pub from: DateTime<Utc>,
    /// When it ended.
    pub to: DateTime<Utc>,
    /// `true` for the stretch between a stop and a reopen; `false` for waiting on the
    /// customer.
    pub resolved: bool,
}

/// What a clock is doing at an instant. Ordered by urgency: sorting puts breached
/// clocks first, then at-risk ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockState {
    /// Past the deadline (still running or paused), or stopped after it.
    Breached,
    /// Running and past the first warning share.
    AtRisk,
    /// Running, before the first warning share.
    Running,
    /// Paused (waiting on the customer), not breached.
    Paused,
    /// Stopped at or before the deadline.
    Met,
}

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Counted time reached this share of the target.
    Warning(WarningShare),
    /// Counted time passed the target.
    Breach,
}

/// A warning or breach of one clock cycle, dated at its computed instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Alert {
    /// Which warning, or the breach.
    pub kind: AlertKind,
    /// The cycle it belongs to; each (cycle, kind) fires at most once.
    pub cycle: u32,
    /// The instant it is dated at: the share's instant, or the deadline.
    pub at: DateTime<Utc>,
    /// The first instant it is due: `at` for a warning, `at` + 1 s for the breach.
    pub due_from: DateTime<Utc>,
}

/// A clock's answers at one instant; see [`TargetClock::status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClockStatus {
    /// What the clock is doing.
    pub state: ClockState,
    /// The cycle (0 for the first).
    pub cycle: u32,
    /// The target in force.
    pub target: TimeDelta,
    /// The deadline. While paused before the deadline, the deadline if the clock
    /// resumed at `now` (see `provisional`).
    pub deadline: DateTime<Utc>,
    /// Whether `deadline` still depends on when an ongoing pause ends.
    pub provisional: bool,
    /// Counted business time so far (frozen when stopped).
    pub elapsed: TimeDelta,
    /// Business time spent paused so far within the cycle.
    pub paused: TimeDelta,
    /// `target − elapsed`: business time left, negative when overdue. Outside working
    /// hours a clock can be breached with zero left (the deadline was the close of the
    /// last working interval).
    pub left: TimeDelta,
    /// When the clock stopped, if it had by `now`.
    pub stopped_at: Option<DateTime<Utc>>,
}

/// The service-level clock of one target of one case.
///
/// All transitions take the instant they happen at, which must not precede the
/// clock's last recorded instant; all queries take the [`Calendar`] of the policy
/// version the clock runs under (always the same one for a given clock) and the
/// instant `now` they are asked about.
///
/// # Example
///
/// A 4-business-hour resolution target, Shanghai 09:00–18:00 Monday to Friday, opened
/// Monday 09:00, waiting on the customer from 10:00 to 11:30 (1.5 business hours):
/// the deadline moves from 13:00 to 14:30.
///
/// ```
/// use casebook_sla::*;
/// use chrono::{DateTime, TimeDelta, TimeZone, Utc};
/// use chrono_tz::Asia::Shanghai;
///
/// let calendar = Calendar::business("Asia/Shanghai", WeeklyHours::weekdays(vec!["09:00-18:00".parse()?]))?;
/// let at = |h: u32, m: u32| -> Result<DateTime<Utc>, &str> {
///     Ok(Shanghai.with_ymd_and_hms(2026, 3, 2, h, m, 0).single().ok_or("time")?.to_utc())
/// };
/// let ladder = WarningLadder::from_fractions(&[0.75])?;
/// let mut clock = TargetClock::start(at(9, 0)?, TimeDelta::hours(4), ladder)?;
/// clock.pause(at(10, 0)?)?;
/// let status = clock.status(&calendar, at(11, 0)?)?;
/// assert_eq!(status.state, ClockState::Paused);
/// clock.resume(at(11, 30)?)?;
/// let status = clock.status(&calendar, at(12, 0)?)?;
/// assert_eq!(status.deadline, at(14, 30)?);
/// assert_eq!(status.left, TimeDelta::hours(2) + TimeDelta::minutes(30));
/// // 75 % of 4 h = 3 h of counted time: 09:00–10:00 and 11:30–13:30.
/// let warning = clock.next_alert(&calendar, at(12, 0)?)?.ok_or("no alert")?;
/// assert_eq!(warning.at, at(13, 30)?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ClockRecord", into = "ClockRecord")]
pub struct TargetClock {
    cycle: u32,
    started_at: DateTime<Utc>,
    target: TimeDelta,
    warnings: WarningLadder,
    pauses: Vec<Pause>,
    paused_since: Option<DateTime<Utc>>,
    stopped_at: Option<DateTime<Utc>>,
}

/// A running clock's first warning and deadline: see
/// [`TargetClock::running_instants`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunningInstants {
    /// When counted time reaches the first warning share (with no share: one second
    /// after the deadline, when it is breached).
    pub first_warning: DateTime<Utc>,
    /// When counted time passes the target.
    pub deadline: DateTime<Utc>,
}

/// See [`TargetClock::mark`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockMark {
    cycle: u32,
    started_at: DateTime<Utc>,
    target: TimeDelta,
    pauses: usize,
    paused_since: Option<DateTime<Utc>>,
    stopped_at: Option<DateTime<Utc>>,
}

/// The serde form of a [`TargetClock`], checked on the way in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockRecord {
    cycle: u32,
    started_at: DateTime<Utc>,
    target_seconds: i64,
    warnings: WarningLadder,
    #[serde(default)]
    pauses: Vec<Pause>,
    #[serde(default)]
    paused_since: Option<DateTime<Utc>>,
    #[serde(default)]
    stopped_at: Option<DateTime<Utc>>,
}

fn check_target(target: TimeDelta) -> Result<(), ClockError> {
    if target <= TimeDelta::zero() || target > MAX_TARGET {
        return Err(ClockError::InvalidTarget {
            seconds: target.num_seconds(),
        });
    }
    Ok(())
}

/// The facts of one cycle known at `now`, in Unix seconds.
struct View {
    start: i64,
    now: i64,
    /// Closed pauses, in order.
    pauses: Vec<(i64, i64)>,
    /// The start of a pause still going on at `now`.
    open_pause: Option<i64>,
    /// The stop, if it happened by `now` (and no reopen did).
    stopped: Option<i64>,
}

impl View {
    /// The end of counted time: the stop, or `now`, never before the start.
    fn horizon(&self) -> i64 {
        self.stopped
            .unwrap_or(self.now)
            .min(self.now)
            .max(self.start)
    }

    /// Counted business time up to [`View::horizon`].
    fn counted(&self, calendar: &Calendar) -> i64 {
        let h = self.horizon();
        let mut counted = 0;
        let mut cursor = self.start;
        for &(from, to) in &self.pauses {
            if cursor >= h {
                return counted;
            }
            counted += between_secs(calendar, cursor, from.min(h));
            cursor = to;
        }
        if let Some(from) = self.open_pause {
            if cursor < h {
                counted += between_secs(calendar, cursor, from.min(h));
            }
            return counted;
        }
        if cursor < h {
            counted += between_secs(calendar, cursor, h);
        }
        counted
    }

    /// The earliest instant counted time reaches `amount` (> 0) and whether it is
    /// provisional (assumes an ongoing pause ends at `now`).
    ///
    /// For the breach (`strict`), a target reached exactly as a pause begins is not yet
    /// missed: the clock stopped counting at the deadline. It is missed the moment the
    /// pause ends with nothing left, so the deadline becomes that moment.
    fn reach(
        &self,
        calendar: &Calendar,
        amount: i64,
        strict: bool,
    ) -> Result<(i64, bool), DeadlineError> {
        let mut remaining = amount;
        let mut cursor = self.start;
        let gaps = self
            .pauses
            .iter()
            .map(|&(from, to)| (from, to, false))
            .chain(self.open_pause.map(|from| (from, self.now.max(from), true)));
        let mut provisional = false;
        for (from, to, open) in gaps {
            let available = between_secs(calendar, cursor, from);
            if available >= remaining {
                let at = self.add(calendar, cursor, remaining)?;
                // `at == from` only when the amount is used up exactly at the pause.
                if !(strict && at == from) {
                    return Ok((at, false));
                }
            }
            remaining -= available;
            cursor = to;
            provisional = open;
        }
        self.add(calendar, cursor, remaining)
            .map(|t| (t, provisional))
    }

    fn add(&self, calendar: &Calendar, from: i64, amount: i64) -> Result<i64, DeadlineError> {
        let start = instant(from).ok_or(DeadlineError::OutOfRange)?;
        add_business_time(calendar, start, TimeDelta::seconds(amount)).map(|t| t.timestamp())
    }
}

fn ts(t: i64) -> Result<DateTime<Utc>, DeadlineError> {
    instant(t).ok_or(DeadlineError::OutOfRange)
}

impl TargetClock {
    /// A clock for `target` of business time, running from `at`, cycle 0.
    ///
    /// # Errors
    ///
    /// [`ClockError::InvalidTarget`] unless `0 < target <= 365 days`.
    pub fn start(
        at: DateTime<Utc>,
        target: TimeDelta,
        warnings: WarningLadder,
    ) -> Result<Self, ClockError> {
        check_target(target)?;
        Ok(TargetClock {
            cycle: 0,
            started_at: at,
            target,
            warnings,
            pauses: Vec::new(),
            paused_since: None,
            stopped_at: None,
        })
    }

    /// The current cycle, 0 for the first; incremented by [`TargetClock::restart`].
    pub fn cycle(&self) -> u32 {
        self.cycle
    }

    /// When the current cycle started.
    pub fn started_at(&self) -> DateTime<Utc> {
        self.started_at
    }

    /// The target in force.
    pub fn target(&self) -> TimeDelta {
        self.target
    }

    /// The warning ladder.
    pub fn warnings(&self) -> &WarningLadder {
        &self.warnings
    }

    /// The closed pauses of the current cycle, in order.
    pub fn pauses(&self) -> &[Pause] {
        &self.pauses
    }

    /// When the ongoing pause began, if paused.
    pub fn paused_since(&self) -> Option<DateTime<Utc>> {
        self.paused_since
    }

    /// When the clock stopped, if stopped.
    pub fn stopped_at(&self) -> Option<DateTime<Utc>> {
        self.stopped_at
    }

    /// A small copyable summary that changes whenever the clock does: every method
    /// that changes a clock changes its cycle, target, number of pauses, pause or stop
    /// (pauses are only ever added). Two marks of clocks started under the same
    /// policy are equal exactly when the clocks are, so a view can cache what it
    /// derives from a clock (deadlines, board keys) and recompute only on a change,
    /// without cloning the clock to compare.
    pub fn mark(&self) -> ClockMark {
        ClockMark {
            cycle: self.cycle,
            started_at: self.started_at,
            target: self.target,
            pauses: self.pauses.len(),
            paused_since: self.paused_since,
            stopped_at: self.stopped_at,
        }
    }

    /// The latest instant recorded; transitions may not precede it.
    pub fn last_recorded(&self) -> DateTime<Utc> {
        let mut last = self.started_at;
        if let Some(p) = self.pauses.last() {
            last = last.max(p.to);
        }
        for t in [self.paused_since, self.stopped_at].into_iter().flatten() {
            last = last.max(t);
        }
        last
    }

    fn check_order(&self, at: DateTime<Utc>) -> Result<(), ClockError> {
        let last = self.last_recorded();
        if at < last {
            return Err(ClockError::OutOfOrder { at, last });
        }
        Ok(())
    }

    fn push_pause(&mut self, pause: Pause) -> Result<(), ClockError> {
        // An empty pause changes nothing; not recording it keeps the limit for real ones.
        if pause.to > pause.from {
            if self.pauses.len() >= MAX_PAUSES {
                return Err(ClockError::TooManyPauses);
            }
            self.pauses.push(pause);
        }
        Ok(())
    }

    /// Pauses the clock at `at` (waiting on the customer).
    ///
    /// # Errors
    ///
    /// [`ClockError::Stopped`], [`ClockError::AlreadyPaused`],
    /// [`ClockError::OutOfOrder`]; [`ClockError::TooManyPauses`] if the cycle already
    /// has [`MAX_PAUSES`].
    pub fn pause(&mut self, at: DateTime<Utc>) -> Result<(), ClockError> {
        if self.stopped_at.is_some() {
            return Err(ClockError::Stopped);
        }
        if self.paused_since.is_some() {
            return Err(ClockError::AlreadyPaused);
        }
        self.check_order(at)?;
        if self.pauses.len() >= MAX_PAUSES {
            return Err(ClockError::TooManyPauses);
        }
        self.paused_since = Some(at);
        Ok(())
    }

    /// Resumes a paused clock at `at`; the deadline moves by the business time paused.
    ///
    /// # Errors
    ///
    /// [`ClockError::Stopped`], [`ClockError::NotPaused`], [`ClockError::OutOfOrder`].
    pub fn resume(&mut self, at: DateTime<Utc>) -> Result<(), ClockError> {
        if self.stopped_at.is_some() {
            return Err(ClockError::Stopped);
        }
        let from = self.paused_since.ok_or(ClockError::NotPaused)?;
        self.check_order(at)?;
        self.push_pause(Pause {
            from,
            to: at,
            resolved: false,
        })?;
        self.paused_since = None;
        Ok(())
    }

    /// Replaces the target (a severity change): everything is recomputed from the
    /// original start under `target`, keeping every recorded pause. Allowed in any
    /// state; a stopped clock may turn from met to breached or back.
    ///
    /// # Errors
    ///
    /// [`ClockError::InvalidTarget`] unless `0 < target <= 365 days`.
    pub fn retarget(&mut self, target: TimeDelta) -> Result<(), ClockError> {
        check_target(target)?;
        self.target = target;
        Ok(())
    }

    /// Stops the clock at `at`: the target was met then (or late). A paused clock's
    /// pause ends at `at`.
    ///
    /// # Errors
    ///
    /// [`ClockError::Stopped`], [`ClockError::OutOfOrder`].
    pub fn stop(&mut self, at: DateTime<Utc>) -> Result<(), ClockError> {
        if self.stopped_at.is_some() {
            return Err(ClockError::Stopped);
        }
        self.check_order(at)?;
        if let Some(from) = self.paused_since {
            self.push_pause(Pause {
                from,
                to: at,
                resolved: false,
            })?;
            self.paused_since = None;
        }
        self.stopped_at = Some(at);
        Ok(())
    }

    /// Reopens a stopped clock at `at`, resuming the same cycle: the time between the
    /// stop and `at` counts as paused, alerts already fired stay fired. Whether a
    /// reopen is within the policy's window is the caller's call (see
    /// [`SlaPolicy::within_reopen_window`](crate::SlaPolicy::within_reopen_window));
    /// outside it, [`TargetClock::restart`] or a new clock is the usual answer.
    ///
    /// # Errors
    ///
    /// [`ClockError::NotStopped`], [`ClockError::OutOfOrder`],
    /// [`ClockError::TooManyPauses`].
    pub fn reopen(&mut self, at: DateTime<Utc>) -> Result<(), ClockError> {
        let from = self.stopped_at.ok_or(ClockError::NotStopped)?;
        self.check_order(at)?;
        self.push_pause(Pause {
            from,
            to: at,
            resolved: true,
        })?;
        self.stopped_at = None;
        Ok(())
    }

    /// Starts a new cycle at `at`, running, with no pauses (next-update restarts at
    /// each customer-visible update). The target and ladder stay.
    ///
    /// # Errors
    ///
    /// [`ClockError::OutOfOrder`], [`ClockError::TooManyCycles`].
    pub fn restart(&mut self, at: DateTime<Utc>) -> Result<(), ClockError> {
        self.check_order(at)?;
        let cycle = self.cycle.checked_add(1).ok_or(ClockError::TooManyCycles)?;
        *self = TargetClock {
            cycle,
            started_at: at,
            target: self.target,
            warnings: self.warnings.clone(),
            pauses: Vec::new(),
            paused_since: None,
            stopped_at: None,
        };
        Ok(())
    }

    fn view(&self, now: DateTime<Utc>) -> View {
        let now = now.timestamp();
        let mut view = View {
            start: self.started_at.timestamp(),
            now,
            pauses: Vec::with_capacity(self.pauses.len()),
            open_pause: None,
            stopped: None,
        };
        for p in &self.pauses {
            let (from, to) = (p.from.timestamp(), p.to.timestamp());
            if from > now {
                return view;
            }
            if to <= now {
                view.pauses.push((from, to));
            } else if p.resolved {
                // Between a stop and a reopen still in the future: stopped as of now.
                view.stopped = Some(from);
                return view;
            } else {
                view.open_pause = Some(from);
                return view;
            }
        }
        view.open_pause = self
            .paused_since
            .map(|t| t.timestamp())
            .filter(|&t| t <= now);
        view.stopped = self.stopped_at.map(|t| t.timestamp()).filter(|&t| t <= now);
        view
    }

    /// The deadline as of `now` (provisional while paused; see [`ClockStatus`]).
    ///
    /// # Errors
    ///
    /// [`DeadlineError`] if the calendar cannot provide the target within the search
    /// horizon.
    pub fn deadline(
        &self,
        calendar: &Calendar,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, DeadlineError> {
        let view = self.view(now);
        let (deadline, _) = view.reach(calendar, self.target.num_seconds(), true)?;
        ts(deadline)
    }

    /// Everything about the clock at `now`.
    ///
    /// # Errors
    ///
    /// [`DeadlineError`] if the calendar cannot provide the target (or a warning share)
    /// within the search horizon.
    ///
    /// # Example
    ///
    /// See [`TargetClock`].
    pub fn status(
        &self,
        calendar: &Calendar,
        now: DateTime<Utc>,
    ) -> Result<ClockStatus, DeadlineError> {
        let view = self.view(now);
        let target = self.target.num_seconds();
        let (deadline, provisional) = view.reach(calendar, target, true)?;
        let elapsed = view.counted(calendar);
        let paused = between_secs(calendar, view.start, view.horizon()) - elapsed;
        let state = if let Some(stop) = view.stopped {
            if stop <= deadline {
                ClockState::Met
            } else {
                ClockState::Breached
            }
        } else if view.now > deadline {
            ClockState::Breached
        } else if view.open_pause.is_some() {
            ClockState::Paused
        } else {
            let at_risk = match self.warnings.first() {
                Some(share) => {
                    let (w, _) =
                        view.reach(calendar, share.of(self.target).num_seconds(), false)?;
                    view.now >= w
                }
                None => false,
            };
            if at_risk {
                ClockState::AtRisk
            } else {
                ClockState::Running
            }
        };
        Ok(ClockStatus {
            state,
            cycle: self.cycle,
            target: self.target,
            deadline: ts(deadline)?,
            provisional,
            elapsed: TimeDelta::seconds(elapsed),
            paused: TimeDelta::seconds(paused),
            left: TimeDelta::seconds(target - elapsed),
            stopped_at: view.stopped.map(ts).transpose()?,
        })
    }

    /// Every alert of the current cycle whose instant is settled as of `now`: the
    /// warnings in share order, then the breach. Leaves out alerts that depend on when
    /// an ongoing pause ends, and alerts a stop came before (an alert fires only if it
    /// is due at or before the stop). Instants after `now` are predictions that hold
    /// unless the clock is paused, retargeted or stopped first.
    ///
    /// # Errors
    ///
    /// [`DeadlineError`] if the calendar cannot provide a share within the search
    /// horizon.
    pub fn alert_instants(
        &self,
        calendar: &Calendar,
        now: DateTime<Utc>,
    ) -> Result<Vec<Alert>, DeadlineError> {
        let view = self.view(now);
        let target = self.target;
        let kinds = self
            .warnings
            .shares()
            .iter()
            .map(|&s| (AlertKind::Warning(s), s.of(target)))
            .chain([(AlertKind::Breach, target)]);
        let mut alerts = Vec::new();
        for (kind, amount) in kinds {
            let strict = kind == AlertKind::Breach;
            let (at, provisional) = view.reach(calendar, amount.num_seconds(), strict)?;
            if provisional {
                continue;
            }
            let due_from = match kind {
                AlertKind::Breach => at + 1,
                AlertKind::Warning(_) => at,
            };
            if view.stopped.is_some_and(|stop| due_from > stop) {
                continue;
            }
            alerts.push(Alert {
                kind,
                cycle: self.cycle,
                at: ts(at)?,
                due_from: ts(due_from)?,
            });
        }
        Ok(alerts)
    }

    /// The deadline the cycle missed, if it is breached as of `now` (the state
    /// [`TargetClock::status`] would call [`ClockState::Breached`], with its deadline);
    /// `None` otherwise. One deadline computation, where `status` also counts elapsed
    /// and paused time and tests the warning share: what reports over many clocks need.
    ///
    /// # Errors
    ///
    /// As [`TargetClock::status`].
    pub fn missed_deadline(
        &self,
        calendar: &Calendar,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, DeadlineError> {
        let view = self.view(now);
        let (deadline, _) = view.reach(calendar, self.target.num_seconds(), true)?;
        let breached = match view.stopped {
            Some(stop) => stop > deadline,
            None => view.now > deadline,
        };
        breached.then(|| ts(deadline)).transpose()
    }

    /// The first warning and the deadline of a running clock's cycle (not paused, not
    /// stopped): the instants a board orders by. Two deadline computations, where
    /// [`TargetClock::alert_instants`] makes one per alert. `None` while paused or
    /// stopped. With no warning share, the "first warning" is the first second the
    /// clock is breached (one second after the deadline), so that a board treating
    /// `first_warning <= now` as urgent agrees with [`TargetClock::status`].
    ///
    /// # Errors
    ///
    /// As [`TargetClock::alert_instants`].
    pub fn running_instants(
        &self,
        calendar: &Calendar,
    ) -> Result<Option<RunningInstants>, DeadlineError> {
        if self.stopped_at.is_some() || self.paused_since.is_some() {
            return Ok(None);
        }
        let view = self.view(self.last_recorded());
        let (deadline, _) = view.reach(calendar, self.target.num_seconds(), true)?;
        let warning = match self.warnings.first() {
            Some(share) => {
                view.reach(calendar, share.of(self.target).num_seconds(), false)?
                    .0
            }
            // No warning: the row stays running through the deadline's second and is
            // breached from the next one.
            None => deadline.saturating_add(1),
        };
        Ok(Some(RunningInstants {
            first_warning: ts(warning)?,
            deadline: ts(deadline)?,
        }))
    }

    /// The alerts of the current cycle due at `now` (`due_from <= now`), dated at their
    /// computed instants. A scheduler records each (cycle, kind) once.
    ///
    /// # Errors
    ///
    /// As [`TargetClock::alert_instants`].
    pub fn due_alerts(
        &self,
        calendar: &Calendar,
        now: DateTime<Utc>,
    ) -> Result<Vec<Alert>, DeadlineError> {
        let mut alerts = self.alert_instants(calendar, now)?;
        alerts.retain(|a| a.due_from <= now);
        Ok(alerts)
    }

    /// The next alert to become due after `now`, if one is settled: `None` when all
    /// have fired, the clock is stopped, or the rest wait on an ongoing pause.
    ///
    /// # Errors
    ///
    /// As [`TargetClock::alert_instants`].
    pub fn next_alert(
        &self,
        calendar: &Calendar,
        now: DateTime<Utc>,
    ) -> Result<Option<Alert>, DeadlineError> {
        let alerts = self.alert_instants(calendar, now)?;
        Ok(alerts
            .into_iter()
            .filter(|a| a.due_from > now)
            .min_by_key(|a| a.due_from))
    }
}

impl TryFrom<ClockRecord> for TargetClock {
    type Error = ClockError;

    fn try_from(r: ClockRecord) -> Result<Self, Self::Error> {
        check_target(TimeDelta::seconds(r.target_seconds))?;
        if r.pauses.len() > MAX_PAUSES {
            return Err(ClockError::TooManyPauses);
        }
        let mut last = r.started_at;
        for p in &r.pauses {
            if p.from < last || p.to <= p.from {
                return Err(ClockError::Inconsistent(
                    "pauses must be non-empty, in order, and after the start",
                ));
            }
            last = p.to;
        }
        if r.paused_since.is_some() && r.stopped_at.is_some() {
            return Err(ClockError::Inconsistent("paused and stopped at once"));
        }
        if [r.paused_since, r.stopped_at]
            .into_iter()
            .flatten()
            .any(|t| t < last)
        {
            return Err(ClockError::Inconsistent(
                "the ongoing pause or stop precedes a recorded fact",
            ));
        }
        Ok(TargetClock {
            cycle: r.cycle,
            started_at: r.started_at,
            target: TimeDelta::seconds(r.target_seconds),
            warnings: r.warnings,
            pauses: r.pauses,
            paused_since: r.paused_since,
            stopped_at: r.stopped_at,
        })
    }
}

impl From<TargetClock> for ClockRecord {
    fn from(c: TargetClock) -> Self {
        ClockRecord {
            cycle: c.cycle,
            started_at: c.started_at,
            target_seconds: c.target.num_seconds(),
            warnings: c.warnings,
            pauses: c.pauses,
            paused_since: c.paused_since,
            stopped_at: c.stopped_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::WeeklyHours;
    use chrono::TimeZone;
    use chrono_tz::Asia::Shanghai;

    fn cal() -> Calendar {
        let nine_to_six = "09:00-18:00".parse().unwrap_or_else(|e| panic!("{e}"));
        Calendar::business("Asia/Shanghai", WeeklyHours::weekdays(vec![nine_to_six]))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Shanghai local time on day `d` of March 2026 (2026-03-02 is a Monday).
    fn sh(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        Shanghai
            .with_ymd_and_hms(2026, 3, d, h, m, 0)
            .single()
            .unwrap_or_else(|| panic!("{d} {h}:{m}"))
            .to_utc()
    }

    fn ladder() -> WarningLadder {
        WarningLadder::from_fractions(&[0.75, 0.9]).unwrap_or_else(|e| panic!("{e}"))
    }

    fn status(clock: &TargetClock, now: DateTime<Utc>) -> ClockStatus {
        clock.status(&cal(), now).unwrap_or_else(|e| panic!("{e}"))
    }

    fn alerts(clock: &TargetClock, now: DateTime<Utc>) -> Vec<(AlertKind, DateTime<Utc>)> {
        clock
            .alert_instants(&cal(), now)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|a| (a.kind, a.at))
            .collect()
    }

    fn share(f: f64) -> AlertKind {
        AlertKind::Warning(WarningShare::from_fraction(f).unwrap_or_else(|e| panic!("{e}")))
    }

    fn ok<T>(r: Result<T, ClockError>) -> T {
        r.unwrap_or_else(|e| panic!("{e}"))
    }

    /// Without a warning share the board's "first warning" is the first breached
    /// second, so the board and the row agree at the deadline's own second.
    #[test]
    fn without_warnings_the_first_warning_is_the_first_breached_second() {
        let clock = ok(TargetClock::start(
            sh(2, 9, 0),
            TimeDelta::hours(1),
            WarningLadder::default(),
        ));
        let running = clock
            .running_instants(&cal())
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("running"));
        assert_eq!(running.deadline, sh(2, 10, 0));
        assert_eq!(running.first_warning, sh(2, 10, 0) + TimeDelta::seconds(1));
        assert_eq!(status(&clock, running.deadline).state, ClockState::Running);
        assert_eq!(
            status(&clock, running.first_warning).state,
            ClockState::Breached
        );
    }

    #[test]
    fn the_mark_changes_with_every_change_and_only_then() {
        let mut clock = ok(TargetClock::start(
            sh(2, 9, 0),
            TimeDelta::hours(4),
            ladder(),
        ));
        let mut seen = vec![clock.mark()];
        let mut step = |clock: &TargetClock| {
            let mark = clock.mark();
            assert!(!seen.contains(&mark), "a change kept an earlier mark");
            seen.push(mark);
        };
        ok(clock.pause(sh(2, 10, 0)));
        step(&clock);
        ok(clock.resume(sh(2, 11, 0)));
        step(&clock);
        ok(clock.retarget(TimeDelta::hours(8)));
        step(&clock);
        ok(clock.stop(sh(2, 12, 0)));
        step(&clock);
        ok(clock.reopen(sh(2, 13, 0)));
        step(&clock);
        ok(clock.restart(sh(2, 14, 0)));
        step(&clock);
        // Equal clocks, equal marks; a refused change changes nothing.
        assert_eq!(clock.clone().mark(), clock.mark());
        let before = clock.mark();
        assert!(clock.resume(sh(2, 15, 0)).is_err());
        assert_eq!(clock.mark(), before);
    }

    #[test]
    fn warnings_and_breach_over_a_weekend() {
        // Opened Friday 2026-02-27 17:30 Shanghai, 4 h: deadline Monday 12:30.
        let opened = Shanghai
            .with_ymd_and_hms(2026, 2, 27, 17, 30, 0)
            .single()
            .unwrap_or_else(|| panic!("time"))
            .to_utc();
        let clock = ok(TargetClock::start(opened, TimeDelta::hours(4), ladder()));
        // 75 % = 3 h: 0.5 h Friday + 2.5 h Monday → 11:30. 90 % = 3 h 36 min → 12:06.
        assert_eq!(
            alerts(&clock, opened),
            vec![
                (share(0.75), sh(2, 11, 30)),
                (share(0.9), sh(2, 12, 6)),
                (AlertKind::Breach, sh(2, 12, 30)),
            ]
        );
        // The 75 % warning of this cycle is dated 2026-03-02T03:30Z, whenever asked.
        let due = clock.due_alerts(&cal(), sh(2, 15, 0)).unwrap_or_default();
        assert_eq!(due.len(), 3);
        assert_eq!(
            due.first().map(|a| a.at.to_rfc3339()),
            Some("2026-03-02T03:30:00+00:00".into())
        );

        assert_eq!(status(&clock, sh(2, 11, 0)).state, ClockState::Running);
        assert_eq!(status(&clock, sh(2, 11, 30)).state, ClockState::AtRisk);
        let at_deadline = status(&clock, sh(2, 12, 30));
        assert_eq!(at_deadline.state, ClockState::AtRisk);
        assert_eq!(at_deadline.left, TimeDelta::zero());
        let late = status(&clock, sh(2, 13, 0));
        assert_eq!(late.state, ClockState::Breached);
        assert_eq!(late.left, TimeDelta::minutes(-30));
        // The breach becomes due one second after the deadline.
        let next = clock
            .next_alert(&cal(), sh(2, 12, 6))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            next.map(|a| (a.kind, a.at, a.due_from)),
            Some((
                AlertKind::Breach,
                sh(2, 12, 30),
                sh(2, 12, 30) + TimeDelta::seconds(1)
            ))
        );
    }

    #[test]
    fn pause_moves_the_deadline_by_paused_business_time() {
        // Monday 09:00, 4 h. Paused Monday 17:00 to Tuesday 10:00: 1 h Monday + 1 h
        // Tuesday of business time paused. Counted: 09:00-17:00 = 8 h > 4 h, so the
        // deadline (13:00 Monday) came before the pause and does not move.
        let mut clock = ok(TargetClock::start(
            sh(2, 9, 0),
            TimeDelta::hours(4),
            ladder(),
        ));
        ok(clock.pause(sh(2, 17, 0)));
        ok(clock.resume(sh(3, 10, 0)));
        assert_eq!(status(&clock, sh(3, 11, 0)).deadline, sh(2, 13, 0));
        assert_eq!(status(&clock, sh(3, 11, 0)).state, ClockState::Breached);

        // Paused Monday 10:00 to Tuesday 10:00: 9 h of business time paused; counted
        // 1 h before; 3 h left from Tuesday 10:00 → Tuesday 13:00.
        let mut clock = ok(TargetClock::start(
            sh(2, 9, 0),
            TimeDelta::hours(4),
            ladder(),
        ));
        ok(clock.pause(sh(2, 10, 0)));
        let paused = status(&clock, sh(2, 16, 0));
        assert_eq!(paused.state, ClockState::Paused);
        assert!(paused.provisional);
        assert_eq!(paused.elapsed, TimeDelta::hours(1));
        assert_eq!(paused.paused, TimeDelta::hours(6));
        // If resumed now (16:00), 3 h left → 16:00-18:00 + Tuesday 09:00-10:00.
        assert_eq!(paused.deadline, sh(3, 10, 0));
        // While paused, nothing is settled beyond the pause.
        assert_eq!(alerts(&clock, sh(2, 16, 0)), vec![]);
        assert_eq!(clock.next_alert(&cal(), sh(2, 16, 0)).ok().flatten(), None);
        ok(clock.resume(sh(3, 10, 0)));
        let s = status(&clock, sh(3, 10, 0));
        assert_eq!(s.deadline, sh(3, 13, 0));
        assert!(!s.provisional);
        assert_eq!(s.paused, TimeDelta::hours(9));
        assert_eq!(s.left, TimeDelta::hours(3));
        // 75 % = 3 h counted: 1 h Monday + 2 h Tuesday → 12:00.
        assert_eq!(
            alerts(&clock, sh(3, 10, 0)).first(),
            Some(&(share(0.75), sh(3, 12, 0)))
        );
        // As of a moment during the pause, the clock still reads as paused.
        assert_eq!(status(&clock, sh(2, 16, 0)), paused);
    }

    #[test]
    fn retarget_recomputes_from_the_start_keeping_pauses() {
        // Monday 09:00, 8 h; paused 10:00-12:00 (2 h). Deadline: Tuesday 10:00
        // (1 h + 12:00-18:00 = 7 h, then 1 h Tuesday).
        let mut clock = ok(TargetClock::start(
            sh(2, 9, 0),
            TimeDelta::hours(8),
            ladder(),
        ));
        ok(clock.pause(sh(2, 10, 0)));
        ok(clock.resume(sh(2, 12, 0)));
        assert_eq!(status(&clock, sh(2, 13, 0)).deadline, sh(3, 10, 0));
        // Raised to critical at 13:00: 4 h from the original start, keeping the pause:
        // 09:00-10:00 + 12:00-15:00 → Monday 15:00.
        ok(clock.retarget(TimeDelta::hours(4)));
        let s = status(&clock, sh(2, 13, 0));
        assert_eq!(s.deadline, sh(2, 15, 0));
        assert_eq!(s.left, TimeDelta::hours(2));
        // 75 % of 4 h = 3 h → 14:00; 90 % = 3 h 36 min → 14:36.
        assert_eq!(
            alerts(&clock, sh(2, 13, 0)),
            vec![
                (share(0.75), sh(2, 14, 0)),
                (share(0.9), sh(2, 14, 36)),
                (AlertKind::Breach, sh(2, 15, 0)),
            ]
        );
        // Lowered to 2 h: 09:00-10:00 + 12:00-13:00, so the deadline is 13:00, exactly
        // now: not yet breached, nothing left.
        ok(clock.retarget(TimeDelta::hours(2)));
        let s = status(&clock, sh(2, 13, 0));
        assert_eq!(s.deadline, sh(2, 13, 0));
        assert_eq!((s.state, s.left), (ClockState::AtRisk, TimeDelta::zero()));
        let s = status(&clock, sh(2, 13, 30));
        assert_eq!(
            (s.state, s.left),
            (ClockState::Breached, TimeDelta::minutes(-30))
        );
        // Its warnings are dated back to when the shares fell: 1 h 30 min → 12:30.
        assert_eq!(
            alerts(&clock, sh(2, 13, 30)).first(),
            Some(&(share(0.75), sh(2, 12, 30)))
        );
    }

    #[test]
    fn pause_exactly_at_the_deadline_is_not_a_breach() {
        let mut clock = ok(TargetClock::start(
            sh(2, 9, 0),
            TimeDelta::hours(4),
            ladder(),
        ));
        ok(clock.pause(sh(2, 13, 0)));
        let s = status(&clock, sh(2, 15, 0));
        assert_eq!((s.state, s.left), (ClockState::Paused, TimeDelta::zero()));
        ok(clock.resume(sh(2, 16, 0)));
        let s = status(&clock, sh(2, 16, 1));
        assert_eq!((s.state, s.deadline), (ClockState::Breached, sh(2, 16, 0)));
    }

    #[test]
    fn stop_met_or_late_and_reopen() {
        let mut clock = ok(TargetClock::start(
            sh(2, 9, 0),
            TimeDelta::hours(4),
            ladder(),
        ));
        ok(clock.stop(sh(2, 13, 0)));
        let s = status(&clock, sh(5, 9, 0));
        assert_eq!(s.state, ClockState::Met);
        assert_eq!(s.left, TimeDelta::zero());
        // The warnings fired (due before the stop), the breach did not.
        let kinds: Vec<_> = alerts(&clock, sh(5, 9, 0))
            .into_iter()
            .map(|a| a.0)
            .collect();
        assert_eq!(kinds, vec![share(0.75), share(0.9)]);
        assert_eq!(clock.next_alert(&cal(), sh(5, 9, 0)).ok().flatten(), None);
        assert_eq!(clock.pause(sh(5, 9, 0)), Err(ClockError::Stopped));

        // Reopened Tuesday 09:00 with nothing left: the stop was exactly on time, so the
        // target is missed the moment the cycle resumes, and the breach is dated then.
        ok(clock.reopen(sh(3, 9, 0)));
        let s = status(&clock, sh(3, 9, 30));
        assert_eq!(s.deadline, sh(3, 9, 0));
        assert_eq!(s.state, ClockState::Breached);
        assert_eq!(s.cycle, 0);
        assert_eq!(
            alerts(&clock, sh(3, 9, 30)).last(),
            Some(&(AlertKind::Breach, sh(3, 9, 0)))
        );

        // Stopped late.
        let mut late = ok(TargetClock::start(
            sh(2, 9, 0),
            TimeDelta::hours(4),
            ladder(),
        ));
        ok(late.stop(sh(2, 14, 0)));
        assert_eq!(status(&late, sh(2, 15, 0)).state, ClockState::Breached);
        assert_eq!(status(&late, sh(2, 15, 0)).left, TimeDelta::hours(-1));
        // As of before the stop, it was still running.
        assert_eq!(status(&late, sh(2, 12, 0)).state, ClockState::AtRisk);
    }

    #[test]
    fn reopen_resumes_the_cycle_with_the_resolved_stretch_paused() {
        // Monday 09:00, 8 h; resolved Monday 13:00 (4 h counted), reopened Tuesday
        // 11:00: Monday 13:00-18:00 and Tuesday 09:00-11:00 are not counted; 4 h left
        // from Tuesday 11:00 → Tuesday 15:00.
        let mut clock = ok(TargetClock::start(
            sh(2, 9, 0),
            TimeDelta::hours(8),
            ladder(),
        ));
        ok(clock.stop(sh(2, 13, 0)));
        ok(clock.reopen(sh(3, 11, 0)));
        let s = status(&clock, sh(3, 12, 0));
        assert_eq!(s.deadline, sh(3, 15, 0));
        // 5 h of 8 counted: short of 75 % (6 h).
        assert_eq!(s.state, ClockState::Running);
        assert_eq!(s.elapsed, TimeDelta::hours(5));
        // As of Monday 15:00 (between the stop and the reopen) it reads as met.
        assert_eq!(status(&clock, sh(2, 15, 0)).state, ClockState::Met);
    }

    #[test]
    fn restart_begins_a_new_cycle() {
        let mut clock = ok(TargetClock::start(
            sh(2, 9, 0),
            TimeDelta::hours(1),
            ladder(),
        ));
        ok(clock.pause(sh(2, 9, 10)));
        ok(clock.restart(sh(2, 9, 30)));
        assert_eq!(clock.cycle(), 1);
        let s = status(&clock, sh(2, 9, 30));
        assert_eq!(s.state, ClockState::Running);
        assert_eq!(s.deadline, sh(2, 10, 30));
        let a = clock.due_alerts(&cal(), sh(2, 10, 31)).unwrap_or_default();
        assert!(a.iter().all(|a| a.cycle == 1));
        assert_eq!(a.len(), 3);
    }

    #[test]
    fn transitions_are_checked() {
        let mut clock = ok(TargetClock::start(
            sh(2, 9, 0),
            TimeDelta::hours(1),
            ladder(),
        ));
        assert_eq!(clock.resume(sh(2, 9, 0)), Err(ClockError::NotPaused));
        assert_eq!(clock.reopen(sh(2, 9, 0)), Err(ClockError::NotStopped));
        assert!(matches!(
            clock.pause(sh(2, 8, 0)),
            Err(ClockError::OutOfOrder { .. })
        ));
        ok(clock.pause(sh(2, 9, 5)));
        assert_eq!(clock.pause(sh(2, 9, 6)), Err(ClockError::AlreadyPaused));
        assert!(matches!(
            clock.resume(sh(2, 9, 4)),
            Err(ClockError::OutOfOrder { .. })
        ));
        let before = clock.clone();
        assert!(clock.retarget(TimeDelta::zero()).is_err());
        assert!(clock.retarget(TimeDelta::days(366)).is_err());
        assert_eq!(clock, before);
        assert!(TargetClock::start(sh(2, 9, 0), TimeDelta::seconds(-1), ladder()).is_err());
    }

    #[test]
    fn serde_round_trip_and_validation() {
        let mut clock = ok(TargetClock::start(
            sh(2, 9, 0),
            TimeDelta::hours(4),
            ladder(),
        ));
        ok(clock.pause(sh(2, 10, 0)));
        ok(clock.resume(sh(2, 11, 0)));
        ok(clock.pause(sh(2, 12, 0)));
        let json = serde_json::to_string(&clock).unwrap_or_default();
        let back: TargetClock = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, clock);
        let bad = json.replace(
            "\"paused_since\":\"2026-03-02T04:00:00Z\"",
            "\"paused_since\":\"2026-03-02T01:00:00Z\"",
        );
        assert_ne!(bad, json);
        assert!(serde_json::from_str::<TargetClock>(&bad).is_err());
    }
}
