//! The emergency-response commands: `plan`, `incident`, `rule`, `sample`, `drill` and
//! `respond` (the process manager). Like the ticket commands: arguments are parsed before
//! the store is opened, new ids go to stdout alone, errors are one line.

use std::fmt::Write as _;
use std::str::FromStr;

use casebook::process::{EmergencyConfig, EmergencyResponse};
use casebook::{Command, Engine};
use casebook_core::drill::DrillCommand;
use casebook_core::incident::{
    ActionKind, IncidentCommand, IncidentSource, LossAssessment, NewIncident, PostIncidentReview,
};
use casebook_core::monitoring::{Comparison, Metric, RuleCommand, RuleDefinition, ScopeKind};
use casebook_core::plan::{Phase, PlanCommand, PlanContent, PlanRef, ProcessStep, ResponseRole};
use casebook_core::{DrillId, IncidentId, MemberId, OrgId, PlanId, Rejection, RuleId};
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::cli::{
    Cli, DrillCmd, IncidentCmd, PlanCmd, PlanContentArgs, ReviewArgs, RuleCmd, TopCommand,
};
use crate::desk::{
    actor, parse_enum, parse_member, parse_severity, parse_time, render_recorded, Desk,
};
use crate::error::{usage, CliError};

fn parse_id<T: FromStr>(what: &str, text: &str) -> Result<T, CliError>
where
    T::Err: std::fmt::Display,
{
    T::from_str(text).map_err(|e| CliError::Usage(format!("{what} id {text:?}: {e}")))
}

fn parse_phase(text: &str) -> Result<Phase, CliError> {
    parse_enum(
        "phase",
        text,
        &[
            ("occurrence", Phase::Occurrence),
            ("report", Phase::Report),
            ("handling", Phase::Handling),
            ("recovery", Phase::Recovery),
        ],
    )
}

fn parse_org(text: &str) -> Result<OrgId, CliError> {
    OrgId::new(text).map_err(usage)
}

fn content(args: &PlanContentArgs) -> Result<PlanContent, CliError> {
    let organisation = args
        .roles
        .iter()
        .map(|r| {
            let parts: Vec<&str> = r.splitn(3, '|').collect();
            match parts.as_slice() {
                [role, filled_by, duties] => Ok(ResponseRole {
                    role: role.trim().into(),
                    filled_by: filled_by.trim().into(),
                    duties: duties.trim().into(),
                }),
                _ => Err(CliError::Usage(format!(
                    "role {r:?} is not ROLE|FILLED BY|DUTIES"
                ))),
            }
        })
        .collect::<Result<_, _>>()?;
    let steps = args
        .steps
        .iter()
        .map(|s| {
            let parts: Vec<&str> = s.splitn(3, '|').collect();
            match parts.as_slice() {
                [phase, minutes, description] => Ok(ProcessStep {
                    phase: parse_phase(phase.trim())?,
                    target_minutes: minutes.trim().parse().map_err(|e| {
                        CliError::Usage(format!("step {s:?}: minutes {minutes:?}: {e}"))
                    })?,
                    description: description.trim().into(),
                }),
                _ => Err(CliError::Usage(format!(
                    "step {s:?} is not PHASE|MINUTES|DESCRIPTION"
                ))),
            }
        })
        .collect::<Result<_, _>>()?;
    Ok(PlanContent {
        organisation,
        steps,
        measures: args.measures.clone(),
    })
}

fn metric(text: &str) -> Metric {
    match text {
        "system_performance" => Metric::SystemPerformance,
        "network_traffic" => Metric::NetworkTraffic,
        "open_vulnerabilities" => Metric::OpenVulnerabilities,
        "security_incidents" => Metric::SecurityIncidents,
        other => Metric::Named(other.to_string()),
    }
}

