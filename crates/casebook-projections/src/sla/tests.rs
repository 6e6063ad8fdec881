// Tests state their expectations with unwrap: a failure is the report.
#![allow(clippy::unwrap_used)]

use super::*;
use casebook_core::ticket::{Channel, Contact, NewTicket, Urgency};
use casebook_core::DomainEvent;
use casebook_sla::SlaPolicySpec;
use casebook_store::{ExpectedVersion, MemoryStore, NewEvent, StreamId};
use chrono::{TimeDelta, TimeZone};
use chrono_tz::Asia::Shanghai;
use proptest::prelude::*;
use uuid::Uuid;

fn sh(d: u32, h: u32, m: u32) -> DateTime<Utc> {
    // March 2026: Friday the 6th, Monday the 9th.
    Shanghai
        .with_ymd_and_hms(2026, 3, d, h, m, 0)
        .single()
        .unwrap()
        .to_utc()
}

fn policy(version: u32, from: DateTime<Utc>, resolution_high_minutes: i64) -> SlaPolicy {
    let spec: SlaPolicySpec = serde_json::from_value(serde_json::json!({
        "version": version,
        "effective_from": from,
        "calendar": {"kind": "business_hours", "time_zone": "Asia/Shanghai",
            "weekly": {"monday": ["09:00-18:00"], "tuesday": ["09:00-18:00"],
                "wednesday": ["09:00-18:00"], "thursday": ["09:00-18:00"],
                "friday": ["09:00-18:00"]}},
        "targets": [
            {"kind": "ticket", "tier": "premium", "severity": "high",
             "first_response_minutes": 60, "next_update_minutes": 120,
             "resolution_minutes": resolution_high_minutes},
            {"kind": "ticket", "tier": "premium", "severity": "medium",
             "first_response_minutes": 120, "resolution_minutes": 480},
            {"kind": "ticket", "tier": "premium", "severity": "critical",
             "first_response_minutes": 15, "resolution_minutes": 120},
            {"kind": "ticket", "tier": "standard", "severity": "medium",
             "first_response_minutes": 240, "resolution_minutes": 960},
            {"kind": "incident", "tier": "premium", "severity": "critical",
             "first_response_minutes": 15, "next_update_minutes": 30,
             "resolution_minutes": 240},
            {"kind": "incident", "tier": "standard", "severity": "critical",
             "first_response_minutes": 30, "next_update_minutes": 60,
             "resolution_minutes": 480},
            {"kind": "incident", "tier": "standard", "severity": "high",
             "first_response_minutes": 60, "next_update_minutes": 60,
             "resolution_minutes": 480}
        ],
        "warnings": [0.75, 0.9],
        "reopen_window_minutes": 10080
    }))
    .unwrap();
    SlaPolicy::try_from(spec).unwrap()
}

struct Log {
    store: MemoryStore,
    n: u128,
}

impl Log {
    fn new() -> Log {
        let mut log = Log {
            store: MemoryStore::new(),
            n: 0,
        };
        let t0 = sh(1, 0, 0);
        for (org, tier) in [
            ("acme", CustomerTier::Premium),
            ("globex", CustomerTier::Standard),
        ] {
            log.push(
                "directory",
                "desk",
                &DirectoryEvent::CustomerRegistered {
                    org: OrgId::new(org).unwrap(),
                    name: org.into(),
                    tier,
                },
                t0,
            );
        }
        log.push(
            "service_levels",
            "desk",
            &ServiceLevelsEvent::PolicyPublished {
                policy: policy(1, t0, 240),
            },
            t0,
        );
        log
    }

    fn push<E: DomainEvent>(&mut self, kind: &str, id: &str, event: &E, at: DateTime<Utc>) {
        self.n += 1;
        let stream = StreamId::new(kind, id).unwrap();
        let new = NewEvent {
            event_id: Uuid::from_u128(self.n),
            event_type: event.event_type().into(),
            schema_version: 1,
            recorded_at: at,
            actor: "system:test".into(),
            tenant: None,
            correlation_id: Uuid::from_u128(self.n),
            causation_id: None,
            payload: Payload::encode(event).unwrap(),
            personal_data: Vec::new(),
        };
        self.store
            .append(&stream, ExpectedVersion::Any, vec![new])
            .unwrap();
    }

    fn ticket(&mut self, t: TicketId, event: TicketEvent, at: DateTime<Utc>) {
        self.push("ticket", &t.to_string(), &event, at);
    }

