//! Contingency plans: revisions, review interval, retirement, and the plan check the
//! engine makes before an incident or drill names a revision. Also the helpers the other
//! emergency-response tests share.

use casebook::prelude::*;
use chrono::Duration;
use uuid::Uuid;

use crate::support::{rule_of, start, Desk};

pub fn content(report_minutes: u32) -> PlanContent {
    PlanContent {
        organisation: vec![ResponseRole {
            role: "incident commander".into(),
            filled_by: "security team lead".into(),
            duties: "runs the response".into(),
        }],
        steps: vec![
            ProcessStep {
                phase: Phase::Occurrence,
                description: "detect and declare".into(),
                target_minutes: 10,
            },
            ProcessStep {
                phase: Phase::Report,
                description: "report to the project manager".into(),
                target_minutes: report_minutes,
            },
            ProcessStep {
                phase: Phase::Handling,
                description: "contain and dispose".into(),
                target_minutes: 60,
            },
            ProcessStep {
                phase: Phase::Recovery,
                description: "restore service".into(),
                target_minutes: 30,
            },
        ],
        measures: vec!["isolate the host".into(), "rotate credentials".into()],
    }
}

pub fn create_plan(desk: &Desk) -> PlanId {
    let plan = PlanId(desk.engine.new_id());
    desk.engine
        .execute(
            &desk.sec,
            (
                plan,
                PlanCommand::Create {
                    title: "Ransomware response".into(),
                    review_interval_days: 90,
                    content: content(15),
                },
            ),
        )
        .unwrap();
    plan
}

pub fn new_incident(desk: &Desk, plan: PlanRef) -> NewIncident {
    NewIncident {
        title: "Mail server encrypted".into(),
        description: "Files on mail-01 are encrypted".into(),
        severity: Severity::Critical,
        affected_customers: vec![desk.acme.clone()],
        affected_systems: vec!["mail-01".into()],
        plan,
        detected_at: start() - Duration::minutes(5),
        source: IncidentSource::Manual,
    }
}

#[test]
fn a_plan_starts_at_revision_one_and_publishes_more() {
    let desk = Desk::new();
    let plan = create_plan(&desk);
    let state = desk.engine.plan(plan).unwrap();
    assert_eq!(state.current_revision().unwrap().number, 1);
    desk.engine
        .execute(
            &desk.pm,
            (
                plan,
                PlanCommand::PublishRevision {
                    content: content(20),
                    summary: "longer report window".into(),
                    addresses: vec![],
                },
            ),
        )
        .unwrap();
    let state = desk.engine.plan(plan).unwrap();
    assert_eq!(state.current_revision().unwrap().number, 2);
    assert_eq!(
        state.revisions[&2].content.target(Phase::Report),
        Some(Duration::minutes(20))
    );
    // Publishing the same content again changes nothing and is refused.
    let err = desk
        .engine
        .execute(
            &desk.pm,
            (
                plan,
                PlanCommand::PublishRevision {
                    content: content(20),
                    summary: "again".into(),
                    addresses: vec![],
                },
            ),
        )
        .unwrap_err();
    assert_eq!(rule_of(&err), Some(Rule::NoChange));
}

#[test]
fn only_security_staff_and_project_managers_handle_plans() {
    let desk = Desk::new();
    let plan = PlanId(desk.engine.new_id());
    let head = desk.engine.store().head_position().unwrap();
    for who in [&desk.sup, &desk.cust, &desk.auditor] {
        let err = desk
            .engine
            .execute(
                who,
                (
                    plan,
                    PlanCommand::Create {
                        title: "x".into(),
                        review_interval_days: 30,
                        content: content(15),
                    },
                ),
            )
            .unwrap_err();
        assert!(matches!(
            err.rejection(),
            Some(Rejection::NotPermitted { .. })
        ));
    }
    assert_eq!(desk.engine.store().head_position().unwrap(), head);
}

#[test]
fn steps_out_of_phase_order_or_without_target_are_refused() {
    let desk = Desk::new();
    let mut bad = content(15);
    bad.steps.reverse();
    let err = desk
        .engine
        .execute(
            &desk.sec,
            (
                PlanId(desk.engine.new_id()),
                PlanCommand::Create {
                    title: "x".into(),
                    review_interval_days: 30,
                    content: bad,
                },
            ),
        )
        .unwrap_err();
    assert_eq!(rule_of(&err), Some(Rule::OutOfOrder));
    let mut zero = content(15);
    zero.steps[0].target_minutes = 0;
    let err = desk
        .engine
        .execute(
            &desk.sec,
            (
                PlanId(desk.engine.new_id()),
                PlanCommand::Create {
                    title: "x".into(),
                    review_interval_days: 30,
                    content: zero,
                },
            ),
        )
        .unwrap_err();
    assert!(matches!(
        err.rejection(),
        Some(Rejection::InvalidInput {
            field: "target minutes",
            ..
        })
    ));
}

