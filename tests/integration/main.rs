//! The integration test binary: the engine end to end, on the in-memory store (and on
//! the sled store.

// Tests state their expectations with unwrap: a failure is the report.
#![allow(clippy::unwrap_used)]

mod engine;
mod roles;
mod support;
mod ticket_lifecycle;
mod ticket_model;
