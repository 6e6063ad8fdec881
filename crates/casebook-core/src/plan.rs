//! Contingency plans and their revisions (domain.md §4).
//!
//! A plan is created with its first revision; later revisions are published whole (a
//! revision never changes once published, so an incident or drill that names it can
//! always be read against what it ran under). A revision can be retired on its own, the
//! plan as a whole can be retired; a retired plan or revision cannot be named by a new
//! incident or drill ([`ContingencyPlan::require_usable`]). Each plan has a review
//! interval; [`ContingencyPlan::review_overdue`] says, given `now`, whether its review is
//! late. Improvement actions from post-incident reviews and drill findings arrive as
//! requested revisions ([`PlanCommand::RequestRevision`]), deduplicated by their source so
//! a redelivered request is refused rather than recorded twice.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, Context, DomainCommand, DomainEvent};
use crate::ids::{DrillId, IncidentId, PlanId};
use crate::rejection::{check_text, Rejection, Rule, MAX_LONG_TEXT, MAX_SHORT_TEXT};
use crate::roles::Permission;

/// A plan and one of its revisions: what an incident or drill ran under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PlanRef {
    /// The plan.
    pub plan: PlanId,
    /// The revision number (1, 2, ...).
    pub revision: u32,
}

impl fmt::Display for PlanRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "plan {} revision {}", self.plan, self.revision)
    }
}

/// The phases of an emergency response, in order, as timed by drills (and targeted by
/// plans).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The (simulated) event occurs and is detected.
    Occurrence,
    /// It is reported up the chain.
    Report,
    /// It is handled: contained and disposed of.
    Handling,
    /// Service is recovered.
    Recovery,
}

impl Phase {
    /// Every phase, in the order they happen.
    pub const ALL: [Phase; 4] = [
        Phase::Occurrence,
        Phase::Report,
        Phase::Handling,
        Phase::Recovery,
    ];

    /// The phase's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Occurrence => "occurrence",
            Phase::Report => "report",
            Phase::Handling => "handling",
            Phase::Recovery => "recovery",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One role in the response organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseRole {
    /// The role's name (incident commander, communications, ...).
    pub role: String,
    /// Who fills it (a team or person, as free text: plans outlive staffing).
    pub filled_by: String,
    /// What they do.
    pub duties: String,
}

/// One step of the response process with its target duration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessStep {
    /// The phase it belongs to.
    pub phase: Phase,
    /// What is done.
    pub description: String,
    /// The target duration of the phase, in minutes (the phase's target is the sum of its
    /// steps' targets).
    pub target_minutes: u32,
}

/// The content of one plan revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanContent {
    /// The response organisation.
    pub organisation: Vec<ResponseRole>,
    /// The response process, each step with a target duration.
    pub steps: Vec<ProcessStep>,
    /// The disposal measures.
    pub measures: Vec<String>,
}

impl PlanContent {
    /// The target duration of a phase: the sum of its steps' targets, `None` when the
    /// plan sets no step for it.
    pub fn target(&self, phase: Phase) -> Option<Duration> {
        let mut minutes: Option<i64> = None;
        for step in self.steps.iter().filter(|s| s.phase == phase) {
            *minutes.get_or_insert(0) += i64::from(step.target_minutes);
        }
        minutes.map(Duration::minutes)
    }

    fn check(&self) -> Result<(), Rejection> {
        if self.organisation.is_empty() || self.organisation.len() > 50 {
            return Err(Rejection::invalid(
                "organisation",
                "a plan names 1 to 50 response roles",
            ));
        }
        for r in &self.organisation {
            check_text("response role", &r.role, MAX_SHORT_TEXT)?;
            check_text("filled by", &r.filled_by, MAX_SHORT_TEXT)?;
            check_text("duties", &r.duties, MAX_LONG_TEXT)?;
        }
        if self.steps.is_empty() || self.steps.len() > 100 {
            return Err(Rejection::invalid(
                "steps",
                "a plan has 1 to 100 process steps",
            ));
        }
        let mut last = Phase::Occurrence;
        for s in &self.steps {
            check_text("step description", &s.description, MAX_LONG_TEXT)?;
            if s.target_minutes == 0 || s.target_minutes > 60 * 24 * 30 {
                return Err(Rejection::invalid(
                    "target minutes",
                    format!(
                        "step {:?}: a target is 1 minute to 30 days, not {} minutes",
                        s.description, s.target_minutes
                    ),
                ));
            }
            // Steps are listed in the order they are carried out.
            if s.phase < last {
                return Err(Rejection::rule(
                    Rule::OutOfOrder,
                    format!(
                        "step {:?} ({}) is listed after a {} step",
                        s.description, s.phase, last
                    ),
                ));
            }
            last = s.phase;
        }
        if self.measures.is_empty() || self.measures.len() > 100 {
            return Err(Rejection::invalid(
                "measures",
                "a plan lists 1 to 100 disposal measures",
            ));
        }
        for m in &self.measures {
            check_text("measure", m, MAX_LONG_TEXT)?;
        }
        Ok(())
    }
}

