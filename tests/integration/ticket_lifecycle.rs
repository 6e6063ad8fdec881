//! Every row of the ticket lifecycle table (domain.md §2), and what it refuses.

use casebook::prelude::*;
use chrono::Duration;

use crate::support::{close, diagnose, member, rule_of, triage, Desk};

fn expect_rule(desk: &Desk, who: &Actor, t: TicketId, c: TicketCommand, rule: Rule) {
    let before = desk
        .engine
        .history(&stream_of::<Ticket>(&t).unwrap())
        .unwrap();
    let err = desk.run(who, t, c).expect_err("must be refused");
    assert_eq!(rule_of(&err), Some(rule), "{err}");
    let after = desk
        .engine
        .history(&stream_of::<Ticket>(&t).unwrap())
        .unwrap();
    assert_eq!(before, after, "a refused command recorded something");
}

fn expect_wrong_stage(desk: &Desk, who: &Actor, t: TicketId, c: TicketCommand) {
    let before = desk.engine.ticket(t).unwrap();
    let err = desk.run(who, t, c).expect_err("must be refused");
    match err.rejection() {
        Some(Rejection::WrongStage { stage, .. }) => {
            assert_eq!(stage, &before.stage.unwrap().to_string());
        }
        other => panic!("expected WrongStage, got {other:?}"),
    }
    assert_eq!(before, desk.engine.ticket(t).unwrap());
}

#[test]
fn happy_path_takes_a_ticket_through_all_six_stages() {
    let desk = super::desk();
    let t = desk.ticket_at(Stage::Closed);
    let history = desk
        .engine
        .history(&stream_of::<Ticket>(&t).unwrap())
        .unwrap();
    let types: Vec<&str> = history.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "TicketOpened",
            "TicketTriaged",
            "TicketDiagnosed",
            "TicketFixStarted",
            "TicketFixReported",
            "TicketVerificationPassed",
            "TicketCustomerConfirmed",
            "TicketClosed"
        ]
    );
    assert!(history.iter().all(|e| e.tenant.as_deref() == Some("acme")));
    let versions: Vec<u64> = history.iter().map(|e| e.stream_version).collect();
    assert_eq!(versions, (1..=8).collect::<Vec<_>>());
    let ticket = desk.engine.ticket(t).unwrap();
    assert_eq!(ticket.category.as_deref(), Some("authentication"));
    assert!(ticket.closed_at.is_some());
    assert_eq!(
        history[0].personal_data,
        vec!["/Opened/contact".to_string()]
    );
}

#[test]
fn urgent_triage_requires_emergency_response() {
    let desk = super::desk();
    let t = desk.open();
    let out = desk
        .run(&desk.sup, t, triage(Severity::Critical, Urgency::Urgent))
        .unwrap();
    let types: Vec<&str> = out.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["TicketTriaged", "EmergencyResponseRequired"]);
    assert!(desk.engine.ticket(t).unwrap().emergency);
    assert_eq!(out[0].correlation_id, out[1].correlation_id);
}

#[test]
fn complex_tickets_need_a_plan_with_owned_dated_steps() {
    let desk = super::desk();
    let t = desk.open();
    desk.ok(
        &desk.sup,
        t,
        TicketCommand::Triage {
            severity: Severity::High,
            urgency: Urgency::Normal,
            complex: true,
            multi_team: false,
        },
    );
    expect_rule(
        &desk,
        &desk.sup,
        t,
        TicketCommand::StartFix,
        Rule::DiagnosisRequired,
    );
    desk.ok(&desk.sup, t, diagnose());
    expect_rule(
        &desk,
        &desk.sup,
        t,
        TicketCommand::StartFix,
        Rule::PlanRequired,
    );
    let due = desk.clock.now() + Duration::hours(4);
    let step = |owner: &str, due| PlanStep {
        description: "rotate keys".into(),
        owner: member(owner),
        due,
    };
    // An offboarded owner, a customer owner and a due time in the past are refused.
    expect_rule(
        &desk,
        &desk.sup,
        t,
        TicketCommand::PlanFix {
            steps: vec![step("gone", due)],
        },
        Rule::MemberNotEligible,
    );
    expect_rule(
        &desk,
        &desk.sup,
        t,
        TicketCommand::PlanFix {
            steps: vec![step("cust", due)],
        },
        Rule::MemberNotEligible,
    );
    let err = desk
        .run(
            &desk.sup,
            t,
            TicketCommand::PlanFix {
                steps: vec![step("sec", desk.clock.now())],
            },
        )
        .unwrap_err();
    assert!(
        matches!(
            err.rejection(),
            Some(Rejection::InvalidInput {
                field: "step due",
                ..
            })
        ),
        "{err}"
    );
    let err = desk
        .run(&desk.sup, t, TicketCommand::PlanFix { steps: vec![] })
        .unwrap_err();
    assert!(
        matches!(
            err.rejection(),
            Some(Rejection::InvalidInput { field: "steps", .. })
        ),
        "{err}"
    );
    desk.ok(
        &desk.sup,
        t,
        TicketCommand::PlanFix {
            steps: vec![step("sec", due), step("sup", due + Duration::hours(1))],
        },
    );
    desk.ok(&desk.sup, t, TicketCommand::StartFix);
    assert_eq!(desk.stage(t), Stage::Fix);
}

