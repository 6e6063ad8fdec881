//! The pure domain of Casebook.
//!
//! Commands in, events or a [`Rejection`] out. Each aggregate is a pair of pure functions,
//! [`Aggregate::decide`] and [`Aggregate::evolve`]; time, identity and the directory come
//! in through [`Context`]. Nothing here does I/O, reads a clock or draws random numbers:
//! that is the engine's job (`casebook` crate).
//!
//! - [`directory`]: members, roles, customer organisations (domain.md §1).
//! - [`ticket`]: the customer ticket lifecycle (domain.md §2).
//! - [`roles`]: roles, actors, principals and permissions.
//! - [`incident`], [`plan`], [`monitoring`], [`drill`]: emergency response (domain.md
//!   §3–§5): incidents, contingency plans, monitoring rules and alerts, drills.
//! - [`service_levels`]: SLA policy versions and recorded SLA alerts as events (§6).
//! - [`assessment`]: qualitative staff ratings a project manager enters (§7).
//! - Service-level keys ([`Severity`], [`CustomerTier`], [`CaseKind`]) come from
//!   `casebook-sla`, the pure SLA arithmetic crate, and are re-exported here.

pub mod aggregate;
pub mod assessment;
pub mod directory;
pub mod drill;
pub mod ids;
pub mod incident;
pub mod monitoring;
pub mod plan;
pub mod rejection;
pub mod roles;
pub mod service_levels;
pub mod ticket;

pub use aggregate::{fold, Aggregate, Context, DeskSettings, DomainCommand, DomainEvent};
pub use assessment::{AssessmentCommand, AssessmentEvent, Assessments};
pub use casebook_sla::{CaseKind, CustomerTier, Severity};
pub use directory::{CustomerOrg, DeskId, Directory, DirectoryCommand, DirectoryEvent, Member};
pub use drill::{Drill, DrillCommand, DrillEvent, DrillScore};
pub use ids::{DrillId, IncidentId, MemberId, OrgId, PlanId, RuleId, TicketId};
pub use incident::{Incident, IncidentCommand, IncidentEvent};
pub use monitoring::{MonitoringRule, RuleCommand, RuleEvent};
pub use plan::{ContingencyPlan, PlanCommand, PlanEvent, PlanRef};
pub use rejection::{Rejection, Rule};
pub use roles::{Actor, Permission, Principal, Role};
pub use service_levels::{
    CaseId, ServiceLevels, ServiceLevelsCommand, ServiceLevelsEvent, SlaAlert, SlaAlertCommand,
    SlaAlertEvent, SlaAlerts,
};
pub use ticket::{Stage, Ticket, TicketCommand, TicketEvent};