/// Where a requested revision came from; a request is recorded once per source.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevisionSource {
    /// An improvement action of a post-incident review (its index in the review).
    IncidentReview {
        /// The incident.
        incident: IncidentId,
        /// The action's index in the review.
        item: u32,
    },
    /// A finding of a drill (its index in the drill's findings).
    DrillFinding {
        /// The drill.
        drill: DrillId,
        /// The finding's index.
        item: u32,
    },
    /// Requested by a member directly.
    Manual,
}

/// A requested revision of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionRequest {
    /// Its number within the plan (1, 2, ...).
    pub number: u32,
    /// Where it came from.
    pub source: RevisionSource,
    /// What should change.
    pub text: String,
    /// When requested.
    pub requested_at: DateTime<Utc>,
    /// The revision that addressed it, once one did.
    pub addressed_by: Option<u32>,
}

/// Commands on a contingency plan (all need `HandleSecurity`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanCommand {
    /// Creates the plan with its first revision.
    Create {
        /// Title.
        title: String,
        /// How often the plan must be reviewed, in days (1 to 3,650).
        review_interval_days: u32,
        /// Revision 1.
        content: PlanContent,
    },
    /// Publishes the next revision, addressing some requested revisions.
    PublishRevision {
        /// The new content.
        content: PlanContent,
        /// What changed and why.
        summary: String,
        /// Numbers of the requests this revision addresses.
        addresses: Vec<u32>,
    },
    /// Records a review of the plan (restarts the review interval).
    RecordReview {
        /// Notes.
        notes: String,
    },
    /// Requests a revision.
    RequestRevision {
        /// Where it came from.
        source: RevisionSource,
        /// What should change.
        text: String,
    },
    /// Retires one revision: new incidents and drills may no longer name it.
    RetireRevision {
        /// The revision.
        revision: u32,
        /// Why.
        reason: String,
    },
    /// Retires the whole plan.
    Retire {
        /// Why.
        reason: String,
    },
}

impl DomainCommand for PlanCommand {
    fn name(&self) -> &'static str {
        match self {
            PlanCommand::Create { .. } => "create a plan",
            PlanCommand::PublishRevision { .. } => "publish a plan revision",
            PlanCommand::RecordReview { .. } => "record a plan review",
            PlanCommand::RequestRevision { .. } => "request a plan revision",
            PlanCommand::RetireRevision { .. } => "retire a plan revision",
            PlanCommand::Retire { .. } => "retire a plan",
        }
    }
}

/// Events of a contingency plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PlanEvent {
    /// Created.
    PlanCreated {
        /// The plan.
        plan: PlanId,
        /// Title.
        title: String,
        /// Review interval in days.
        review_interval_days: u32,
    },
    /// A revision published.
    RevisionPublished {
        /// Its number.
        revision: u32,
        /// Content.
        content: PlanContent,
        /// What changed.
        summary: String,
        /// Requests it addresses.
        addresses: Vec<u32>,
    },
    /// Reviewed.
    PlanReviewed {
        /// Notes.
        notes: String,
    },
    /// A revision requested.
    RevisionRequested {
        /// The request's number.
        number: u32,
        /// Source.
        source: RevisionSource,
        /// Text.
        text: String,
    },
    /// A revision retired.
    RevisionRetired {
        /// The revision.
        revision: u32,
        /// Why.
        reason: String,
    },
    /// The plan retired.
    PlanRetired {
        /// Why.
        reason: String,
    },
}

impl DomainEvent for PlanEvent {
    fn event_type(&self) -> &'static str {
        match self {
            PlanEvent::PlanCreated { .. } => "PlanCreated",
            PlanEvent::RevisionPublished { .. } => "PlanRevisionPublished",
            PlanEvent::PlanReviewed { .. } => "PlanReviewed",
            PlanEvent::RevisionRequested { .. } => "PlanRevisionRequested",
            PlanEvent::RevisionRetired { .. } => "PlanRevisionRetired",
            PlanEvent::PlanRetired { .. } => "PlanRetired",
        }
    }
}

