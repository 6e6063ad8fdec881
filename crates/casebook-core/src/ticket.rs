//! The customer ticket and its lifecycle (domain.md §2):
//! intake → analysis → fix → verify → confirm → record → closed.
//!
//! | from | to | command |
//! | --- | --- | --- |
//! | (none) | Intake | [`TicketCommand::Open`] |
//! | Intake | Analysis | [`TicketCommand::Triage`] (urgent also records [`TicketEvent::EmergencyResponseRequired`]) |
//! | Analysis | Fix | [`TicketCommand::StartFix`] after [`TicketCommand::Diagnose`] (and [`TicketCommand::PlanFix`] when complex or multi-team) |
//! | Fix | Analysis | [`TicketCommand::ReviseSolution`], reported to a project manager |
//! | Fix | Verify | [`TicketCommand::ReportFixDone`] |
//! | Verify | Fix | [`TicketCommand::FailVerification`] |
//! | Verify | Confirm | [`TicketCommand::PassVerification`] |
//! | Confirm | Analysis | [`TicketCommand::Reject`] (reopened by the customer) |
//! | Confirm | Record | [`TicketCommand::Confirm`], or [`TicketCommand::ExpireConfirmation`] once the window ran out |
//! | Record | Closed | [`TicketCommand::Close`] (score 1–2 needs [`TicketCommand::RecordImprovementAction`] first) |
//! | Intake, Analysis | Record | [`TicketCommand::Withdraw`] |
//! | Closed | Analysis | [`TicketCommand::Reopen`] within the reopen window |
//!
//! At any open stage (Intake to Record): assign, note, ask the customer, record the
//! customer's reply, escalate, link an incident, change severity (once triaged).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, Context, DomainCommand, DomainEvent};
use crate::ids::{IncidentId, MemberId, OrgId, TicketId};
use crate::rejection::{
    check_optional_text, check_text, Rejection, Rule, MAX_LONG_TEXT, MAX_SHORT_TEXT,
};
use crate::roles::{Permission, Role};
use crate::Severity;

/// The stages of a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Reported, not yet triaged.
    Intake,
    /// Triaged; cause and solution being worked out.
    Analysis,
    /// The solution is being applied.
    Fix,
    /// The fix is being verified.
    Verify,
    /// Waiting for the customer to confirm the result.
    Confirm,
    /// Confirmed (or withdrawn); the record is being completed.
    Record,
    /// The record is complete.
    Closed,
}

impl Stage {
    /// The stage's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Intake => "intake",
            Stage::Analysis => "analysis",
            Stage::Fix => "fix",
            Stage::Verify => "verify",
            Stage::Confirm => "confirm",
            Stage::Record => "record",
            Stage::Closed => "closed",
        }
    }

    /// Whether the case is still open (not closed).
    pub fn is_open(self) -> bool {
        self != Stage::Closed
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the problem reached the desk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Telephone.
    Phone,
    /// Email.
    Email,
    /// Chat.
    Chat,
    /// The customer portal.
    Portal,
    /// Raised by monitoring.
    Monitoring,
}

/// How soon it must be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    /// Starts emergency response at once.
    Urgent,
    /// Normal handling.
    Normal,
}

/// The reporting contact. Personal data: readable only by roles that need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// Name.
    pub name: String,
    /// Email address, if given.
    pub email: Option<String>,
    /// Phone number, if given.
    pub phone: Option<String>,
}

/// Cause and chosen solution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// The cause.
    pub cause: String,
    /// The chosen solution.
    pub solution: String,
}

/// One step of a fix plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanStep {
    /// What to do.
    pub description: String,
    /// Who does it.
    pub owner: MemberId,
    /// By when.
    pub due: DateTime<Utc>,
}

/// Why a ticket was withdrawn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WithdrawalReason {
    /// A duplicate of another ticket.
    Duplicate {
        /// The ticket it duplicates.
        of: TicketId,
    },
    /// Not a problem after all.
    NotAProblem,
    /// The customer cancelled.
    CustomerCancelled,
}

/// Who may read a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Classification {
    /// Anyone.
    Public,
    /// Staff and auditors.
    Internal,
    /// Staff handling it, project managers, auditors.
    Confidential,
    /// Project managers and security engineers, auditors.
    Secret,
}

impl Classification {
    /// Whether a holder of `roles` may read a record with this classification.
    pub fn readable_by(self, roles: &std::collections::BTreeSet<Role>) -> bool {
        let any = |allowed: &[Role]| allowed.iter().any(|r| roles.contains(r));
        match self {
            Classification::Public => true,
            Classification::Internal => any(&[
                Role::ProjectManager,
                Role::SecurityEngineer,
                Role::SupportEngineer,
                Role::Auditor,
            ]),
            Classification::Confidential => any(&[
                Role::ProjectManager,
                Role::SecurityEngineer,
                Role::SupportEngineer,
                Role::Auditor,
            ]),
            Classification::Secret => {
                any(&[Role::ProjectManager, Role::SecurityEngineer, Role::Auditor])
            }
        }
    }
}

/// How the customer's feedback on the result was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feedback {
    /// The customer confirmed.
    Confirmed,
    /// The customer did not answer within the window, which counts as confirmed.
    ConfirmedBySilence,
}