    fn open(&mut self, n: u128, org: &str, at: DateTime<Utc>) -> TicketId {
        let t = TicketId(Uuid::from_u128(1_000_000 + n));
        self.ticket(
            t,
            TicketEvent::Opened {
                ticket: t,
                details: NewTicket {
                    org: OrgId::new(org).unwrap(),
                    channel: Channel::Email,
                    title: "mail down".into(),
                    description: "cannot log in".into(),
                    contact: Contact {
                        name: "Zhang San".into(),
                        email: None,
                        phone: None,
                    },
                    affected_system: "mail-01".into(),
                    reported_at: None,
                },
                opened_by: "cust".into(),
            },
            at,
        );
        t
    }

    fn incident(&mut self, i: IncidentId, event: &IncidentEvent, at: DateTime<Utc>) {
        self.push("incident", &i.to_string(), event, at);
    }

    fn declare(
        &mut self,
        n: u128,
        severity: Severity,
        customers: &[&str],
        detected_at: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> IncidentId {
        let i = IncidentId(Uuid::from_u128(2_000_000 + n));
        let mut affected: Vec<OrgId> = customers.iter().map(|c| OrgId::new(*c).unwrap()).collect();
        affected.sort();
        self.incident(
            i,
            &IncidentEvent::Declared {
                incident: i,
                details: casebook_core::incident::NewIncident {
                    title: "mail encrypted".into(),
                    description: "ransomware".into(),
                    severity,
                    affected_customers: affected,
                    affected_systems: vec!["mail-01".into()],
                    plan: casebook_core::PlanRef {
                        plan: casebook_core::PlanId(Uuid::from_u128(7)),
                        revision: 1,
                    },
                    detected_at,
                    source: casebook_core::incident::IncidentSource::Manual,
                },
                declared_by: "member:sec".into(),
            },
            at,
        );
        i
    }

    fn triage(&mut self, t: TicketId, severity: Severity, at: DateTime<Utc>) {
        self.ticket(
            t,
            TicketEvent::Triaged {
                severity,
                urgency: Urgency::Normal,
                complex: false,
                multi_team: false,
            },
            at,
        );
    }
}

fn status(
    view: &SlaView,
    t: impl Into<CaseId>,
    target: TargetKind,
    now: DateTime<Utc>,
) -> ClockStatus {
    view.case_status(t, now)
        .unwrap()
        .targets
        .into_iter()
        .find(|s| s.target == target)
        .unwrap()
        .status
}

#[test]
fn friday_1730_with_four_business_hours_is_due_monday_1230() {
    let mut log = Log::new();
    let t = log.open(1, "acme", sh(6, 17, 30));
    log.triage(t, Severity::High, sh(6, 17, 40));
    let view = SlaView::build(&log.store).unwrap();
    let s = status(&view, t, TargetKind::Resolution, sh(9, 12, 0));
    assert_eq!(s.deadline, sh(9, 12, 30));
    assert_eq!(s.state, ClockState::AtRisk);
    assert_eq!(s.left, TimeDelta::minutes(30));
    // Triage was the first response, 10 minutes in: met.
    let fr = status(&view, t, TargetKind::FirstResponse, sh(9, 12, 0));
    assert_eq!(fr.state, ClockState::Met);
    // Next update runs from the triage: 2 business hours, 20 min Friday + 100 Monday.
    let nu = status(&view, t, TargetKind::NextUpdate, sh(9, 9, 0));
    assert_eq!(nu.deadline, sh(9, 10, 40));
}

#[test]
fn waiting_on_the_customer_moves_the_deadline_and_severity_retargets_from_the_start() {
    let mut log = Log::new();
    let t = log.open(1, "acme", sh(6, 17, 30));
    log.triage(t, Severity::High, sh(6, 17, 40));
    log.ticket(
        t,
        TicketEvent::InfoRequested {
            question: "logs?".into(),
        },
        sh(9, 9, 0),
    );
    let view = SlaView::build(&log.store).unwrap();
    assert_eq!(
        status(&view, t, TargetKind::Resolution, sh(9, 9, 30)).state,
        ClockState::Paused
    );
    log.ticket(
        t,
        TicketEvent::CustomerReplied {
            text: "here".into(),
        },
        sh(9, 10, 0),
    );
    let view = SlaView::build(&log.store).unwrap();
    assert_eq!(
        status(&view, t, TargetKind::Resolution, sh(9, 10, 0)).deadline,
        sh(9, 13, 30)
    );
    // Critical: 2 business hours from the original start, keeping the hour paused.
    log.ticket(
        t,
        TicketEvent::SeverityChanged {
            from: Severity::High,
            to: Severity::Critical,
            reason: "spreading".into(),
        },
        sh(9, 10, 5),
    );
    let view = SlaView::build(&log.store).unwrap();
    let s = status(&view, t, TargetKind::Resolution, sh(9, 10, 5));
    assert_eq!(s.deadline, sh(9, 11, 30));
    // 35 of 120 minutes used: not yet at the 75 % warning (10:55).
    assert_eq!(s.state, ClockState::Running);
    assert_eq!(s.left, TimeDelta::minutes(85));
}

#[test]
fn internal_notes_do_not_answer_the_customer() {
    let mut log = Log::new();
    let t = log.open(1, "acme", sh(9, 9, 0));
    log.ticket(
        t,
        TicketEvent::NoteAdded {
            text: "looking".into(),
            customer_visible: false,
            by_staff: true,
        },
        sh(9, 9, 10),
    );
    let view = SlaView::build(&log.store).unwrap();
    let fr = status(&view, t, TargetKind::FirstResponse, sh(9, 9, 10));
    assert_eq!(fr.stopped_at, None);
    log.ticket(
        t,
        TicketEvent::NoteAdded {
            text: "we are on it".into(),
            customer_visible: true,
            by_staff: true,
        },
        sh(9, 9, 20),
    );
    let view = SlaView::build(&log.store).unwrap();
    let fr = status(&view, t, TargetKind::FirstResponse, sh(9, 9, 30));
    assert_eq!(fr.state, ClockState::Met);
    assert_eq!(fr.stopped_at, Some(sh(9, 9, 20)));
}

#[test]
fn a_late_resolution_is_kept_as_a_breach_and_counts_against_compliance() {
    let mut log = Log::new();
    let late = log.open(1, "acme", sh(9, 9, 0));
    log.triage(late, Severity::High, sh(9, 9, 5));
    log.ticket(
        late,
        TicketEvent::VerificationPassed { notes: "ok".into() },
        sh(9, 14, 0),
    );
    let on_time = log.open(2, "acme", sh(9, 9, 0));
    log.triage(on_time, Severity::High, sh(9, 9, 5));
    log.ticket(
        on_time,
        TicketEvent::VerificationPassed { notes: "ok".into() },
        sh(9, 12, 0),
    );
    let view = SlaView::build(&log.store).unwrap();
    // Nobody sent an update within 2 hours on either ticket: two next-update breaches.
    let breaches: Vec<Breach> = view
        .breaches()
        .into_iter()
        .filter(|b| b.target == TargetKind::Resolution)
        .collect();
    assert_eq!(breaches.len(), 1);
    assert_eq!(breaches[0].case, late);
    assert_eq!(breaches[0].due_at, sh(9, 13, 0));
    let c = view.compliance(sh(9, 0, 0), sh(10, 0, 0));
    assert_eq!(
        c.targets[&TargetKind::Resolution],
        TargetCompliance {
            met: 1,
            breached: 1
        }
    );
    assert_eq!(
        c.targets[&TargetKind::FirstResponse],
        TargetCompliance {
            met: 2,
            breached: 0
        }
    );
    assert_eq!(
        c.targets[&TargetKind::NextUpdate],
        TargetCompliance {
            met: 0,
            breached: 2
        }
    );

    // A generous proposal would have met both; the log is unchanged by asking.
    let head = log.store.head_position().unwrap();
    let generous = policy(9, sh(1, 0, 0), 480);
    let report = what_if(&log.store, sh(9, 0, 0), sh(10, 0, 0), &generous).unwrap();
    assert_eq!(
        report.actual.targets[&TargetKind::Resolution].ratio(),
        Some(0.5)
    );
    assert_eq!(
        report.proposed.targets[&TargetKind::Resolution].ratio(),
        Some(1.0)
    );
    assert_eq!(log.store.head_position().unwrap(), head);
}

#[test]
fn board_lists_breached_and_at_risk_first_then_by_deadline_and_filters() {
    let mut log = Log::new();
    // Premium high (4 h): opened 09:00 → due 13:00.
    let a = log.open(1, "acme", sh(9, 9, 0));
    log.triage(a, Severity::High, sh(9, 9, 1));
    // Premium medium (8 h): opened 08:00 → due 17:00 (started 09:00 in business time).
    let b = log.open(2, "acme", sh(9, 8, 0));
    log.triage(b, Severity::Medium, sh(9, 9, 2));
    // Standard medium (16 h): due Tuesday 18:00.
    let c = log.open(3, "globex", sh(9, 9, 0));
    log.triage(c, Severity::Medium, sh(9, 9, 3));
    // Premium critical (2 h): due 11:00, breached by noon.
    let d = log.open(4, "acme", sh(9, 9, 0));
    log.triage(d, Severity::Critical, sh(9, 9, 4));
    log.ticket(
        b,
        TicketEvent::Assigned {
            owner: MemberId::new("sup").unwrap(),
            team: "mail".into(),
        },
        sh(9, 9, 5),
    );
    let view = SlaView::build(&log.store).unwrap();
    let now = sh(9, 12, 0);
    let all = view.board(now, &BoardFilter::default(), Page::first(10));
    let order: Vec<TicketId> = all.rows.iter().filter_map(|r| r.case.ticket()).collect();
    // d's resolution was due 11:00 and a's next update 11:01 (both breached), then b
    // (due 17:00), then c (Tuesday).
    assert_eq!(order, vec![d, a, b, c]);
    assert_eq!(all.rows[0].state, Some(ClockState::Breached));
    assert_eq!(all.rows[1].state, Some(ClockState::Breached));
    assert_eq!(all.rows[2].state, Some(ClockState::Running));
    // At 10:30 a's next update (75 % at 10:31) is not yet at risk, d's resolution is.
    let early = view.board(sh(9, 10, 30), &BoardFilter::default(), Page::first(1));
    assert_eq!(early.rows[0].case, d);
    assert_eq!(early.rows[0].state, Some(ClockState::AtRisk));
    assert_eq!(all.position, view.position());
    assert_eq!(
        view.board_by_scan(now, &BoardFilter::default(), Page::first(10)),
        all.rows
    );

    let page = view.board(now, &BoardFilter::default(), Page::first(2));
    assert_eq!(page.rows.len(), 2);
    let next = page.next.unwrap();
    let rest = view.board(now, &BoardFilter::default(), next);
    assert_eq!(
        rest.rows.iter().map(|r| r.case).collect::<Vec<_>>(),
        vec![b, c]
    );
    assert_eq!(rest.next, None);

    let globex = BoardFilter {
        customer: Some(OrgId::new("globex").unwrap()),
        ..BoardFilter::default()
    };
    let rows = view.board(now, &globex, Page::first(10)).rows;
    assert_eq!(rows.iter().map(|r| r.case).collect::<Vec<_>>(), vec![c]);
    let team = BoardFilter {
        team: Some("mail".into()),
        owner: Some(MemberId::new("sup").unwrap()),
        ..BoardFilter::default()
    };
    let rows = view.board(now, &team, Page::first(10)).rows;
    assert_eq!(rows.iter().map(|r| r.case).collect::<Vec<_>>(), vec![b]);
}

#[test]
fn a_case_breached_on_a_stopped_target_is_listed_with_the_urgent_cases() {
    let mut log = Log::new();
    // Premium medium: first response 2 h, resolution 8 h. Opened 09:00, answered
    // 11:30 (first response due 11:00: breached, stopped). Resolution runs to 17:00.
    let late = log.open(1, "acme", sh(9, 9, 0));
    log.ticket(
        late,
        TicketEvent::NoteAdded {
            text: "we are on it".into(),
            customer_visible: true,
            by_staff: true,
        },
        sh(9, 11, 30),
    );
    // Premium medium opened 11:00: first response due 13:00 (75 % at 12:30),
    // resolution 18:00 Monday + 1 h. At 11:40 nothing of it is at risk, yet its first
    // response is due well before the late case's resolution.
    let fresh = log.open(2, "acme", sh(9, 11, 0));
    let view = SlaView::build(&log.store).unwrap();
    let now = sh(9, 11, 40);
    let board = view.board(now, &BoardFilter::default(), Page::first(10));
    let rows: Vec<(CaseId, Option<ClockState>)> =
        board.rows.iter().map(|r| (r.case, r.state)).collect();
    assert_eq!(
        rows,
        vec![
            (CaseId::Ticket(late), Some(ClockState::Breached)),
            (CaseId::Ticket(fresh), Some(ClockState::Running)),
        ]
    );
    // Dated at the deadline it missed.
    assert_eq!(board.rows[0].nearest_deadline, Some(sh(9, 11, 0)));
    assert_eq!(
        view.board_by_scan(now, &BoardFilter::default(), Page::first(10)),
        board.rows
    );
    // Resolved in time: every target met, nothing urgent left; it stays (quiet)
    // until closed, after the running case.
    log.ticket(
        late,
        TicketEvent::VerificationPassed {
            notes: "fixed".into(),
        },
        sh(9, 12, 0),
    );
    let view = SlaView::build(&log.store).unwrap();
    let rows: Vec<CaseId> = view
        .board(sh(9, 12, 5), &BoardFilter::default(), Page::first(10))
        .rows
        .iter()
        .map(|r| r.case)
        .collect();
    // The late first response still marks it breached until it closes.
    assert_eq!(rows, vec![CaseId::Ticket(late), CaseId::Ticket(fresh)]);
}

#[test]
fn as_of_answers_do_not_change_when_the_log_grows_or_policy_changes() {
    let mut log = Log::new();
    let a = log.open(1, "acme", sh(9, 9, 0));
    log.triage(a, Severity::High, sh(9, 9, 1));
    let instant = sh(9, 10, 0);
    let before = SlaView::as_of(&log.store, instant).unwrap();
    let board = before.board(instant, &BoardFilter::default(), Page::first(10));
    // Later: a stricter policy and more events.
    log.push(
        "service_levels",
        "desk",
        &ServiceLevelsEvent::PolicyPublished {
            policy: policy(2, sh(9, 11, 0), 60),
        },
        sh(9, 11, 0),
    );
    log.ticket(
        a,
        TicketEvent::SeverityChanged {
            from: Severity::High,
            to: Severity::Critical,
            reason: "worse".into(),
        },
        sh(9, 11, 30),
    );
    let b = log.open(2, "acme", sh(9, 12, 0));
    log.triage(b, Severity::High, sh(9, 12, 1));
    let again = SlaView::as_of(&log.store, instant).unwrap();
    assert_eq!(again, before);
    assert_eq!(
        again.board(instant, &BoardFilter::default(), Page::first(10)),
        board
    );
    let by_position = SlaView::at_position(&log.store, before.position()).unwrap();
    assert_eq!(by_position, before);
    // The new case runs under version 2; the old one keeps version 1.
    let now = SlaView::build(&log.store).unwrap();
    assert_eq!(now.case(a).unwrap().policy_version, Some(1));
    assert_eq!(now.case(b).unwrap().policy_version, Some(2));
}

#[test]
fn an_incident_runs_from_detection_under_its_best_customer_tier() {
    let mut log = Log::new();
    // Detected 10:00, declared 10:05, for acme (premium) and globex (standard):
    // premium critical: acknowledge 15 min, progress every 30 min, recover in 4 h.
    let i = log.declare(
        1,
        Severity::Critical,
        &["globex", "acme"],
        sh(9, 10, 0),
        sh(9, 10, 5),
    );
    let view = SlaView::build(&log.store).unwrap();
    let c = view.case(i).unwrap();
    assert_eq!(
        (c.kind, c.tier, c.org.as_str()),
        (CaseKind::Incident, CustomerTier::Premium, "acme")
    );
    assert_eq!(c.opened_at, sh(9, 10, 0));
    assert_eq!(
        status(&view, i, TargetKind::FirstResponse, sh(9, 10, 5)).deadline,
        sh(9, 10, 15)
    );
    assert_eq!(
        status(&view, i, TargetKind::Resolution, sh(9, 10, 5)).deadline,
        sh(9, 14, 0)
    );

    // Acknowledged late (10:20): first response breached at 10:15; the cadence starts.
    log.incident(
        i,
        &IncidentEvent::Acknowledged {
            by: "member:sec".into(),
        },
        sh(9, 10, 20),
    );
    // A report at 10:45 meets cycle 0 (due 10:50); cycle 1 is due 11:15 and missed.
    log.incident(
        i,
        &IncidentEvent::ProgressReported {
            summary: "contained".into(),
            by: "member:sec".into(),
        },
        sh(9, 10, 45),
    );
    let view = SlaView::build(&log.store).unwrap();
    let next = status(&view, i, TargetKind::NextUpdate, sh(9, 11, 30));
    assert_eq!(
        (next.cycle, next.deadline, next.state),
        (1, sh(9, 11, 15), ClockState::Breached)
    );
    // The customer filter matches any affected customer.
    let globex = BoardFilter {
        customer: Some(OrgId::new("globex").unwrap()),
        ..BoardFilter::default()
    };
    let rows = view.board(sh(9, 11, 30), &globex, Page::first(10)).rows;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].case, rows[0].kind),
        (CaseId::Incident(i), CaseKind::Incident)
    );

    // A failed verification changes nothing; the verified recovery at 13:30 meets
    // resolution (due 14:00) and ends the late cadence cycle.
    log.incident(
        i,
        &IncidentEvent::RecoveryVerificationFailed {
            evidence: "no".into(),
        },
        sh(9, 13, 0),
    );
    log.incident(
        i,
        &IncidentEvent::RecoveryVerified {
            evidence: "ok".into(),
        },
        sh(9, 13, 30),
    );
    let view = SlaView::build(&log.store).unwrap();
    let c = view.case(i).unwrap();
    let ended: Vec<(TargetKind, u32, bool)> = c
        .outcomes
        .iter()
        .map(|o| (o.target, o.cycle, o.met))
        .collect();
    assert_eq!(
        ended,
        vec![
            (TargetKind::FirstResponse, 0, false),
            (TargetKind::NextUpdate, 0, true),
            (TargetKind::Resolution, 0, true),
            (TargetKind::NextUpdate, 1, false),
        ]
    );
    let dues: Vec<(TargetKind, DateTime<Utc>)> = view
        .breaches()
        .iter()
        .map(|b| (b.target, b.due_at))
        .collect();
    assert_eq!(
        dues,
        vec![
            (TargetKind::FirstResponse, sh(9, 10, 15)),
            (TargetKind::NextUpdate, sh(9, 11, 15))
        ]
    );
    let compliance = view.compliance(sh(9, 0, 0), sh(10, 0, 0));
    let incidents = &compliance.by_case_kind[&CaseKind::Incident];
    assert_eq!(
        incidents[&TargetKind::Resolution],
        TargetCompliance {
            met: 1,
            breached: 0
        }
    );
    assert_eq!(
        incidents[&TargetKind::NextUpdate],
        TargetCompliance {
            met: 1,
            breached: 1
        }
    );
    assert_eq!(
        compliance.by_case_kind[&CaseKind::Ticket][&TargetKind::Resolution],
        TargetCompliance::default()
    );
    assert_eq!(
        compliance.targets[&TargetKind::FirstResponse],
        TargetCompliance {
            met: 0,
            breached: 1
        }
    );

    // Still on the board (quiet) until closed.
    assert_eq!(
        view.board(sh(9, 14, 0), &BoardFilter::default(), Page::first(10))
            .rows
            .len(),
        1
    );
    log.incident(i, &IncidentEvent::IncidentClosed, sh(9, 15, 0));
    let view = SlaView::build(&log.store).unwrap();
    assert!(view
        .board(sh(9, 15, 0), &BoardFilter::default(), Page::first(10))
        .rows
        .is_empty());
    assert_eq!(view.breaches().len(), 2);
}

