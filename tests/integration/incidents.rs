//! Incidents through the six stages, progress-report cadence, the review required to
//! close, and the urgent-ticket process manager.

use casebook::prelude::*;
use chrono::Duration;

use crate::plans::{create_plan, new_incident};
use crate::support::{rule_of, triage, Desk};

fn declare(desk: &Desk) -> (IncidentId, PlanRef) {
    let plan = create_plan(desk);
    let reference = PlanRef { plan, revision: 1 };
    let id = IncidentId(desk.engine.new_id());
    desk.engine
        .execute(
            &desk.sec,
            (id, IncidentCommand::Declare(new_incident(desk, reference))),
        )
        .unwrap();
    (id, reference)
}

fn run(desk: &Desk, who: &Actor, id: IncidentId, c: IncidentCommand) {
    let name = format!("{c:?}");
    if let Err(e) = desk.engine.execute(who, (id, c)) {
        panic!("{name} should succeed: {e}");
    }
}

pub fn review(with_loss: bool) -> PostIncidentReview {
    PostIncidentReview {
        loss: with_loss.then_some(LossAssessment {
            downtime_minutes: 95,
            systems_affected: 1,
            records_affected: 1200,
            direct_cost_cents: 50_000,
            responder_minutes: 240,
            hourly_rate_cents: 12_000,
        }),
        root_cause: "phishing mail with macro".into(),
        lessons: vec!["macros must be blocked".into()],
        improvements: vec!["add a macro-blocking step to containment".into()],
    }
}

/// Drives an incident from declaration to Record; returns it.
pub fn handle_to_record(desk: &Desk) -> IncidentId {
    let (id, _) = declare(desk);
    desk.advance(Duration::minutes(4));
    run(desk, &desk.sec, id, IncidentCommand::Acknowledge);
    run(
        desk,
        &desk.sec,
        id,
        IncidentCommand::Assess {
            scope: "mail-01 only".into(),
            impact: "mail down for acme".into(),
        },
    );
    desk.advance(Duration::minutes(10));
    run(
        desk,
        &desk.sec,
        id,
        IncidentCommand::LogAction {
            kind: ActionKind::Containment,
            description: "isolated mail-01".into(),
        },
    );
    run(
        desk,
        &desk.pm,
        id,
        IncidentCommand::ReportProgress {
            summary: "contained".into(),
        },
    );
    desk.advance(Duration::minutes(20));
    run(
        desk,
        &desk.sec,
        id,
        IncidentCommand::LogAction {
            kind: ActionKind::Disposal,
            description: "restored from backup".into(),
        },
    );
    run(
        desk,
        &desk.sec,
        id,
        IncidentCommand::ReportRecovered {
            summary: "service back".into(),
        },
    );
    run(
        desk,
        &desk.sec,
        id,
        IncidentCommand::VerifyRecovery {
            passed: true,
            evidence: "logins work".into(),
        },
    );
    run(
        desk,
        &desk.cust,
        id,
        IncidentCommand::ConfirmRecovery {
            org: Some(desk.acme.clone()),
            comment: None,
        },
    );
    id
}

#[test]
fn an_incident_runs_the_six_stages_and_closes_after_its_review() {
    let desk = Desk::new();
    let id = handle_to_record(&desk);
    let incident = desk.engine.incident(id).unwrap();
    assert_eq!(incident.stage, Some(Stage::Record));
    assert_eq!(incident.time_to_acknowledge(), Some(Duration::minutes(9)));
    assert_eq!(incident.actions.len(), 2);
    assert_eq!(incident.actions[0].by, "member:sec");

    let err = desk
        .engine
        .execute(&desk.sec, (id, IncidentCommand::Close))
        .unwrap_err();
    assert_eq!(rule_of(&err), Some(Rule::IncompleteRecord));
    let err = desk
        .engine
        .execute(
            &desk.sec,
            (id, IncidentCommand::SubmitReview(review(false))),
        )
        .unwrap_err();
    assert_eq!(rule_of(&err), Some(Rule::IncompleteRecord));
    run(
        &desk,
        &desk.sec,
        id,
        IncidentCommand::SubmitReview(review(true)),
    );
    run(&desk, &desk.sec, id, IncidentCommand::Close);
    let incident = desk.engine.incident(id).unwrap();
    assert_eq!(incident.stage, Some(Stage::Closed));
    let loss = incident.review.unwrap().loss.unwrap();
    assert_eq!(loss.responder_cost_cents(), 48_000);
    assert_eq!(loss.total_cost_cents(), 98_000);
    let timeline: Vec<&str> = incident.timeline.iter().map(|e| e.what.as_str()).collect();
    assert_eq!(timeline.first(), Some(&"detected"));
    assert_eq!(timeline.last(), Some(&"closed"));
    assert!(timeline
        .iter()
        .any(|w| w.starts_with("containment by member:sec")));
    assert!(incident.timeline.windows(2).all(|w| w[0].at <= w[1].at));
}

