//! Drills: scheduled against a plan revision, timed phases in order, scored against the
//! plan's targets, findings turned into requested plan revisions; never incidents.

use casebook::prelude::*;
use chrono::Duration;

use crate::plans::create_plan;
use crate::support::{member, rule_of, start, Desk};

fn run(desk: &Desk, id: DrillId, c: DrillCommand) {
    let name = format!("{c:?}");
    if let Err(e) = desk.engine.execute(&desk.sec, (id, c)) {
        panic!("{name} should succeed: {e}");
    }
}

pub fn schedule(desk: &Desk, plan: PlanId) -> DrillId {
    let id = DrillId(desk.engine.new_id());
    run(
        desk,
        id,
        DrillCommand::Schedule {
            plan: PlanRef { plan, revision: 1 },
            scenario: "ransomware on the mail server".into(),
            participants: vec![member("sec"), member("pm")],
            date: start() + Duration::days(1),
        },
    );
    id
}

/// Runs a drill with the given phase durations in minutes and findings.
pub fn run_drill(desk: &Desk, plan: PlanId, minutes: [i64; 4], findings: Vec<String>) -> DrillId {
    let id = schedule(desk, plan);
    run(desk, id, DrillCommand::Start);
    for (phase, m) in Phase::ALL.into_iter().zip(minutes) {
        desk.advance(Duration::minutes(m));
        run(desk, id, DrillCommand::MarkPhase { phase });
    }
    run(
        desk,
        id,
        DrillCommand::Evaluate {
            notes: "team reacted well".into(),
        },
    );
    run(desk, id, DrillCommand::RecordFindings { findings });
    id
}

#[test]
fn a_drill_is_scored_against_the_plan_targets_and_findings() {
    let desk = Desk::new();
    let plan = create_plan(&desk);
    // Targets: occurrence 10, report 15, handling 60, recovery 30 minutes.
    let id = run_drill(
        &desk,
        plan,
        [5, 30, 60, 30],
        vec!["the report came late".into()],
    );
    let drill = desk.engine.drill(id).unwrap();
    assert_eq!(drill.stage, Some(Stage::Closed));
    let score = desk.engine.drill_score(id).unwrap();
    let points: Vec<u32> = score.phases.iter().map(|p| p.points).collect();
    assert_eq!(points, vec![25, 12, 25, 25]);
    assert_eq!(score.findings, 1);
    assert_eq!(score.total, 87 - 5);
}

#[test]
fn phases_out_of_order_are_refused() {
    let desk = Desk::new();
    let plan = create_plan(&desk);
    let id = schedule(&desk, plan);
    let err = desk
        .engine
        .execute(
            &desk.sec,
            (
                id,
                DrillCommand::MarkPhase {
                    phase: Phase::Occurrence,
                },
            ),
        )
        .unwrap_err();
    assert!(matches!(
        err.rejection(),
        Some(Rejection::WrongStage { .. })
    ));
    run(&desk, id, DrillCommand::Start);
    let err = desk
        .engine
        .execute(
            &desk.sec,
            (
                id,
                DrillCommand::MarkPhase {
                    phase: Phase::Handling,
                },
            ),
        )
        .unwrap_err();
    assert_eq!(rule_of(&err), Some(Rule::OutOfOrder));
    run(
        &desk,
        id,
        DrillCommand::MarkPhase {
            phase: Phase::Occurrence,
        },
    );
    let err = desk
        .engine
        .execute(
            &desk.sec,
            (
                id,
                DrillCommand::MarkPhase {
                    phase: Phase::Occurrence,
                },
            ),
        )
        .unwrap_err();
    assert_eq!(rule_of(&err), Some(Rule::OutOfOrder));
    let err = desk
        .engine
        .execute(
            &desk.sup,
            (
                id,
                DrillCommand::MarkPhase {
                    phase: Phase::Report,
                },
            ),
        )
        .unwrap_err();
    assert!(matches!(
        err.rejection(),
        Some(Rejection::NotPermitted { .. })
    ));
}

#[test]
fn findings_become_requested_revisions_and_drills_are_never_incidents() {
    let desk = Desk::new();
    let plan = create_plan(&desk);
    let id = run_drill(
        &desk,
        plan,
        [5, 10, 50, 20],
        vec!["no backup contact".into(), "runbook outdated".into()],
    );
    let mut pm = EmergencyResponse::resume(&desk.engine, EmergencyConfig::new(plan)).unwrap();
    pm.run_once(&desk.engine).unwrap();
    pm.run_once(&desk.engine).unwrap();
    let state = desk.engine.plan(plan).unwrap();
    assert_eq!(state.open_requests().count(), 2);
    assert_eq!(
        state.requests[1].source,
        RevisionSource::DrillFinding { drill: id, item: 1 }
    );
    let log = desk.engine.store().read_all(0, 10_000).unwrap();
    assert!(log.iter().all(|e| e.stream_kind() != "incident"));
    assert!(log
        .iter()
        .filter(|e| e.stream_kind() == "drill")
        .all(|e| e.event_type.starts_with("Drill")));
}