/// The fields of a new ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTicket {
    /// The customer organisation.
    pub org: OrgId,
    /// How it arrived.
    pub channel: Channel,
    /// One-line title.
    pub title: String,
    /// What the customer reports.
    pub description: String,
    /// Who reported it.
    pub contact: Contact,
    /// The affected system.
    pub affected_system: String,
    /// When the customer noticed or reported it, if earlier than opening.
    pub reported_at: Option<DateTime<Utc>>,
}

/// Commands on a ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketCommand {
    /// Opens the ticket (customer for its own organisation, or staff).
    Open(NewTicket),
    /// Triage: severity and urgency. Intake → Analysis.
    Triage {
        /// Severity.
        severity: Severity,
        /// Urgency.
        urgency: Urgency,
        /// Complex: needs a plan before the fix.
        complex: bool,
        /// Several teams involved: needs a plan before the fix.
        multi_team: bool,
    },
    /// Changes severity after triage (service levels retarget).
    ChangeSeverity {
        /// New severity.
        severity: Severity,
        /// Why.
        reason: String,
    },
    /// Records (or replaces) the diagnosis. In Analysis.
    Diagnose {
        /// Cause.
        cause: String,
        /// Chosen solution.
        solution: String,
    },
    /// Records (or replaces) the fix plan. In Analysis.
    PlanFix {
        /// Steps, each with an owner and a due time.
        steps: Vec<PlanStep>,
    },
    /// Analysis → Fix.
    StartFix,
    /// Fix → Analysis: new facts revise the solution; reported to a project manager.
    ReviseSolution {
        /// What was learned.
        new_facts: String,
        /// The revised solution.
        solution: String,
        /// The project manager it is reported to.
        reported_to: MemberId,
    },
    /// Fix → Verify.
    ReportFixDone {
        /// What was done.
        summary: String,
    },
    /// Verify → Fix, with evidence.
    FailVerification {
        /// What failed.
        evidence: String,
    },
    /// Verify → Confirm: the system is back to normal.
    PassVerification {
        /// How it was verified.
        notes: String,
    },
    /// Confirm → Record, by the customer.
    Confirm {
        /// Optional comment.
        comment: Option<String>,
    },
    /// Confirm → Analysis, by the customer: the ticket is reopened.
    Reject {
        /// Why.
        reason: String,
    },
    /// Confirm → Record once the confirmation window has run out: counts as confirmed.
    ExpireConfirmation,
    /// The customer's satisfaction score, 1–5. In Record or Closed, once.
    RateSatisfaction {
        /// Score.
        score: u8,
        /// Optional comment.
        comment: Option<String>,
    },
    /// An improvement action (required before closing after a score of 1–2).
    RecordImprovementAction {
        /// The action.
        action: String,
    },
    /// Record → Closed: completes the record.
    Close {
        /// Knowledge category.
        category: String,
        /// Knowledge summary.
        summary: String,
        /// The result.
        result: String,
        /// Who may read the record.
        classification: Classification,
    },
    /// Intake or Analysis → Record.
    Withdraw {
        /// Why.
        reason: WithdrawalReason,
        /// Details.
        detail: String,
    },
    /// Closed → Analysis within the reopen window.
    Reopen {
        /// Why.
        reason: String,
    },
    /// Assigns an owner and team (project managers assign anyone; engineers themselves).
    Assign {
        /// Owner.
        owner: MemberId,
        /// Team.
        team: String,
    },
    /// Adds a note.
    AddNote {
        /// Text.
        text: String,
        /// Whether the customer sees it (a customer-visible note by staff is a response).
        customer_visible: bool,
    },
    /// Asks the customer for information; the SLA clock pauses until they reply.
    RequestInfo {
        /// The question.
        question: String,
    },
    /// The customer's reply; the SLA clock resumes.
    CustomerReply {
        /// The reply.
        text: String,
    },
    /// Escalates to a project manager.
    Escalate {
        /// The project manager.
        to: MemberId,
        /// Why.
        reason: String,
    },
    /// Links an incident.
    LinkIncident {
        /// The incident.
        incident: IncidentId,
    },
}

impl DomainCommand for TicketCommand {
    fn name(&self) -> &'static str {
        match self {
            TicketCommand::Open(_) => "open",
            TicketCommand::Triage { .. } => "triage",
            TicketCommand::ChangeSeverity { .. } => "change severity",
            TicketCommand::Diagnose { .. } => "diagnose",
            TicketCommand::PlanFix { .. } => "plan the fix",
            TicketCommand::StartFix => "start the fix",
            TicketCommand::ReviseSolution { .. } => "revise the solution",
            TicketCommand::ReportFixDone { .. } => "report the fix done",
            TicketCommand::FailVerification { .. } => "fail verification",
            TicketCommand::PassVerification { .. } => "pass verification",
            TicketCommand::Confirm { .. } => "confirm",
            TicketCommand::Reject { .. } => "reject",
            TicketCommand::ExpireConfirmation => "expire the confirmation window",
            TicketCommand::RateSatisfaction { .. } => "rate satisfaction",
            TicketCommand::RecordImprovementAction { .. } => "record an improvement action",
            TicketCommand::Close { .. } => "close",
            TicketCommand::Withdraw { .. } => "withdraw",
            TicketCommand::Reopen { .. } => "reopen",
            TicketCommand::Assign { .. } => "assign",
            TicketCommand::AddNote { .. } => "add a note",
            TicketCommand::RequestInfo { .. } => "request information",
            TicketCommand::CustomerReply { .. } => "record the customer's reply",
            TicketCommand::Escalate { .. } => "escalate",
            TicketCommand::LinkIncident { .. } => "link an incident",
        }
    }
}