#[test]
fn an_internal_incident_runs_under_the_default_tier_and_no_customer_filter_matches_it() {
    let mut log = Log::new();
    let i = log.declare(1, Severity::High, &[], sh(9, 9, 0), sh(9, 9, 0));
    let view = SlaView::build(&log.store).unwrap();
    let c = view.case(i).unwrap();
    assert_eq!(
        (c.tier, c.org.as_str(), c.customers.len()),
        (INTERNAL_TIER, INTERNAL_ORG, 0)
    );
    // Standard high: acknowledge within 60 minutes.
    assert_eq!(
        status(&view, i, TargetKind::FirstResponse, sh(9, 9, 0)).deadline,
        sh(9, 10, 0)
    );
    let acme = BoardFilter {
        customer: Some(OrgId::new("acme").unwrap()),
        ..BoardFilter::default()
    };
    assert!(view
        .board(sh(9, 9, 0), &acme, Page::first(10))
        .rows
        .is_empty());
    assert_eq!(
        view.board(sh(9, 9, 0), &BoardFilter::default(), Page::first(10))
            .rows
            .len(),
        1
    );
}

#[test]
fn drills_are_never_cases() {
    let mut log = Log::new();
    let d = casebook_core::DrillId(Uuid::from_u128(9));
    log.push(
        "drill",
        &d.to_string(),
        &IncidentEvent::Acknowledged {
            by: "member:sec".into(),
        },
        sh(9, 9, 0),
    );
    let view = SlaView::build(&log.store).unwrap();
    assert_eq!(view.cases().count(), 0);
}

