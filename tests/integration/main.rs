//! The integration test binary: the engine end to end. The lifecycle and role tests run
//! twice, on the in-memory store (`memory`) and on the sled store (`sled`).

// Tests state their expectations with unwrap: a failure is the report.
#![allow(clippy::unwrap_used)]
// `memory` and `sled` include the same test files on purpose: one suite, every store.
#![allow(clippy::duplicate_mod)]

mod alert_model;
mod drill_model;
mod drills;
mod emergency_model;
mod engine;
mod incident_model;
mod incidents;
mod kpi;
mod migration;
mod monitoring;
mod multi_instance;
mod plan_model;
mod plans;
mod sla;
mod sla_incidents;
mod support;
mod ticket_model;

/// The lifecycle and role tests on the in-memory store.
mod memory;
/// The same tests, unchanged, on the embedded sled store (fsync'd appends).
mod sled;