#[test]
fn revising_the_solution_returns_to_analysis_and_reports_to_a_pm() {
    let desk = super::desk();
    let t = desk.ticket_at(Stage::Fix);
    let revise = |to: &str| TicketCommand::ReviseSolution {
        new_facts: "the certificate is pinned in clients".into(),
        solution: "renew and push the new pin".into(),
        reported_to: member(to),
    };
    expect_rule(&desk, &desk.sup, t, revise("sup"), Rule::MemberNotEligible);
    desk.ok(&desk.sup, t, revise("pm"));
    let ticket = desk.engine.ticket(t).unwrap();
    assert_eq!(ticket.stage, Some(Stage::Analysis));
    assert_eq!(
        ticket.diagnosis.unwrap().solution,
        "renew and push the new pin"
    );
}

#[test]
fn failed_verification_goes_back_to_fix() {
    let desk = super::desk();
    let t = desk.ticket_at(Stage::Verify);
    let err = desk
        .run(
            &desk.sup,
            t,
            TicketCommand::FailVerification {
                evidence: "  ".into(),
            },
        )
        .unwrap_err();
    assert!(matches!(
        err.rejection(),
        Some(Rejection::InvalidInput {
            field: "evidence",
            ..
        })
    ));
    desk.ok(
        &desk.sup,
        t,
        TicketCommand::FailVerification {
            evidence: "2 of 10 logins fail".into(),
        },
    );
    let ticket = desk.engine.ticket(t).unwrap();
    assert_eq!(ticket.stage, Some(Stage::Fix));
    assert_eq!(ticket.failed_verifications, 1);
}

#[test]
fn the_customer_rejects_and_the_ticket_reopens_into_analysis() {
    let desk = super::desk();
    let t = desk.ticket_at(Stage::Confirm);
    // Only the customer confirms or rejects; staff cannot do it for them.
    let err = desk
        .run(&desk.sup, t, TicketCommand::Reject { reason: "x".into() })
        .unwrap_err();
    assert!(matches!(
        err.rejection(),
        Some(Rejection::NotPermitted { .. })
    ));
    let err = desk
        .run(
            &desk.other_cust,
            t,
            TicketCommand::Reject { reason: "x".into() },
        )
        .unwrap_err();
    assert!(
        matches!(err.rejection(), Some(Rejection::OtherOrganisation { .. })),
        "{err}"
    );
    desk.ok(
        &desk.cust,
        t,
        TicketCommand::Reject {
            reason: "still failing for remote staff".into(),
        },
    );
    let ticket = desk.engine.ticket(t).unwrap();
    assert_eq!(ticket.stage, Some(Stage::Analysis));
    assert_eq!(ticket.reopens, 1);
}

