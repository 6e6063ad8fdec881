//! Emergency response wiring: the plan check before incidents and drills, read helpers,
//! and the process manager that links tickets, alerts, incidents, drills and plans.
//!
//! # Plan revisions in force
//!
//! An incident or drill names the plan revision it runs under
//! ([`casebook_core::PlanRef`]). An aggregate decides on its own state only, so the
//! engine checks the reference before it runs the declaring command: [`Engine::execute`]
//! calls [`require_usable_plan`], which loads the plan and applies the pure rule
//! [`casebook_core::ContingencyPlan::require_usable`]. An unknown plan or revision, or a
//! retired one, is refused with [`Rule::UnusableReference`] and nothing is recorded.
//! Revisions never change once published, so the only race is a plan retired between the
//! check and the append; the incident then records the revision that was in force when
//! it was declared, which is what happened.
//!
//! # The process manager
//!
//! [`EmergencyResponse`] follows the global log (`read_all`) from a durable checkpoint
//! and reacts:
//!
//! - `EmergencyResponseRequired` on a ticket: declares an incident (source: urgent
//!   ticket) and links it to the ticket with [`TicketCommand::LinkIncident`];
//! - `AlertRaised`: declares an incident for the alert, or, when an incident for the same
//!   rule and scope is still open, joins it ([`IncidentCommand::JoinAlert`]);
//! - `IncidentReviewSubmitted`: each improvement action becomes a requested revision of
//!   the incident's plan; `DrillFindingsRecorded`: likewise each finding.
//!
//! Delivery is at least once: the checkpoint is saved after each page, so a crash
//! between acting and saving replays events. Every reaction is idempotent: the incident
//! for a ticket or an alert has an id derived from what triggered it ([`derived_id`]), so
//! a second declaration is refused with [`Rule::AlreadyExists`]; a second link, join or
//! revision request is refused with [`Rule::AlreadyLinked`] or [`Rule::AlreadyExists`];
//! each such refusal counts as done. Commands carry the triggering event's correlation id
//! and name it as their cause, and run as `system:emergency-response`.
//!
//! An event the manager cannot act on for another business reason (for example no
//! usable plan is configured) is recorded in [`EmergencyResponse::skipped`] and passed
//! over, so one bad event does not stall emergency response. Storage errors stop the run
//! with the checkpoint before the failing event.

use std::collections::BTreeMap;
use std::str::FromStr;

use casebook_core::drill::DrillScore;
use casebook_core::incident::{IncidentSource, NewIncident};
use casebook_core::monitoring::{Alert, ScopeKind};
use casebook_core::plan::RevisionSource;
use casebook_core::{
    Actor, ContingencyPlan, Drill, DrillCommand, DrillEvent, DrillId, Incident, IncidentCommand,
    IncidentEvent, IncidentId, MonitoringRule, PlanCommand, PlanId, PlanRef, Rejection,
    RuleCommand, RuleEvent, RuleId, TicketCommand, TicketEvent, TicketId,
};
use casebook_core::{Aggregate, Rule};
use casebook_store::{Checkpoint, Payload};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::engine::{Command, CommandMeta, Engine, EngineError, Envelope};

impl From<(PlanId, PlanCommand)> for Command {
    fn from((id, command): (PlanId, PlanCommand)) -> Self {
        Command::Plan(id, command)
    }
}

impl From<(IncidentId, IncidentCommand)> for Command {
    fn from((id, command): (IncidentId, IncidentCommand)) -> Self {
        Command::Incident(id, command)
    }
}

impl From<(RuleId, RuleCommand)> for Command {
    fn from((id, command): (RuleId, RuleCommand)) -> Self {
        Command::Rule(id, command)
    }
}

impl From<(DrillId, DrillCommand)> for Command {
    fn from((id, command): (DrillId, DrillCommand)) -> Self {
        Command::Drill(id, command)
    }
}

/// Checks that a named plan revision exists and is usable (see the module docs). `None`
/// passes.
///
/// # Errors
///
/// [`EngineError::Rejected`] with [`Rule::UnusableReference`]; storage and decode errors.
pub fn require_usable_plan(
    engine: &Engine,
    reference: Option<&PlanRef>,
) -> Result<(), EngineError> {
    let Some(reference) = reference else {
        return Ok(());
    };
    let (plan, _) = engine.load::<ContingencyPlan>(&reference.plan)?;
    plan.require_usable(reference)?;
    Ok(())
}

