//! Service-level configuration and service-level alerts as events (domain.md §6).
//!
//! - [`ServiceLevels`]: the desk's one stream of SLA policy versions. A project manager
//!   publishes a version ([`ServiceLevelsCommand::PublishPolicy`]); the
//!   [`PolicyBook`] in force is the fold of [`ServiceLevelsEvent::PolicyPublished`]
//!   events. A version may only take effect after its predecessor and not before the
//!   moment it is published, so publishing never rewrites what was already reported.
//! - [`SlaAlerts`]: one stream per case ([`CaseId`]: a ticket or an incident) of the
//!   warnings and breaches the deadline scheduler recorded. A ticket's stream is
//!   `sla:<ticket uuid>`, an incident's `sla:incident-<incident uuid>`. Its state is the set of (target, cycle, alert kind) already
//!   recorded, so recording the same alert twice records nothing the second time (the
//!   engine's expected-version append makes that hold across concurrent schedulers).

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use casebook_sla::{AlertKind, CaseKind, PolicyBook, SlaPolicy, SlaPolicySpec, TargetKind};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, Context, DomainCommand, DomainEvent};
use crate::directory::DeskId;
use crate::ids::{IncidentId, TicketId};
use crate::rejection::{Rejection, Rule};
use crate::roles::Permission;

/// Commands on the desk's service-level configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceLevelsCommand {
    /// Publishes a new policy version, effective from `policy.effective_from`.
    /// Project managers only.
    PublishPolicy {
        /// The version, in its plain-data form (validated on decide).
        policy: SlaPolicySpec,
    },
}

impl DomainCommand for ServiceLevelsCommand {
    fn name(&self) -> &'static str {
        match self {
            ServiceLevelsCommand::PublishPolicy { .. } => "publish an SLA policy",
        }
    }
}

/// Events of the desk's service-level configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ServiceLevelsEvent {
    /// A policy version was published; it is in force from its `effective_from` until
    /// the next version's.
    PolicyPublished {
        /// The version, already validated.
        policy: SlaPolicy,
    },
}

impl DomainEvent for ServiceLevelsEvent {
    fn event_type(&self) -> &'static str {
        match self {
            ServiceLevelsEvent::PolicyPublished { .. } => "SlaPolicyPublished",
        }
    }
}

/// The desk's service-level configuration: the fold of its events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceLevels {
    /// Every published version, in effective order.
    pub book: PolicyBook,
}

impl ServiceLevels {
    /// The stream's local id (the kind is [`ServiceLevels::KIND`](Aggregate::KIND)).
    pub const STREAM: &'static str = "desk";

    /// Applies one event to a policy book (shared with read models that fold the
    /// configuration stream themselves). Recorded events were validated when decided;
    /// a version that does not follow its predecessor (impossible through `decide`) is
    /// ignored rather than panicking on stored data.
    pub fn apply(book: &mut PolicyBook, event: &ServiceLevelsEvent) {
        match event {
            ServiceLevelsEvent::PolicyPublished { policy } => {
                let _ignored_if_out_of_order = book.push(policy.clone());
            }
        }
    }
}

impl Aggregate for ServiceLevels {
    const KIND: &'static str = "service_levels";
    type Id = DeskId;
    type Command = ServiceLevelsCommand;
    type Event = ServiceLevelsEvent;

    fn decide(
        &self,
        _id: &DeskId,
        command: &ServiceLevelsCommand,
        ctx: &Context<'_>,
    ) -> Result<Vec<ServiceLevelsEvent>, Rejection> {
        ctx.principal
            .require(Permission::ManageDesk, command.name())?;
        match command {
            ServiceLevelsCommand::PublishPolicy { policy } => {
                let policy = SlaPolicy::try_from(policy.clone())
                    .map_err(|e| Rejection::invalid("policy", e.to_string()))?;
                if policy.effective_from() < ctx.now {
                    return Err(Rejection::rule(
                        Rule::OutOfOrder,
                        format!(
                            "policy version {} would take effect at {}, before now ({}): \
                             a policy change never rewrites the past",
                            policy.version(),
                            policy.effective_from().to_rfc3339(),
                            ctx.now.to_rfc3339()
                        ),
                    ));
                }
                let mut book = self.book.clone();
                book.push(policy.clone())
                    .map_err(|e| Rejection::rule(Rule::OutOfOrder, e.to_string()))?;
                Ok(vec![ServiceLevelsEvent::PolicyPublished { policy }])
            }
        }
    }