#[test]
fn silence_past_the_confirmation_window_counts_as_confirmed() {
    let desk = super::desk();
    let t = desk.ticket_at(Stage::Confirm);
    desk.advance(Duration::days(6));
    expect_rule(
        &desk,
        &desk.sup,
        t,
        TicketCommand::ExpireConfirmation,
        Rule::ConfirmationWindowOpen,
    );
    desk.advance(Duration::days(1));
    let out = desk
        .engine
        .execute(
            &Actor::system("scheduler"),
            (t, TicketCommand::ExpireConfirmation),
        )
        .unwrap();
    assert_eq!(out[0].event_type, "TicketConfirmationExpired");
    assert_eq!(out[0].actor, "system:scheduler");
    let ticket = desk.engine.ticket(t).unwrap();
    assert_eq!(ticket.stage, Some(Stage::Record));
    assert_eq!(
        ticket.feedback,
        Some(casebook::core::ticket::Feedback::ConfirmedBySilence)
    );
}

#[test]
fn low_satisfaction_needs_an_improvement_action_before_closing() {
    let desk = super::desk();
    let t = desk.ticket_at(Stage::Record);
    for bad in [0u8, 6] {
        let err = desk
            .run(
                &desk.cust,
                t,
                TicketCommand::RateSatisfaction {
                    score: bad,
                    comment: None,
                },
            )
            .unwrap_err();
        assert!(matches!(
            err.rejection(),
            Some(Rejection::InvalidInput { field: "score", .. })
        ));
    }
    desk.ok(
        &desk.cust,
        t,
        TicketCommand::RateSatisfaction {
            score: 2,
            comment: Some("too slow".into()),
        },
    );
    expect_rule(
        &desk,
        &desk.cust,
        t,
        TicketCommand::RateSatisfaction {
            score: 3,
            comment: None,
        },
        Rule::AlreadyRated,
    );
    expect_rule(
        &desk,
        &desk.sup,
        t,
        close(),
        Rule::ImprovementActionRequired,
    );
    desk.ok(
        &desk.pm,
        t,
        TicketCommand::RecordImprovementAction {
            action: "add certificate expiry monitoring".into(),
        },
    );
    desk.ok(&desk.sup, t, close());
    assert_eq!(desk.stage(t), Stage::Closed);
}

#[test]
fn withdrawal_from_intake_or_analysis_only() {
    let desk = super::desk();
    let t = desk.open();
    let dup = TicketId(desk.engine.new_id());
    desk.ok(
        &desk.sup,
        t,
        TicketCommand::Withdraw {
            reason: WithdrawalReason::Duplicate { of: dup },
            detail: "same outage".into(),
        },
    );
    assert_eq!(desk.stage(t), Stage::Record);
    desk.ok(&desk.sup, t, close());

    let t = desk.ticket_at(Stage::Analysis);
    // A customer may only cancel.
    expect_rule(
        &desk,
        &desk.cust,
        t,
        TicketCommand::Withdraw {
            reason: WithdrawalReason::NotAProblem,
            detail: "x".into(),
        },
        Rule::CustomerMayOnlyCancel,
    );
    desk.ok(
        &desk.cust,
        t,
        TicketCommand::Withdraw {
            reason: WithdrawalReason::CustomerCancelled,
            detail: "fixed it ourselves".into(),
        },
    );

    let t = desk.ticket_at(Stage::Fix);
    expect_wrong_stage(
        &desk,
        &desk.sup,
        t,
        TicketCommand::Withdraw {
            reason: WithdrawalReason::NotAProblem,
            detail: "x".into(),
        },
    );
}

#[test]
fn reopen_only_within_the_window() {
    let desk = super::desk();
    let t = desk.ticket_at(Stage::Closed);
    desk.advance(Duration::days(29));
    desk.ok(
        &desk.cust,
        t,
        TicketCommand::Reopen {
            reason: "it broke again".into(),
        },
    );
    let ticket = desk.engine.ticket(t).unwrap();
    assert_eq!((ticket.stage, ticket.reopens), (Some(Stage::Analysis), 1));

    let t = desk.ticket_at(Stage::Closed);
    desk.advance(Duration::days(31));
    expect_rule(
        &desk,
        &desk.sup,
        t,
        TicketCommand::Reopen {
            reason: "again".into(),
        },
        Rule::ReopenWindowExpired,
    );
}

