//! Read models of Casebook: pure folds over the event log ([`casebook_store::Envelope`]s
//! in global order), checkpointed in the store.
//!
//! - [`sla`]: the service-level view ([`SlaView`]): per open case and target the
//!   deadline, business time left and state; the board (at risk and breached first);
//!   every breach; compliance; and the "what if" replay under a proposed policy.
//! - [`kpi`]: service-quality KPIs per month or quarter ([`kpi::KpiView`],
//!   [`kpi::KpiReport`]), with [`period`] (periods in the desk's time zone, exact
//!   percentiles), [`scorecard`] (weighted scores next to qualitative ratings),
//!   [`knowledge`] (recorded cases by category, searchable) and [`report`] (JSON, CSV,
//!   terminal tables).
//!
//! A read model never writes events and never reads the machine's clock: every query
//! that depends on time takes its `now`.

pub mod knowledge;
pub mod kpi;
pub mod period;
pub mod report;
pub mod scorecard;
pub mod sla;

pub use sla::{
    what_if, BoardFilter, BoardPage, BoardRow, Breach, CaseSla, Compliance, Outcome, Page, SlaView,
    SlaViewError, TargetCompliance, TargetStatus, WhatIfReport, SLA_CHECKPOINT,
};