fn existing<A: Aggregate>(
    engine: &Engine,
    id: &A::Id,
    kind: &'static str,
) -> Result<A, EngineError> {
    let (state, version) = engine.load::<A>(id)?;
    if version == 0 {
        return Err(Rejection::NotFound {
            kind,
            id: id.to_string(),
        }
        .into());
    }
    Ok(state)
}

impl Engine {
    /// A contingency plan's current state.
    ///
    /// # Errors
    ///
    /// [`Rejection::NotFound`] if it was never created; storage and decode errors.
    pub fn plan(&self, id: PlanId) -> Result<ContingencyPlan, EngineError> {
        existing::<ContingencyPlan>(self, &id, "plan")
    }

    /// An incident's current state (its [`Incident::timeline`] is derived from its events).
    ///
    /// # Errors
    ///
    /// [`Rejection::NotFound`] if it was never declared; storage and decode errors.
    pub fn incident(&self, id: IncidentId) -> Result<Incident, EngineError> {
        existing::<Incident>(self, &id, "incident")
    }

    /// A monitoring rule's current state, with its open alerts.
    ///
    /// # Errors
    ///
    /// [`Rejection::NotFound`] if it was never defined; storage and decode errors.
    pub fn monitoring_rule(&self, id: RuleId) -> Result<MonitoringRule, EngineError> {
        existing::<MonitoringRule>(self, &id, "monitoring rule")
    }

    /// A drill's current state.
    ///
    /// # Errors
    ///
    /// [`Rejection::NotFound`] if it was never scheduled; storage and decode errors.
    pub fn drill(&self, id: DrillId) -> Result<Drill, EngineError> {
        existing::<Drill>(self, &id, "drill")
    }

    /// A drill's score against the plan revision it ran under ([`Drill::score`]).
    ///
    /// # Errors
    ///
    /// [`Rejection::NotFound`] for an unknown drill, plan or revision; storage and decode
    /// errors.
    pub fn drill_score(&self, id: DrillId) -> Result<DrillScore, EngineError> {
        let drill = self.drill(id)?;
        let reference = drill.plan.ok_or_else(|| Rejection::NotFound {
            kind: "drill plan",
            id: id.to_string(),
        })?;
        let plan = self.plan(reference.plan)?;
        // A retired revision still scores the drill that ran under it.
        let revision =
            plan.revisions
                .get(&reference.revision)
                .ok_or_else(|| Rejection::NotFound {
                    kind: "plan revision",
                    id: reference.to_string(),
                })?;
        Ok(drill.score(&revision.content))
    }
}

/// A UUID derived deterministically from a namespace and parts (128-bit FNV-1a, with the
/// version nibble set to 8, "custom"), so the same trigger always names the same case.
pub fn derived_id(namespace: &str, parts: &[&str]) -> Uuid {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    let mut hash = OFFSET;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u128::from(*b);
            hash = hash.wrapping_mul(PRIME);
        }
        // A separator no UTF-8 text contains keeps ("ab","c") apart from ("a","bc").
        hash ^= 0xff;
        hash = hash.wrapping_mul(PRIME);
    };
    feed(namespace.as_bytes());
    for p in parts {
        feed(p.as_bytes());
    }
    let mut bytes = hash.to_be_bytes();
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Uuid::from_bytes(bytes)
}

/// The incident an urgent ticket declares.
pub fn incident_for_ticket(ticket: TicketId) -> IncidentId {
    IncidentId(derived_id("incident-for-ticket", &[&ticket.to_string()]))
}

/// The incident an alert declares when no incident for its rule and scope is open.
pub fn incident_for_alert(rule: RuleId, scope: &str, occurrence: u32) -> IncidentId {
    IncidentId(derived_id(
        "incident-for-alert",
        &[&rule.to_string(), scope, &occurrence.to_string()],
    ))
}

/// How the process manager is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmergencyConfig {
    /// The checkpoint's name.
    pub name: String,
    /// The plan incidents declared by tickets and alerts run under (its newest usable
    /// revision at the moment of declaration).
    pub plan: PlanId,
}

impl EmergencyConfig {
    /// The standard checkpoint name, `emergency-response`, with the given plan.
    pub fn new(plan: PlanId) -> Self {
        EmergencyConfig {
            name: "emergency-response".into(),
            plan,
        }
    }
}

/// An event the manager passed over, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// Its global position.
    pub position: u64,
    /// Its type.
    pub event_type: String,
    /// Why it was not acted on.
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct State {
    /// The latest incident per (rule, scope), keyed `"<rule>/<scope>"`; dropped when it
    /// closes, but kept (closed) when a replay meets it again.
    open_by_alert: BTreeMap<String, IncidentId>,
    skipped: Vec<Skipped>,
}