#[test]
fn waiting_on_the_customer_and_their_reply() {
    let desk = super::desk();
    let t = desk.ticket_at(Stage::Analysis);
    expect_rule(
        &desk,
        &desk.cust,
        t,
        TicketCommand::CustomerReply { text: "hi".into() },
        Rule::NotWaitingOnCustomer,
    );
    desk.ok(
        &desk.sup,
        t,
        TicketCommand::RequestInfo {
            question: "which client version?".into(),
        },
    );
    assert!(desk.engine.ticket(t).unwrap().waiting_since.is_some());
    expect_rule(
        &desk,
        &desk.sup,
        t,
        TicketCommand::RequestInfo {
            question: "again?".into(),
        },
        Rule::AlreadyWaitingOnCustomer,
    );
    desk.ok(
        &desk.cust,
        t,
        TicketCommand::CustomerReply {
            text: "Outlook 2019".into(),
        },
    );
    assert!(desk.engine.ticket(t).unwrap().waiting_since.is_none());
}

#[test]
fn assignment_notes_escalation_and_links_at_any_open_stage() {
    let desk = super::desk();
    for stage in [
        Stage::Intake,
        Stage::Analysis,
        Stage::Fix,
        Stage::Verify,
        Stage::Confirm,
        Stage::Record,
    ] {
        let t = desk.ticket_at(stage);
        desk.ok(
            &desk.pm,
            t,
            TicketCommand::Assign {
                owner: member("sec"),
                team: "security".into(),
            },
        );
        desk.ok(
            &desk.sup,
            t,
            TicketCommand::Assign {
                owner: member("sup"),
                team: "l2".into(),
            },
        );
        desk.ok(
            &desk.sup,
            t,
            TicketCommand::AddNote {
                text: "checked logs".into(),
                customer_visible: false,
            },
        );
        desk.ok(
            &desk.cust,
            t,
            TicketCommand::AddNote {
                text: "any news?".into(),
                customer_visible: false,
            },
        );
        desk.ok(
            &desk.sup,
            t,
            TicketCommand::Escalate {
                to: member("pm"),
                reason: "VIP customer".into(),
            },
        );
        let incident = IncidentId(desk.engine.new_id());
        desk.ok(&desk.sec, t, TicketCommand::LinkIncident { incident });
        expect_rule(
            &desk,
            &desk.sec,
            t,
            TicketCommand::LinkIncident { incident },
            Rule::AlreadyLinked,
        );
        let ticket = desk.engine.ticket(t).unwrap();
        assert_eq!(ticket.owner, Some(member("sup")));
        assert_eq!(
            ticket.stage,
            Some(stage),
            "housekeeping never moves the stage"
        );
    }
    let t = desk.ticket_at(Stage::Analysis);
    // Engineers assign only themselves; owners must be active staff.
    let err = desk
        .run(
            &desk.sup,
            t,
            TicketCommand::Assign {
                owner: member("sec"),
                team: "x".into(),
            },
        )
        .unwrap_err();
    assert!(
        matches!(err.rejection(), Some(Rejection::NotPermitted { .. })),
        "{err}"
    );
    expect_rule(
        &desk,
        &desk.pm,
        t,
        TicketCommand::Assign {
            owner: member("gone"),
            team: "x".into(),
        },
        Rule::MemberNotEligible,
    );
    expect_rule(
        &desk,
        &desk.pm,
        t,
        TicketCommand::Assign {
            owner: member("cust"),
            team: "x".into(),
        },
        Rule::MemberNotEligible,
    );
    expect_rule(
        &desk,
        &desk.sup,
        t,
        TicketCommand::Escalate {
            to: member("sec"),
            reason: "x".into(),
        },
        Rule::MemberNotEligible,
    );

    let t = desk.ticket_at(Stage::Closed);
    expect_wrong_stage(
        &desk,
        &desk.pm,
        t,
        TicketCommand::Assign {
            owner: member("sup"),
            team: "l2".into(),
        },
    );
    expect_wrong_stage(
        &desk,
        &desk.sup,
        t,
        TicketCommand::AddNote {
            text: "late".into(),
            customer_visible: false,
        },
    );
}

