//! Security incidents and emergency response (domain.md §3). An incident runs the six
//! stages with these meanings:
//!
//! | from | to | command |
//! | --- | --- | --- |
//! | (none) | Intake | [`IncidentCommand::Declare`]: severity, affected customers and systems, plan revision in force, detection time, source |
//! | Intake | Analysis | [`IncidentCommand::Acknowledge`] by a responder (time-to-acknowledge) |
//! | Analysis | Fix | [`IncidentCommand::Assess`]: scope and impact |
//! | Fix | Verify | [`IncidentCommand::ReportRecovered`] after at least one logged action |
//! | Verify | Confirm | [`IncidentCommand::VerifyRecovery`] passed (failed goes back to Fix) |
//! | Confirm | Record | [`IncidentCommand::ConfirmRecovery`] once every affected customer confirmed |
//! | Record | Closed | [`IncidentCommand::Close`] after [`IncidentCommand::SubmitReview`] |
//!
//! In Fix, [`IncidentCommand::LogAction`] records containment and disposal actions with
//! actor and time. From acknowledgement to recovery verification, progress reports
//! ([`IncidentCommand::ReportProgress`]) are due at a cadence set by severity
//! ([`report_cadence`]); [`Incident::missed_reports`] shows a missed report given `now`.
//! [`IncidentCommand::JoinAlert`] attaches a further monitoring alert for the same rule
//! and scope to an open incident instead of opening a duplicate.
//!
//! The plan revision named on declaration is checked by the engine against the plan's
//! state ([`crate::plan::ContingencyPlan::require_usable`]) before `decide` runs, because
//! an aggregate decides on its own state only.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, Context, DomainCommand, DomainEvent};
use crate::ids::{IncidentId, OrgId, RuleId, TicketId};
use crate::plan::PlanRef;
use crate::rejection::{check_text, Rejection, Rule, MAX_LONG_TEXT, MAX_SHORT_TEXT};
use crate::roles::Permission;
use crate::ticket::Stage;
use crate::Severity;

/// How often a progress report is due while an incident is being handled.
pub fn report_cadence(severity: Severity) -> Duration {
    match severity {
        Severity::Critical => Duration::minutes(30),
        Severity::High => Duration::hours(1),
        Severity::Medium => Duration::hours(4),
        Severity::Low => Duration::hours(24),
    }
}

/// What declared the incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentSource {
    /// An urgent ticket.
    UrgentTicket {
        /// The ticket.
        ticket: TicketId,
    },
    /// A monitoring alert.
    Alert {
        /// The rule.
        rule: RuleId,
        /// The scope the alert concerns.
        scope: String,
        /// The alert's occurrence number for (rule, scope).
        occurrence: u32,
    },
    /// Declared by hand.
    Manual,
}

/// The fields of a new incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewIncident {
    /// One-line title.
    pub title: String,
    /// What is known.
    pub description: String,
    /// Severity.
    pub severity: Severity,
    /// Affected customer organisations (may be empty for an internal incident).
    pub affected_customers: Vec<OrgId>,
    /// Affected systems (at least one).
    pub affected_systems: Vec<String>,
    /// The plan revision in force.
    pub plan: PlanRef,
    /// When it was detected (not after declaration).
    pub detected_at: DateTime<Utc>,
    /// What declared it.
    pub source: IncidentSource,
}

/// Containment or disposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Stops the spread.
    Containment,
    /// Removes the cause or repairs the damage.
    Disposal,
}

/// A logged response action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseAction {
    /// Containment or disposal.
    pub kind: ActionKind,
    /// What was done.
    pub description: String,
    /// Who did it (`member:<id>` or `system:<component>`).
    pub by: String,
    /// When it was logged.
    pub at: DateTime<Utc>,
}

/// The loss an incident caused. Money is in minor units (cents) to stay exact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LossAssessment {
    /// Service downtime, in minutes.
    pub downtime_minutes: u64,
    /// Systems affected.
    pub systems_affected: u32,
    /// Data records affected.
    pub records_affected: u64,
    /// Direct cost (fines, replacement, third parties), in cents.
    pub direct_cost_cents: u64,
    /// Responder effort, in minutes.
    pub responder_minutes: u64,
    /// Cost of one responder hour, in cents.
    pub hourly_rate_cents: u64,
}

impl LossAssessment {
    /// Responder cost: responder hours × rate, in cents (saturating).
    pub fn responder_cost_cents(&self) -> u64 {
        self.responder_minutes
            .saturating_mul(self.hourly_rate_cents)
            / 60
    }

