//! The deadline scheduler: records service-level warnings and breaches as events, and
//! expires ticket confirmation windows (domain.md §2, §6).
//!
//! Cases are tickets and incidents alike (the [`SlaView`] folds both; drills never
//! are cases). [`tick`] is safe to call as often as you like, from several processes,
//! and again after a crash: every alert is an event on the case's `sla` stream
//! ([`casebook_core::SlaAlerts`], keyed by [`CaseId`]: `sla:<ticket>` or
//! `sla:incident-<incident>`), whose state is the set of (target, cycle, kind)
//! already recorded, and the engine appends with the stream's expected version. So each
//! (case, target, cycle, level) is recorded exactly once whoever notices it first, and
//! a second tick records nothing. Each alert's payload carries the computed instant it
//! is dated at (`due_at`: the warning share's instant or the deadline); the envelope's
//! recorded time is when the scheduler noticed it.
//!
//! The scheduler acts as `Actor::system("scheduler")`.
//!
//! Cost: one pass over the cases the [`SlaView`] knows (open and closed), computing the
//! alerts of each clock; O(cases × targets). The board index makes the board fast; the
//! scheduler's pass stays linear because an alert can still be due on a paused or
//! stopped clock, which the board index leaves out.

use casebook_core::{Actor, CaseId, Rejection, SlaAlert, SlaAlertCommand, TicketCommand, TicketId};
use casebook_projections::{SlaView, SlaViewError};
use chrono::{DateTime, Utc};

use crate::engine::{Command, Engine, EngineError};

/// Why a tick stopped. Alerts and expiries recorded before the error stay recorded
/// (each is its own durable, idempotent command), so the next tick carries on.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// The SLA view could not be read or caught up.
    #[error("SLA view: {0}")]
    View(#[from] SlaViewError),
    /// A command failed for a reason other than a benign race.
    #[error("engine: {0}")]
    Engine(#[from] EngineError),
}

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Warnings recorded by this tick.
    pub warnings: usize,
    /// Breaches recorded by this tick.
    pub breaches: usize,
    /// Tickets whose confirmation window this tick expired.
    pub expired: Vec<TicketId>,
    /// The log position the view had reached when the tick began.
    pub position: u64,
}

/// The actor the scheduler acts as.
pub fn scheduler_actor() -> Actor {
    Actor::system("scheduler")
}

/// One pass of the deadline scheduler at `now` (usually `engine.clock().now()`): builds
/// the SLA view from its checkpoint, records every warning and breach due by `now` not
/// yet recorded, expires confirmation windows that ran out, catches the view up and
/// saves its checkpoint.
///
/// # Errors
///
/// [`SchedulerError`] on a storage, decode or engine failure.
pub fn tick(engine: &Engine, now: DateTime<Utc>) -> Result<TickReport, SchedulerError> {
    let store = &**engine.store();
    let mut view = SlaView::resume(store)?;
    let report = tick_with(engine, &mut view, now)?;
    view.save_checkpoint(store)?;
    Ok(report)
}

/// [`tick`] with a view the caller keeps between ticks (caught up first and after).
///
/// # Errors
///
/// As [`tick`].
pub fn tick_with(
    engine: &Engine,
    view: &mut SlaView,
    now: DateTime<Utc>,
) -> Result<TickReport, SchedulerError> {
    let store = &**engine.store();
    view.catch_up(store)?;
    let mut report = TickReport {
        position: view.position(),
        ..TickReport::default()
    };
    let window = engine.settings().confirmation_window;
    let mut alerts_by_case: Vec<(CaseId, Vec<SlaAlert>)> = Vec::new();
    let mut expiries: Vec<TicketId> = Vec::new();
    for case in view.cases() {
        // Only tickets wait for a confirmation the scheduler expires.
        if let Some(ticket) = case.case.ticket() {
            if case.open
                && case
                    .confirm_since
                    .is_some_and(|since| since + window <= now)
            {
                expiries.push(ticket);
            }
        }
        let Some(policy) = view.policy_of(case) else {
            continue;
        };
        let mut due = Vec::new();
        for (&target, clock) in &case.clocks {
            // A clock whose alerts cannot be computed (a calendar without working time
            // within the search horizon) has nothing due that could be dated.
            let Ok(alerts) = clock.due_alerts(policy.calendar(), now) else {
                continue;
            };
            for alert in alerts {
                if case.recorded.contains(&(target, alert.cycle, alert.kind)) {
                    continue;
                }
                due.push(SlaAlert {
                    case_kind: case.kind,
                    target,
                    cycle: alert.cycle,
                    kind: alert.kind,
                    due_at: alert.at,
                    policy_version: policy.version(),
                });
            }
        }
        if !due.is_empty() {
            alerts_by_case.push((case.case, due));
        }
    }
    let actor = scheduler_actor();
    for (case, alerts) in alerts_by_case {
        let recorded = engine.execute(
            &actor,
            Command::SlaAlerts(case, SlaAlertCommand::Record { alerts }),
        )?;
        for envelope in &recorded {
            if envelope.event_type == "SlaBreachRecorded" {
                report.breaches += 1;
            } else {
                report.warnings += 1;
            }
        }
    }
    for case in expiries {
        match engine.execute(&actor, (case, TicketCommand::ExpireConfirmation)) {
            Ok(recorded) if !recorded.is_empty() => report.expired.push(case),
            Ok(_) => {}
            // Benign races: the customer answered meanwhile, or the engine's clock is
            // behind `now`. The next tick sees the new state.
            Err(EngineError::Rejected(Rejection::WrongStage { .. } | Rejection::Rule { .. })) => {}
            Err(e) => return Err(e.into()),
        }
    }
    view.catch_up(store)?;
    Ok(report)
}