/// Events of a ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TicketEvent {
    /// Opened in Intake.
    Opened {
        /// The ticket.
        ticket: TicketId,
        /// Everything the reporter gave.
        #[serde(flatten)]
        details: NewTicket,
        /// Who opened it.
        opened_by: String,
    },
    /// Triaged; now in Analysis.
    Triaged {
        /// Severity.
        severity: Severity,
        /// Urgency.
        urgency: Urgency,
        /// Complex.
        complex: bool,
        /// Multi-team.
        multi_team: bool,
    },
    /// An urgent ticket: emergency response must start now (§3.1.2). The
    /// emergency-response process manager declares and links the incident.
    EmergencyResponseRequired {
        /// The ticket's severity.
        severity: Severity,
    },
    /// Severity changed.
    SeverityChanged {
        /// Before.
        from: Severity,
        /// After.
        to: Severity,
        /// Why.
        reason: String,
    },
    /// Diagnosis recorded.
    Diagnosed(Diagnosis),
    /// Fix plan recorded.
    FixPlanned {
        /// Steps.
        steps: Vec<PlanStep>,
    },
    /// Fix started; now in Fix.
    FixStarted,
    /// Solution revised; back in Analysis, reported to a project manager.
    SolutionRevised {
        /// What was learned.
        new_facts: String,
        /// The revised solution.
        solution: String,
        /// The project manager it was reported to.
        reported_to: MemberId,
    },
    /// Fix reported done; now in Verify.
    FixReported {
        /// What was done.
        summary: String,
    },
    /// Verification failed; back in Fix.
    VerificationFailed {
        /// Evidence.
        evidence: String,
    },
    /// Verification passed; now in Confirm. This is the moment of resolution.
    VerificationPassed {
        /// How it was verified.
        notes: String,
    },
    /// The customer confirmed; now in Record.
    CustomerConfirmed {
        /// Comment.
        comment: Option<String>,
    },
    /// The customer rejected the result; reopened into Analysis.
    CustomerRejected {
        /// Why.
        reason: String,
    },
    /// The confirmation window ran out with no answer, which counts as confirmed.
    ConfirmationExpired {
        /// The window that ran out, in hours.
        window_hours: i64,
    },
    /// Satisfaction rated.
    SatisfactionRated {
        /// Score 1–5.
        score: u8,
        /// Comment.
        comment: Option<String>,
    },
    /// Improvement action recorded.
    ImprovementActionRecorded {
        /// The action.
        action: String,
    },
    /// Record completed; closed.
    Closed {
        /// Knowledge category.
        category: String,
        /// Knowledge summary.
        summary: String,
        /// Result.
        result: String,
        /// Classification.
        classification: Classification,
    },
    /// Withdrawn; now in Record.
    Withdrawn {
        /// Why.
        reason: WithdrawalReason,
        /// Details.
        detail: String,
    },
    /// Reopened after closing; back in Analysis.
    Reopened {
        /// Why.
        reason: String,
    },
    /// Owner and team assigned.
    Assigned {
        /// Owner.
        owner: MemberId,
        /// Team.
        team: String,
    },
    /// A note.
    NoteAdded {
        /// Text.
        text: String,
        /// Customer-visible.
        customer_visible: bool,
        /// Written by a staff member (a customer-visible staff note is a response).
        by_staff: bool,
    },
    /// Information requested from the customer; waiting on them.
    InfoRequested {
        /// The question.
        question: String,
    },
    /// The customer replied; no longer waiting.
    CustomerReplied {
        /// The reply.
        text: String,
    },
    /// Escalated to a project manager.
    Escalated {
        /// The project manager.
        to: MemberId,
        /// Why.
        reason: String,
    },
    /// Linked to an incident.
    IncidentLinked {
        /// The incident.
        incident: IncidentId,
    },
}

