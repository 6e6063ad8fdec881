//! The desk commands: open the store, build the engine, run one command, print the result.

use std::collections::BTreeSet;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use casebook::{stream_of, Command, Engine, Envelope};
use casebook_core::ticket::{
    Channel, Classification, Contact, NewTicket, PlanStep, Stage, TicketEvent, Urgency,
    WithdrawalReason,
};
use casebook_core::{
    Actor, CustomerTier, DirectoryCommand, DirectoryEvent, IncidentId, MemberId, OrgId, Role,
    Severity, Ticket, TicketCommand, TicketId,
};
use casebook_sled::{Durability, SledOptions, SledStore};
use casebook_store::StreamId;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::cli::{Cli, CustomerCommand, MemberCommand, OpenArgs, TicketCmd, TopCommand};
use crate::error::{usage, CliError};
use crate::summary::fold_tickets;

/// An open store and the engine over it. Closing it cleanly records the final position,
/// which the next open checks (see `casebook-sled`).
pub struct Desk {
    store: Arc<SledStore>,
    /// The engine.
    pub engine: Engine,
}

impl Desk {
    /// Opens the store with synced durability: every command the tool acknowledges is on
    /// disk. `must_exist` refuses to create a store for commands that only read.
    ///
    /// # Errors
    ///
    /// Storage errors (locked, corrupt, I/O), or a missing store when it must exist.
    pub fn open(path: &Path, must_exist: bool) -> Result<Desk, CliError> {
        if must_exist && !looks_like_store(path) {
            return Err(CliError::Storage(format!(
                "no store at {} (create one by registering a customer or a member with --system, or give --store)",
                path.display()
            )));
        }
        let store = Arc::new(SledStore::open(
            path,
            SledOptions {
                durability: Durability::Synced,
            },
        )?);
        let engine = Engine::builder(store.clone()).build();
        Ok(Desk { store, engine })
    }

    /// Closes the store cleanly.
    ///
    /// # Errors
    ///
    /// Storage errors from the final sync.
    pub fn close(self) -> Result<(), CliError> {
        let Desk { store, engine } = self;
        drop(engine);
        match Arc::try_unwrap(store) {
            Ok(store) => Ok(store.close()?),
            // Nothing else holds it in this process; if something did, dropping it last
            // still closes it.
            Err(_) => Ok(()),
        }
    }
}

/// Whether `path` holds a sled store (or at least something that claims to be one).
pub fn looks_like_store(path: &Path) -> bool {
    path.join("conf").exists() || path.join("db").exists() || path.join("casebook.lock").exists()
}

/// Runs a desk command (everything but `verify` and `simulate`).
///
/// # Errors
///
/// Usage, rejection and storage errors.
pub fn run(cli: &Cli) -> Result<String, CliError> {
    // Parse everything before opening the store: a bad argument never touches it.
    let reader = reader(cli)?;
    match &cli.command {
        TopCommand::History { id } => {
            let stream = parse_stream(id)?;
            let desk = Desk::open(&cli.store, true)?;
            let out = resolve_stream(&desk.engine, id, stream)
                .and_then(|stream| history(&desk.engine, &stream, reader.as_ref(), cli.json));
            desk.close()?;
            out
        }
        TopCommand::Ticket(TicketCmd::Show { id }) => {
            let id = parse_ticket(id)?;
            let desk = Desk::open(&cli.store, true)?;
            let out = show(&desk.engine, id, reader.as_ref(), cli.json);
            desk.close()?;
            out
        }
        TopCommand::Ticket(TicketCmd::List { stage, open, org }) => {
            let stage = stage.as_deref().map(parse_stage).transpose()?;
            let org = org.as_deref().map(OrgId::new).transpose().map_err(usage)?;
            let desk = Desk::open(&cli.store, true)?;
            let out = list(
                &desk.engine,
                stage,
                *open,
                org.as_ref(),
                reader.as_ref(),
                cli.json,
            );
            desk.close()?;
            out
        }
        command => {
            let actor = actor(cli)?;
            let (command, new_ticket) = build(command)?;
            let desk = Desk::open(&cli.store, false)?;
            let result = desk.engine.execute(&actor, command);
            let out = match result {
                Ok(recorded) => Ok(render_recorded(
                    &recorded,
                    new_ticket.map(|id| ("ticket", id.to_string())),
                    cli.json,
                )),
                Err(e) => Err(CliError::from(e)),
            };
            desk.close()?;
            out
        }
    }
}