#[test]
fn stages_are_enforced_and_a_rejection_records_nothing() {
    let desk = Desk::new();
    let (id, _) = declare(&desk);
    let head = desk.engine.store().head_position().unwrap();
    for c in [
        IncidentCommand::Assess {
            scope: "s".into(),
            impact: "i".into(),
        },
        IncidentCommand::LogAction {
            kind: ActionKind::Containment,
            description: "x".into(),
        },
        IncidentCommand::Close,
    ] {
        let err = desk.engine.execute(&desk.sec, (id, c)).unwrap_err();
        assert!(matches!(
            err.rejection(),
            Some(Rejection::WrongStage { .. })
        ));
    }
    run(&desk, &desk.sec, id, IncidentCommand::Acknowledge);
    run(
        &desk,
        &desk.sec,
        id,
        IncidentCommand::Assess {
            scope: "s".into(),
            impact: "i".into(),
        },
    );
    let err = desk
        .engine
        .execute(
            &desk.sec,
            (
                id,
                IncidentCommand::ReportRecovered {
                    summary: "nothing done".into(),
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
                IncidentCommand::ReportProgress {
                    summary: "x".into(),
                },
            ),
        )
        .unwrap_err();
    assert!(matches!(
        err.rejection(),
        Some(Rejection::NotPermitted { .. })
    ));
    assert_eq!(desk.engine.store().head_position().unwrap(), head + 2);
}

#[test]
fn a_missed_progress_report_is_visible() {
    let desk = Desk::new();
    let (id, _) = declare(&desk);
    run(&desk, &desk.sec, id, IncidentCommand::Acknowledge);
    let acked = desk.clock.now();
    let incident = desk.engine.incident(id).unwrap();
    // Critical: every 30 minutes.
    assert_eq!(
        incident.next_report_due(),
        Some(acked + Duration::minutes(30))
    );
    assert_eq!(incident.missed_reports(acked + Duration::minutes(30)), 0);
    assert_eq!(incident.missed_reports(acked + Duration::minutes(31)), 1);
    assert_eq!(incident.missed_reports(acked + Duration::minutes(61)), 2);
    desk.advance(Duration::minutes(45));
    run(
        &desk,
        &desk.sec,
        id,
        IncidentCommand::ReportProgress {
            summary: "late".into(),
        },
    );
    let incident = desk.engine.incident(id).unwrap();
    assert_eq!(incident.missed_reports(desk.clock.now()), 0);
    assert_eq!(incident.reports.len(), 1);
}

#[test]
fn only_affected_customers_confirm_and_all_must() {
    let desk = Desk::new();
    let plan = create_plan(&desk);
    let id = IncidentId(desk.engine.new_id());
    let mut new = new_incident(&desk, PlanRef { plan, revision: 1 });
    new.affected_customers = vec![desk.acme.clone(), desk.globex.clone()];
    run(&desk, &desk.sec, id, IncidentCommand::Declare(new));
    run(&desk, &desk.sec, id, IncidentCommand::Acknowledge);
    run(
        &desk,
        &desk.sec,
        id,
        IncidentCommand::Assess {
            scope: "s".into(),
            impact: "i".into(),
        },
    );
    run(
        &desk,
        &desk.sec,
        id,
        IncidentCommand::LogAction {
            kind: ActionKind::Disposal,
            description: "patched".into(),
        },
    );
    run(
        &desk,
        &desk.sec,
        id,
        IncidentCommand::ReportRecovered {
            summary: "ok".into(),
        },
    );
    run(
        &desk,
        &desk.sec,
        id,
        IncidentCommand::VerifyRecovery {
            passed: true,
            evidence: "ok".into(),
        },
    );
    // A customer cannot confirm for another organisation.
    let err = desk
        .engine
        .execute(
            &desk.cust,
            (
                id,
                IncidentCommand::ConfirmRecovery {
                    org: Some(desk.globex.clone()),
                    comment: None,
                },
            ),
        )
        .unwrap_err();
    assert!(matches!(
        err.rejection(),
        Some(Rejection::NotPermitted { .. })
    ));
    run(
        &desk,
        &desk.cust,
        id,
        IncidentCommand::ConfirmRecovery {
            org: Some(desk.acme.clone()),
            comment: None,
        },
    );
    assert_eq!(
        desk.engine.incident(id).unwrap().stage,
        Some(Stage::Confirm)
    );
    run(
        &desk,
        &desk.other_cust,
        id,
        IncidentCommand::ConfirmRecovery {
            org: Some(desk.globex.clone()),
            comment: Some("fine".into()),
        },
    );
    assert_eq!(desk.engine.incident(id).unwrap().stage, Some(Stage::Record));
}

#[test]
fn an_incident_cannot_be_detected_after_it_is_declared() {
    let desk = Desk::new();
    let plan = create_plan(&desk);
    let mut new = new_incident(&desk, PlanRef { plan, revision: 1 });
    new.detected_at = desk.clock.now() + Duration::minutes(1);
    let err = desk
        .engine
        .execute(
            &desk.sec,
            (
                IncidentId(desk.engine.new_id()),
                IncidentCommand::Declare(new),
            ),
        )
        .unwrap_err();
    assert!(matches!(
        err.rejection(),
        Some(Rejection::InvalidInput {
            field: "detected_at",
            ..
        })
    ));
}

#[test]
fn an_urgent_ticket_declares_one_linked_incident_even_when_redelivered() {
    let desk = Desk::new();
    let plan = create_plan(&desk);
    let config = EmergencyConfig::new(plan);
    let t = desk.open();
    desk.ok(&desk.sup, t, triage(Severity::Critical, Urgency::Urgent));
    let mut pm = EmergencyResponse::resume(&desk.engine, config.clone()).unwrap();
    assert!(pm.run_once(&desk.engine).unwrap() > 0);
    let ticket = desk.engine.ticket(t).unwrap();
    assert_eq!(ticket.incidents.len(), 1);
    let incident = desk.engine.incident(ticket.incidents[0]).unwrap();
    assert_eq!(
        incident.source,
        Some(IncidentSource::UrgentTicket { ticket: t })
    );
    assert_eq!(incident.plan, Some(PlanRef { plan, revision: 1 }));
    assert_eq!(incident.affected_customers, vec![desk.acme.clone()]);
    // Caught up: nothing new.
    assert_eq!(pm.run_once(&desk.engine).unwrap(), 0);
    assert!(pm.skipped().is_empty());

    // Redelivery: a fresh manager from the start of the log does nothing twice.
    desk.engine
        .store()
        .save_checkpoint(&casebook::store::Checkpoint {
            name: config.name.clone(),
            position: 0,
            state: casebook::store::Payload::encode(&serde_json::json!({
                "open_by_alert": {}, "skipped": []
            }))
            .unwrap(),
        })
        .unwrap();
    let head = desk.engine.store().head_position().unwrap();
    let mut again = EmergencyResponse::resume(&desk.engine, config).unwrap();
    again.run_once(&desk.engine).unwrap();
    assert_eq!(desk.engine.store().head_position().unwrap(), head);
    assert_eq!(desk.engine.ticket(t).unwrap().incidents.len(), 1);

    // The incident's events carry the ticket event's correlation id.
    let stream = stream_of::<Incident>(&ticket.incidents[0]).unwrap();
    let declared = &desk.engine.history(&stream).unwrap()[0];
    let ticket_events = desk
        .engine
        .history(&stream_of::<Ticket>(&t).unwrap())
        .unwrap();
    let trigger = ticket_events
        .iter()
        .find(|e| e.event_type == "EmergencyResponseRequired")
        .unwrap();
    assert_eq!(declared.correlation_id, trigger.correlation_id);
    assert_eq!(declared.causation_id, Some(trigger.event_id));
    assert_eq!(declared.actor, "system:emergency-response");
}

#[test]
fn review_improvements_become_requested_plan_revisions() {
    let desk = Desk::new();
    let id = handle_to_record(&desk);
    run(
        &desk,
        &desk.sec,
        id,
        IncidentCommand::SubmitReview(review(true)),
    );
    let plan = desk.engine.incident(id).unwrap().plan.unwrap().plan;
    let mut pm = EmergencyResponse::resume(&desk.engine, EmergencyConfig::new(plan)).unwrap();
    pm.run_once(&desk.engine).unwrap();
    let state = desk.engine.plan(plan).unwrap();
    assert_eq!(state.open_requests().count(), 1);
    assert_eq!(
        state.requests[0].source,
        RevisionSource::IncidentReview {
            incident: id,
            item: 0
        }
    );
}
