//! Casebook: an event-sourced incident-response engine for an information-security
//! after-sales desk.
//!
//! Commands go in; typed rejections or recorded events come out. Every event is kept in
//! an append-only log ([`casebook_store::EventStore`]); every state is the fold of its
//! events. The rules live in [`casebook_core`], pure; this crate runs them: the
//! [`Engine`] loads, decides, appends with optimistic concurrency, and caches.
//!
//! # Quickstart
//!
//! ```
//! use std::sync::Arc;
//! use casebook::prelude::*;
//! use chrono::{TimeZone, Utc};
//!
//! let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()));
//! let engine = Engine::builder(Arc::new(MemoryStore::new())).clock(clock.clone()).build();
//!
//! // Bootstrap the desk: the system registers a customer and the first members.
//! let system = Actor::system("bootstrap");
//! let acme = OrgId::new("acme")?;
//! engine.execute(&system, DirectoryCommand::RegisterCustomer { org: acme.clone(), name: "ACME Corp".into(), tier: CustomerTier::Premium })?;
//! for (id, role, org) in [("li.na", Role::ProjectManager, None), ("wang.wei", Role::SupportEngineer, None), ("bob", Role::Customer, Some(acme.clone()))] {
//!     engine.execute(&system, DirectoryCommand::AddMember {
//!         member: MemberId::new(id)?, name: id.into(), roles: [role].into(), org, team: None,
//!     })?;
//! }
//! let (pm, eng, bob) = (Actor::member("li.na")?, Actor::member("wang.wei")?, Actor::member("bob")?);
//!
//! // The customer opens a ticket; the desk takes it through the six stages.
//! let t = TicketId(engine.new_id());
//! engine.execute(&bob, (t, TicketCommand::Open(NewTicket {
//!     org: acme.clone(), channel: Channel::Portal, title: "VPN down".into(),
//!     description: "Nobody can connect to the VPN since 08:00".into(),
//!     contact: Contact { name: "Bob".into(), email: Some("bob@acme.example".into()), phone: None },
//!     affected_system: "vpn-gw-1".into(), reported_at: None,
//! })))?;
//! engine.execute(&eng, (t, TicketCommand::Triage { severity: Severity::High, urgency: Urgency::Normal, complex: false, multi_team: false }))?;
//! engine.execute(&eng, (t, TicketCommand::Diagnose { cause: "expired certificate".into(), solution: "renew and deploy".into() }))?;
//! engine.execute(&eng, (t, TicketCommand::StartFix))?;
//! engine.execute(&eng, (t, TicketCommand::ReportFixDone { summary: "certificate renewed".into() }))?;
//! engine.execute(&eng, (t, TicketCommand::PassVerification { notes: "10 test logins ok".into() }))?;
//! engine.execute(&bob, (t, TicketCommand::Confirm { comment: Some("works, thanks".into()) }))?;
//! engine.execute(&bob, (t, TicketCommand::RateSatisfaction { score: 5, comment: None }))?;
//! engine.execute(&eng, (t, TicketCommand::Close {
//!     category: "vpn".into(), summary: "expired certificate on the VPN gateway".into(),
//!     result: "renewed; monitoring added".into(), classification: Classification::Internal,
//! }))?;
//! assert_eq!(engine.ticket(t)?.stage, Some(Stage::Closed));
//!
//! // A rule refuses what the lifecycle does not allow, and records nothing.
//! let err = engine.execute(&eng, (t, TicketCommand::StartFix)).unwrap_err();
//! assert!(matches!(err.rejection(), Some(Rejection::WrongStage { .. })));
//!
//! for e in engine.history(&stream_of::<Ticket>(&t)?)? {
//!     println!("{} {} {}", e.stream_version, e.event_type, e.actor);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod clock;
mod engine;
mod idgen;
pub mod process;
pub mod scheduler;
mod upcast;

pub use casebook_core as core;
pub use casebook_projections as projections;
pub use casebook_sla as sla;
pub use casebook_store as store;

/// The embedded default store: open it from a path and hand it to [`Engine::builder`].
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use casebook::{Durability, Engine, SledOptions, SledStore};
/// # let dir = tempfile::tempdir()?;
/// let store = SledStore::open(dir.path(), SledOptions { durability: Durability::Synced })?;
/// let engine = Engine::builder(Arc::new(store)).build();
/// # let _ = engine;
/// # Ok(())
/// # }
/// ```
pub use casebook_sled::{Durability, SledOptions, SledStore};

pub use clock::{Clock, ClockError, ManualClock, SystemClock};
pub use engine::{
    stream_of, Command, CommandMeta, Engine, EngineBuilder, EngineError, EngineOptions, Envelope,
};
pub use idgen::{IdGenerator, RandomIds, SeededIds};
pub use upcast::{UpcastFn, Upcasters};

/// The names most programs need, in one import.
pub mod prelude {
    pub use crate::process::{EmergencyConfig, EmergencyResponse};
    pub use crate::{
        stream_of, Clock, Command, CommandMeta, Engine, EngineError, ManualClock, SeededIds,
        SystemClock,
    };
    pub use casebook_core::drill::{Drill, DrillCommand, DrillEvent, DrillScore};
    pub use casebook_core::incident::{
        ActionKind, Incident, IncidentCommand, IncidentEvent, IncidentSource, LossAssessment,
        NewIncident, PostIncidentReview,
    };
    pub use casebook_core::monitoring::{
        Comparison, Metric, MonitoringRule, RuleCommand, RuleDefinition, RuleEvent, ScopeKind,
    };
    pub use casebook_core::plan::{
        ContingencyPlan, Phase, PlanCommand, PlanContent, PlanEvent, PlanRef, ProcessStep,
        ResponseRole, RevisionSource,
    };
    pub use casebook_core::ticket::{
        Channel, Classification, Contact, NewTicket, PlanStep, Stage, Ticket, TicketCommand,
        TicketEvent, Urgency, WithdrawalReason,
    };
    pub use casebook_core::{
        Actor, CaseKind, CustomerTier, DeskSettings, Directory, DirectoryCommand, IncidentId,
        MemberId, OrgId, Rejection, Role, Rule, Severity, TicketId,
    };
    pub use casebook_core::{CaseId, ServiceLevelsCommand, SlaAlertEvent};
    pub use casebook_core::{DrillId, PlanId, RuleId};
    pub use casebook_projections::{BoardFilter, Page, SlaView};
    pub use casebook_store::{EventStore, MemoryStore, StreamId};
}