    fn evolve(&mut self, event: &ServiceLevelsEvent, _at: DateTime<Utc>) {
        ServiceLevels::apply(&mut self.book, event);
    }
}

/// A case the service levels apply to: a customer ticket or a security incident.
///
/// Its text form (used as the SLA alert stream's local id and as its serde form) is the
/// ticket's UUID for a ticket, so ticket alert streams keep the `sla:<uuid>` id they
/// always had, and `incident-<uuid>` for an incident.
///
/// # Example
///
/// ```
/// use casebook_core::{CaseId, CaseKind, IncidentId, TicketId};
/// use uuid::Uuid;
///
/// let ticket = CaseId::from(TicketId(Uuid::nil()));
/// assert_eq!(ticket.to_string(), "00000000-0000-0000-0000-000000000000");
/// let incident = CaseId::from(IncidentId(Uuid::nil()));
/// assert_eq!(incident.kind(), CaseKind::Incident);
/// assert_eq!(incident.to_string().parse::<CaseId>()?, incident);
/// # Ok::<(), casebook_core::Rejection>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum CaseId {
    /// A customer ticket.
    Ticket(TicketId),
    /// A security incident (drills are never SLA cases).
    Incident(IncidentId),
}

/// The prefix of an incident's [`CaseId`] text form.
const INCIDENT_PREFIX: &str = "incident-";

impl CaseId {
    /// Ticket or incident.
    pub fn kind(&self) -> CaseKind {
        match self {
            CaseId::Ticket(_) => CaseKind::Ticket,
            CaseId::Incident(_) => CaseKind::Incident,
        }
    }

    /// The ticket, if it is one.
    pub fn ticket(&self) -> Option<TicketId> {
        match self {
            CaseId::Ticket(t) => Some(*t),
            CaseId::Incident(_) => None,
        }
    }

    /// The incident, if it is one.
    pub fn incident(&self) -> Option<IncidentId> {
        match self {
            CaseId::Incident(i) => Some(*i),
            CaseId::Ticket(_) => None,
        }
    }
}

impl fmt::Display for CaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaseId::Ticket(t) => t.fmt(f),
            CaseId::Incident(i) => write!(f, "{INCIDENT_PREFIX}{i}"),
        }
    }
}

impl FromStr for CaseId {
    type Err = Rejection;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().strip_prefix(INCIDENT_PREFIX) {
            Some(rest) => rest.parse().map(CaseId::Incident),
            None => s.parse().map(CaseId::Ticket),
        }
    }
}

impl TryFrom<String> for CaseId {
    type Error = Rejection;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<CaseId> for String {
    fn from(value: CaseId) -> Self {
        value.to_string()
    }
}

impl From<TicketId> for CaseId {
    fn from(value: TicketId) -> Self {
        CaseId::Ticket(value)
    }
}

impl From<IncidentId> for CaseId {
    fn from(value: IncidentId) -> Self {
        CaseId::Incident(value)
    }
}

impl PartialEq<TicketId> for CaseId {
    fn eq(&self, other: &TicketId) -> bool {
        *self == CaseId::Ticket(*other)
    }
}

impl PartialEq<IncidentId> for CaseId {
    fn eq(&self, other: &IncidentId) -> bool {
        *self == CaseId::Incident(*other)
    }
}

/// One warning or breach of one target cycle of a case, as the scheduler records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SlaAlert {
    /// The kind of case; it must agree with the alert stream's [`CaseId`].
    pub case_kind: CaseKind,
    /// Which target.
    pub target: TargetKind,
    /// The target cycle (next-update restarts a cycle at each update).
    pub cycle: u32,
    /// Which warning share, or the breach.
    pub kind: AlertKind,
    /// The computed instant the alert is dated at (the share's instant or the
    /// deadline), not the moment it was noticed (that is the envelope's time).
    pub due_at: DateTime<Utc>,
    /// The policy version the case runs under.
    pub policy_version: u32,
}