pub(crate) fn actor(cli: &Cli) -> Result<Actor, CliError> {
    match (&cli.as_member, cli.system) {
        (Some(m), _) => Actor::member(m).map_err(usage),
        (None, true) => Ok(Actor::system("cli")),
        (None, false) => Err(CliError::Usage(
            "say who acts: --as <member> (or --system to bootstrap a desk)".into(),
        )),
    }
}

/// Who reads, for redaction and organisation filtering: `None` is the operator with the
/// store in hand (full view); a member is resolved against the directory when read.
pub(crate) fn reader(cli: &Cli) -> Result<Option<MemberId>, CliError> {
    cli.as_member
        .as_deref()
        .map(MemberId::new)
        .transpose()
        .map_err(usage)
}

/// What a reader may see.
pub(crate) struct View {
    /// Restricted to one organisation (a customer contact).
    pub(crate) org: Option<OrgId>,
    /// May read personal data (staff, auditors and the operator).
    pub(crate) personal_data: bool,
}

pub(crate) fn view(engine: &Engine, reader: Option<&MemberId>) -> Result<View, CliError> {
    let Some(member) = reader else {
        return Ok(View {
            org: None,
            personal_data: true,
        });
    };
    let directory = engine.directory()?;
    let principal = directory.resolve(&Actor::Member(member.clone()))?;
    if principal.is_customer_only() {
        Ok(View {
            org: principal.org.clone(),
            personal_data: false,
        })
    } else {
        Ok(View {
            org: None,
            personal_data: !principal.roles.is_empty(),
        })
    }
}

fn parse_ticket(text: &str) -> Result<TicketId, CliError> {
    TicketId::from_str(text).map_err(usage)
}

pub(crate) fn parse_member(text: &str) -> Result<MemberId, CliError> {
    MemberId::new(text).map_err(usage)
}

/// A bare UUID is tried as a ticket first, then as an incident, drill, plan or
/// monitoring rule: the first kind with a stream of that id.
fn resolve_stream(engine: &Engine, text: &str, stream: StreamId) -> Result<StreamId, CliError> {
    if TicketId::from_str(text).is_err() || engine.store().stream_version(&stream)? > 0 {
        return Ok(stream);
    }
    for kind in ["incident", "drill", "plan", "rule"] {
        let candidate = StreamId::new(kind, text).map_err(usage)?;
        if engine.store().stream_version(&candidate)? > 0 {
            return Ok(candidate);
        }
    }
    Ok(stream)
}

pub(crate) fn parse_stream(text: &str) -> Result<StreamId, CliError> {
    if let Ok(id) = TicketId::from_str(text) {
        return stream_of::<Ticket>(&id).map_err(usage);
    }
    StreamId::parse(text).map_err(|e| {
        CliError::Usage(format!(
            "{text:?} is neither a ticket id (UUID) nor a stream id (kind:id): {e}"
        ))
    })
}

fn parse_stage(text: &str) -> Result<Stage, CliError> {
    [
        Stage::Intake,
        Stage::Analysis,
        Stage::Fix,
        Stage::Verify,
        Stage::Confirm,
        Stage::Record,
        Stage::Closed,
    ]
    .into_iter()
    .find(|s| s.as_str() == text)
    .ok_or_else(|| {
        CliError::Usage(format!(
            "unknown stage {text:?}; expected intake, analysis, fix, verify, confirm, record or closed"
        ))
    })
}

pub(crate) fn parse_enum<T: Copy>(
    what: &str,
    text: &str,
    options: &[(&str, T)],
) -> Result<T, CliError> {
    options
        .iter()
        .find(|(name, _)| *name == text)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
            CliError::Usage(format!(
                "unknown {what} {text:?}; expected one of {}",
                names.join(", ")
            ))
        })
}

pub(crate) fn parse_time(what: &str, text: &str) -> Result<DateTime<Utc>, CliError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .map_err(|e| {
            CliError::Usage(format!(
                "{what} {text:?} is not an RFC 3339 time (e.g. 2026-03-02T09:00:00+08:00): {e}"
            ))
        })
}

pub(crate) fn parse_severity(text: &str) -> Result<Severity, CliError> {
    Severity::from_str(text).map_err(usage)
}

