//! Service levels end to end: policies as events, the deadline scheduler, the view.

use casebook::core::{CaseId, SlaAlertEvent};
use casebook::prelude::*;
use casebook::scheduler;
use casebook::sla::{SlaPolicySpec, TargetKind};
use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;

use crate::support::{member, triage, Desk};

fn sh(d: u32, h: u32, m: u32) -> DateTime<Utc> {
    Shanghai
        .with_ymd_and_hms(2026, 3, d, h, m, 0)
        .single()
        .unwrap()
        .to_utc()
}

fn spec(version: u32, from: DateTime<Utc>, resolution_minutes: i64) -> serde_json::Value {
    serde_json::json!({
        "version": version,
        "effective_from": from,
        "calendar": {"kind": "business_hours", "time_zone": "Asia/Shanghai",
            "weekly": {"monday": ["09:00-18:00"], "tuesday": ["09:00-18:00"],
                "wednesday": ["09:00-18:00"], "thursday": ["09:00-18:00"],
                "friday": ["09:00-18:00"]}},
        "targets": [
            {"kind": "ticket", "tier": "premium", "severity": "high",
             "first_response_minutes": 60, "next_update_minutes": 120,
             "resolution_minutes": resolution_minutes},
            {"kind": "ticket", "tier": "premium", "severity": "medium",
             "first_response_minutes": 120, "resolution_minutes": 480}
        ],
        "warnings": [0.75, 0.9],
        "reopen_window_minutes": 10080
    })
}

fn publish(desk: &Desk, who: &Actor, value: serde_json::Value) -> Result<(), EngineError> {
    let policy: SlaPolicySpec = serde_json::from_value(value).unwrap();
    desk.engine
        .execute(who, ServiceLevelsCommand::PublishPolicy { policy })
        .map(|_| ())
}

fn alerts(desk: &Desk, t: TicketId) -> Vec<(SlaAlertEvent, DateTime<Utc>)> {
    let stream = StreamId::new("sla", &t.to_string()).unwrap();
    desk.engine
        .history(&stream)
        .unwrap()
        .iter()
        .map(|e| {
            (
                desk.engine.decode::<SlaAlertEvent>(e).unwrap(),
                e.recorded_at,
            )
        })
        .collect()
}

#[test]
fn friday_ticket_warnings_and_breaches_are_recorded_once_at_their_computed_instants() {
    let desk = Desk::new();
    publish(&desk, &desk.pm, spec(1, desk.clock.now(), 240)).unwrap();
    desk.clock.set(sh(6, 17, 30)).unwrap();
    let t = desk.open();
    desk.clock.set(sh(6, 17, 40)).unwrap();
    desk.ok(&desk.sup, t, triage(Severity::High, Urgency::Normal));

    let view = SlaView::build(&**desk.engine.store()).unwrap();
    let row = view.case_status(t, sh(9, 12, 0)).unwrap();
    let resolution = row
        .targets
        .iter()
        .find(|s| s.target == TargetKind::Resolution)
        .unwrap();
    assert_eq!(resolution.status.deadline, sh(9, 12, 30));

    // Monday 12:00: resolution 75 % (11:30); next update (2 h from Friday 17:40, due
    // Monday 10:40) warned at 75 % and 90 % and breached.
    desk.clock.set(sh(9, 12, 0)).unwrap();
    let report = scheduler::tick(&desk.engine, desk.clock.now()).unwrap();
    assert_eq!((report.warnings, report.breaches), (3, 1));
    let recorded = alerts(&desk, t);
    let dated: Vec<(TargetKind, DateTime<Utc>)> = recorded
        .iter()
        .map(|(e, _)| (e.alert().target, e.alert().due_at))
        .collect();
    assert!(dated.contains(&(TargetKind::Resolution, sh(9, 11, 30))));
    assert!(dated.contains(&(TargetKind::NextUpdate, sh(9, 10, 40))));
    assert!(recorded.iter().all(|(_, noticed)| *noticed == sh(9, 12, 0)));

    // Ticking again, or from a fresh engine on the same store, records nothing.
    let again = scheduler::tick(&desk.engine, desk.clock.now()).unwrap();
    assert_eq!((again.warnings, again.breaches), (0, 0));
    let fresh = Engine::builder(desk.engine.store().clone())
        .clock(desk.clock.clone())
        .build();
    let after_crash = scheduler::tick(&fresh, desk.clock.now()).unwrap();
    assert_eq!((after_crash.warnings, after_crash.breaches), (0, 0));
    assert_eq!(alerts(&desk, t).len(), 4);

    // Monday 13:00: the 90 % warning (12:06) and the breach dated at 12:30.
    desk.clock.set(sh(9, 13, 0)).unwrap();
    let later = scheduler::tick(&desk.engine, desk.clock.now()).unwrap();
    assert_eq!((later.warnings, later.breaches), (1, 1));
    let breach = alerts(&desk, t)
        .into_iter()
        .find(|(e, _)| {
            matches!(e, SlaAlertEvent::BreachRecorded(a) if a.target == TargetKind::Resolution)
        })
        .unwrap();
    assert_eq!(breach.0.alert().due_at, sh(9, 12, 30));
    assert_eq!(breach.1, sh(9, 13, 0));
    let view = SlaView::build(&**desk.engine.store()).unwrap();
    assert_eq!(view.breaches().len(), 2);
}

