//! Emergency response end to end: a monitoring feed runs through a rule and raises an
//! alert, the process manager declares an incident under the contingency plan, the
//! incident is handled to its post-incident review, and a drill runs against the same
//! plan. Prints the incident timeline and the drill score.
//!
//! `cargo run --example emergency`

use std::sync::Arc;

use casebook::prelude::*;
use chrono::{Duration, TimeZone, Utc};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let start = Utc
        .with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
        .single()
        .ok_or("bad start time")?;
    let clock = Arc::new(ManualClock::new(start));
    let engine = Engine::builder(Arc::new(MemoryStore::new()))
        .clock(clock.clone())
        .ids(Arc::new(SeededIds::new(1)))
        .build();
    let system = Actor::system("bootstrap");
    let acme = OrgId::new("acme")?;
    engine.execute(
        &system,
        DirectoryCommand::RegisterCustomer {
            org: acme.clone(),
            name: "ACME Corp".into(),
            tier: CustomerTier::Premium,
        },
    )?;
    engine.execute(
        &system,
        DirectoryCommand::AddMember {
            member: MemberId::new("zhao.lei")?,
            name: "Zhao Lei".into(),
            roles: [Role::SecurityEngineer].into(),
            org: None,
            team: Some("security".into()),
        },
    )?;
    let sec = Actor::member("zhao.lei")?;

    // The contingency plan, revision 1.
    let plan = PlanId(engine.new_id());
    let step = |phase, description: &str, target_minutes| ProcessStep {
        phase,
        description: description.into(),
        target_minutes,
    };
    engine.execute(
        &sec,
        (
            plan,
            PlanCommand::Create {
                title: "Database intrusion response".into(),
                review_interval_days: 180,
                content: PlanContent {
                    organisation: vec![ResponseRole {
                        role: "incident commander".into(),
                        filled_by: "security on call".into(),
                        duties: "leads the response, reports to the project manager".into(),
                    }],
                    steps: vec![
                        step(Phase::Occurrence, "confirm the alert", 10),
                        step(Phase::Report, "report to the project manager", 15),
                        step(Phase::Handling, "isolate and clean the host", 60),
                        step(Phase::Recovery, "restore and verify", 30),
                    ],
                    measures: vec!["isolate the host".into(), "rotate credentials".into()],
                },
            },
        ),
    )?;

    // A monitoring rule on a customer system, and a feed of samples.
    let rule = RuleId(engine.new_id());
    engine.execute(
        &sec,
        (
            rule,
            RuleCommand::Define(RuleDefinition {
                name: "Database CPU".into(),
                metric: Metric::SystemPerformance,
                scope: ScopeKind::CustomerSystem { org: acme.clone() },
                comparison: Comparison::Above,
                threshold: 90.0,
                window_seconds: 120,
                severity: Severity::Critical,
                measures: vec!["look for crypto miners".into()],
            }),
        ),
    )?;
    let feed = Actor::system("monitoring-feed");
    let mut recorded = 0;
    for (i, value) in [35.0, 41.0, 92.0, 96.0, 97.0, 99.0, 98.0]
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            clock.advance(Duration::seconds(60))?;
        }
        let sample = RuleCommand::Sample {
            scope: "acme-db-01".into(),
            value,
            at: clock.now(),
        };
        recorded += engine.execute(&feed, (rule, sample))?.len();
    }
    println!("7 samples, {recorded} alert-state events recorded");

    // The process manager turns the alert into an incident.
    let mut manager = EmergencyResponse::resume(&engine, EmergencyConfig::new(plan))?;
    manager.run_once(&engine)?;
    let incident = manager
        .open_incident_for(rule, "acme-db-01")
        .ok_or("the alert declared no incident")?;

    // Handle it to its review.
    let steps: Vec<(Actor, IncidentCommand, i64)> = vec![
        (sec.clone(), IncidentCommand::Acknowledge, 4),
        (
            sec.clone(),
            IncidentCommand::Assess {
                scope: "acme-db-01".into(),
                impact: "order processing slowed".into(),
            },
            6,
        ),
        (
            sec.clone(),
            IncidentCommand::LogAction {
                kind: ActionKind::Containment,
                description: "isolated acme-db-01 from the internet".into(),
            },
            10,
        ),
        (
            sec.clone(),
            IncidentCommand::ReportProgress {
                summary: "contained; miner found".into(),
            },
            15,
        ),
        (
            sec.clone(),
            IncidentCommand::LogAction {
                kind: ActionKind::Disposal,
                description: "removed the miner, patched the admin console".into(),
            },
            25,
        ),
        (
            sec.clone(),
            IncidentCommand::ReportRecovered {
                summary: "service restored".into(),
            },
            5,
        ),
        (
            sec.clone(),
            IncidentCommand::VerifyRecovery {
                passed: true,
                evidence: "CPU at 30 %, orders flowing".into(),
            },
            10,
        ),
        (
            sec.clone(),
            IncidentCommand::ConfirmRecovery {
                org: Some(acme.clone()),
                comment: Some("confirmed by phone".into()),
            },
            60,
        ),
        (
            sec.clone(),
            IncidentCommand::SubmitReview(PostIncidentReview {
                loss: Some(LossAssessment {
                    downtime_minutes: 0,
                    systems_affected: 1,
                    records_affected: 0,
                    direct_cost_cents: 0,
                    responder_minutes: 180,
                    hourly_rate_cents: 15_000,
                }),
                root_cause: "admin console exposed with a default password".into(),
                lessons: vec!["default credentials slipped through hardening".into()],
                improvements: vec!["add a default-credential check to handling".into()],
            }),
            30,
        ),
        (sec.clone(), IncidentCommand::Close, 5),
    ];
    for (who, command, minutes) in steps {
        clock.advance(Duration::minutes(minutes))?;
        engine.execute(&who, (incident, command))?;
    }
    let state = engine.incident(incident)?;
    println!("\nIncident {incident} timeline:");
    for entry in &state.timeline {
        println!(
            "  {}  [{}] {}",
            entry.at.format("%H:%M:%S"),
            entry.stage,
            entry.what
        );
    }
    if let Some(loss) = state.review.as_ref().and_then(|r| r.loss.as_ref()) {
        println!(
            "  loss: {} systems affected, total cost {:.2}",
            loss.systems_affected,
            loss.total_cost_cents() as f64 / 100.0
        );
    }

    // A drill against the same plan.
    let drill = DrillId(engine.new_id());
    engine.execute(
        &sec,
        (
            drill,
            DrillCommand::Schedule {
                plan: PlanRef { plan, revision: 1 },
                scenario: "miner on a customer database".into(),
                participants: vec![MemberId::new("zhao.lei")?],
                date: clock.now() + Duration::days(7),
            },
        ),
    )?;
    clock.advance(Duration::days(7))?;
    engine.execute(&sec, (drill, DrillCommand::Start))?;
    for (phase, minutes) in Phase::ALL.into_iter().zip([8, 25, 55, 30]) {
        clock.advance(Duration::minutes(minutes))?;
        engine.execute(&sec, (drill, DrillCommand::MarkPhase { phase }))?;
    }
    engine.execute(
        &sec,
        (
            drill,
            DrillCommand::Evaluate {
                notes: "reporting was slow".into(),
            },
        ),
    )?;
    engine.execute(
        &sec,
        (
            drill,
            DrillCommand::RecordFindings {
                findings: vec!["no deputy for the incident commander".into()],
            },
        ),
    )?;
    let score = engine.drill_score(drill)?;
    println!("\nDrill {drill} score: {}/100", score.total);
    for p in &score.phases {
        let target = p
            .target
            .map_or_else(|| "-".to_string(), |t| format!("{} min", t.num_minutes()));
        println!(
            "  {:<10} took {:>3} min, target {:>7}, {:>2}/25 points",
            p.phase.to_string(),
            p.actual.num_minutes(),
            target,
            p.points
        );
    }
    println!("  findings: {}", score.findings);

    // Review improvements and drill findings become requested plan revisions.
    manager.run_once(&engine)?;
    println!("\nRequested revisions of the plan:");
    for r in engine.plan(plan)?.open_requests() {
        println!("  #{} {}", r.number, r.text);
    }
    Ok(())
}