    /// Total cost: direct plus responder cost, in cents (saturating).
    pub fn total_cost_cents(&self) -> u64 {
        self.direct_cost_cents
            .saturating_add(self.responder_cost_cents())
    }
}

/// The post-incident review (required to close).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostIncidentReview {
    /// The loss assessment; a review without it is refused.
    pub loss: Option<LossAssessment>,
    /// The root cause.
    pub root_cause: String,
    /// Lessons learned.
    pub lessons: Vec<String>,
    /// Improvement actions against the plan (each becomes a requested plan revision).
    pub improvements: Vec<String>,
}

/// Commands on an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentCommand {
    /// Declares the incident (Intake).
    Declare(NewIncident),
    /// A responder acknowledges it. Intake → Analysis.
    Acknowledge,
    /// Scope and impact assessed. Analysis → Fix.
    Assess {
        /// Scope.
        scope: String,
        /// Impact.
        impact: String,
    },
    /// Logs a containment or disposal action. In Fix.
    LogAction {
        /// Which.
        kind: ActionKind,
        /// What was done.
        description: String,
    },
    /// A progress report up the chain. In Analysis, Fix or Verify.
    ReportProgress {
        /// The report.
        summary: String,
    },
    /// Recovery reported done. Fix → Verify.
    ReportRecovered {
        /// What was done.
        summary: String,
    },
    /// Recovery verification. Verify → Confirm when passed, → Fix when failed.
    VerifyRecovery {
        /// Whether it passed.
        passed: bool,
        /// Evidence.
        evidence: String,
    },
    /// An affected customer (its contact, or staff on its behalf) or, for an internal
    /// incident, the owner confirms recovery. Confirm → Record once all confirmed.
    ConfirmRecovery {
        /// The confirming organisation; `None` for an internal incident's owner.
        org: Option<OrgId>,
        /// Comment.
        comment: Option<String>,
    },
    /// A further alert for the same rule and scope joins this incident.
    JoinAlert {
        /// The rule.
        rule: RuleId,
        /// The scope.
        scope: String,
        /// The alert's occurrence number.
        occurrence: u32,
    },
    /// Submits the post-incident review. In Record.
    SubmitReview(PostIncidentReview),
    /// Record → Closed; needs the review.
    Close,
}

impl IncidentCommand {
    /// The plan revision the command names, which the engine checks for usability.
    pub fn plan_ref(&self) -> Option<&PlanRef> {
        match self {
            IncidentCommand::Declare(new) => Some(&new.plan),
            _ => None,
        }
    }
}

impl DomainCommand for IncidentCommand {
    fn name(&self) -> &'static str {
        match self {
            IncidentCommand::Declare(_) => "declare an incident",
            IncidentCommand::Acknowledge => "acknowledge",
            IncidentCommand::Assess { .. } => "assess",
            IncidentCommand::LogAction { .. } => "log an action",
            IncidentCommand::ReportProgress { .. } => "report progress",
            IncidentCommand::ReportRecovered { .. } => "report recovery",
            IncidentCommand::VerifyRecovery { .. } => "verify recovery",
            IncidentCommand::ConfirmRecovery { .. } => "confirm recovery",
            IncidentCommand::JoinAlert { .. } => "join an alert",
            IncidentCommand::SubmitReview(_) => "submit the review",
            IncidentCommand::Close => "close",
        }
    }
}

/// Events of an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum IncidentEvent {
    /// Declared.
    Declared {
        /// The incident.
        incident: IncidentId,
        /// Everything declared.
        #[serde(flatten)]
        details: NewIncident,
        /// Who declared it.
        declared_by: String,
    },
    /// Acknowledged.
    Acknowledged {
        /// By whom.
        by: String,
    },
    /// Assessed.
    Assessed {
        /// Scope.
        scope: String,
        /// Impact.
        impact: String,
    },
    /// An action logged.
    ActionLogged {
        /// Which.
        kind: ActionKind,
        /// What.
        description: String,
        /// By whom.
        by: String,
    },
    /// A progress report.
    ProgressReported {
        /// The report.
        summary: String,
        /// By whom.
        by: String,
    },
    /// Recovery reported.
    RecoveryReported {
        /// Summary.
        summary: String,
    },
    /// Recovery verified.
    RecoveryVerified {
        /// Evidence.
        evidence: String,
    },
    /// Recovery verification failed.
    RecoveryVerificationFailed {
        /// Evidence.
        evidence: String,
    },
    /// A confirmation of recovery.
    RecoveryConfirmed {
        /// The organisation, or `None` for an internal incident.
        org: Option<OrgId>,
        /// By whom.
        by: String,
        /// Comment.
        comment: Option<String>,
        /// Whether this was the last confirmation needed (now in Record).
        complete: bool,
    },
    /// A further alert joined.
    AlertJoined {
        /// Rule.
        rule: RuleId,
        /// Scope.
        scope: String,
        /// Occurrence.
        occurrence: u32,
    },
    /// The review submitted.
    ReviewSubmitted(PostIncidentReview),
    /// Closed.
    IncidentClosed,
}