impl DomainEvent for TicketEvent {
    fn event_type(&self) -> &'static str {
        match self {
            TicketEvent::Opened { .. } => "TicketOpened",
            TicketEvent::Triaged { .. } => "TicketTriaged",
            TicketEvent::EmergencyResponseRequired { .. } => "EmergencyResponseRequired",
            TicketEvent::SeverityChanged { .. } => "TicketSeverityChanged",
            TicketEvent::Diagnosed(_) => "TicketDiagnosed",
            TicketEvent::FixPlanned { .. } => "TicketFixPlanned",
            TicketEvent::FixStarted => "TicketFixStarted",
            TicketEvent::SolutionRevised { .. } => "TicketSolutionRevised",
            TicketEvent::FixReported { .. } => "TicketFixReported",
            TicketEvent::VerificationFailed { .. } => "TicketVerificationFailed",
            TicketEvent::VerificationPassed { .. } => "TicketVerificationPassed",
            TicketEvent::CustomerConfirmed { .. } => "TicketCustomerConfirmed",
            TicketEvent::CustomerRejected { .. } => "TicketCustomerRejected",
            TicketEvent::ConfirmationExpired { .. } => "TicketConfirmationExpired",
            TicketEvent::SatisfactionRated { .. } => "TicketSatisfactionRated",
            TicketEvent::ImprovementActionRecorded { .. } => "TicketImprovementActionRecorded",
            TicketEvent::Closed { .. } => "TicketClosed",
            TicketEvent::Withdrawn { .. } => "TicketWithdrawn",
            TicketEvent::Reopened { .. } => "TicketReopened",
            TicketEvent::Assigned { .. } => "TicketAssigned",
            TicketEvent::NoteAdded { .. } => "TicketNoteAdded",
            TicketEvent::InfoRequested { .. } => "TicketInfoRequested",
            TicketEvent::CustomerReplied { .. } => "TicketCustomerReplied",
            TicketEvent::Escalated { .. } => "TicketEscalated",
            TicketEvent::IncidentLinked { .. } => "TicketIncidentLinked",
        }
    }

    fn personal_data(&self) -> &'static [&'static str] {
        match self {
            TicketEvent::Opened { .. } => &["/Opened/contact"],
            _ => &[],
        }
    }
}

/// A ticket's state: the fold of its events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// Id, once opened.
    pub id: Option<TicketId>,
    /// Stage, once opened.
    pub stage: Option<Stage>,
    /// Customer organisation.
    pub org: Option<OrgId>,
    /// Channel.
    pub channel: Option<Channel>,
    /// Title.
    pub title: String,
    /// Affected system.
    pub affected_system: String,
    /// When opened.
    pub opened_at: Option<DateTime<Utc>>,
    /// When reported, if earlier.
    pub reported_at: Option<DateTime<Utc>>,
    /// Severity, once triaged.
    pub severity: Option<Severity>,
    /// Urgency, once triaged.
    pub urgency: Option<Urgency>,
    /// Complex.
    pub complex: bool,
    /// Multi-team.
    pub multi_team: bool,
    /// Owner.
    pub owner: Option<MemberId>,
    /// Team.
    pub team: Option<String>,
    /// Current diagnosis.
    pub diagnosis: Option<Diagnosis>,
    /// Current plan.
    pub plan: Vec<PlanStep>,
    /// Since when it waits on the customer, if it does.
    pub waiting_since: Option<DateTime<Utc>>,
    /// Failed verifications so far.
    pub failed_verifications: u32,
    /// Reopens so far (customer rejections and reopens after closing).
    pub reopens: u32,
    /// When the current confirmation wait began.
    pub confirmation_requested_at: Option<DateTime<Utc>>,
    /// When verification last passed.
    pub resolved_at: Option<DateTime<Utc>>,
    /// The customer's feedback on the result.
    pub feedback: Option<Feedback>,
    /// Satisfaction score.
    pub satisfaction: Option<u8>,
    /// Improvement actions recorded.
    pub improvement_actions: Vec<String>,
    /// Withdrawal, if withdrawn.
    pub withdrawal: Option<WithdrawalReason>,
    /// When last closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Knowledge category, once closed.
    pub category: Option<String>,
    /// Classification, once closed.
    pub classification: Option<Classification>,
    /// Linked incidents.
    pub incidents: Vec<IncidentId>,
    /// Whether emergency response was required.
    pub emergency: bool,
}

const ALL_OPEN: &str = "intake, analysis, fix, verify, confirm or record";

impl Ticket {
    fn stage_or_missing(&self, command: &TicketCommand) -> Result<Stage, Rejection> {
        self.stage.ok_or_else(|| Rejection::NotFound {
            kind: "ticket",
            id: format!("(cannot {} a ticket that was never opened)", command.name()),
        })
    }

    fn expect_stage(
        &self,
        command: &TicketCommand,
        allowed: &[Stage],
        allowed_text: &'static str,
    ) -> Result<Stage, Rejection> {
        let stage = self.stage_or_missing(command)?;
        if allowed.contains(&stage) {
            Ok(stage)
        } else {
            Err(Rejection::WrongStage {
                kind: "ticket",
                command: command.name(),
                stage: stage.to_string(),
                allowed: allowed_text,
            })
        }
    }

    fn org(&self) -> Result<&OrgId, Rejection> {
        self.org.as_ref().ok_or_else(|| Rejection::NotFound {
            kind: "ticket",
            id: "(not opened)".into(),
        })
    }
}

const OPEN_STAGES: [Stage; 6] = [
    Stage::Intake,
    Stage::Analysis,
    Stage::Fix,
    Stage::Verify,
    Stage::Confirm,
    Stage::Record,
];

impl Aggregate for Ticket {
    const KIND: &'static str = "ticket";
    type Id = TicketId;
    type Command = TicketCommand;
    type Event = TicketEvent;

    fn tenant(&self) -> Option<&OrgId> {
        self.org.as_ref()
    }