/// Turns a write command's arguments into an engine command. Returns the new ticket's id
/// for `ticket open`.
fn build(command: &TopCommand) -> Result<(Command, Option<TicketId>), CliError> {
    Ok(match command {
        TopCommand::Customer(CustomerCommand::Register { org, name, tier }) => (
            DirectoryCommand::RegisterCustomer {
                org: OrgId::new(org.as_str()).map_err(usage)?,
                name: name.clone(),
                tier: CustomerTier::from_str(tier).map_err(usage)?,
            }
            .into(),
            None,
        ),
        TopCommand::Member(m) => (member_command(m)?.into(), None),
        TopCommand::Ticket(TicketCmd::Open(args)) => {
            // The id is drawn here, not by the engine, so it can be printed; a random
            // UUID v7 like the engine's own.
            let id = TicketId(uuid::Uuid::now_v7());
            (Command::Ticket(id, open_command(args)?), Some(id))
        }
        TopCommand::Ticket(t) => {
            let (id, command) = ticket_command(t)?;
            (Command::Ticket(id, command), None)
        }
        _ => return Err(CliError::Usage("not a desk command".into())),
    })
}

fn member_command(m: &MemberCommand) -> Result<DirectoryCommand, CliError> {
    Ok(match m {
        MemberCommand::Add {
            member,
            name,
            roles,
            org,
            team,
        } => DirectoryCommand::AddMember {
            member: parse_member(member)?,
            name: name.clone(),
            roles: roles
                .iter()
                .map(|r| Role::from_str(r).map_err(usage))
                .collect::<Result<BTreeSet<_>, _>>()?,
            org: org.as_deref().map(OrgId::new).transpose().map_err(usage)?,
            team: team.clone(),
        },
        MemberCommand::Grant { member, role } => DirectoryCommand::GrantRole {
            member: parse_member(member)?,
            role: Role::from_str(role).map_err(usage)?,
        },
        MemberCommand::Revoke { member, role } => DirectoryCommand::RevokeRole {
            member: parse_member(member)?,
            role: Role::from_str(role).map_err(usage)?,
        },
        MemberCommand::Offboard { member, reason } => DirectoryCommand::Offboard {
            member: parse_member(member)?,
            reason: reason.clone(),
        },
    })
}

fn open_command(a: &OpenArgs) -> Result<TicketCommand, CliError> {
    Ok(TicketCommand::Open(NewTicket {
        org: OrgId::new(a.org.as_str()).map_err(usage)?,
        channel: parse_enum(
            "channel",
            &a.channel,
            &[
                ("phone", Channel::Phone),
                ("email", Channel::Email),
                ("chat", Channel::Chat),
                ("portal", Channel::Portal),
                ("monitoring", Channel::Monitoring),
            ],
        )?,
        title: a.title.clone(),
        description: a.description.clone(),
        contact: Contact {
            name: a.contact.clone(),
            email: a.email.clone(),
            phone: a.phone.clone(),
        },
        affected_system: a.affected_system.clone(),
        reported_at: a
            .reported_at
            .as_deref()
            .map(|t| parse_time("--reported-at", t))
            .transpose()?,
    }))
}