impl SlaAlert {
    /// The dedupe key: each (target, cycle, kind) is recorded once per case.
    pub fn key(&self) -> (TargetKind, u32, AlertKind) {
        (self.target, self.cycle, self.kind)
    }
}

/// Commands on a case's SLA alert stream. The system (the deadline scheduler) only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaAlertCommand {
    /// Records the alerts not recorded yet; those already recorded are skipped.
    Record {
        /// The alerts found due.
        alerts: Vec<SlaAlert>,
    },
}

impl DomainCommand for SlaAlertCommand {
    fn name(&self) -> &'static str {
        match self {
            SlaAlertCommand::Record { .. } => "record SLA alerts",
        }
    }
}

/// Events of a case's SLA alert stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SlaAlertEvent {
    /// A warning share of a target was reached.
    WarningRecorded(SlaAlert),
    /// A target was breached (dated at its deadline).
    BreachRecorded(SlaAlert),
}

impl SlaAlertEvent {
    /// The alert.
    pub fn alert(&self) -> &SlaAlert {
        match self {
            SlaAlertEvent::WarningRecorded(a) | SlaAlertEvent::BreachRecorded(a) => a,
        }
    }
}

impl DomainEvent for SlaAlertEvent {
    fn event_type(&self) -> &'static str {
        match self {
            SlaAlertEvent::WarningRecorded(_) => "SlaWarningRecorded",
            SlaAlertEvent::BreachRecorded(_) => "SlaBreachRecorded",
        }
    }
}

/// The most alerts one record command may carry (3 targets × (8 warnings + breach),
/// with room to spare).
pub const MAX_ALERTS_PER_RECORD: usize = 64;

/// The alerts recorded for one case ([`CaseId`]): the fold of its alert stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaAlerts {
    /// What was recorded: (target, cycle, alert kind).
    pub recorded: BTreeSet<(TargetKind, u32, AlertKind)>,
}

impl Aggregate for SlaAlerts {
    const KIND: &'static str = "sla";
    type Id = CaseId;
    type Command = SlaAlertCommand;
    type Event = SlaAlertEvent;

    fn decide(
        &self,
        id: &CaseId,
        command: &SlaAlertCommand,
        ctx: &Context<'_>,
    ) -> Result<Vec<SlaAlertEvent>, Rejection> {
        if !ctx.principal.is_system() {
            return Err(ctx.principal.refuse(command.name(), "the system scheduler"));
        }
        match command {
            SlaAlertCommand::Record { alerts } => {
                if alerts.len() > MAX_ALERTS_PER_RECORD {
                    return Err(Rejection::invalid(
                        "alerts",
                        format!(
                            "{} alerts in one command; at most {MAX_ALERTS_PER_RECORD}",
                            alerts.len()
                        ),
                    ));
                }
                if let Some(wrong) = alerts.iter().find(|a| a.case_kind != id.kind()) {
                    return Err(Rejection::invalid(
                        "alerts",
                        format!(
                            "an alert for a {} on the SLA stream of {} {id}",
                            wrong.case_kind,
                            id.kind()
                        ),
                    ));
                }
                let mut seen = BTreeSet::new();
                let mut events = Vec::new();
                for alert in alerts {
                    let key = alert.key();
                    if self.recorded.contains(&key) || !seen.insert(key) {
                        continue;
                    }
                    events.push(match alert.kind {
                        AlertKind::Breach => SlaAlertEvent::BreachRecorded(*alert),
                        AlertKind::Warning(_) => SlaAlertEvent::WarningRecorded(*alert),
                    });
                }
                Ok(events)
            }
        }
    }

    fn evolve(&mut self, event: &SlaAlertEvent, _at: DateTime<Utc>) {
        self.recorded.insert(event.alert().key());
    }
}