    #[allow(clippy::too_many_lines)]
    fn decide(
        &self,
        id: &TicketId,
        command: &TicketCommand,
        ctx: &Context<'_>,
    ) -> Result<Vec<TicketEvent>, Rejection> {
        let who = ctx.principal;
        let name = command.name();
        // Role first: a customer or auditor learns nothing about stages it may not touch.
        let staff_only = |cmd: &'static str| who.require(Permission::HandleTickets, cmd);
        let staff_or_customer = |cmd: &'static str| {
            who.require_any(
                &[Permission::HandleTickets, Permission::ActAsCustomer],
                cmd,
                "staff, or a customer contact of the ticket's organisation",
            )
        };
        let customer_only = |cmd: &'static str| {
            if who.is_system() || who.is_customer_only() {
                Ok(())
            } else {
                Err(who.refuse(cmd, "a customer contact of the ticket's organisation"))
            }
        };

        if let TicketCommand::Open(new) = command {
            staff_or_customer(name)?;
            if self.stage.is_some() {
                return Err(Rejection::rule(
                    Rule::AlreadyExists,
                    "the ticket is already open",
                ));
            }
            who.require_own_org(&new.org)?;
            if !ctx.directory.customers.contains_key(&new.org) {
                return Err(Rejection::NotFound {
                    kind: "customer",
                    id: new.org.to_string(),
                });
            }
            check_text("title", &new.title, MAX_SHORT_TEXT)?;
            check_text("description", &new.description, MAX_LONG_TEXT)?;
            check_text("contact name", &new.contact.name, MAX_SHORT_TEXT)?;
            check_optional_text(
                "contact email",
                new.contact.email.as_deref(),
                MAX_SHORT_TEXT,
            )?;
            check_optional_text(
                "contact phone",
                new.contact.phone.as_deref(),
                MAX_SHORT_TEXT,
            )?;
            if let Some(email) = &new.contact.email {
                if !email.contains('@') {
                    return Err(Rejection::invalid(
                        "contact email",
                        format!("{email:?} has no '@'"),
                    ));
                }
            }
            check_text("affected system", &new.affected_system, MAX_SHORT_TEXT)?;
            if new.reported_at.is_some_and(|r| r > ctx.now) {
                return Err(Rejection::invalid(
                    "reported_at",
                    "a problem cannot be reported after the ticket is opened",
                ));
            }
            return Ok(vec![TicketEvent::Opened {
                ticket: *id,
                details: new.clone(),
                opened_by: who.actor.to_string(),
            }]);
        }

        // Every other command needs an opened ticket, and customers only their own.
        self.stage_or_missing(command)?;
        who.require_own_org(self.org()?)?;

        match command {
            TicketCommand::Open(_) => unreachable_open(),
            TicketCommand::Triage {
                severity,
                urgency,
                complex,
                multi_team,
            } => {
                staff_only(name)?;
                self.expect_stage(command, &[Stage::Intake], "intake")?;
                let mut events = vec![TicketEvent::Triaged {
                    severity: *severity,
                    urgency: *urgency,
                    complex: *complex,
                    multi_team: *multi_team,
                }];
                if *urgency == Urgency::Urgent {
                    events.push(TicketEvent::EmergencyResponseRequired {
                        severity: *severity,
                    });
                }
                Ok(events)
            }
            TicketCommand::ChangeSeverity { severity, reason } => {
                staff_only(name)?;
                self.expect_stage(
                    command,
                    &[
                        Stage::Analysis,
                        Stage::Fix,
                        Stage::Verify,
                        Stage::Confirm,
                        Stage::Record,
                    ],
                    "analysis, fix, verify, confirm or record (after triage)",
                )?;
                check_text("reason", reason, MAX_SHORT_TEXT)?;
                let from = self.severity.ok_or_else(|| {
                    Rejection::rule(Rule::OutOfOrder, "the ticket has not been triaged")
                })?;
                if from == *severity {
                    return Err(Rejection::rule(
                        Rule::NoChange,
                        format!("severity is already {severity}"),
                    ));
                }
                Ok(vec![TicketEvent::SeverityChanged {
                    from,
                    to: *severity,
                    reason: reason.clone(),
                }])
            }
            TicketCommand::Diagnose { cause, solution } => {
                staff_only(name)?;
                self.expect_stage(command, &[Stage::Analysis], "analysis")?;
                check_text("cause", cause, MAX_LONG_TEXT)?;
                check_text("solution", solution, MAX_LONG_TEXT)?;
                Ok(vec![TicketEvent::Diagnosed(Diagnosis {
                    cause: cause.clone(),
                    solution: solution.clone(),
                })])
            }
            TicketCommand::PlanFix { steps } => {
                staff_only(name)?;
                self.expect_stage(command, &[Stage::Analysis], "analysis")?;
                if steps.is_empty() || steps.len() > 100 {
                    return Err(Rejection::invalid(
                        "steps",
                        format!("a plan has 1 to 100 steps, not {}", steps.len()),
                    ));
                }
                for step in steps {
                    check_text("step description", &step.description, MAX_LONG_TEXT)?;
                    ctx.directory
                        .require_member(&step.owner, "a step owner", |m| m.can_own_tickets())?;
                    if step.due <= ctx.now {
                        return Err(Rejection::invalid(
                            "step due",
                            format!(
                                "step {:?} is due in the past ({})",
                                step.description, step.due
                            ),
                        ));
                    }
                }
                Ok(vec![TicketEvent::FixPlanned {
                    steps: steps.clone(),
                }])
            }
            TicketCommand::StartFix => {
                staff_only(name)?;
                self.expect_stage(command, &[Stage::Analysis], "analysis")?;
                if self.diagnosis.is_none() {
                    return Err(Rejection::rule(
                        Rule::DiagnosisRequired,
                        "record the cause and the chosen solution first",
                    ));
                }
                if (self.complex || self.multi_team) && self.plan.is_empty() {
                    return Err(Rejection::rule(
                        Rule::PlanRequired,
                        "a complex or multi-team ticket needs a plan with owned, dated steps",
                    ));
                }
                Ok(vec![TicketEvent::FixStarted])
            }
            TicketCommand::ReviseSolution {
                new_facts,
                solution,
                reported_to,
            } => {
                staff_only(name)?;
                self.expect_stage(command, &[Stage::Fix], "fix")?;
                check_text("new facts", new_facts, MAX_LONG_TEXT)?;
                check_text("solution", solution, MAX_LONG_TEXT)?;
                ctx.directory
                    .require_member(reported_to, "reported to", |m| {
                        m.is_active_with(Role::ProjectManager)
                    })?;
                Ok(vec![TicketEvent::SolutionRevised {
                    new_facts: new_facts.clone(),
                    solution: solution.clone(),
                    reported_to: reported_to.clone(),
                }])
            }
            TicketCommand::ReportFixDone { summary } => {
                staff_only(name)?;
                self.expect_stage(command, &[Stage::Fix], "fix")?;
                check_text("summary", summary, MAX_LONG_TEXT)?;
                Ok(vec![TicketEvent::FixReported {
                    summary: summary.clone(),
                }])
            }
            TicketCommand::FailVerification { evidence } => {
                staff_only(name)?;
                self.expect_stage(command, &[Stage::Verify], "verify")?;
                check_text("evidence", evidence, MAX_LONG_TEXT)?;
                Ok(vec![TicketEvent::VerificationFailed {
                    evidence: evidence.clone(),
                }])
            }
            TicketCommand::PassVerification { notes } => {
                staff_only(name)?;
                self.expect_stage(command, &[Stage::Verify], "verify")?;
                check_text("notes", notes, MAX_LONG_TEXT)?;
                Ok(vec![TicketEvent::VerificationPassed {
                    notes: notes.clone(),
                }])
            }
            TicketCommand::Confirm { comment } => {
                customer_only(name)?;
                self.expect_stage(command, &[Stage::Confirm], "confirm")?;
                check_optional_text("comment", comment.as_deref(), MAX_LONG_TEXT)?;
                Ok(vec![TicketEvent::CustomerConfirmed {
                    comment: comment.clone(),
                }])
            }
            TicketCommand::Reject { reason } => {
                customer_only(name)?;
                self.expect_stage(command, &[Stage::Confirm], "confirm")?;
                check_text("reason", reason, MAX_LONG_TEXT)?;
                Ok(vec![TicketEvent::CustomerRejected {
                    reason: reason.clone(),
                }])
            }
            TicketCommand::ExpireConfirmation => {
                staff_only(name)?;
                self.expect_stage(command, &[Stage::Confirm], "confirm")?;
                let since = self.confirmation_requested_at.unwrap_or(ctx.now);
                let window = ctx.settings.confirmation_window;
                if ctx.now < since + window {
                    return Err(Rejection::rule(
                        Rule::ConfirmationWindowOpen,
                        format!(
                            "the customer has until {} to answer",
                            (since + window).to_rfc3339()
                        ),
                    ));
                }
                Ok(vec![TicketEvent::ConfirmationExpired {
                    window_hours: window.num_hours(),
                }])
            }
            TicketCommand::RateSatisfaction { score, comment } => {
                customer_only(name)?;
                self.expect_stage(command, &[Stage::Record, Stage::Closed], "record or closed")?;
                if self.withdrawal.is_some() {
                    return Err(Rejection::rule(
                        Rule::OutOfOrder,
                        "a withdrawn ticket has no result to rate",
                    ));
                }
                if !(1..=5).contains(score) {
                    return Err(Rejection::invalid(
                        "score",
                        format!("{score} is not 1 to 5"),
                    ));
                }
                check_optional_text("comment", comment.as_deref(), MAX_LONG_TEXT)?;
                if self.satisfaction.is_some() {
                    return Err(Rejection::rule(
                        Rule::AlreadyRated,
                        "satisfaction was already rated",
                    ));
                }
                Ok(vec![TicketEvent::SatisfactionRated {
                    score: *score,
                    comment: comment.clone(),
                }])
            }
            TicketCommand::RecordImprovementAction { action } => {
                staff_only(name)?;
                self.expect_stage(command, &[Stage::Record, Stage::Closed], "record or closed")?;
                check_text("action", action, MAX_LONG_TEXT)?;
                Ok(vec![TicketEvent::ImprovementActionRecorded {
                    action: action.clone(),
                }])
            }
            TicketCommand::Close {
                category,
                summary,
                result,
                classification,
            } => {
                staff_only(name)?;
                self.expect_stage(command, &[Stage::Record], "record")?;
                check_text("category", category, MAX_SHORT_TEXT)?;
                check_text("summary", summary, MAX_LONG_TEXT)?;
                check_text("result", result, MAX_LONG_TEXT)?;
                if self.satisfaction.is_some_and(|s| s <= 2) && self.improvement_actions.is_empty()
                {
                    return Err(Rejection::rule(
                        Rule::ImprovementActionRequired,
                        "the customer rated 1-2 out of 5: record an improvement action first",
                    ));
                }
                Ok(vec![TicketEvent::Closed {
                    category: category.trim().to_string(),
                    summary: summary.clone(),
                    result: result.clone(),
                    classification: *classification,
                }])
            }
            TicketCommand::Withdraw { reason, detail } => {
                staff_or_customer(name)?;
                self.expect_stage(
                    command,
                    &[Stage::Intake, Stage::Analysis],
                    "intake or analysis",
                )?;
                if who.is_customer_only() && *reason != WithdrawalReason::CustomerCancelled {
                    return Err(Rejection::rule(
                        Rule::CustomerMayOnlyCancel,
                        "a customer withdraws a ticket by cancelling it",
                    ));
                }
                if let WithdrawalReason::Duplicate { of } = reason {
                    if Some(*of) == self.id {
                        return Err(Rejection::invalid(
                            "duplicate of",
                            "a ticket cannot duplicate itself",
                        ));
                    }
                }
                check_text("detail", detail, MAX_LONG_TEXT)?;
                Ok(vec![TicketEvent::Withdrawn {
                    reason: reason.clone(),
                    detail: detail.clone(),
                }])
            }
            TicketCommand::Reopen { reason } => {
                staff_or_customer(name)?;
                self.expect_stage(command, &[Stage::Closed], "closed")?;
                check_text("reason", reason, MAX_LONG_TEXT)?;
                let closed = self.closed_at.unwrap_or(ctx.now);
                if ctx.now > closed + ctx.settings.reopen_window {
                    return Err(Rejection::rule(
                        Rule::ReopenWindowExpired,
                        format!(
                            "closed at {}; the reopen window ended at {}",
                            closed.to_rfc3339(),
                            (closed + ctx.settings.reopen_window).to_rfc3339()
                        ),
                    ));
                }
                Ok(vec![TicketEvent::Reopened {
                    reason: reason.clone(),
                }])
            }
            TicketCommand::Assign { owner, team } => {
                staff_only(name)?;
                self.expect_stage(command, &OPEN_STAGES, ALL_OPEN)?;
                check_text("team", team, MAX_SHORT_TEXT)?;
                if !who.has(Permission::ManageDesk) && who.member() != Some(owner) {
                    return Err(who.refuse(
                        "assign a ticket to someone else",
                        "project_manager (engineers may assign tickets to themselves)",
                    ));
                }
                ctx.directory
                    .require_member(owner, "a ticket owner", |m| m.can_own_tickets())?;
                if self.owner.as_ref() == Some(owner) && self.team.as_deref() == Some(team.as_str())
                {
                    return Err(Rejection::rule(
                        Rule::NoChange,
                        format!("{owner} already owns it"),
                    ));
                }
                Ok(vec![TicketEvent::Assigned {
                    owner: owner.clone(),
                    team: team.trim().to_string(),
                }])
            }
            TicketCommand::AddNote {
                text,
                customer_visible,
            } => {
                staff_or_customer(name)?;
                self.expect_stage(command, &OPEN_STAGES, ALL_OPEN)?;
                check_text("note", text, MAX_LONG_TEXT)?;
                let by_staff = !who.is_customer_only();
                Ok(vec![TicketEvent::NoteAdded {
                    text: text.clone(),
                    // A customer's note is always visible to the customer.
                    customer_visible: *customer_visible || !by_staff,
                    by_staff,
                }])
            }
            TicketCommand::RequestInfo { question } => {
                staff_only(name)?;
                self.expect_stage(command, &OPEN_STAGES, ALL_OPEN)?;
                check_text("question", question, MAX_LONG_TEXT)?;
                if self.waiting_since.is_some() {
                    return Err(Rejection::rule(
                        Rule::AlreadyWaitingOnCustomer,
                        "the ticket already waits on the customer",
                    ));
                }
                Ok(vec![TicketEvent::InfoRequested {
                    question: question.clone(),
                }])
            }
            TicketCommand::CustomerReply { text } => {
                staff_or_customer(name)?;
                self.expect_stage(command, &OPEN_STAGES, ALL_OPEN)?;
                check_text("reply", text, MAX_LONG_TEXT)?;
                if self.waiting_since.is_none() {
                    return Err(Rejection::rule(
                        Rule::NotWaitingOnCustomer,
                        "no question to the customer is open",
                    ));
                }
                Ok(vec![TicketEvent::CustomerReplied { text: text.clone() }])
            }
            TicketCommand::Escalate { to, reason } => {
                staff_only(name)?;
                self.expect_stage(command, &OPEN_STAGES, ALL_OPEN)?;
                check_text("reason", reason, MAX_LONG_TEXT)?;
                ctx.directory.require_member(to, "escalated to", |m| {
                    m.is_active_with(Role::ProjectManager)
                })?;
                Ok(vec![TicketEvent::Escalated {
                    to: to.clone(),
                    reason: reason.clone(),
                }])
            }
            TicketCommand::LinkIncident { incident } => {
                staff_only(name)?;
                self.expect_stage(command, &OPEN_STAGES, ALL_OPEN)?;
                if self.incidents.contains(incident) {
                    return Err(Rejection::rule(
                        Rule::AlreadyLinked,
                        format!("already linked to incident {incident}"),
                    ));
                }
                Ok(vec![TicketEvent::IncidentLinked {
                    incident: *incident,
                }])
            }
        }
    }

    fn evolve(&mut self, event: &TicketEvent, at: DateTime<Utc>) {
        match event {
            TicketEvent::Opened {
                ticket, details, ..
            } => {
                self.id = Some(*ticket);
                self.stage = Some(Stage::Intake);
                self.org = Some(details.org.clone());
                self.channel = Some(details.channel);
                self.title = details.title.clone();
                self.affected_system = details.affected_system.clone();
                self.opened_at = Some(at);
                self.reported_at = details.reported_at;
            }
            TicketEvent::Triaged {
                severity,
                urgency,
                complex,
                multi_team,
            } => {
                self.stage = Some(Stage::Analysis);
                self.severity = Some(*severity);
                self.urgency = Some(*urgency);
                self.complex = *complex;
                self.multi_team = *multi_team;
            }
            TicketEvent::EmergencyResponseRequired { .. } => self.emergency = true,
            TicketEvent::SeverityChanged { to, .. } => self.severity = Some(*to),
            TicketEvent::Diagnosed(d) => self.diagnosis = Some(d.clone()),
            TicketEvent::FixPlanned { steps } => self.plan = steps.clone(),
            TicketEvent::FixStarted => self.stage = Some(Stage::Fix),
            TicketEvent::SolutionRevised {
                new_facts,
                solution,
                ..
            } => {
                self.stage = Some(Stage::Analysis);
                self.diagnosis = Some(Diagnosis {
                    cause: self
                        .diagnosis
                        .as_ref()
                        .map_or_else(|| new_facts.clone(), |d| d.cause.clone()),
                    solution: solution.clone(),
                });
            }
            TicketEvent::FixReported { .. } => self.stage = Some(Stage::Verify),
            TicketEvent::VerificationFailed { .. } => {
                self.stage = Some(Stage::Fix);
                self.failed_verifications += 1;
            }
            TicketEvent::VerificationPassed { .. } => {
                self.stage = Some(Stage::Confirm);
                self.resolved_at = Some(at);
                self.confirmation_requested_at = Some(at);
            }
            TicketEvent::CustomerConfirmed { .. } => {
                self.stage = Some(Stage::Record);
                self.feedback = Some(Feedback::Confirmed);
            }
            TicketEvent::CustomerRejected { .. } => {
                self.stage = Some(Stage::Analysis);
                self.reopens += 1;
                self.resolved_at = None;
                self.confirmation_requested_at = None;
            }
            TicketEvent::ConfirmationExpired { .. } => {
                self.stage = Some(Stage::Record);
                self.feedback = Some(Feedback::ConfirmedBySilence);
            }
            TicketEvent::SatisfactionRated { score, .. } => self.satisfaction = Some(*score),
            TicketEvent::ImprovementActionRecorded { action } => {
                self.improvement_actions.push(action.clone());
            }
            TicketEvent::Closed {
                category,
                classification,
                ..
            } => {
                self.stage = Some(Stage::Closed);
                self.closed_at = Some(at);
                self.category = Some(category.clone());
                self.classification = Some(*classification);
                self.waiting_since = None;
            }
            TicketEvent::Withdrawn { reason, .. } => {
                self.stage = Some(Stage::Record);
                self.withdrawal = Some(reason.clone());
                self.waiting_since = None;
            }
            TicketEvent::Reopened { .. } => {
                self.stage = Some(Stage::Analysis);
                self.reopens += 1;
                self.closed_at = None;
                self.resolved_at = None;
                self.feedback = None;
                self.withdrawal = None;
                self.confirmation_requested_at = None;
            }
            TicketEvent::Assigned { owner, team } => {
                self.owner = Some(owner.clone());
                self.team = Some(team.clone());
            }
            TicketEvent::NoteAdded { .. } | TicketEvent::Escalated { .. } => {}
            TicketEvent::InfoRequested { .. } => self.waiting_since = Some(at),
            TicketEvent::CustomerReplied { .. } => self.waiting_since = None,
            TicketEvent::IncidentLinked { incident } => self.incidents.push(*incident),
        }
    }
}

/// `Open` is handled before the stage match; reaching it again is a broken invariant.
fn unreachable_open() -> Result<Vec<TicketEvent>, Rejection> {
    unreachable!("Open is decided before the stage dispatch")
}