#[test]
fn an_overdue_review_is_visible_and_a_review_restarts_the_interval() {
    let desk = Desk::new();
    let plan = create_plan(&desk);
    let state = desk.engine.plan(plan).unwrap();
    assert!(!state.review_overdue(start() + Duration::days(90)));
    assert!(state.review_overdue(start() + Duration::days(91)));
    desk.advance(Duration::days(100));
    desk.engine
        .execute(
            &desk.sec,
            (
                plan,
                PlanCommand::RecordReview {
                    notes: "still valid".into(),
                },
            ),
        )
        .unwrap();
    let state = desk.engine.plan(plan).unwrap();
    assert!(!state.review_overdue(desk.clock.now()));
    assert_eq!(state.review_due_at(), Some(start() + Duration::days(190)));
}

#[test]
fn unknown_or_retired_plans_and_revisions_cannot_be_named() {
    let desk = Desk::new();
    let plan = create_plan(&desk);
    let declare = |reference: PlanRef| {
        desk.engine.execute(
            &desk.sec,
            (
                IncidentId(desk.engine.new_id()),
                IncidentCommand::Declare(new_incident(&desk, reference)),
            ),
        )
    };
    let unknown = PlanRef {
        plan: PlanId(Uuid::from_u128(99)),
        revision: 1,
    };
    let head = desk.engine.store().head_position().unwrap();
    assert_eq!(
        rule_of(&declare(unknown).unwrap_err()),
        Some(Rule::UnusableReference)
    );
    let no_rev = PlanRef { plan, revision: 7 };
    assert_eq!(
        rule_of(&declare(no_rev).unwrap_err()),
        Some(Rule::UnusableReference)
    );
    assert_eq!(desk.engine.store().head_position().unwrap(), head);

    desk.engine
        .execute(
            &desk.pm,
            (
                plan,
                PlanCommand::PublishRevision {
                    content: content(25),
                    summary: "r2".into(),
                    addresses: vec![],
                },
            ),
        )
        .unwrap();
    desk.engine
        .execute(
            &desk.pm,
            (
                plan,
                PlanCommand::RetireRevision {
                    revision: 1,
                    reason: "superseded".into(),
                },
            ),
        )
        .unwrap();
    let r1 = PlanRef { plan, revision: 1 };
    assert_eq!(
        rule_of(&declare(r1).unwrap_err()),
        Some(Rule::UnusableReference)
    );
    declare(PlanRef { plan, revision: 2 }).unwrap();

    desk.engine
        .execute(
            &desk.pm,
            (
                plan,
                PlanCommand::Retire {
                    reason: "replaced".into(),
                },
            ),
        )
        .unwrap();
    assert!(desk.engine.plan(plan).unwrap().current_revision().is_none());
    let r2 = PlanRef { plan, revision: 2 };
    assert_eq!(
        rule_of(&declare(r2).unwrap_err()),
        Some(Rule::UnusableReference)
    );
    let drill = desk.engine.execute(
        &desk.sec,
        (
            DrillId(desk.engine.new_id()),
            DrillCommand::Schedule {
                plan: r2,
                scenario: "ransomware".into(),
                participants: vec![crate::support::member("sec")],
                date: start() + Duration::days(3),
            },
        ),
    );
    assert_eq!(rule_of(&drill.unwrap_err()), Some(Rule::UnusableReference));
}

#[test]
fn a_revision_request_is_recorded_once_per_source_and_addressed_by_a_revision() {
    let desk = Desk::new();
    let plan = create_plan(&desk);
    let source = RevisionSource::DrillFinding {
        drill: DrillId(Uuid::from_u128(5)),
        item: 0,
    };
    let request = PlanCommand::RequestRevision {
        source: source.clone(),
        text: "report sooner".into(),
    };
    desk.engine
        .execute(&desk.sec, (plan, request.clone()))
        .unwrap();
    let err = desk.engine.execute(&desk.sec, (plan, request)).unwrap_err();
    assert_eq!(rule_of(&err), Some(Rule::AlreadyExists));
    assert_eq!(desk.engine.plan(plan).unwrap().open_requests().count(), 1);
    desk.engine
        .execute(
            &desk.sec,
            (
                plan,
                PlanCommand::PublishRevision {
                    content: content(10),
                    summary: "report sooner".into(),
                    addresses: vec![1],
                },
            ),
        )
        .unwrap();
    let state = desk.engine.plan(plan).unwrap();
    assert_eq!(state.open_requests().count(), 0);
    assert_eq!(state.requests[0].addressed_by, Some(2));
}