#[allow(clippy::too_many_lines)]
fn ticket_command(t: &TicketCmd) -> Result<(TicketId, TicketCommand), CliError> {
    let id = |text: &str| parse_ticket(text);
    Ok(match t {
        TicketCmd::Open(_) | TicketCmd::Show { .. } | TicketCmd::List { .. } => {
            return Err(CliError::Usage("not a ticket change".into()))
        }
        TicketCmd::Triage {
            id: t,
            severity,
            urgency,
            complex,
            multi_team,
        } => (
            id(t)?,
            TicketCommand::Triage {
                severity: parse_severity(severity)?,
                urgency: parse_enum(
                    "urgency",
                    urgency,
                    &[("urgent", Urgency::Urgent), ("normal", Urgency::Normal)],
                )?,
                complex: *complex,
                multi_team: *multi_team,
            },
        ),
        TicketCmd::Diagnose {
            id: t,
            cause,
            solution,
        } => (
            id(t)?,
            TicketCommand::Diagnose {
                cause: cause.clone(),
                solution: solution.clone(),
            },
        ),
        TicketCmd::Plan { id: t, steps } => (
            id(t)?,
            TicketCommand::PlanFix {
                steps: steps
                    .iter()
                    .map(|s| parse_step(s))
                    .collect::<Result<_, _>>()?,
            },
        ),
        TicketCmd::StartFix { id: t } => (id(t)?, TicketCommand::StartFix),
        TicketCmd::Revise {
            id: t,
            new_facts,
            solution,
            reported_to,
        } => (
            id(t)?,
            TicketCommand::ReviseSolution {
                new_facts: new_facts.clone(),
                solution: solution.clone(),
                reported_to: parse_member(reported_to)?,
            },
        ),
        TicketCmd::FixDone { id: t, summary } => (
            id(t)?,
            TicketCommand::ReportFixDone {
                summary: summary.clone(),
            },
        ),
        TicketCmd::VerifyPass { id: t, notes } => (
            id(t)?,
            TicketCommand::PassVerification {
                notes: notes.clone(),
            },
        ),
        TicketCmd::VerifyFail { id: t, evidence } => (
            id(t)?,
            TicketCommand::FailVerification {
                evidence: evidence.clone(),
            },
        ),
        TicketCmd::Confirm { id: t, comment } => (
            id(t)?,
            TicketCommand::Confirm {
                comment: comment.clone(),
            },
        ),
        TicketCmd::Reject { id: t, reason } => (
            id(t)?,
            TicketCommand::Reject {
                reason: reason.clone(),
            },
        ),
        TicketCmd::Expire { id: t } => (id(t)?, TicketCommand::ExpireConfirmation),
        TicketCmd::Rate {
            id: t,
            score,
            comment,
        } => (
            id(t)?,
            TicketCommand::RateSatisfaction {
                score: *score,
                comment: comment.clone(),
            },
        ),
        TicketCmd::Improve { id: t, action } => (
            id(t)?,
            TicketCommand::RecordImprovementAction {
                action: action.clone(),
            },
        ),
        TicketCmd::Close {
            id: t,
            category,
            summary,
            result,
            classification,
        } => (
            id(t)?,
            TicketCommand::Close {
                category: category.clone(),
                summary: summary.clone(),
                result: result.clone(),
                classification: parse_enum(
                    "classification",
                    classification,
                    &[
                        ("public", Classification::Public),
                        ("internal", Classification::Internal),
                        ("confidential", Classification::Confidential),
                        ("secret", Classification::Secret),
                    ],
                )?,
            },
        ),
        TicketCmd::Withdraw {
            id: t,
            reason,
            of,
            detail,
        } => {
            let reason = match (reason.as_str(), of) {
                ("duplicate", Some(of)) => WithdrawalReason::Duplicate {
                    of: parse_ticket(of)?,
                },
                ("duplicate", None) => {
                    return Err(CliError::Usage(
                        "--reason duplicate needs --of <ticket id>".into(),
                    ))
                }
                (_, Some(_)) => {
                    return Err(CliError::Usage(
                        "--of is only for --reason duplicate".into(),
                    ))
                }
                ("not_a_problem", None) => WithdrawalReason::NotAProblem,
                ("customer_cancelled", None) => WithdrawalReason::CustomerCancelled,
                (other, None) => {
                    return Err(CliError::Usage(format!(
                        "unknown withdrawal reason {other:?}; expected duplicate, not_a_problem or customer_cancelled"
                    )))
                }
            };
            (
                id(t)?,
                TicketCommand::Withdraw {
                    reason,
                    detail: detail.clone(),
                },
            )
        }
        TicketCmd::Reopen { id: t, reason } => (
            id(t)?,
            TicketCommand::Reopen {
                reason: reason.clone(),
            },
        ),
        TicketCmd::Assign { id: t, owner, team } => (
            id(t)?,
            TicketCommand::Assign {
                owner: parse_member(owner)?,
                team: team.clone(),
            },
        ),
        TicketCmd::Note {
            id: t,
            text,
            customer_visible,
        } => (
            id(t)?,
            TicketCommand::AddNote {
                text: text.clone(),
                customer_visible: *customer_visible,
            },
        ),
        TicketCmd::Ask { id: t, question } => (
            id(t)?,
            TicketCommand::RequestInfo {
                question: question.clone(),
            },
        ),
        TicketCmd::Reply { id: t, text } => {
            (id(t)?, TicketCommand::CustomerReply { text: text.clone() })
        }
        TicketCmd::Escalate { id: t, to, reason } => (
            id(t)?,
            TicketCommand::Escalate {
                to: parse_member(to)?,
                reason: reason.clone(),
            },
        ),
        TicketCmd::Link { id: t, incident } => (
            id(t)?,
            TicketCommand::LinkIncident {
                incident: IncidentId::from_str(incident).map_err(usage)?,
            },
        ),
        TicketCmd::Severity {
            id: t,
            severity,
            reason,
        } => (
            id(t)?,
            TicketCommand::ChangeSeverity {
                severity: parse_severity(severity)?,
                reason: reason.clone(),
            },
        ),
    })
}