/// Most skipped events remembered.
const MAX_SKIPPED: usize = 1_000;
/// Events read per page.
const PAGE: usize = 500;

/// The emergency-response process manager (see the module docs).
#[derive(Debug, Clone)]
pub struct EmergencyResponse {
    config: EmergencyConfig,
    position: u64,
    state: State,
    actor: Actor,
}

fn alert_key(rule: RuleId, scope: &str) -> String {
    format!("{rule}/{scope}")
}

enum Outcome {
    Done,
    Skip(String),
}

/// Whether a result means "done": success, or a rejection saying it was already done.
fn settle(
    result: Result<Vec<Envelope>, EngineError>,
    done: &[Rule],
) -> Result<Outcome, EngineError> {
    match result {
        Ok(_) => Ok(Outcome::Done),
        Err(EngineError::Rejected(r)) => match r.rule_kind() {
            Some(rule) if done.contains(&rule) => Ok(Outcome::Done),
            _ => Ok(Outcome::Skip(r.to_string())),
        },
        Err(e) => Err(e),
    }
}

impl EmergencyResponse {
    /// Resumes from the stored checkpoint (or the start of the log if there is none).
    ///
    /// # Errors
    ///
    /// Storage errors; [`EngineError::Decode`] if the checkpoint's state does not decode.
    pub fn resume(engine: &Engine, config: EmergencyConfig) -> Result<Self, EngineError> {
        let (position, state) = match engine.store().load_checkpoint(&config.name)? {
            None => (0, State::default()),
            Some(c) => {
                let state = c.state.decode::<State>().map_err(|e| EngineError::Decode {
                    stream: format!("checkpoint {}", config.name),
                    version: c.position,
                    event_type: "checkpoint".into(),
                    schema_version: 1,
                    detail: e.to_string(),
                })?;
                (c.position, state)
            }
        };
        Ok(EmergencyResponse {
            config,
            position,
            state,
            actor: Actor::system("emergency-response"),
        })
    }

    /// The global position of the last event handled.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Events passed over, oldest first (the last 1,000).
    pub fn skipped(&self) -> &[Skipped] {
        &self.state.skipped
    }

    /// The latest incident the manager knows for a rule and scope (open, or closed but
    /// met again on a replay).
    pub fn open_incident_for(&self, rule: RuleId, scope: &str) -> Option<IncidentId> {
        self.state
            .open_by_alert
            .get(&alert_key(rule, scope))
            .copied()
    }

    /// Handles every event after the checkpoint, including those its own commands add,
    /// saving the checkpoint after each page. Returns how many events it read.
    ///
    /// # Errors
    ///
    /// Storage and decode errors; the checkpoint then stays at the last saved page and
    /// the in-memory position at the last event fully handled.
    pub fn run_once(&mut self, engine: &Engine) -> Result<usize, EngineError> {
        let mut handled = 0;
        loop {
            let page = engine.store().read_all(self.position, PAGE)?;
            if page.is_empty() {
                break;
            }
            for envelope in &page {
                if let Outcome::Skip(reason) = self.handle(engine, envelope)? {
                    if self.state.skipped.len() >= MAX_SKIPPED {
                        self.state.skipped.remove(0);
                    }
                    self.state.skipped.push(Skipped {
                        position: envelope.global_position,
                        event_type: envelope.event_type.clone(),
                        reason,
                    });
                }
                self.position = envelope.global_position;
                handled += 1;
            }
            self.save(engine)?;
        }
        Ok(handled)
    }

    fn save(&self, engine: &Engine) -> Result<(), EngineError> {
        let checkpoint = Checkpoint {
            name: self.config.name.clone(),
            position: self.position,
            state: Payload::encode(&self.state)?,
        };
        engine.store().save_checkpoint(&checkpoint)?;
        Ok(())
    }