/// A published revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRevision {
    /// Its number.
    pub number: u32,
    /// Content.
    pub content: PlanContent,
    /// When published.
    pub published_at: DateTime<Utc>,
    /// Whether retired.
    pub retired: bool,
}

/// A contingency plan's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContingencyPlan {
    /// Id, once created.
    pub id: Option<PlanId>,
    /// Title.
    pub title: String,
    /// Review interval in days.
    pub review_interval_days: u32,
    /// Revisions by number.
    pub revisions: BTreeMap<u32, PlanRevision>,
    /// When last reviewed (creation and each new revision count as a review).
    pub last_reviewed_at: Option<DateTime<Utc>>,
    /// Requested revisions.
    pub requests: Vec<RevisionRequest>,
    /// Whether the plan is retired.
    pub retired: bool,
}

impl ContingencyPlan {
    /// The newest revision that is not retired, if the plan is usable.
    pub fn current_revision(&self) -> Option<&PlanRevision> {
        if self.retired {
            return None;
        }
        self.revisions.values().rev().find(|r| !r.retired)
    }

    /// When the next review is due.
    pub fn review_due_at(&self) -> Option<DateTime<Utc>> {
        self.last_reviewed_at
            .map(|at| at + Duration::days(i64::from(self.review_interval_days)))
    }

    /// Whether the plan's review is overdue at `now` (a retired plan needs no review).
    pub fn review_overdue(&self, now: DateTime<Utc>) -> bool {
        !self.retired && self.review_due_at().is_some_and(|due| now > due)
    }

    /// Requests no revision has addressed yet.
    pub fn open_requests(&self) -> impl Iterator<Item = &RevisionRequest> {
        self.requests.iter().filter(|r| r.addressed_by.is_none())
    }

    /// Checks that `reference` names an existing, unretired revision of this (unretired)
    /// plan, and returns it. Pure: the engine calls it before an incident or drill is
    /// declared or scheduled.
    ///
    /// # Errors
    ///
    /// [`Rule::UnusableReference`] naming what is wrong.
    pub fn require_usable(&self, reference: &PlanRef) -> Result<&PlanRevision, Rejection> {
        if self.id != Some(reference.plan) {
            return Err(Rejection::rule(
                Rule::UnusableReference,
                format!("there is no plan {}", reference.plan),
            ));
        }
        if self.retired {
            return Err(Rejection::rule(
                Rule::UnusableReference,
                format!("plan {} is retired", reference.plan),
            ));
        }
        match self.revisions.get(&reference.revision) {
            None => Err(Rejection::rule(
                Rule::UnusableReference,
                format!("{reference} does not exist"),
            )),
            Some(r) if r.retired => Err(Rejection::rule(
                Rule::UnusableReference,
                format!("{reference} is retired"),
            )),
            Some(r) => Ok(r),
        }
    }

    fn require_created(&self, command: &PlanCommand) -> Result<(), Rejection> {
        if self.id.is_none() {
            return Err(Rejection::NotFound {
                kind: "plan",
                id: format!("(cannot {} that was never created)", command.name()),
            });
        }
        if self.retired {
            return Err(Rejection::rule(
                Rule::UnusableReference,
                "the plan is retired",
            ));
        }
        Ok(())
    }
}

fn check_interval(days: u32) -> Result<(), Rejection> {
    if (1..=3650).contains(&days) {
        Ok(())
    } else {
        Err(Rejection::invalid(
            "review interval",
            format!("{days} days: use 1 to 3,650"),
        ))
    }
}

impl Aggregate for ContingencyPlan {
    const KIND: &'static str = "plan";
    type Id = PlanId;
    type Command = PlanCommand;
    type Event = PlanEvent;