impl DomainEvent for IncidentEvent {
    fn event_type(&self) -> &'static str {
        match self {
            IncidentEvent::Declared { .. } => "IncidentDeclared",
            IncidentEvent::Acknowledged { .. } => "IncidentAcknowledged",
            IncidentEvent::Assessed { .. } => "IncidentAssessed",
            IncidentEvent::ActionLogged { .. } => "IncidentActionLogged",
            IncidentEvent::ProgressReported { .. } => "IncidentProgressReported",
            IncidentEvent::RecoveryReported { .. } => "IncidentRecoveryReported",
            IncidentEvent::RecoveryVerified { .. } => "IncidentRecoveryVerified",
            IncidentEvent::RecoveryVerificationFailed { .. } => {
                "IncidentRecoveryVerificationFailed"
            }
            IncidentEvent::RecoveryConfirmed { .. } => "IncidentRecoveryConfirmed",
            IncidentEvent::AlertJoined { .. } => "IncidentAlertJoined",
            IncidentEvent::ReviewSubmitted(_) => "IncidentReviewSubmitted",
            IncidentEvent::IncidentClosed => "IncidentClosed",
        }
    }
}

/// One line of an incident's timeline, derived from its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// The stage after it.
    pub stage: Stage,
    /// What happened.
    pub what: String,
}

/// An incident's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    /// Id, once declared.
    pub id: Option<IncidentId>,
    /// Stage, once declared.
    pub stage: Option<Stage>,
    /// Title.
    pub title: String,
    /// Severity.
    pub severity: Option<Severity>,
    /// Affected customers.
    pub affected_customers: Vec<OrgId>,
    /// Affected systems.
    pub affected_systems: Vec<String>,
    /// The plan revision it runs under.
    pub plan: Option<PlanRef>,
    /// What declared it.
    pub source: Option<IncidentSource>,
    /// Every alert attached: (rule, scope, occurrence), the declaring one included.
    pub alerts: BTreeSet<(RuleId, String, u32)>,
    /// Detection time.
    pub detected_at: Option<DateTime<Utc>>,
    /// Declaration time.
    pub declared_at: Option<DateTime<Utc>>,
    /// Acknowledgement time.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Scope and impact.
    pub assessment: Option<(String, String)>,
    /// Logged actions.
    pub actions: Vec<ResponseAction>,
    /// Progress report times.
    pub reports: Vec<DateTime<Utc>>,
    /// When recovery was verified.
    pub recovered_at: Option<DateTime<Utc>>,
    /// Organisations that confirmed recovery.
    pub confirmed_by: BTreeSet<OrgId>,
    /// The review, once submitted.
    pub review: Option<PostIncidentReview>,
    /// When closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// The timeline, derived from the events.
    pub timeline: Vec<TimelineEntry>,
}

const HANDLING: [Stage; 3] = [Stage::Analysis, Stage::Fix, Stage::Verify];

impl Incident {
    /// Time from detection to acknowledgement.
    pub fn time_to_acknowledge(&self) -> Option<Duration> {
        Some(self.acknowledged_at? - self.detected_at?)
    }

    /// Time from detection to verified recovery.
    pub fn time_to_recover(&self) -> Option<Duration> {
        Some(self.recovered_at? - self.detected_at?)
    }

    /// When the next progress report is due, while reports are due (from
    /// acknowledgement until recovery is verified).
    pub fn next_report_due(&self) -> Option<DateTime<Utc>> {
        if !HANDLING.contains(&self.stage?) {
            return None;
        }
        let since = self.reports.last().copied().or(self.acknowledged_at)?;
        Some(since + report_cadence(self.severity?))
    }