fn parse_step(text: &str) -> Result<PlanStep, CliError> {
    let mut parts = text.rsplitn(3, '|');
    let (Some(due), Some(owner), Some(description)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(CliError::Usage(format!(
            "step {text:?} is not DESCRIPTION|OWNER|DUE"
        )));
    };
    Ok(PlanStep {
        description: description.to_string(),
        owner: parse_member(owner.trim())?,
        due: parse_time("step due", due.trim())?,
    })
}

/// What a write printed: the new item's id alone (for `X=$(casebook ...)`), or one line
/// per recorded event; with `--json` both as JSON.
pub(crate) fn render_recorded(
    recorded: &[Envelope],
    new: Option<(&str, String)>,
    json: bool,
) -> String {
    if json {
        let events: Vec<Value> = recorded
            .iter()
            .map(|e| {
                json!({
                    "stream": e.stream_id.as_str(),
                    "version": e.stream_version,
                    "position": e.global_position,
                    "event_type": e.event_type,
                    "event_id": e.event_id.to_string(),
                    "recorded_at": e.recorded_at.to_rfc3339(),
                })
            })
            .collect();
        let mut out = json!({ "events": events });
        if let Some((key, id)) = &new {
            out[*key] = json!(id);
        }
        return format!("{out}\n");
    }
    if let Some((_, id)) = new {
        // Only the id, so that `T=$(casebook ticket open ...)` works.
        return format!("{id}\n");
    }
    if recorded.is_empty() {
        return "nothing to record\n".to_string();
    }
    recorded
        .iter()
        .map(|e| {
            format!(
                "{} v{} {} @{}\n",
                e.stream_id, e.stream_version, e.event_type, e.global_position
            )
        })
        .collect()
}

fn history(
    engine: &Engine,
    stream: &StreamId,
    reader: Option<&MemberId>,
    json: bool,
) -> Result<String, CliError> {
    let view = view(engine, reader)?;
    let events = engine.history(stream)?;
    if events.is_empty() {
        return Err(CliError::Rejected(casebook_core::Rejection::NotFound {
            kind: "stream",
            id: stream.to_string(),
        }));
    }
    if let Some(org) = &view.org {
        if events
            .iter()
            .any(|e| e.tenant.as_deref() != Some(org.as_str()))
        {
            return Err(CliError::Rejected(casebook_core::Rejection::NotFound {
                kind: "stream",
                id: stream.to_string(),
            }));
        }
    }
    if json {
        let rows: Vec<Value> = events
            .iter()
            .map(|e| {
                let mut payload: Value =
                    serde_json::from_str(e.payload.as_str()).unwrap_or(Value::Null);
                if !view.personal_data {
                    for pointer in &e.personal_data {
                        if let Some(v) = payload.pointer_mut(pointer) {
                            *v = json!("[redacted]");
                        }
                    }
                }
                json!({
                    "version": e.stream_version,
                    "position": e.global_position,
                    "recorded_at": e.recorded_at.to_rfc3339(),
                    "event_type": e.event_type,
                    "actor": e.actor,
                    "payload": payload,
                })
            })
            .collect();
        return Ok(format!("{}\n", Value::Array(rows)));
    }
    let mut out = String::new();
    for e in &events {
        let summary = describe(engine, e);
        out.push_str(&format!(
            "v{:<3} {}  {:<32} {:<22} {}\n",
            e.stream_version,
            e.recorded_at.format("%Y-%m-%dT%H:%M:%SZ"),
            e.event_type,
            e.actor,
            summary
        ));
    }
    Ok(out)
}