    fn decide(
        &self,
        id: &PlanId,
        command: &PlanCommand,
        ctx: &Context<'_>,
    ) -> Result<Vec<PlanEvent>, Rejection> {
        ctx.principal
            .require(Permission::HandleSecurity, command.name())?;
        if let PlanCommand::Create {
            title,
            review_interval_days,
            content,
        } = command
        {
            if self.id.is_some() {
                return Err(Rejection::rule(Rule::AlreadyExists, "the plan exists"));
            }
            check_text("title", title, MAX_SHORT_TEXT)?;
            check_interval(*review_interval_days)?;
            content.check()?;
            return Ok(vec![
                PlanEvent::PlanCreated {
                    plan: *id,
                    title: title.trim().to_string(),
                    review_interval_days: *review_interval_days,
                },
                PlanEvent::RevisionPublished {
                    revision: 1,
                    content: content.clone(),
                    summary: "first revision".into(),
                    addresses: Vec::new(),
                },
            ]);
        }
        self.require_created(command)?;
        match command {
            PlanCommand::Create { .. } => {
                Err(Rejection::rule(Rule::AlreadyExists, "the plan exists"))
            }
            PlanCommand::PublishRevision {
                content,
                summary,
                addresses,
            } => {
                content.check()?;
                check_text("summary", summary, MAX_LONG_TEXT)?;
                for n in addresses {
                    match self.requests.iter().find(|r| r.number == *n) {
                        None => {
                            return Err(Rejection::rule(
                                Rule::UnusableReference,
                                format!("there is no revision request {n}"),
                            ))
                        }
                        Some(r) if r.addressed_by.is_some() => {
                            return Err(Rejection::rule(
                                Rule::NoChange,
                                format!("revision request {n} is already addressed"),
                            ))
                        }
                        Some(_) => {}
                    }
                }
                let next = self.revisions.keys().next_back().map_or(1, |n| n + 1);
                if self
                    .revisions
                    .get(&(next - 1))
                    .is_some_and(|r| r.content == *content)
                {
                    return Err(Rejection::rule(
                        Rule::NoChange,
                        "the content equals the latest revision",
                    ));
                }
                let mut addresses = addresses.clone();
                addresses.sort_unstable();
                addresses.dedup();
                Ok(vec![PlanEvent::RevisionPublished {
                    revision: next,
                    content: content.clone(),
                    summary: summary.clone(),
                    addresses,
                }])
            }
            PlanCommand::RecordReview { notes } => {
                check_text("notes", notes, MAX_LONG_TEXT)?;
                Ok(vec![PlanEvent::PlanReviewed {
                    notes: notes.clone(),
                }])
            }
            PlanCommand::RequestRevision { source, text } => {
                check_text("request", text, MAX_LONG_TEXT)?;
                if *source != RevisionSource::Manual
                    && self.requests.iter().any(|r| r.source == *source)
                {
                    return Err(Rejection::rule(
                        Rule::AlreadyExists,
                        format!("a revision was already requested from {source:?}"),
                    ));
                }
                let number =
                    u32::try_from(self.requests.len()).map_or(u32::MAX, |n| n.saturating_add(1));
                Ok(vec![PlanEvent::RevisionRequested {
                    number,
                    source: source.clone(),
                    text: text.clone(),
                }])
            }
            PlanCommand::RetireRevision { revision, reason } => {
                check_text("reason", reason, MAX_LONG_TEXT)?;
                match self.revisions.get(revision) {
                    None => Err(Rejection::rule(
                        Rule::UnusableReference,
                        format!("revision {revision} does not exist"),
                    )),
                    Some(r) if r.retired => Err(Rejection::rule(
                        Rule::NoChange,
                        format!("revision {revision} is already retired"),
                    )),
                    Some(_) => Ok(vec![PlanEvent::RevisionRetired {
                        revision: *revision,
                        reason: reason.clone(),
                    }]),
                }
            }
            PlanCommand::Retire { reason } => {
                check_text("reason", reason, MAX_LONG_TEXT)?;
                Ok(vec![PlanEvent::PlanRetired {
                    reason: reason.clone(),
                }])
            }
        }
    }

    fn evolve(&mut self, event: &PlanEvent, at: DateTime<Utc>) {
        match event {
            PlanEvent::PlanCreated {
                plan,
                title,
                review_interval_days,
            } => {
                self.id = Some(*plan);
                self.title = title.clone();
                self.review_interval_days = *review_interval_days;
                self.last_reviewed_at = Some(at);
            }
            PlanEvent::RevisionPublished {
                revision,
                content,
                addresses,
                ..
            } => {
                self.revisions.insert(
                    *revision,
                    PlanRevision {
                        number: *revision,
                        content: content.clone(),
                        published_at: at,
                        retired: false,
                    },
                );
                self.last_reviewed_at = Some(at);
                for r in &mut self.requests {
                    if addresses.contains(&r.number) {
                        r.addressed_by = Some(*revision);
                    }
                }
            }
            PlanEvent::PlanReviewed { .. } => self.last_reviewed_at = Some(at),
            PlanEvent::RevisionRequested {
                number,
                source,
                text,
            } => self.requests.push(RevisionRequest {
                number: *number,
                source: source.clone(),
                text: text.clone(),
                requested_at: at,
                addressed_by: None,
            }),
            PlanEvent::RevisionRetired { revision, .. } => {
                if let Some(r) = self.revisions.get_mut(revision) {
                    r.retired = true;
                }
            }
            PlanEvent::PlanRetired { .. } => self.retired = true,
        }
    }
}