    fn handle(&mut self, engine: &Engine, envelope: &Envelope) -> Result<Outcome, EngineError> {
        let meta = CommandMeta {
            correlation_id: Some(envelope.correlation_id),
            causation_id: Some(envelope.event_id),
        };
        // Only a few event types matter; the rest are not even decoded.
        match (envelope.stream_kind(), envelope.event_type.as_str()) {
            ("ticket", "EmergencyResponseRequired") => {
                let TicketEvent::EmergencyResponseRequired { severity } =
                    engine.decode(envelope)?
                else {
                    return Ok(Outcome::Done);
                };
                let Ok(ticket) = TicketId::from_str(envelope.stream_id.local_id()) else {
                    return Ok(Outcome::Skip("the stream id is not a ticket id".into()));
                };
                self.on_urgent_ticket(engine, ticket, severity, meta)
            }
            ("rule", "AlertRaised") => {
                let RuleEvent::AlertRaised { rule, alert } = engine.decode(envelope)? else {
                    return Ok(Outcome::Done);
                };
                self.on_alert(engine, rule, &alert, meta)
            }
            ("incident", "IncidentDeclared" | "IncidentClosed" | "IncidentReviewSubmitted") => {
                let Ok(id) = IncidentId::from_str(envelope.stream_id.local_id()) else {
                    return Ok(Outcome::Skip("the stream id is not an incident id".into()));
                };
                match engine.decode::<IncidentEvent>(envelope)? {
                    IncidentEvent::Declared { details, .. } => {
                        if let IncidentSource::Alert { rule, scope, .. } = details.source {
                            self.state.open_by_alert.insert(alert_key(rule, &scope), id);
                        }
                        Ok(Outcome::Done)
                    }
                    IncidentEvent::IncidentClosed => {
                        self.state.open_by_alert.retain(|_, v| *v != id);
                        Ok(Outcome::Done)
                    }
                    IncidentEvent::ReviewSubmitted(review) => {
                        let incident = engine.incident(id)?;
                        let Some(plan) = incident.plan else {
                            return Ok(Outcome::Skip("the incident names no plan".into()));
                        };
                        self.request_revisions(
                            engine,
                            plan.plan,
                            review.improvements.iter().enumerate().map(|(i, text)| {
                                (
                                    RevisionSource::IncidentReview {
                                        incident: id,
                                        item: u32::try_from(i).unwrap_or(u32::MAX),
                                    },
                                    text.clone(),
                                )
                            }),
                            meta,
                        )
                    }
                    _ => Ok(Outcome::Done),
                }
            }
            ("drill", "DrillFindingsRecorded") => {
                let Ok(id) = DrillId::from_str(envelope.stream_id.local_id()) else {
                    return Ok(Outcome::Skip("the stream id is not a drill id".into()));
                };
                let DrillEvent::DrillFindingsRecorded { findings } = engine.decode(envelope)?
                else {
                    return Ok(Outcome::Done);
                };
                let Some(plan) = engine.drill(id)?.plan else {
                    return Ok(Outcome::Skip("the drill names no plan".into()));
                };
                self.request_revisions(
                    engine,
                    plan.plan,
                    findings.iter().enumerate().map(|(i, text)| {
                        (
                            RevisionSource::DrillFinding {
                                drill: id,
                                item: u32::try_from(i).unwrap_or(u32::MAX),
                            },
                            format!("drill finding: {text}"),
                        )
                    }),
                    meta,
                )
            }
            _ => Ok(Outcome::Done),
        }
    }

    fn request_revisions(
        &self,
        engine: &Engine,
        plan: PlanId,
        requests: impl Iterator<Item = (RevisionSource, String)>,
        meta: CommandMeta,
    ) -> Result<Outcome, EngineError> {
        let mut skipped = Vec::new();
        for (source, text) in requests {
            let result = engine.execute_with(
                &self.actor,
                (plan, PlanCommand::RequestRevision { source, text }),
                meta,
            );
            if let Outcome::Skip(reason) = settle(result, &[Rule::AlreadyExists])? {
                skipped.push(reason);
            }
        }
        Ok(if skipped.is_empty() {
            Outcome::Done
        } else {
            Outcome::Skip(skipped.join("; "))
        })
    }

    fn plan_in_force(&self, engine: &Engine) -> Result<Option<PlanRef>, EngineError> {
        let (plan, _) = engine.load::<ContingencyPlan>(&self.config.plan)?;
        Ok(plan.current_revision().map(|r| PlanRef {
            plan: self.config.plan,
            revision: r.number,
        }))
    }