#[test]
fn waiting_on_the_customer_moves_the_deadline_through_the_engine() {
    let desk = Desk::new();
    publish(&desk, &desk.pm, spec(1, desk.clock.now(), 240)).unwrap();
    desk.clock.set(sh(9, 9, 0)).unwrap();
    let t = desk.open();
    desk.ok(&desk.sup, t, triage(Severity::High, Urgency::Normal));
    desk.clock.set(sh(9, 10, 0)).unwrap();
    desk.ok(
        &desk.sup,
        t,
        TicketCommand::RequestInfo {
            question: "which accounts?".into(),
        },
    );
    desk.clock.set(sh(9, 11, 30)).unwrap();
    desk.ok(
        &desk.cust,
        t,
        TicketCommand::CustomerReply {
            text: "all of them".into(),
        },
    );
    let view = SlaView::build(&**desk.engine.store()).unwrap();
    let row = view.case_status(t, sh(9, 11, 30)).unwrap();
    let resolution = row
        .targets
        .iter()
        .find(|s| s.target == TargetKind::Resolution)
        .unwrap();
    assert_eq!(resolution.status.deadline, sh(9, 14, 30));
}

#[test]
fn the_board_lists_the_breached_case_first_and_filters_by_owner() {
    let desk = Desk::new();
    publish(&desk, &desk.pm, spec(1, desk.clock.now(), 240)).unwrap();
    desk.clock.set(sh(9, 9, 0)).unwrap();
    let slow = desk.open();
    desk.ok(&desk.sup, slow, triage(Severity::Medium, Urgency::Normal));
    let fast = desk.open();
    desk.ok(&desk.sup, fast, triage(Severity::High, Urgency::Normal));
    desk.ok(
        &desk.pm,
        slow,
        TicketCommand::Assign {
            owner: member("sup"),
            team: "mail".into(),
        },
    );
    let view = SlaView::build(&**desk.engine.store()).unwrap();
    let now = sh(9, 14, 0);
    let board = view.board(now, &BoardFilter::default(), Page::first(10));
    let order: Vec<TicketId> = board.rows.iter().filter_map(|r| r.case.ticket()).collect();
    assert_eq!(order, vec![fast, slow]);
    let mine = BoardFilter {
        owner: Some(member("sup")),
        ..BoardFilter::default()
    };
    let rows = view.board(now, &mine, Page::first(10)).rows;
    assert_eq!(
        rows.iter().map(|r| r.case).collect::<Vec<_>>(),
        vec![CaseId::from(slow)]
    );
}

#[test]
fn bad_policies_are_refused_at_configuration_time_and_change_nothing() {
    let desk = Desk::new();
    let now = desk.clock.now();
    // Only project managers.
    let err = publish(&desk, &desk.sup, spec(1, now, 240)).unwrap_err();
    assert!(matches!(
        err.rejection(),
        Some(Rejection::NotPermitted { .. })
    ));
    // A zero target does not even make a policy spec (the target type refuses it).
    let mut zero = spec(1, now, 240);
    zero["targets"][0]["resolution_minutes"] = 0.into();
    assert!(serde_json::from_value::<SlaPolicySpec>(zero).is_err());
    // Two rules for one key: refused when published.
    let mut twice = spec(1, now, 240);
    let first = twice["targets"][0].clone();
    twice["targets"].as_array_mut().unwrap().push(first);
    let err = publish(&desk, &desk.pm, twice).unwrap_err();
    assert!(matches!(
        err.rejection(),
        Some(Rejection::InvalidInput { .. })
    ));
    // Retroactive.
    let err = publish(&desk, &desk.pm, spec(1, now - Duration::hours(1), 240)).unwrap_err();
    assert_eq!(crate::support::rule_of(&err), Some(Rule::OutOfOrder));
    // Not after its predecessor.
    publish(&desk, &desk.pm, spec(1, now + Duration::days(2), 240)).unwrap();
    let err = publish(&desk, &desk.pm, spec(2, now + Duration::days(1), 240)).unwrap_err();
    assert_eq!(crate::support::rule_of(&err), Some(Rule::OutOfOrder));
    // A calendar in an unknown time zone does not even make a policy.
    let mut bad_zone = spec(3, now + Duration::days(3), 240);
    bad_zone["calendar"]["time_zone"] = "Mars/Olympus".into();
    assert!(serde_json::from_value::<SlaPolicySpec>(bad_zone).is_err());
    let view = SlaView::build(&**desk.engine.store()).unwrap();
    assert_eq!(view.policies().versions().len(), 1);
}

#[test]
fn the_scheduler_expires_confirmation_windows_once() {
    let desk = Desk::new();
    let t = desk.ticket_at(Stage::Confirm);
    desk.advance(Duration::days(7) + Duration::minutes(1));
    let report = scheduler::tick(&desk.engine, desk.clock.now()).unwrap();
    assert_eq!(report.expired, vec![t]);
    assert_eq!(desk.stage(t), Stage::Record);
    let again = scheduler::tick(&desk.engine, desk.clock.now()).unwrap();
    assert!(again.expired.is_empty());
}