#[test]
fn recorded_breaches_are_kept_after_closing() {
    let mut log = Log::new();
    let a = log.open(1, "acme", sh(9, 9, 0));
    let alert = casebook_core::SlaAlert {
        case_kind: CaseKind::Ticket,
        target: TargetKind::FirstResponse,
        cycle: 0,
        kind: AlertKind::Breach,
        due_at: sh(9, 11, 0),
        policy_version: 1,
    };
    log.push(
        "sla",
        &a.to_string(),
        &SlaAlertEvent::BreachRecorded(alert),
        sh(9, 11, 5),
    );
    log.ticket(
        a,
        TicketEvent::Withdrawn {
            reason: casebook_core::ticket::WithdrawalReason::NotAProblem,
            detail: "fine".into(),
        },
        sh(9, 12, 0),
    );
    let view = SlaView::build(&log.store).unwrap();
    assert_eq!(view.breaches().len(), 1);
    assert!(view
        .board(sh(9, 12, 0), &BoardFilter::default(), Page::first(10))
        .rows
        .is_empty());
}

/// One random step of the log.
#[derive(Debug, Clone)]
enum Step {
    Ticket { n: u8, op: u8, sev: u8 },
    Incident { n: u8, op: u8, sev: u8 },
    TierChange { standard: bool },
    Alert { n: u8 },
    IncidentAlert { n: u8 },
}

