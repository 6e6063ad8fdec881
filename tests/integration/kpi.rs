//! KPIs, scorecard, assessments and the knowledge base end to end: commands through
//! the engine on a manual clock, then the read models over the store.

use std::collections::BTreeSet;

use casebook::core::assessment::{AssessmentCommand, Subject};
use casebook::prelude::*;
use casebook::projections::knowledge::KnowledgeView;
use casebook::projections::kpi::{AsOf, Dimension, KpiReport, KpiView};
use casebook::projections::period::Period;
use casebook::projections::scorecard::{Scorecard, ScorecardConfig};
use casebook::sla::{SlaPolicySpec, TargetKind};
use chrono::Duration;
use chrono_tz::Asia::Shanghai;

use crate::support::{member, triage, Desk};

fn publish_24x7(desk: &Desk) {
    let policy: SlaPolicySpec = serde_json::from_value(serde_json::json!({
        "version": 1,
        "effective_from": desk.clock.now(),
        "calendar": {"kind": "around_the_clock"},
        "targets": [
            {"kind": "ticket", "tier": "premium", "severity": "medium",
             "first_response_minutes": 60, "resolution_minutes": 480}
        ],
        "warnings": [0.75],
        "reopen_window_minutes": 10080
    }))
    .unwrap();
    desk.engine
        .execute(&desk.pm, ServiceLevelsCommand::PublishPolicy { policy })
        .unwrap();
}

fn fix_and_pass(desk: &Desk, t: TicketId, who: &Actor) {
    desk.ok(who, t, TicketCommand::StartFix);
    desk.ok(
        who,
        t,
        TicketCommand::ReportFixDone {
            summary: "done".into(),
        },
    );
    desk.ok(
        who,
        t,
        TicketCommand::PassVerification {
            notes: "works".into(),
        },
    );
}

fn roles_of(desk: &Desk, id: &str) -> BTreeSet<Role> {
    desk.engine.directory().unwrap().members[&member(id)]
        .roles
        .clone()
}

struct Story {
    desk: Desk,
    a: TicketId,
    b: TicketId,
    /// Just before ticket B's first resolution.
    before_b_resolved: chrono::DateTime<chrono::Utc>,
}

/// Three tickets in March 2026 (Shanghai): A answered in 30 minutes and fixed first
/// time; B answered late, failed verification, rejected by the customer and fixed
/// again; C never answered.
fn story() -> Story {
    let desk = Desk::new();
    publish_24x7(&desk);
    let t0 = desk.clock.now();

    let a = desk.open();
    desk.ok(
        &desk.sup,
        a,
        TicketCommand::Assign {
            owner: member("sup"),
            team: "net".into(),
        },
    );
    desk.advance(Duration::minutes(30));
    desk.ok(&desk.sup, a, triage(Severity::Medium, Urgency::Normal));

    desk.clock.set(t0 + Duration::hours(1)).unwrap();
    let b = desk.open();
    desk.ok(
        &desk.pm,
        b,
        TicketCommand::Assign {
            owner: member("sec"),
            team: "soc".into(),
        },
    );
    desk.advance(Duration::hours(2));
    desk.ok(
        &desk.sec,
        b,
        TicketCommand::AddNote {
            text: "我们正在调查".into(),
            customer_visible: true,
        },
    );
    desk.ok(&desk.sec, b, triage(Severity::Medium, Urgency::Normal));

    // A: diagnosed, fixed and verified 4 hours after opening; confirmed, rated 5, closed.
    desk.clock.set(t0 + Duration::hours(3)).unwrap();
    desk.ok(
        &desk.sup,
        a,
        TicketCommand::Diagnose {
            cause: "LDAP 证书过期".into(),
            solution: "更新证书 renew the certificate".into(),
        },
    );
    desk.clock.set(t0 + Duration::hours(4)).unwrap();
    fix_and_pass(&desk, a, &desk.sup);
    desk.ok(&desk.cust, a, TicketCommand::Confirm { comment: None });
    desk.ok(
        &desk.cust,
        a,
        TicketCommand::RateSatisfaction {
            score: 5,
            comment: None,
        },
    );
    desk.ok(
        &desk.sup,
        a,
        TicketCommand::Close {
            category: "认证".into(),
            summary: "LDAP 证书过期导致邮件无法登录".into(),
            result: "证书已更新".into(),
            classification: Classification::Internal,
        },
    );

    // C: opened and left alone.
    desk.open();

    // B: a failed verification, a pass a day later, the customer rejects, fixed again.
    desk.clock.set(t0 + Duration::hours(5)).unwrap();
    desk.ok(
        &desk.sec,
        b,
        TicketCommand::Diagnose {
            cause: "防火墙规则错误".into(),
            solution: "回滚防火墙规则".into(),
        },
    );
    desk.ok(&desk.sec, b, TicketCommand::StartFix);
    desk.ok(
        &desk.sec,
        b,
        TicketCommand::ReportFixDone {
            summary: "rolled back".into(),
        },
    );
    desk.ok(
        &desk.sec,
        b,
        TicketCommand::FailVerification {
            evidence: "still blocked".into(),
        },
    );
    let before_b_resolved = t0 + Duration::hours(20);
    desk.clock.set(t0 + Duration::days(1)).unwrap();
    desk.ok(
        &desk.sec,
        b,
        TicketCommand::ReportFixDone {
            summary: "rolled back again".into(),
        },
    );
    desk.ok(
        &desk.sec,
        b,
        TicketCommand::PassVerification {
            notes: "traffic flows".into(),
        },
    );
    desk.advance(Duration::hours(1));
    desk.ok(
        &desk.cust,
        b,
        TicketCommand::Reject {
            reason: "VPN still down".into(),
        },
    );
    desk.advance(Duration::hours(2));
    fix_and_pass(&desk, b, &desk.sec);
    desk.ok(&desk.cust, b, TicketCommand::Confirm { comment: None });
    desk.ok(
        &desk.cust,
        b,
        TicketCommand::RateSatisfaction {
            score: 2,
            comment: Some("slow".into()),
        },
    );
    desk.ok(
        &desk.sec,
        b,
        TicketCommand::RecordImprovementAction {
            action: "review firewall changes".into(),
        },
    );
    desk.ok(
        &desk.sec,
        b,
        TicketCommand::Close {
            category: "network".into(),
            summary: "firewall rule blocked VPN".into(),
            result: "rule rolled back".into(),
            classification: Classification::Secret,
        },
    );
    Story {
        desk,
        a,
        b,
        before_b_resolved,
    }
}

