//! Incidents as SLA cases, end to end through the engine: acknowledgement as first
//! response, the progress-report cadence as next update, verified recovery as
//! resolution; the deadline scheduler records each alert once, dated at its computed
//! instant.
//!
//! Times: the desk starts Monday 2026-03-02 09:00 UTC; the policy runs around the
//! clock with one warning at 80 %. A premium critical incident has 15 minutes to be
//! acknowledged (warning at 12), a 30-minute progress cadence (warning at 24) and
//! 4 hours to recover (warning at 3 h 12).

use casebook::core::{CaseId, SlaAlert, SlaAlertCommand};
use casebook::prelude::*;
use casebook::projections::TargetCompliance;
use casebook::scheduler;
use casebook::sla::{AlertKind, SlaPolicySpec, TargetKind};
use chrono::{DateTime, Duration};

use crate::plans::{create_plan, new_incident};
use crate::support::{start, Desk};

fn at(minutes: i64) -> DateTime<chrono::Utc> {
    start() + Duration::minutes(minutes)
}

fn publish(desk: &Desk) {
    let policy: SlaPolicySpec = serde_json::from_value(serde_json::json!({
        "version": 1,
        "effective_from": desk.clock.now(),
        "calendar": {"kind": "around_the_clock"},
        "targets": [
            {"kind": "incident", "tier": "premium", "severity": "critical",
             "first_response_minutes": 15, "next_update_minutes": 30,
             "resolution_minutes": 240},
            {"kind": "ticket", "tier": "premium", "severity": "medium",
             "first_response_minutes": 60, "resolution_minutes": 480}
        ],
        "warnings": [0.8],
        "reopen_window_minutes": 10080
    }))
    .unwrap();
    desk.engine
        .execute(&desk.pm, ServiceLevelsCommand::PublishPolicy { policy })
        .unwrap();
}

/// Declares a premium (acme) critical incident at the desk's start, detected five
/// minutes earlier (08:55).
fn declare(desk: &Desk) -> IncidentId {
    let plan = create_plan(desk);
    let id = IncidentId(desk.engine.new_id());
    let new = new_incident(desk, PlanRef { plan, revision: 1 });
    assert_eq!(new.detected_at, at(-5));
    desk.engine
        .execute(&desk.sec, (id, IncidentCommand::Declare(new)))
        .unwrap();
    id
}

fn run(desk: &Desk, id: IncidentId, c: IncidentCommand) {
    let name = format!("{c:?}");
    if let Err(e) = desk.engine.execute(&desk.sec, (id, c)) {
        panic!("{name} should succeed: {e}");
    }
}

fn report(desk: &Desk, id: IncidentId) {
    run(
        desk,
        id,
        IncidentCommand::ReportProgress {
            summary: "working on it".into(),
        },
    );
}

/// (target, cycle, breach?, due_at, noticed at) of every alert on the incident's stream.
fn alerts(desk: &Desk, id: IncidentId) -> Vec<(TargetKind, u32, bool, DateTime<chrono::Utc>)> {
    let stream = StreamId::new("sla", &CaseId::Incident(id).to_string()).unwrap();
    desk.engine
        .history(&stream)
        .unwrap()
        .iter()
        .map(|e| {
            let event = desk.engine.decode::<SlaAlertEvent>(e).unwrap();
            let a = event.alert();
            assert_eq!(a.case_kind, CaseKind::Incident);
            (
                a.target,
                a.cycle,
                matches!(event, SlaAlertEvent::BreachRecorded(_)),
                a.due_at,
            )
        })
        .collect()
}

fn tick(desk: &Desk) -> (usize, usize) {
    let r = scheduler::tick(&desk.engine, desk.clock.now()).unwrap();
    (r.warnings, r.breaches)
}