#[test]
fn severity_changes_after_triage_only() {
    let desk = super::desk();
    let t = desk.open();
    expect_wrong_stage(
        &desk,
        &desk.sup,
        t,
        TicketCommand::ChangeSeverity {
            severity: Severity::High,
            reason: "x".into(),
        },
    );
    desk.ok(&desk.sup, t, triage(Severity::Low, Urgency::Normal));
    expect_rule(
        &desk,
        &desk.sup,
        t,
        TicketCommand::ChangeSeverity {
            severity: Severity::Low,
            reason: "same".into(),
        },
        Rule::NoChange,
    );
    desk.ok(
        &desk.sup,
        t,
        TicketCommand::ChangeSeverity {
            severity: Severity::Critical,
            reason: "data exposure".into(),
        },
    );
    assert_eq!(
        desk.engine.ticket(t).unwrap().severity,
        Some(Severity::Critical)
    );
}

#[test]
fn every_out_of_order_command_is_refused_with_its_stage() {
    let desk = super::desk();
    let t = desk.open();
    for c in [
        TicketCommand::StartFix,
        TicketCommand::ReportFixDone {
            summary: "x".into(),
        },
        TicketCommand::PassVerification { notes: "x".into() },
        TicketCommand::FailVerification {
            evidence: "x".into(),
        },
        TicketCommand::ExpireConfirmation,
        close(),
        TicketCommand::Reopen { reason: "x".into() },
        diagnose(),
    ] {
        expect_wrong_stage(&desk, &desk.sup, t, c);
    }
    expect_wrong_stage(
        &desk,
        &desk.cust,
        t,
        TicketCommand::Confirm { comment: None },
    );
    let t = desk.ticket_at(Stage::Closed);
    expect_wrong_stage(&desk, &desk.sup, t, triage(Severity::Low, Urgency::Normal));
}

#[test]
fn bad_input_on_open_is_refused_and_records_nothing() {
    let desk = super::desk();
    let head = desk.engine.store().head_position().unwrap();
    let mut cases: Vec<(NewTicket, &str)> = Vec::new();
    let base = desk.new_ticket();
    cases.push((
        NewTicket {
            description: "   ".into(),
            ..base.clone()
        },
        "description",
    ));
    cases.push((
        NewTicket {
            title: "x".repeat(201),
            ..base.clone()
        },
        "title",
    ));
    cases.push((
        NewTicket {
            affected_system: String::new(),
            ..base.clone()
        },
        "affected system",
    ));
    cases.push((
        NewTicket {
            contact: Contact {
                name: "A".into(),
                email: Some("no-at-sign".into()),
                phone: None,
            },
            ..base.clone()
        },
        "contact email",
    ));
    cases.push((
        NewTicket {
            reported_at: Some(desk.clock.now() + Duration::hours(1)),
            ..base.clone()
        },
        "reported_at",
    ));
    cases.push((
        NewTicket {
            description: "bell\u{7}".into(),
            ..base.clone()
        },
        "description",
    ));
    for (bad, field) in cases {
        let err = desk
            .run(
                &desk.sup,
                TicketId(desk.engine.new_id()),
                TicketCommand::Open(bad),
            )
            .unwrap_err();
        match err.rejection() {
            Some(Rejection::InvalidInput { field: f, .. }) => assert_eq!(*f, field),
            other => panic!("expected invalid {field}, got {other:?}"),
        }
    }
    let unknown_org = NewTicket {
        org: OrgId::new("initech").unwrap(),
        ..base.clone()
    };
    let err = desk
        .run(
            &desk.sup,
            TicketId(desk.engine.new_id()),
            TicketCommand::Open(unknown_org),
        )
        .unwrap_err();
    assert!(matches!(
        err.rejection(),
        Some(Rejection::NotFound {
            kind: "customer",
            ..
        })
    ));
    // Commands to a ticket that does not exist.
    let err = desk
        .run(
            &desk.sup,
            TicketId(desk.engine.new_id()),
            TicketCommand::StartFix,
        )
        .unwrap_err();
    assert!(matches!(err.rejection(), Some(Rejection::NotFound { .. })));
    assert!(desk.engine.ticket(TicketId(desk.engine.new_id())).is_err());
    // Opening twice.
    let t = desk.open();
    let head_after_open = desk.engine.store().head_position().unwrap();
    expect_rule(
        &desk,
        &desk.sup,
        t,
        TicketCommand::Open(base),
        Rule::AlreadyExists,
    );
    assert_eq!(
        desk.engine.store().head_position().unwrap(),
        head_after_open
    );
    assert_eq!(head_after_open, head + 1);
}