#[test]
fn march_kpis_through_the_engine() {
    let s = story();
    let store = &**s.desk.engine.store();
    let march = Period::month(2026, 3, Shanghai).unwrap();
    let now = s.desk.clock.now();
    let report = KpiReport::build(store, &march, AsOf::Instant(now)).unwrap();
    assert_eq!(report.position, store.head_position().unwrap());
    let d = &report.desk;

    // A after 30 minutes (met), B after 2 hours (60-minute target: breached).
    assert_eq!(d.response.time.count, 2);
    assert_eq!(d.response.time.median_seconds, Some(1_800));
    assert_eq!(d.response.time.p90_seconds, Some(7_200));
    assert_eq!(d.response.time.mean_seconds, Some(4_500.0));
    assert_eq!((d.response.within_target, d.response.with_target), (1, 2));

    // Three opened, A and B resolved; only A first time; B reopened.
    let r = &d.resolution;
    assert_eq!((r.open_at_start, r.opened, r.resolved), (0, 3, 2));
    assert_eq!(r.resolution_rate, Some(2.0 / 3.0));
    assert_eq!((r.first_time, r.reopened), (1, 1));

    // C waits, past its first-response deadline.
    assert_eq!(d.backlog.age.count, 1);
    assert_eq!(d.backlog.past_deadline, 1);

    // Ratings 5 and 2.
    assert_eq!(d.satisfaction.mean_score, Some(3.5));
    assert_eq!(d.satisfaction.satisfied_share, Some(0.5));
    assert_eq!(d.satisfaction.response_rate, Some(1.0));

    // Resolution: A met (4 h of 8), B late (over a day), C still running past its
    // deadline. First response: A met, B late, C still unanswered past its deadline.
    let res = d.sla[&TargetKind::Resolution];
    assert_eq!((res.met, res.breached), (1, 2));
    let first = d.sla[&TargetKind::FirstResponse];
    assert_eq!((first.met, first.breached), (1, 2));

    let net = report.group(Dimension::Team, "net").unwrap();
    assert_eq!(net.resolution.first_time_rate, Some(1.0));
    let sec = report.group(Dimension::Member, "sec").unwrap();
    assert_eq!(sec.resolution.reopen_rate, Some(1.0));
    assert_eq!(sec.satisfaction.mean_score, Some(2.0));
    assert!(report.group(Dimension::Customer, "acme").is_some());

    // No incidents or drills on this desk.
    assert_eq!(report.incidents.declared, 0);
    assert_eq!(report.drills.planned, 0);

    // The table has a line per group and the CSV a row per group plus the header.
    assert_eq!(report.to_csv().lines().count(), 2 + report.groups.len());
    assert!(report.to_table().contains("KPIs 2026-03 (Asia/Shanghai)"));
}

#[test]
fn a_past_instant_gives_the_same_answer_later() {
    let s = story();
    let store = &**s.desk.engine.store();
    let march = Period::month(2026, 3, Shanghai).unwrap();
    let then = KpiReport::build(store, &march, AsOf::Instant(s.before_b_resolved)).unwrap();
    assert_eq!(then.desk.resolution.resolved, 1);
    assert_eq!(then.desk.backlog.age.count, 2);
    let view = KpiView::as_of(store, s.before_b_resolved).unwrap();
    assert_eq!(then.position, view.position());

    // More happens; the past report does not change.
    s.desk.advance(Duration::hours(1));
    let d = s.desk.open();
    s.desk
        .ok(&s.desk.sup, d, triage(Severity::Medium, Urgency::Normal));
    let again = KpiReport::build(store, &march, AsOf::Instant(s.before_b_resolved)).unwrap();
    assert_eq!(again, then);
    // And a report at that log position agrees with it on every count.
    let at_position = KpiReport::build(store, &march, AsOf::Position(then.position)).unwrap();
    assert_eq!(at_position.desk.resolution, then.desk.resolution);
    assert_eq!(at_position.desk.response, then.desk.response);
}