fn scope_kind(text: &str) -> Result<ScopeKind, CliError> {
    match text {
        "internal" => Ok(ScopeKind::InternalSystem),
        "network" => Ok(ScopeKind::NetworkDevice),
        other => match other.strip_prefix("customer:") {
            Some(org) => Ok(ScopeKind::CustomerSystem {
                org: parse_org(org)?,
            }),
            None => Err(CliError::Usage(format!(
                "unknown scope {other:?}; expected internal, network or customer:ORG"
            ))),
        },
    }
}

fn review(args: &ReviewArgs) -> PostIncidentReview {
    PostIncidentReview {
        loss: Some(LossAssessment {
            downtime_minutes: args.downtime_minutes,
            systems_affected: args.systems_affected,
            records_affected: args.records_affected,
            direct_cost_cents: args.direct_cost_cents,
            responder_minutes: args.responder_minutes,
            hourly_rate_cents: args.hourly_rate_cents,
        }),
        root_cause: args.root_cause.clone(),
        lessons: args.lessons.clone(),
        improvements: args.improvements.clone(),
    }
}

/// A write: the engine command, the kind and id of a new item to print, and (for a
/// declaration or a drill) a plan whose newest revision must be filled in first.
struct Write {
    command: Command,
    new: Option<(&'static str, String)>,
    newest_of: Option<PlanId>,
}

fn write(command: impl Into<Command>) -> Write {
    Write {
        command: command.into(),
        new: None,
        newest_of: None,
    }
}

/// Runs one of the emergency-response commands.
///
/// # Errors
///
/// Usage, rejection and storage errors.
pub fn run(cli: &Cli) -> Result<String, CliError> {
    match &cli.command {
        TopCommand::Plan(PlanCmd::Show { id }) => {
            let id: PlanId = parse_id("plan", id)?;
            read(cli, |engine| show_plan(engine, id, cli.json))
        }
        TopCommand::Incident(IncidentCmd::Show { id }) => {
            let id: IncidentId = parse_id("incident", id)?;
            read(cli, |engine| show_incident(engine, id, cli.json))
        }
        TopCommand::Rule(RuleCmd::Show { id }) => {
            let id: RuleId = parse_id("rule", id)?;
            read(cli, |engine| show_rule(engine, id, cli.json))
        }
        TopCommand::Drill(DrillCmd::Show { id }) => {
            let id: DrillId = parse_id("drill", id)?;
            read(cli, |engine| show_drill(engine, id, cli.json))
        }
        TopCommand::Respond { plan } => {
            let plan: PlanId = parse_id("plan", plan)?;
            let desk = Desk::open(&cli.store, true)?;
            let out = respond(&desk.engine, plan, cli.json);
            desk.close()?;
            out
        }
        command => {
            let who = actor(cli)?;
            let mut w = build(command)?;
            let desk = Desk::open(&cli.store, false)?;
            let result = (|| {
                if let Some(plan) = w.newest_of {
                    fill_revision(&desk.engine, plan, &mut w.command)?;
                }
                let recorded = desk.engine.execute(&who, w.command)?;
                Ok(render_recorded(&recorded, w.new, cli.json))
            })();
            desk.close()?;
            result
        }
    }
}

fn read(
    cli: &Cli,
    f: impl FnOnce(&Engine) -> Result<String, CliError>,
) -> Result<String, CliError> {
    let desk = Desk::open(&cli.store, true)?;
    let out = f(&desk.engine);
    desk.close()?;
    out
}

/// Fills the newest revision of `plan` into a declaration or a drill schedule.
fn fill_revision(engine: &Engine, plan: PlanId, command: &mut Command) -> Result<(), CliError> {
    let state = engine.plan(plan)?;
    let revision = state.current_revision().map(|r| r.number).ok_or_else(|| {
        CliError::Rejected(Rejection::NotFound {
            kind: "plan",
            id: plan.to_string(),
        })
    })?;
    match command {
        Command::Incident(_, IncidentCommand::Declare(new)) => new.plan.revision = revision,
        Command::Drill(_, DrillCommand::Schedule { plan: p, .. }) => p.revision = revision,
        _ => {}
    }
    Ok(())
}

#[allow(clippy::too_many_lines)]
fn build(command: &TopCommand) -> Result<Write, CliError> {
    Ok(match command {
        TopCommand::Plan(p) => match p {
            PlanCmd::Create {
                title,
                review_days,
                content: c,
            } => {
                let id = PlanId(uuid::Uuid::now_v7());
                Write {
                    new: Some(("plan", id.to_string())),
                    ..write((
                        id,
                        PlanCommand::Create {
                            title: title.clone(),
                            review_interval_days: *review_days,
                            content: content(c)?,
                        },
                    ))
                }
            }
            PlanCmd::Revise {
                id,
                content: c,
                summary,
                addresses,
            } => write((
                parse_id::<PlanId>("plan", id)?,
                PlanCommand::PublishRevision {
                    content: content(c)?,
                    summary: summary.clone(),
                    addresses: addresses.clone(),
                },
            )),
            PlanCmd::Review { id, notes } => write((
                parse_id::<PlanId>("plan", id)?,
                PlanCommand::RecordReview {
                    notes: notes.clone(),
                },
            )),
            PlanCmd::Request { id, text } => write((
                parse_id::<PlanId>("plan", id)?,
                PlanCommand::RequestRevision {
                    source: casebook_core::plan::RevisionSource::Manual,
                    text: text.clone(),
                },
            )),
            PlanCmd::RetireRevision {
                id,
                revision,
                reason,
            } => write((
                parse_id::<PlanId>("plan", id)?,
                PlanCommand::RetireRevision {
                    revision: *revision,
                    reason: reason.clone(),
                },
            )),
            PlanCmd::Retire { id, reason } => write((
                parse_id::<PlanId>("plan", id)?,
                PlanCommand::Retire {
                    reason: reason.clone(),
                },
            )),
            PlanCmd::Show { .. } => return Err(CliError::Usage("not a change".into())),
        },
        TopCommand::Incident(i) => {
            let one = |id: &str, c: IncidentCommand| -> Result<Write, CliError> {
                Ok(write((parse_id::<IncidentId>("incident", id)?, c)))
            };
            match i {
                IncidentCmd::Declare {
                    title,
                    description,
                    severity,
                    customers,
                    systems,
                    plan,
                    revision,
                    detected_at,
                } => {
                    let plan: PlanId = parse_id("plan", plan)?;
                    let id = IncidentId(uuid::Uuid::now_v7());
                    let detected_at = match detected_at {
                        Some(t) => parse_time("--detected-at", t)?,
                        None => Utc::now(),
                    };
                    Write {
                        new: Some(("incident", id.to_string())),
                        newest_of: revision.is_none().then_some(plan),
                        ..write((
                            id,
                            IncidentCommand::Declare(NewIncident {
                                title: title.clone(),
                                description: description.clone(),
                                severity: parse_severity(severity)?,
                                affected_customers: customers
                                    .iter()
                                    .map(|c| parse_org(c))
                                    .collect::<Result<_, _>>()?,
                                affected_systems: systems.clone(),
                                plan: PlanRef {
                                    plan,
                                    revision: revision.unwrap_or(0),
                                },
                                detected_at,
                                source: IncidentSource::Manual,
                            }),
                        ))
                    }
                }
                IncidentCmd::Ack { id } => one(id, IncidentCommand::Acknowledge)?,
                IncidentCmd::Assess { id, scope, impact } => one(
                    id,
                    IncidentCommand::Assess {
                        scope: scope.clone(),
                        impact: impact.clone(),
                    },
                )?,
                IncidentCmd::Action {
                    id,
                    kind,
                    description,
                } => one(
                    id,
                    IncidentCommand::LogAction {
                        kind: parse_enum(
                            "action kind",
                            kind,
                            &[
                                ("containment", ActionKind::Containment),
                                ("disposal", ActionKind::Disposal),
                            ],
                        )?,
                        description: description.clone(),
                    },
                )?,
                IncidentCmd::Progress { id, summary } => one(
                    id,
                    IncidentCommand::ReportProgress {
                        summary: summary.clone(),
                    },
                )?,
                IncidentCmd::Recovered { id, summary } => one(
                    id,
                    IncidentCommand::ReportRecovered {
                        summary: summary.clone(),
                    },
                )?,
                IncidentCmd::Verify {
                    id,
                    failed,
                    evidence,
                } => one(
                    id,
                    IncidentCommand::VerifyRecovery {
                        passed: !*failed,
                        evidence: evidence.clone(),
                    },
                )?,
                IncidentCmd::Confirm { id, org, comment } => one(
                    id,
                    IncidentCommand::ConfirmRecovery {
                        org: org.as_deref().map(parse_org).transpose()?,
                        comment: comment.clone(),
                    },
                )?,
                IncidentCmd::Review(args) => {
                    one(&args.id, IncidentCommand::SubmitReview(review(args)))?
                }
                IncidentCmd::Close { id } => one(id, IncidentCommand::Close)?,
                IncidentCmd::Show { .. } => return Err(CliError::Usage("not a change".into())),
            }
        }
        TopCommand::Rule(r) => match r {
            RuleCmd::Define {
                name,
                metric: m,
                scope,
                comparison,
                threshold,
                window_seconds,
                severity,
                measures,
            } => {
                let id = RuleId(uuid::Uuid::now_v7());
                Write {
                    new: Some(("rule", id.to_string())),
                    ..write((
                        id,
                        RuleCommand::Define(RuleDefinition {
                            name: name.clone(),
                            metric: metric(m),
                            scope: scope_kind(scope)?,
                            comparison: parse_enum(
                                "comparison",
                                comparison,
                                &[
                                    ("above", Comparison::Above),
                                    ("at_or_above", Comparison::AtOrAbove),
                                    ("below", Comparison::Below),
                                    ("at_or_below", Comparison::AtOrBelow),
                                ],
                            )?,
                            threshold: *threshold,
                            window_seconds: *window_seconds,
                            severity: parse_severity(severity)?,
                            measures: measures.clone(),
                        }),
                    ))
                }
            }
            RuleCmd::Retire { id, reason } => write((
                parse_id::<RuleId>("rule", id)?,
                RuleCommand::Retire {
                    reason: reason.clone(),
                },
            )),
            RuleCmd::Show { .. } => return Err(CliError::Usage("not a change".into())),
        },
        TopCommand::Sample {
            rule,
            scope,
            value,
            at,
        } => write((
            parse_id::<RuleId>("rule", rule)?,
            RuleCommand::Sample {
                scope: scope.clone(),
                value: *value,
                at: match at {
                    Some(t) => parse_time("--at", t)?,
                    None => Utc::now(),
                },
            },
        )),
        TopCommand::Drill(d) => {
            let one = |id: &str, c: DrillCommand| -> Result<Write, CliError> {
                Ok(write((parse_id::<DrillId>("drill", id)?, c)))
            };
            match d {
                DrillCmd::Schedule {
                    plan,
                    revision,
                    scenario,
                    participants,
                    date,
                } => {
                    let plan: PlanId = parse_id("plan", plan)?;
                    let id = DrillId(uuid::Uuid::now_v7());
                    Write {
                        new: Some(("drill", id.to_string())),
                        newest_of: revision.is_none().then_some(plan),
                        ..write((
                            id,
                            DrillCommand::Schedule {
                                plan: PlanRef {
                                    plan,
                                    revision: revision.unwrap_or(0),
                                },
                                scenario: scenario.clone(),
                                participants: participants
                                    .iter()
                                    .map(|p| parse_member(p))
                                    .collect::<Result<Vec<MemberId>, _>>()?,
                                date: parse_time("--date", date)?,
                            },
                        ))
                    }
                }
                DrillCmd::Start { id } => one(id, DrillCommand::Start)?,
                DrillCmd::Phase { id, phase } => one(
                    id,
                    DrillCommand::MarkPhase {
                        phase: parse_phase(phase)?,
                    },
                )?,
                DrillCmd::Evaluate { id, notes } => one(
                    id,
                    DrillCommand::Evaluate {
                        notes: notes.clone(),
                    },
                )?,
                DrillCmd::Findings { id, findings } => one(
                    id,
                    DrillCommand::RecordFindings {
                        findings: findings.clone(),
                    },
                )?,
                DrillCmd::Show { .. } => return Err(CliError::Usage("not a change".into())),
            }
        }
        _ => return Err(CliError::Usage("not an emergency-response command".into())),
    })
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, CliError> {
    serde_json::to_value(value)
        .map(|v| format!("{v}\n"))
        .map_err(|e| CliError::Storage(format!("cannot render: {e}")))
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(
        || "-".into(),
        |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}

fn show_plan(engine: &Engine, id: PlanId, json_out: bool) -> Result<String, CliError> {
    let plan = engine.plan(id)?;
    if plan.id.is_none() {
        return Err(CliError::Rejected(Rejection::NotFound {
            kind: "plan",
            id: id.to_string(),
        }));
    }
    if json_out {
        return to_json(&plan);
    }
    let mut out = String::new();
    let _ = writeln!(out, "plan        {id}");
    let _ = writeln!(out, "title       {}", plan.title);
    let _ = writeln!(out, "retired     {}", plan.retired);
    let _ = writeln!(
        out,
        "review      every {} days, last {}, due {}",
        plan.review_interval_days,
        time(plan.last_reviewed_at),
        time(plan.review_due_at())
    );
    for r in plan.revisions.values() {
        let _ = writeln!(
            out,
            "revision {}  published {}{}  {} steps, {} measures",
            r.number,
            time(Some(r.published_at)),
            if r.retired { " (retired)" } else { "" },
            r.content.steps.len(),
            r.content.measures.len()
        );
    }
    for q in &plan.requests {
        let _ = writeln!(
            out,
            "request #{} {}  {}",
            q.number,
            q.addressed_by
                .map_or_else(|| "open".to_string(), |r| format!("addressed by rev {r}")),
            q.text
        );
    }
    Ok(out)
}

fn show_incident(engine: &Engine, id: IncidentId, json_out: bool) -> Result<String, CliError> {
    let incident = engine.incident(id)?;
    if json_out {
        return to_json(&incident);
    }
    let mut out = String::new();
    let _ = writeln!(out, "incident    {id}");
    let _ = writeln!(out, "title       {}", incident.title);
    let _ = writeln!(
        out,
        "stage       {}",
        incident.stage.map_or_else(|| "-".into(), |s| s.to_string())
    );
    let _ = writeln!(
        out,
        "severity    {}",
        incident
            .severity
            .map_or_else(|| "-".into(), |s| s.to_string())
    );
    let _ = writeln!(
        out,
        "plan        {}",
        incident.plan.map_or_else(|| "-".into(), |p| p.to_string())
    );
    let customers: Vec<&str> = incident
        .affected_customers
        .iter()
        .map(OrgId::as_str)
        .collect();
    let _ = writeln!(out, "customers   {}", customers.join(", "));
    let _ = writeln!(out, "systems     {}", incident.affected_systems.join(", "));
    for entry in &incident.timeline {
        let _ = writeln!(
            out,
            "  {}  [{}] {}",
            entry.at.format("%Y-%m-%dT%H:%M:%SZ"),
            entry.stage,
            entry.what
        );
    }
    Ok(out)
}

fn show_rule(engine: &Engine, id: RuleId, json_out: bool) -> Result<String, CliError> {
    let rule = engine.monitoring_rule(id)?;
    let Some(def) = &rule.definition else {
        return Err(CliError::Rejected(Rejection::NotFound {
            kind: "monitoring rule",
            id: id.to_string(),
        }));
    };
    if json_out {
        return to_json(&rule);
    }
    let mut out = String::new();
    let _ = writeln!(out, "rule        {id}");
    let _ = writeln!(out, "name        {}", def.name);
    let _ = writeln!(
        out,
        "watches     {} on {}, {:?} {} for {} s, {}",
        def.metric, def.scope, def.comparison, def.threshold, def.window_seconds, def.severity
    );
    let _ = writeln!(out, "retired     {}", rule.retired);
    for (scope, s) in &rule.scopes {
        let state = match (&s.alert, s.pending_since) {
            (Some(a), _) => format!("ALERT #{} since {}", a.occurrence, time(Some(a.since))),
            (None, Some(p)) => format!("past the threshold since {}", time(Some(p))),
            (None, None) => "inside".into(),
        };
        let _ = writeln!(
            out,
            "  {scope:<20} {state} ({} alerts so far)",
            s.occurrences
        );
    }
    Ok(out)
}

fn show_drill(engine: &Engine, id: DrillId, json_out: bool) -> Result<String, CliError> {
    let drill = engine.drill(id)?;
    let score = engine.drill_score(id).ok();
    if json_out {
        let mut value = serde_json::to_value(&drill)
            .map_err(|e| CliError::Storage(format!("cannot render: {e}")))?;
        if let Some(score) = &score {
            value["score"] = json!({
                "total": score.total,
                "findings": score.findings,
                "phases": score.phases.iter().map(|p| json!({
                    "phase": p.phase.as_str(),
                    "actual_minutes": p.actual.num_minutes(),
                    "target_minutes": p.target.map(|t| t.num_minutes()),
                    "points": p.points,
                })).collect::<Vec<_>>(),
            });
        }
        return Ok(format!("{value}\n"));
    }
    let mut out = String::new();
    let _ = writeln!(out, "drill       {id}");
    let _ = writeln!(out, "scenario    {}", drill.scenario);
    let _ = writeln!(
        out,
        "plan        {}",
        drill.plan.map_or_else(|| "-".into(), |p| p.to_string())
    );
    let _ = writeln!(
        out,
        "stage       {}",
        drill.stage.map_or_else(|| "-".into(), |s| s.to_string())
    );
    let _ = writeln!(out, "date        {}", time(drill.date));
    if let Some(score) = score {
        let _ = writeln!(out, "score       {}/100", score.total);
        for p in &score.phases {
            let _ = writeln!(
                out,
                "  {:<10} {:>4} min, target {:>6}, {:>2} points",
                p.phase.as_str(),
                p.actual.num_minutes(),
                p.target
                    .map_or_else(|| "-".into(), |t| format!("{} min", t.num_minutes())),
                p.points
            );
        }
        let _ = writeln!(out, "  findings   {}", score.findings);
    }
    Ok(out)
}

fn respond(engine: &Engine, plan: PlanId, json_out: bool) -> Result<String, CliError> {
    let mut manager = EmergencyResponse::resume(engine, EmergencyConfig::new(plan))?;
    let skipped_before = manager.skipped().len();
    let handled = manager.run_once(engine)?;
    let skipped: Vec<_> = manager.skipped().iter().skip(skipped_before).collect();
    if json_out {
        let value = json!({
            "handled": handled,
            "position": manager.position(),
            "skipped": skipped.iter().map(|s| json!({
                "position": s.position, "event_type": s.event_type, "reason": s.reason,
            })).collect::<Vec<_>>(),
        });
        return Ok(format!("{value}\n"));
    }
    let mut out = format!(
        "handled {handled} events; at log position {}\n",
        manager.position()
    );
    for s in skipped {
        let _ = writeln!(
            out,
            "skipped @{} {}: {}",
            s.position, s.event_type, s.reason
        );
    }
    Ok(out)
}
