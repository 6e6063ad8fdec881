//! Members, roles and what they permit (domain.md §1).

use casebook::prelude::*;

use crate::support::member;

#[test]
fn customers_open_only_for_their_own_organisation() {
    let desk = super::desk();
    let t = TicketId(desk.engine.new_id());
    desk.ok(&desk.cust, t, TicketCommand::Open(desk.new_ticket()));
    let foreign = NewTicket {
        org: desk.globex.clone(),
        ..desk.new_ticket()
    };
    let err = desk
        .run(
            &desk.cust,
            TicketId(desk.engine.new_id()),
            TicketCommand::Open(foreign),
        )
        .unwrap_err();
    assert!(
        matches!(err.rejection(), Some(Rejection::OtherOrganisation { .. })),
        "{err}"
    );
    // Another organisation's customer cannot touch the ticket at all.
    let err = desk
        .run(
            &desk.other_cust,
            t,
            TicketCommand::AddNote {
                text: "hi".into(),
                customer_visible: true,
            },
        )
        .unwrap_err();
    assert!(
        matches!(err.rejection(), Some(Rejection::OtherOrganisation { .. })),
        "{err}"
    );
    // Customers cannot do staff work.
    let err = desk
        .run(
            &desk.cust,
            t,
            crate::support::triage(Severity::Low, Urgency::Normal),
        )
        .unwrap_err();
    assert!(
        matches!(err.rejection(), Some(Rejection::NotPermitted { .. })),
        "{err}"
    );
}

#[test]
fn auditors_read_everything_and_change_nothing() {
    let desk = super::desk();
    let t = desk.open();
    let head = desk.engine.store().head_position().unwrap();
    for c in [
        crate::support::triage(Severity::Low, Urgency::Normal),
        TicketCommand::AddNote {
            text: "audit".into(),
            customer_visible: false,
        },
        TicketCommand::Open(desk.new_ticket()),
    ] {
        let err = desk.run(&desk.auditor, t, c).unwrap_err();
        assert!(
            matches!(err.rejection(), Some(Rejection::NotPermitted { .. })),
            "{err}"
        );
    }
    let err = desk
        .engine
        .execute(
            &desk.auditor,
            DirectoryCommand::GrantRole {
                member: member("aud"),
                role: Role::ProjectManager,
            },
        )
        .unwrap_err();
    assert!(
        matches!(err.rejection(), Some(Rejection::NotPermitted { .. })),
        "{err}"
    );
    assert_eq!(desk.engine.store().head_position().unwrap(), head);
    // Reading is always possible.
    assert!(desk.engine.ticket(t).is_ok());
}

#[test]
fn offboarding_revokes_every_permission_at_that_instant() {
    let desk = super::desk();
    let t = desk.open();
    desk.ok(
        &desk.pm,
        t,
        TicketCommand::Assign {
            owner: member("sup"),
            team: "l2".into(),
        },
    );
    desk.engine
        .execute(
            &desk.pm,
            DirectoryCommand::Offboard {
                member: member("sup"),
                reason: "moved on".into(),
            },
        )
        .unwrap();
    let err = desk
        .run(
            &desk.sup,
            t,
            crate::support::triage(Severity::Low, Urgency::Normal),
        )
        .unwrap_err();
    assert!(
        matches!(err.rejection(), Some(Rejection::Offboarded { member }) if member == "sup"),
        "{err}"
    );
    // The ticket they owned still names them: it needs reassignment.
    let ticket = desk.engine.ticket(t).unwrap();
    let dir = desk.engine.directory().unwrap();
    let owner = ticket.owner.unwrap();
    assert!(!dir.members[&owner].is_active());
    desk.ok(
        &desk.pm,
        t,
        TicketCommand::Assign {
            owner: member("sec"),
            team: "security".into(),
        },
    );
    // The gone member never comes back by the same id.
    let err = desk
        .engine
        .execute(
            &desk.pm,
            DirectoryCommand::AddMember {
                member: member("sup"),
                name: "again".into(),
                roles: [Role::SupportEngineer].into(),
                org: None,
                team: None,
            },
        )
        .unwrap_err();
    assert_eq!(
        err.rejection().and_then(Rejection::rule_kind),
        Some(Rule::AlreadyExists)
    );
}

#[test]
fn unknown_members_are_refused() {
    let desk = super::desk();
    let t = desk.open();
    let err = desk
        .run(
            &Actor::member("nobody").unwrap(),
            t,
            TicketCommand::AddNote {
                text: "x".into(),
                customer_visible: false,
            },
        )
        .unwrap_err();
    assert!(
        matches!(err.rejection(), Some(Rejection::UnknownMember { .. })),
        "{err}"
    );
    assert!(Actor::member("Not A Slug").is_err());
}

#[test]
fn granting_and_revoking_roles_changes_what_a_member_may_do() {
    let desk = super::desk();
    let t = desk.ticket_at(Stage::Analysis);
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
    assert!(matches!(
        err.rejection(),
        Some(Rejection::NotPermitted { .. })
    ));
    desk.engine
        .execute(
            &desk.pm,
            DirectoryCommand::GrantRole {
                member: member("sup"),
                role: Role::ProjectManager,
            },
        )
        .unwrap();
    desk.ok(
        &desk.sup,
        t,
        TicketCommand::Assign {
            owner: member("sec"),
            team: "x".into(),
        },
    );
    desk.engine
        .execute(
            &desk.pm,
            DirectoryCommand::RevokeRole {
                member: member("sup"),
                role: Role::ProjectManager,
            },
        )
        .unwrap();
    let err = desk
        .run(
            &desk.sup,
            t,
            TicketCommand::Assign {
                owner: member("pm"),
                team: "y".into(),
            },
        )
        .unwrap_err();
    assert!(matches!(
        err.rejection(),
        Some(Rejection::NotPermitted { .. })
    ));
    // The last project manager cannot be removed.
    let err = desk
        .engine
        .execute(
            &desk.pm,
            DirectoryCommand::Offboard {
                member: member("pm"),
                reason: "x".into(),
            },
        )
        .unwrap_err();
    assert_eq!(
        err.rejection().and_then(Rejection::rule_kind),
        Some(Rule::LastProjectManager)
    );
    // Customer contacts need their organisation; staff do not have one.
    let err = desk
        .engine
        .execute(
            &desk.pm,
            DirectoryCommand::AddMember {
                member: member("c2"),
                name: "C".into(),
                roles: [Role::Customer].into(),
                org: None,
                team: None,
            },
        )
        .unwrap_err();
    assert!(matches!(
        err.rejection(),
        Some(Rejection::InvalidInput { field: "org", .. })
    ));
}