#[test]
fn a_critical_premium_incident_is_tracked_from_detection_to_verified_recovery() {
    let desk = Desk::new();
    publish(&desk);
    let id = declare(&desk);
    let ticket = desk.open();

    // 09:08: the incident (acknowledge due 09:10, warned 09:07) is at risk and listed
    // first, beside the ticket (first response due 10:00).
    let view = SlaView::build(&**desk.engine.store()).unwrap();
    let board = view.board(at(8), &BoardFilter::default(), Page::first(10));
    let rows: Vec<(CaseId, CaseKind)> = board.rows.iter().map(|r| (r.case, r.kind)).collect();
    assert_eq!(
        rows,
        vec![
            (CaseId::Incident(id), CaseKind::Incident),
            (CaseId::Ticket(ticket), CaseKind::Ticket),
        ]
    );
    assert_eq!(board.rows[0].nearest_deadline, Some(at(10)));
    let globex = BoardFilter {
        customer: Some(desk.globex.clone()),
        ..BoardFilter::default()
    };
    assert!(view.board(at(8), &globex, Page::first(10)).rows.is_empty());

    // Acknowledged late at 09:12: the scheduler then dates the first-response warning
    // at 09:07 and the breach at 09:10, though it noticed both at 09:12.
    desk.clock.set(at(12)).unwrap();
    run(&desk, id, IncidentCommand::Acknowledge);
    assert_eq!(tick(&desk), (1, 1));
    assert_eq!(
        alerts(&desk, id),
        vec![
            (TargetKind::FirstResponse, 0, false, at(7)),
            (TargetKind::FirstResponse, 0, true, at(10)),
        ]
    );

    // The cadence runs from the acknowledgement: a report at 09:30 meets cycle 0
    // (due 09:42); cycle 1 (due 10:00, warned 09:54) gets no report in time.
    desk.clock.set(at(30)).unwrap();
    report(&desk, id);
    // At 10:05 the ticket's first response is also warned (09:48) and breached (10:00).
    desk.clock.set(at(65)).unwrap();
    assert_eq!(tick(&desk), (2, 2));
    let recorded = alerts(&desk, id);
    assert_eq!(
        recorded[2..],
        [
            (TargetKind::NextUpdate, 1, false, at(54)),
            (TargetKind::NextUpdate, 1, true, at(60)),
        ]
    );

    // Ticking again, or from a fresh engine on the same store, records nothing.
    assert_eq!(tick(&desk), (0, 0));
    let fresh = Engine::builder(desk.engine.store().clone())
        .clock(desk.clock.clone())
        .build();
    let again = scheduler::tick(&fresh, desk.clock.now()).unwrap();
    assert_eq!((again.warnings, again.breaches), (0, 0));
    assert_eq!(alerts(&desk, id).len(), 4);

    // A late report at 10:10 starts cycle 2 (due 10:40); recovery is verified at
    // 10:30, well before the resolution deadline 12:55 (08:55 + 4 h).
    desk.clock.set(at(70)).unwrap();
    report(&desk, id);
    run(
        &desk,
        id,
        IncidentCommand::Assess {
            scope: "mail-01".into(),
            impact: "mail down".into(),
        },
    );
    run(
        &desk,
        id,
        IncidentCommand::LogAction {
            kind: ActionKind::Containment,
            description: "isolated mail-01".into(),
        },
    );
    run(
        &desk,
        id,
        IncidentCommand::ReportRecovered {
            summary: "restored".into(),
        },
    );
    desk.clock.set(at(90)).unwrap();
    run(
        &desk,
        id,
        IncidentCommand::VerifyRecovery {
            passed: true,
            evidence: "logins work".into(),
        },
    );
    // At 14:00, past every incident deadline, nothing more is due: each clock stopped
    // before its warning (the ticket's resolution warning is only at 15:24).
    desk.clock.set(at(300)).unwrap();
    assert_eq!(tick(&desk), (0, 0));
    assert_eq!(alerts(&desk, id).len(), 4);

    let view = SlaView::build(&**desk.engine.store()).unwrap();
    let case = view.case(id).unwrap();
    let ended: Vec<(TargetKind, u32, bool, DateTime<chrono::Utc>)> = case
        .outcomes
        .iter()
        .map(|o| (o.target, o.cycle, o.met, o.deadline))
        .collect();
    assert_eq!(
        ended,
        vec![
            (TargetKind::FirstResponse, 0, false, at(10)),
            (TargetKind::NextUpdate, 0, true, at(42)),
            (TargetKind::NextUpdate, 1, false, at(60)),
            (TargetKind::Resolution, 0, true, at(235)),
            (TargetKind::NextUpdate, 2, true, at(100)),
        ]
    );
    let incident_breaches: Vec<(TargetKind, DateTime<chrono::Utc>)> = view
        .breaches()
        .iter()
        .filter(|b| b.case == CaseId::Incident(id))
        .map(|b| (b.target, b.due_at))
        .collect();
    assert_eq!(
        incident_breaches,
        vec![
            (TargetKind::FirstResponse, at(10)),
            (TargetKind::NextUpdate, at(60))
        ]
    );
    let compliance = view.compliance(at(0), at(300));
    let incidents = &compliance.by_case_kind[&CaseKind::Incident];
    assert_eq!(
        incidents[&TargetKind::FirstResponse],
        TargetCompliance {
            met: 0,
            breached: 1
        }
    );
    assert_eq!(
        incidents[&TargetKind::NextUpdate],
        TargetCompliance {
            met: 2,
            breached: 1
        }
    );
    assert_eq!(
        incidents[&TargetKind::Resolution],
        TargetCompliance {
            met: 1,
            breached: 0
        }
    );

    // Confirmed, reviewed and closed: off the board, breaches kept.
    run(
        &desk,
        id,
        IncidentCommand::ConfirmRecovery {
            org: Some(desk.acme.clone()),
            comment: None,
        },
    );
    run(
        &desk,
        id,
        IncidentCommand::SubmitReview(crate::incidents::review(true)),
    );
    run(&desk, id, IncidentCommand::Close);
    let view = SlaView::build(&**desk.engine.store()).unwrap();
    let on_board: Vec<CaseId> = view
        .board(desk.clock.now(), &BoardFilter::default(), Page::first(10))
        .rows
        .iter()
        .map(|r| r.case)
        .collect();
    assert_eq!(on_board, vec![CaseId::Ticket(ticket)]);
    assert_eq!(
        view.breaches()
            .iter()
            .filter(|b| b.case == CaseId::Incident(id))
            .count(),
        2
    );
}