    fn on_urgent_ticket(
        &mut self,
        engine: &Engine,
        ticket: TicketId,
        severity: casebook_core::Severity,
        meta: CommandMeta,
    ) -> Result<Outcome, EngineError> {
        let id = incident_for_ticket(ticket);
        let (_, version) = engine.load::<Incident>(&id)?;
        if version == 0 {
            let Some(plan) = self.plan_in_force(engine)? else {
                return Ok(Outcome::Skip(format!(
                    "plan {} has no usable revision",
                    self.config.plan
                )));
            };
            let t = engine.ticket(ticket)?;
            let declare = NewIncident {
                title: format!("Urgent ticket: {}", t.title),
                description: format!(
                    "Emergency response for urgent ticket {ticket} ({} severity)",
                    severity
                ),
                severity,
                affected_customers: t.org.into_iter().collect(),
                affected_systems: vec![t.affected_system.clone()],
                plan,
                detected_at: t
                    .reported_at
                    .or(t.opened_at)
                    .unwrap_or_else(|| engine.clock().now()),
                source: IncidentSource::UrgentTicket { ticket },
            };
            let result =
                engine.execute_with(&self.actor, (id, IncidentCommand::Declare(declare)), meta);
            if let Outcome::Skip(reason) = settle(result, &[Rule::AlreadyExists])? {
                return Ok(Outcome::Skip(reason));
            }
        }
        let result = engine.execute_with(
            &self.actor,
            (ticket, TicketCommand::LinkIncident { incident: id }),
            meta,
        );
        match result {
            // A ticket closed before the manager got to it keeps the incident unlinked.
            Err(EngineError::Rejected(Rejection::WrongStage { .. })) => Ok(Outcome::Done),
            other => settle(other, &[Rule::AlreadyLinked]),
        }
    }

    fn on_alert(
        &mut self,
        engine: &Engine,
        rule: RuleId,
        alert: &Alert,
        meta: CommandMeta,
    ) -> Result<Outcome, EngineError> {
        let key = alert_key(rule, &alert.scope);
        let own = incident_for_alert(rule, &alert.scope, alert.occurrence);
        let mark = (rule, alert.scope.clone(), alert.occurrence);
        // Redelivered: the alert already declared its own incident. Remember it even when
        // it is closed by now: later redelivered alerts that joined it must find it, or
        // they would declare a second incident (the spec in emergency_model found this).
        let (_, own_version) = engine.load::<Incident>(&own)?;
        if own_version > 0 {
            self.state.open_by_alert.insert(key, own);
            return Ok(Outcome::Done);
        }
        if let Some(open) = self.state.open_by_alert.get(&key).copied() {
            let (incident, _) = engine.load::<Incident>(&open)?;
            if incident.alerts.contains(&mark) {
                return Ok(Outcome::Done);
            }
            if incident.is_open() {
                let result = engine.execute_with(
                    &self.actor,
                    (
                        open,
                        IncidentCommand::JoinAlert {
                            rule,
                            scope: alert.scope.clone(),
                            occurrence: alert.occurrence,
                        },
                    ),
                    meta,
                );
                match result {
                    // Closed in the meantime. Another manager (another instance sharing
                    // the store) may have joined this very alert before it closed: then
                    // the alert is handled. Otherwise declare a new incident below.
                    Err(EngineError::Rejected(Rejection::WrongStage { .. })) => {
                        let (incident, _) = engine.load::<Incident>(&open)?;
                        if incident.alerts.contains(&mark) {
                            return Ok(Outcome::Done);
                        }
                    }
                    other => return settle(other, &[Rule::AlreadyLinked]),
                }
            }
            self.state.open_by_alert.remove(&key);
        }
        let Some(plan) = self.plan_in_force(engine)? else {
            return Ok(Outcome::Skip(format!(
                "plan {} has no usable revision",
                self.config.plan
            )));
        };
        let (rule_state, _) = engine.load::<MonitoringRule>(&rule)?;
        let affected_customers = match rule_state.definition.map(|d| d.scope) {
            Some(ScopeKind::CustomerSystem { org }) => vec![org],
            _ => Vec::new(),
        };
        let declare = NewIncident {
            title: alert.description.chars().take(200).collect(),
            description: format!(
                "{}\nPossible impact: {}\nSuggested measures: {}",
                alert.description,
                alert.impact,
                alert.measures.join("; ")
            ),
            severity: alert.severity,
            affected_customers,
            affected_systems: vec![alert.scope.clone()],
            plan,
            detected_at: alert.since,
            source: IncidentSource::Alert {
                rule,
                scope: alert.scope.clone(),
                occurrence: alert.occurrence,
            },
        };
        let result =
            engine.execute_with(&self.actor, (own, IncidentCommand::Declare(declare)), meta);
        let outcome = settle(result, &[Rule::AlreadyExists])?;
        if matches!(outcome, Outcome::Done) {
            self.state.open_by_alert.insert(key, own);
        }
        Ok(outcome)
    }
}