    /// How many progress reports are missed at `now` (whole cadence periods elapsed since
    /// the last report, or since acknowledgement).
    pub fn missed_reports(&self, now: DateTime<Utc>) -> u32 {
        let (Some(due), Some(severity)) = (self.next_report_due(), self.severity) else {
            return 0;
        };
        if now <= due {
            return 0;
        }
        let cadence = report_cadence(severity).num_seconds().max(1);
        let late = (now - due).num_seconds();
        u32::try_from(1 + late / cadence).unwrap_or(u32::MAX)
    }

    /// Whether a real incident is still open.
    pub fn is_open(&self) -> bool {
        self.stage.is_some_and(Stage::is_open)
    }

    fn expect_stage(
        &self,
        command: &IncidentCommand,
        allowed: &[Stage],
        allowed_text: &'static str,
    ) -> Result<(), Rejection> {
        let Some(stage) = self.stage else {
            return Err(Rejection::NotFound {
                kind: "incident",
                id: format!("(cannot {} an incident never declared)", command.name()),
            });
        };
        if allowed.contains(&stage) {
            Ok(())
        } else {
            Err(Rejection::WrongStage {
                kind: "incident",
                command: command.name(),
                stage: stage.to_string(),
                allowed: allowed_text,
            })
        }
    }

    fn push(&mut self, at: DateTime<Utc>, what: String) {
        let stage = self.stage.unwrap_or(Stage::Intake);
        self.timeline.push(TimelineEntry { at, stage, what });
    }
}

const OPEN: [Stage; 6] = [
    Stage::Intake,
    Stage::Analysis,
    Stage::Fix,
    Stage::Verify,
    Stage::Confirm,
    Stage::Record,
];

fn check_list(field: &'static str, items: &[String], min: usize) -> Result<(), Rejection> {
    if items.len() < min || items.len() > 100 {
        return Err(Rejection::invalid(
            field,
            format!("{min} to 100 entries, not {}", items.len()),
        ));
    }
    for i in items {
        check_text(field, i, MAX_LONG_TEXT)?;
    }
    Ok(())
}

impl Aggregate for Incident {
    const KIND: &'static str = "incident";
    type Id = IncidentId;
    type Command = IncidentCommand;
    type Event = IncidentEvent;