/// A short line about an event, without personal data.
fn describe(engine: &Engine, e: &Envelope) -> String {
    match e.stream_id.kind() {
        "ticket" => match engine.decode::<TicketEvent>(e) {
            Ok(ev) => describe_ticket_event(&ev),
            Err(err) => format!("(does not decode: {err})"),
        },
        "directory" => match engine.decode::<DirectoryEvent>(e) {
            Ok(ev) => describe_directory_event(&ev),
            Err(err) => format!("(does not decode: {err})"),
        },
        // Other kinds (incidents, drills, plans, rules, SLA alerts): the payload itself,
        // shortened, unless it carries personal data.
        _ if e.personal_data.is_empty() => {
            let text: String = e.payload.as_str().chars().take(100).collect();
            if text.len() < e.payload.as_str().len() {
                format!("{text}…")
            } else {
                text
            }
        }
        _ => String::new(),
    }
}

fn describe_ticket_event(ev: &TicketEvent) -> String {
    match ev {
        TicketEvent::Opened { details, .. } => format!(
            "{} [{}] {} ({})",
            details.org,
            channel_name(details.channel),
            details.title,
            details.affected_system
        ),
        TicketEvent::Triaged {
            severity,
            urgency,
            complex,
            multi_team,
        } => format!(
            "{severity}, {}{}{}",
            if *urgency == Urgency::Urgent {
                "urgent"
            } else {
                "normal"
            },
            if *complex { ", complex" } else { "" },
            if *multi_team { ", multi-team" } else { "" }
        ),
        TicketEvent::EmergencyResponseRequired { severity } => {
            format!("emergency response ({severity})")
        }
        TicketEvent::SeverityChanged { from, to, reason } => format!("{from} → {to}: {reason}"),
        TicketEvent::Diagnosed(d) => format!("cause: {}; solution: {}", d.cause, d.solution),
        TicketEvent::FixPlanned { steps } => format!("{} steps", steps.len()),
        TicketEvent::FixStarted => String::new(),
        TicketEvent::SolutionRevised {
            solution,
            reported_to,
            ..
        } => format!("{solution} (reported to {reported_to})"),
        TicketEvent::FixReported { summary } => summary.clone(),
        TicketEvent::VerificationFailed { evidence } => evidence.clone(),
        TicketEvent::VerificationPassed { notes } => notes.clone(),
        TicketEvent::CustomerConfirmed { comment } => comment.clone().unwrap_or_default(),
        TicketEvent::CustomerRejected { reason } => reason.clone(),
        TicketEvent::ConfirmationExpired { window_hours } => {
            format!("no answer within {window_hours} h: counts as confirmed")
        }
        TicketEvent::SatisfactionRated { score, .. } => format!("{score}/5"),
        TicketEvent::ImprovementActionRecorded { action } => action.clone(),
        TicketEvent::Closed {
            category, summary, ..
        } => format!("[{category}] {summary}"),
        TicketEvent::Withdrawn { reason, detail } => {
            let why = match reason {
                WithdrawalReason::Duplicate { of } => format!("duplicate of {of}"),
                WithdrawalReason::NotAProblem => "not a problem".into(),
                WithdrawalReason::CustomerCancelled => "customer cancelled".into(),
            };
            format!("{why}: {detail}")
        }
        TicketEvent::Reopened { reason } => reason.clone(),
        TicketEvent::Assigned { owner, team } => format!("{owner} / {team}"),
        TicketEvent::NoteAdded {
            text,
            customer_visible,
            ..
        } => format!(
            "{}{text}",
            if *customer_visible { "(visible) " } else { "" }
        ),
        TicketEvent::InfoRequested { question } => question.clone(),
        TicketEvent::CustomerReplied { text } => text.clone(),
        TicketEvent::Escalated { to, reason } => format!("to {to}: {reason}"),
        TicketEvent::IncidentLinked { incident } => incident.to_string(),
    }
}

fn describe_directory_event(ev: &DirectoryEvent) -> String {
    match ev {
        DirectoryEvent::CustomerRegistered { org, tier, .. } => format!("{org} ({tier})"),
        DirectoryEvent::CustomerTierChanged { org, from, to } => format!("{org}: {from} → {to}"),
        DirectoryEvent::MemberJoined { member, roles, .. } => format!(
            "{member}: {}",
            roles
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        DirectoryEvent::RoleGranted { member, role } => format!("{member} + {role}"),
        DirectoryEvent::RoleRevoked { member, role } => format!("{member} - {role}"),
        DirectoryEvent::MemberOffboarded { member, reason } => format!("{member}: {reason}"),
    }
}

/// The channel's name as typed on the command line.
pub fn channel_name(c: Channel) -> &'static str {
    match c {
        Channel::Phone => "phone",
        Channel::Email => "email",
        Channel::Chat => "chat",
        Channel::Portal => "portal",
        Channel::Monitoring => "monitoring",
    }
}