fn step() -> impl Strategy<Value = (Step, u16)> {
    let s = prop_oneof![
        8 => (0u8..5, 0u8..14, 0u8..4).prop_map(|(n, op, sev)| Step::Ticket { n, op, sev }),
        4 => (0u8..3, 0u8..6, 0u8..4).prop_map(|(n, op, sev)| Step::Incident { n, op, sev }),
        1 => any::<bool>().prop_map(|standard| Step::TierChange { standard }),
        1 => (0u8..5).prop_map(|n| Step::Alert { n }),
        1 => (0u8..3).prop_map(|n| Step::IncidentAlert { n }),
    ];
    (s, 0u16..600)
}

fn write(log: &mut Log, steps: &[(Step, u16)]) {
    let mut at = sh(6, 8, 0);
    let sev = |s: u8| Severity::ALL[usize::from(s) % Severity::ALL.len()];
    let mut tier = CustomerTier::Premium;
    for (s, advance) in steps {
        at += TimeDelta::minutes(i64::from(*advance));
        match s {
            Step::TierChange { standard } => {
                let to = if *standard {
                    CustomerTier::Standard
                } else {
                    CustomerTier::Premium
                };
                log.push(
                    "directory",
                    "desk",
                    &DirectoryEvent::CustomerTierChanged {
                        org: OrgId::new("acme").unwrap(),
                        from: tier,
                        to,
                    },
                    at,
                );
                tier = to;
            }
            Step::Alert { n } => {
                let t = TicketId(Uuid::from_u128(1_000_000 + u128::from(*n)));
                let alert = casebook_core::SlaAlert {
                    case_kind: CaseKind::Ticket,
                    target: TargetKind::Resolution,
                    cycle: 0,
                    kind: AlertKind::Breach,
                    due_at: at,
                    policy_version: 1,
                };
                log.push(
                    "sla",
                    &t.to_string(),
                    &SlaAlertEvent::BreachRecorded(alert),
                    at,
                );
            }
            Step::IncidentAlert { n } => {
                let i = IncidentId(Uuid::from_u128(2_000_000 + u128::from(*n)));
                let alert = casebook_core::SlaAlert {
                    case_kind: CaseKind::Incident,
                    target: TargetKind::NextUpdate,
                    cycle: 0,
                    kind: AlertKind::Breach,
                    due_at: at,
                    policy_version: 1,
                };
                log.push(
                    "sla",
                    &CaseId::Incident(i).to_string(),
                    &SlaAlertEvent::BreachRecorded(alert),
                    at,
                );
            }
            Step::Incident { n, op, sev: s } => {
                let i = IncidentId(Uuid::from_u128(2_000_000 + u128::from(*n)));
                let by = || "member:sec".to_string();
                let e = match op {
                    0 => {
                        let customers: &[&str] = match s {
                            0 => &[],
                            1 => &["globex"],
                            _ => &["acme", "globex"],
                        };
                        let detected = at - TimeDelta::minutes(i64::from(*s) * 7);
                        log.declare(u128::from(*n), sev(*s), customers, detected, at);
                        continue;
                    }
                    1 => IncidentEvent::Acknowledged { by: by() },
                    2 => IncidentEvent::ProgressReported {
                        summary: "p".into(),
                        by: by(),
                    },
                    3 => IncidentEvent::RecoveryVerified {
                        evidence: "e".into(),
                    },
                    4 => IncidentEvent::RecoveryVerificationFailed {
                        evidence: "e".into(),
                    },
                    _ => IncidentEvent::IncidentClosed,
                };
                log.incident(i, &e, at);
            }
            Step::Ticket { n, op, sev: s } => {
                let t = TicketId(Uuid::from_u128(1_000_000 + u128::from(*n)));
                let e = match op {
                    0 => {
                        log.open(u128::from(*n), "acme", at);
                        continue;
                    }
                    1 => TicketEvent::Triaged {
                        severity: sev(*s),
                        urgency: Urgency::Normal,
                        complex: false,
                        multi_team: false,
                    },
                    2 => TicketEvent::SeverityChanged {
                        from: Severity::Medium,
                        to: sev(*s),
                        reason: "r".into(),
                    },
                    3 => TicketEvent::NoteAdded {
                        text: "n".into(),
                        customer_visible: *s % 2 == 0,
                        by_staff: *s < 3,
                    },
                    4 => TicketEvent::InfoRequested {
                        question: "q".into(),
                    },
                    5 => TicketEvent::CustomerReplied { text: "a".into() },
                    6 => TicketEvent::VerificationPassed { notes: "v".into() },
                    7 => TicketEvent::CustomerRejected {
                        reason: "no".into(),
                    },
                    8 => TicketEvent::Reopened {
                        reason: "again".into(),
                    },
                    9 => TicketEvent::Closed {
                        category: "c".into(),
                        summary: "s".into(),
                        result: "r".into(),
                        classification: casebook_core::ticket::Classification::Internal,
                    },
                    10 => TicketEvent::Withdrawn {
                        reason: casebook_core::ticket::WithdrawalReason::NotAProblem,
                        detail: "d".into(),
                    },
                    11 => TicketEvent::Assigned {
                        owner: MemberId::new(if *s % 2 == 0 { "sup" } else { "sec" }).unwrap(),
                        team: format!("team{s}"),
                    },
                    12 => TicketEvent::CustomerConfirmed { comment: None },
                    _ => TicketEvent::ConfirmationExpired { window_hours: 168 },
                };
                log.ticket(t, e, at);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Building in random chunks, saving and restoring the checkpoint in between,
    /// ends in the same state as a rebuild from zero; and the indexed board equals a
    /// full scan at every chunk.
    #[test]
    fn incremental_with_checkpoints_equals_rebuild(
        steps in proptest::collection::vec(step(), 0..80),
        cuts in proptest::collection::vec(0u64..100, 0..6),
        query_minutes in 0i64..20_000,
    ) {
        let mut log = Log::new();
        write(&mut log, &steps);
        let head = log.store.head_position().unwrap();
        let mut cuts: Vec<u64> = cuts.into_iter().map(|c| c % (head + 1)).collect();
        cuts.sort_unstable();
        cuts.push(head);
        let now = sh(6, 8, 0) + TimeDelta::minutes(query_minutes);
        let mut view = SlaView::new();
        for cut in cuts {
            view.catch_up_while(&log.store, |e| e.global_position <= cut).unwrap();
            view.save_checkpoint(&log.store).unwrap();
            view = SlaView::from_checkpoint(&log.store).unwrap().unwrap();
            let filter = BoardFilter::default();
            let indexed = view.board(now, &filter, Page::first(100)).rows;
            prop_assert_eq!(indexed, view.board_by_scan(now, &filter, Page::first(100)));
        }
        // Asked at or after the last event, every row at risk or breached comes
        // before every other row.
        let last = log.store.read_all(head.saturating_sub(1), 1).unwrap();
        let after_all = last.first().map_or(now, |e| e.recorded_at.max(now));
        let states: Vec<bool> = view
            .board(after_all, &BoardFilter::default(), Page::first(usize::MAX))
            .rows
            .iter()
            .map(|r| matches!(r.state, Some(ClockState::Breached | ClockState::AtRisk)))
            .collect();
        prop_assert!(
            states.windows(2).all(|w| w[0] || !w[1]),
            "an urgent row after a calm one: {:?}",
            states
        );
        let rebuilt = SlaView::build(&log.store).unwrap();
        prop_assert_eq!(&view, &rebuilt);
        let resumed = SlaView::resume(&log.store).unwrap();
        prop_assert_eq!(&resumed, &rebuilt);
        let team = BoardFilter { team: Some("team1".into()), ..BoardFilter::default() };
        prop_assert_eq!(
            view.board(now, &team, Page { offset: 1, limit: 2 }).rows,
            view.board_by_scan(now, &team, Page { offset: 1, limit: 2 })
        );
        let globex = BoardFilter { customer: Some(OrgId::new("globex").unwrap()), ..BoardFilter::default() };
        prop_assert_eq!(
            view.board(now, &globex, Page::first(100)).rows,
            view.board_by_scan(now, &globex, Page::first(100))
        );
    }
}