    #[allow(clippy::too_many_lines)]
    fn decide(
        &self,
        id: &IncidentId,
        command: &IncidentCommand,
        ctx: &Context<'_>,
    ) -> Result<Vec<IncidentEvent>, Rejection> {
        let who = ctx.principal;
        let name = command.name();
        let by = who.actor.to_string();
        if let IncidentCommand::ConfirmRecovery { org, comment } = command {
            // Affected customers confirm for themselves; staff may record it for them.
            if !who.has(Permission::HandleSecurity) {
                let own = who.is_customer_only() && org.is_some() && who.org == *org;
                if !own {
                    return Err(who.refuse(
                        name,
                        "project_manager, security_engineer, or a contact of the affected customer",
                    ));
                }
            }
            self.expect_stage(command, &[Stage::Confirm], "confirm")?;
            if let Some(c) = comment {
                check_text("comment", c, MAX_LONG_TEXT)?;
            }
            let expected: BTreeSet<&OrgId> = self.affected_customers.iter().collect();
            let complete = match org {
                Some(o) if !expected.contains(o) => {
                    return Err(Rejection::rule(
                        Rule::UnusableReference,
                        format!("{o} is not an affected customer"),
                    ))
                }
                Some(o) if self.confirmed_by.contains(o) => {
                    return Err(Rejection::rule(
                        Rule::NoChange,
                        format!("{o} already confirmed"),
                    ))
                }
                Some(o) => expected
                    .iter()
                    .all(|e| *e == o || self.confirmed_by.contains(*e)),
                None if expected.is_empty() => true,
                None => {
                    return Err(Rejection::invalid(
                        "org",
                        "name the affected customer that confirms",
                    ))
                }
            };
            return Ok(vec![IncidentEvent::RecoveryConfirmed {
                org: org.clone(),
                by,
                comment: comment.clone(),
                complete,
            }]);
        }
        who.require(Permission::HandleSecurity, name)?;
        if let IncidentCommand::Declare(new) = command {
            if self.stage.is_some() {
                return Err(Rejection::rule(
                    Rule::AlreadyExists,
                    format!("incident {id} is already declared"),
                ));
            }
            check_text("title", &new.title, MAX_SHORT_TEXT)?;
            check_text("description", &new.description, MAX_LONG_TEXT)?;
            if new.affected_systems.is_empty() || new.affected_systems.len() > 100 {
                return Err(Rejection::invalid(
                    "affected systems",
                    "name 1 to 100 affected systems",
                ));
            }
            for s in &new.affected_systems {
                check_text("affected system", s, MAX_SHORT_TEXT)?;
            }
            if new.affected_customers.len() > 1000 {
                return Err(Rejection::invalid(
                    "affected customers",
                    "at most 1,000 affected customers",
                ));
            }
            for org in &new.affected_customers {
                if !ctx.directory.customers.contains_key(org) {
                    return Err(Rejection::NotFound {
                        kind: "customer",
                        id: org.to_string(),
                    });
                }
            }
            if new.detected_at > ctx.now {
                return Err(Rejection::invalid(
                    "detected_at",
                    "an incident cannot be detected after it is declared",
                ));
            }
            if let IncidentSource::Alert { scope, .. } = &new.source {
                check_text("scope", scope, MAX_SHORT_TEXT)?;
            }
            let mut details = new.clone();
            details.affected_customers.sort();
            details.affected_customers.dedup();
            return Ok(vec![IncidentEvent::Declared {
                incident: *id,
                details,
                declared_by: by,
            }]);
        }
        match command {
            IncidentCommand::Declare(_) | IncidentCommand::ConfirmRecovery { .. } => {
                Err(Rejection::rule(Rule::AlreadyExists, "already handled"))
            }
            IncidentCommand::Acknowledge => {
                self.expect_stage(command, &[Stage::Intake], "intake")?;
                Ok(vec![IncidentEvent::Acknowledged { by }])
            }
            IncidentCommand::Assess { scope, impact } => {
                self.expect_stage(command, &[Stage::Analysis], "analysis")?;
                check_text("scope", scope, MAX_LONG_TEXT)?;
                check_text("impact", impact, MAX_LONG_TEXT)?;
                Ok(vec![IncidentEvent::Assessed {
                    scope: scope.clone(),
                    impact: impact.clone(),
                }])
            }
            IncidentCommand::LogAction { kind, description } => {
                self.expect_stage(command, &[Stage::Fix], "fix")?;
                check_text("description", description, MAX_LONG_TEXT)?;
                Ok(vec![IncidentEvent::ActionLogged {
                    kind: *kind,
                    description: description.clone(),
                    by,
                }])
            }
            IncidentCommand::ReportProgress { summary } => {
                self.expect_stage(command, &HANDLING, "analysis, fix or verify")?;
                check_text("summary", summary, MAX_LONG_TEXT)?;
                Ok(vec![IncidentEvent::ProgressReported {
                    summary: summary.clone(),
                    by,
                }])
            }
            IncidentCommand::ReportRecovered { summary } => {
                self.expect_stage(command, &[Stage::Fix], "fix")?;
                check_text("summary", summary, MAX_LONG_TEXT)?;
                if self.actions.is_empty() {
                    return Err(Rejection::rule(
                        Rule::OutOfOrder,
                        "log at least one containment or disposal action first",
                    ));
                }
                Ok(vec![IncidentEvent::RecoveryReported {
                    summary: summary.clone(),
                }])
            }
            IncidentCommand::VerifyRecovery { passed, evidence } => {
                self.expect_stage(command, &[Stage::Verify], "verify")?;
                check_text("evidence", evidence, MAX_LONG_TEXT)?;
                Ok(vec![if *passed {
                    IncidentEvent::RecoveryVerified {
                        evidence: evidence.clone(),
                    }
                } else {
                    IncidentEvent::RecoveryVerificationFailed {
                        evidence: evidence.clone(),
                    }
                }])
            }
            IncidentCommand::JoinAlert {
                rule,
                scope,
                occurrence,
            } => {
                self.expect_stage(command, &OPEN, "any open stage")?;
                check_text("scope", scope, MAX_SHORT_TEXT)?;
                if self.alerts.contains(&(*rule, scope.clone(), *occurrence)) {
                    return Err(Rejection::rule(
                        Rule::AlreadyLinked,
                        format!("alert {rule}/{scope}#{occurrence} already joined"),
                    ));
                }
                Ok(vec![IncidentEvent::AlertJoined {
                    rule: *rule,
                    scope: scope.clone(),
                    occurrence: *occurrence,
                }])
            }
            IncidentCommand::SubmitReview(review) => {
                self.expect_stage(command, &[Stage::Record], "record")?;
                if review.loss.is_none() {
                    return Err(Rejection::rule(
                        Rule::IncompleteRecord,
                        "the review needs a loss assessment (downtime, systems and records affected, money)",
                    ));
                }
                check_text("root cause", &review.root_cause, MAX_LONG_TEXT)?;
                check_list("lessons", &review.lessons, 1)?;
                check_list("improvements", &review.improvements, 0)?;
                if self.review.is_some() {
                    return Err(Rejection::rule(
                        Rule::AlreadyExists,
                        "the review was already submitted",
                    ));
                }
                Ok(vec![IncidentEvent::ReviewSubmitted(review.clone())])
            }
            IncidentCommand::Close => {
                self.expect_stage(command, &[Stage::Record], "record")?;
                if self.review.is_none() {
                    return Err(Rejection::rule(
                        Rule::IncompleteRecord,
                        "submit the post-incident review first",
                    ));
                }
                Ok(vec![IncidentEvent::IncidentClosed])
            }
        }
    }