#[test]
fn assessments_are_project_manager_events_shown_beside_the_score() {
    let s = story();
    let desk = &s.desk;
    let rate = |who: &Actor, subject: Subject, period: &str, rating: u8| {
        desk.engine.execute(
            who,
            Command::Assessment(AssessmentCommand::Rate {
                subject,
                period: period.into(),
                rating,
                comment: "steady, clear updates".into(),
            }),
        )
    };
    let sup = Subject::Member(member("sup"));
    // Only a project manager assesses; the rating and period are checked.
    let refused = rate(&desk.sup, sup.clone(), "2026-03", 4).unwrap_err();
    assert!(refused.to_string().contains("project_manager"), "{refused}");
    assert!(rate(&desk.pm, sup.clone(), "2026-3", 4).is_err());
    assert!(rate(&desk.pm, sup.clone(), "2026-03", 6).is_err());
    assert_eq!(
        crate::support::rule_of(
            &rate(&desk.pm, Subject::Member(member("cust")), "2026-03", 3).unwrap_err()
        ),
        Some(Rule::MemberNotEligible)
    );
    // A later rating of the same subject and period replaces the earlier one.
    rate(&desk.pm, sup.clone(), "2026-03", 3).unwrap();
    rate(&desk.pm, sup.clone(), "2026-03", 4).unwrap();
    rate(&desk.pm, Subject::Team("soc".into()), "2026-03", 2).unwrap();

    let store = &**desk.engine.store();
    let march = Period::month(2026, 3, Shanghai).unwrap();
    let report = KpiReport::build(store, &march, AsOf::Instant(desk.clock.now())).unwrap();
    let view = KpiView::as_of(store, desk.clock.now()).unwrap();
    let card =
        Scorecard::compute(&report, view.assessments(), &ScorecardConfig::standard()).unwrap();
    let row = |subject: &Subject| card.rows.iter().find(|r| &r.subject == subject).unwrap();
    let sup_row = row(&sup);
    assert_eq!(sup_row.rating.as_ref().map(|r| r.rating), Some(4));
    // sup: response within target 1/1, resolution 1/1 (A; C is unassigned), first
    // time 1/1, no reopen, satisfaction 5, resolution compliance 1/1: 100.
    assert_eq!(sup_row.score, Some(100.0));
    let sec_row = row(&Subject::Member(member("sec")));
    assert!(sec_row.rating.is_none());
    assert!(
        sec_row.score.is_some_and(|x| x < 50.0),
        "{:?}",
        sec_row.score
    );
    let soc = row(&Subject::Team("soc".into()));
    assert_eq!(soc.rating.as_ref().map(|r| r.rating), Some(2));
    assert!(card.to_table().contains("4/5"));
    assert!(card.to_csv().lines().count() >= 4);
}

#[test]
fn knowledge_base_search_in_chinese_and_english_filtered_by_clearance() {
    let s = story();
    let store = &**s.desk.engine.store();
    let kb = KnowledgeView::build(store).unwrap();
    let support = roles_of(&s.desk, "sup");
    let security = roles_of(&s.desk, "sec");
    let customer = roles_of(&s.desk, "cust");

    let ids = |hits: Vec<&casebook::projections::knowledge::KnowledgeRecord>| {
        hits.iter().map(|r| r.ticket).collect::<Vec<_>>()
    };
    assert_eq!(ids(kb.search("证书", &support, 10)), vec![s.a]);
    assert_eq!(ids(kb.search("ldap 证书过期", &support, 10)), vec![s.a]);
    assert_eq!(ids(kb.search("RENEW", &support, 10)), vec![s.a]);
    assert!(kb.search("证书 firewall", &support, 10).is_empty());
    // Internal: not for customers. Secret: not for support engineers.
    assert!(kb.search("证书", &customer, 10).is_empty());
    assert!(kb.search("防火墙", &support, 10).is_empty());
    assert_eq!(ids(kb.search("防火墙", &security, 10)), vec![s.b]);
    assert_eq!(ids(kb.search("vpn", &security, 10)), vec![s.b]);

    let network = kb.category("network", &security).unwrap();
    assert_eq!(network.count, 1);
    assert_eq!(network.common_causes[0].text, "防火墙规则错误");
    // B was reopened: its solution is not one that worked.
    assert!(network.solutions_that_worked.is_empty());
    assert!(kb.category("network", &support).is_none());
    let auth = kb.category("认证", &support).unwrap();
    assert_eq!(
        auth.solutions_that_worked[0].text,
        "更新证书 renew the certificate"
    );
    assert_eq!(auth.median_time_to_resolve_seconds, Some(4 * 3_600));
    assert_eq!(kb.categories(&customer), vec![]);
}