fn show(
    engine: &Engine,
    id: TicketId,
    reader: Option<&MemberId>,
    json: bool,
) -> Result<String, CliError> {
    let view = view(engine, reader)?;
    let ticket = engine.ticket(id)?;
    if let Some(org) = &view.org {
        if ticket.org.as_ref() != Some(org) {
            // To a customer, another organisation's ticket does not exist.
            return Err(CliError::Rejected(casebook_core::Rejection::NotFound {
                kind: "ticket",
                id: id.to_string(),
            }));
        }
    }
    if json {
        let value = serde_json::to_value(&ticket)
            .map_err(|e| CliError::Storage(format!("cannot render the ticket: {e}")))?;
        return Ok(format!("{value}\n"));
    }
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let mut out = String::new();
    out.push_str(&format!("ticket      {id}\n"));
    out.push_str(&format!("title       {}\n", ticket.title));
    out.push_str(&format!(
        "stage       {}\n",
        opt(ticket.stage.map(|s| s.to_string()))
    ));
    out.push_str(&format!(
        "org         {}\n",
        opt(ticket.org.as_ref().map(ToString::to_string))
    ));
    out.push_str(&format!("system      {}\n", ticket.affected_system));
    out.push_str(&format!(
        "severity    {}\n",
        opt(ticket.severity.map(|s| s.to_string()))
    ));
    out.push_str(&format!(
        "owner       {} / {}\n",
        opt(ticket.owner.as_ref().map(ToString::to_string)),
        opt(ticket.team.clone())
    ));
    out.push_str(&format!(
        "opened      {}\n",
        opt(ticket.opened_at.map(|t| t.to_rfc3339()))
    ));
    if let Some(d) = &ticket.diagnosis {
        out.push_str(&format!("cause       {}\n", d.cause));
        out.push_str(&format!("solution    {}\n", d.solution));
    }
    if ticket.waiting_since.is_some() {
        out.push_str("waiting     on the customer\n");
    }
    out.push_str(&format!(
        "reopens     {}  failed verifications {}\n",
        ticket.reopens, ticket.failed_verifications
    ));
    if let Some(s) = ticket.satisfaction {
        out.push_str(&format!("satisfaction {s}/5\n"));
    }
    Ok(out)
}

fn list(
    engine: &Engine,
    stage: Option<Stage>,
    open_only: bool,
    org: Option<&OrgId>,
    reader: Option<&MemberId>,
    json: bool,
) -> Result<String, CliError> {
    let view = view(engine, reader)?;
    let (tickets, _) = fold_tickets(engine)?;
    let rows: Vec<(&TicketId, &Ticket)> = tickets
        .iter()
        .filter(|(_, t)| stage.is_none_or(|s| t.stage == Some(s)))
        .filter(|(_, t)| !open_only || t.stage.is_some_and(Stage::is_open))
        .filter(|(_, t)| org.is_none_or(|o| t.org.as_ref() == Some(o)))
        .filter(|(_, t)| view.org.as_ref().is_none_or(|o| t.org.as_ref() == Some(o)))
        .collect();
    if json {
        let values: Vec<Value> = rows
            .iter()
            .map(|(id, t)| {
                json!({
                    "id": id.to_string(),
                    "stage": t.stage.map(Stage::as_str),
                    "org": t.org.as_ref().map(ToString::to_string),
                    "severity": t.severity.map(|s| s.to_string()),
                    "owner": t.owner.as_ref().map(ToString::to_string),
                    "title": t.title,
                    "opened_at": t.opened_at.map(|x| x.to_rfc3339()),
                })
            })
            .collect();
        return Ok(format!("{}\n", Value::Array(values)));
    }
    Ok(rows
        .iter()
        .map(|(id, t)| {
            format!(
                "{id}  {:<8} {:<8} {:<14} {:<12} {}\n",
                t.stage.map_or("-", Stage::as_str),
                t.severity
                    .map_or_else(|| "-".to_string(), |s| s.to_string()),
                t.org.as_ref().map_or("-", OrgId::as_str),
                t.owner.as_ref().map_or("-", MemberId::as_str),
                t.title
            )
        })
        .collect())
}