    fn evolve(&mut self, event: &IncidentEvent, at: DateTime<Utc>) {
        let what = match event {
            IncidentEvent::Declared {
                incident,
                details,
                declared_by,
            } => {
                self.id = Some(*incident);
                self.stage = Some(Stage::Intake);
                self.title = details.title.clone();
                self.severity = Some(details.severity);
                self.affected_customers = details.affected_customers.clone();
                self.affected_systems = details.affected_systems.clone();
                self.plan = Some(details.plan);
                self.source = Some(details.source.clone());
                if let IncidentSource::Alert {
                    rule,
                    scope,
                    occurrence,
                } = &details.source
                {
                    self.alerts.insert((*rule, scope.clone(), *occurrence));
                }
                self.detected_at = Some(details.detected_at);
                self.declared_at = Some(at);
                self.push(details.detected_at, "detected".into());
                format!(
                    "declared ({}) by {declared_by} under {}",
                    details.severity, details.plan
                )
            }
            IncidentEvent::Acknowledged { by } => {
                self.stage = Some(Stage::Analysis);
                self.acknowledged_at = Some(at);
                format!("acknowledged by {by}")
            }
            IncidentEvent::Assessed { scope, impact } => {
                self.stage = Some(Stage::Fix);
                self.assessment = Some((scope.clone(), impact.clone()));
                format!("assessed: scope {scope}; impact {impact}")
            }
            IncidentEvent::ActionLogged {
                kind,
                description,
                by,
            } => {
                self.actions.push(ResponseAction {
                    kind: *kind,
                    description: description.clone(),
                    by: by.clone(),
                    at,
                });
                let k = match kind {
                    ActionKind::Containment => "containment",
                    ActionKind::Disposal => "disposal",
                };
                format!("{k} by {by}: {description}")
            }
            IncidentEvent::ProgressReported { summary, by } => {
                self.reports.push(at);
                format!("progress report by {by}: {summary}")
            }
            IncidentEvent::RecoveryReported { summary } => {
                self.stage = Some(Stage::Verify);
                format!("recovery reported: {summary}")
            }
            IncidentEvent::RecoveryVerified { evidence } => {
                self.stage = Some(Stage::Confirm);
                self.recovered_at = Some(at);
                format!("recovery verified: {evidence}")
            }
            IncidentEvent::RecoveryVerificationFailed { evidence } => {
                self.stage = Some(Stage::Fix);
                format!("recovery verification failed: {evidence}")
            }
            IncidentEvent::RecoveryConfirmed {
                org, by, complete, ..
            } => {
                if let Some(o) = org {
                    self.confirmed_by.insert(o.clone());
                }
                if *complete {
                    self.stage = Some(Stage::Record);
                }
                match org {
                    Some(o) => format!("recovery confirmed for {o} by {by}"),
                    None => format!("recovery confirmed by {by}"),
                }
            }
            IncidentEvent::AlertJoined {
                rule,
                scope,
                occurrence,
            } => {
                self.alerts.insert((*rule, scope.clone(), *occurrence));
                format!("alert {rule} on {scope} (occurrence {occurrence}) joined")
            }
            IncidentEvent::ReviewSubmitted(review) => {
                self.review = Some(review.clone());
                format!(
                    "post-incident review submitted: root cause {}",
                    review.root_cause
                )
            }
            IncidentEvent::IncidentClosed => {
                self.stage = Some(Stage::Closed);
                self.closed_at = Some(at);
                "closed".into()
            }
        };
        self.push(at, what);
    }
}