#[test]
fn what_if_replays_incidents_under_a_proposed_policy() {
    let desk = Desk::new();
    publish(&desk);
    let id = declare(&desk);
    // Acknowledged at 09:09: within 15 minutes of detection (08:55 → 09:10).
    desk.clock.set(at(9)).unwrap();
    run(&desk, id, IncidentCommand::Acknowledge);
    let stricter: SlaPolicySpec = serde_json::from_value(serde_json::json!({
        "version": 2,
        "effective_from": start(),
        "calendar": {"kind": "around_the_clock"},
        "targets": [
            {"kind": "incident", "tier": "premium", "severity": "critical",
             "first_response_minutes": 10, "resolution_minutes": 240}
        ],
        "warnings": [0.8],
        "reopen_window_minutes": 10080
    }))
    .unwrap();
    let proposed = casebook::sla::SlaPolicy::try_from(stricter).unwrap();
    let report =
        casebook::projections::what_if(&**desk.engine.store(), at(-60), at(60), &proposed).unwrap();
    let first = |c: &casebook::projections::Compliance| {
        c.by_case_kind[&CaseKind::Incident][&TargetKind::FirstResponse]
    };
    assert_eq!(
        first(&report.actual),
        TargetCompliance {
            met: 1,
            breached: 0
        }
    );
    assert_eq!(
        first(&report.proposed),
        TargetCompliance {
            met: 0,
            breached: 1
        }
    );
}

#[test]
fn an_incident_alert_stream_refuses_a_ticket_alert() {
    let desk = Desk::new();
    publish(&desk);
    let id = declare(&desk);
    let alert = SlaAlert {
        case_kind: CaseKind::Ticket,
        target: TargetKind::FirstResponse,
        cycle: 0,
        kind: AlertKind::Breach,
        due_at: at(10),
        policy_version: 1,
    };
    let err = desk
        .engine
        .execute(
            &scheduler::scheduler_actor(),
            Command::SlaAlerts(
                CaseId::Incident(id),
                SlaAlertCommand::Record {
                    alerts: vec![alert],
                },
            ),
        )
        .unwrap_err();
    assert!(matches!(
        err.rejection(),
        Some(Rejection::InvalidInput { .. })
    ));
    assert!(alerts(&desk, id).is_empty());
}
