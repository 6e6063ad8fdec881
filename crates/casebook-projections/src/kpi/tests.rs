// Tests state their expectations with unwrap: a failure is the report.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::knowledge::KnowledgeView;
use casebook_core::drill::DrillEvent;
use casebook_core::incident::{IncidentSource, NewIncident};
use casebook_core::plan::{Phase, PlanRef, ProcessStep, ResponseRole};
use casebook_core::ticket::{
    Channel, Classification, Contact, Diagnosis, NewTicket, Urgency, WithdrawalReason,
};
use casebook_core::{CustomerTier, DirectoryEvent, DomainEvent, ServiceLevelsEvent};
use casebook_sla::{SlaPolicy, SlaPolicySpec};
use casebook_store::{ExpectedVersion, MemoryStore, NewEvent, StreamId};
use chrono::{TimeDelta, TimeZone};
use chrono_tz::Asia::Shanghai;
use proptest::prelude::*;
use uuid::Uuid;

fn sh(m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Shanghai
        .with_ymd_and_hms(2026, m, d, h, min, 0)
        .single()
        .unwrap()
        .to_utc()
}

fn policy(from: DateTime<Utc>) -> SlaPolicy {
    let spec: SlaPolicySpec = serde_json::from_value(serde_json::json!({
        "version": 1,
        "effective_from": from,
        "calendar": {"kind": "business_hours", "time_zone": "Asia/Shanghai",
            "weekly": {"monday": ["09:00-18:00"], "tuesday": ["09:00-18:00"],
                "wednesday": ["09:00-18:00"], "thursday": ["09:00-18:00"],
                "friday": ["09:00-18:00"]}},
        "targets": [
            {"kind": "ticket", "tier": "premium", "severity": "medium",
             "first_response_minutes": 120, "resolution_minutes": 480}
        ],
        "warnings": [0.75],
        "reopen_window_minutes": 10080
    }))
    .unwrap();
    SlaPolicy::try_from(spec).unwrap()
}

struct Log {
    store: MemoryStore,
    n: u128,
    /// Events not yet appended: the log is written in recorded-time order by `flush`,
    /// as the engine writes it.
    pending: Vec<(DateTime<Utc>, u128, StreamId, NewEvent)>,
}

impl Log {
    fn new() -> Log {
        let mut log = Log {
            store: MemoryStore::new(),
            n: 0,
            pending: Vec::new(),
        };
        let t0 = sh(1, 1, 0, 0);
        log.push(
            "directory",
            "desk",
            &DirectoryEvent::CustomerRegistered {
                org: OrgId::new("acme").unwrap(),
                name: "acme".into(),
                tier: CustomerTier::Premium,
            },
            t0,
        );
        log.push(
            "service_levels",
            "desk",
            &ServiceLevelsEvent::PolicyPublished { policy: policy(t0) },
            t0,
        );
        log
    }

    fn push<E: DomainEvent>(&mut self, kind: &str, id: &str, event: &E, at: DateTime<Utc>) {
        self.n += 1;
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
        self.pending
            .push((at, self.n, StreamId::new(kind, id).unwrap(), new));
    }

    fn flush(&mut self) {
        self.pending.sort_by_key(|(at, n, _, _)| (*at, *n));
        for (_, _, stream, new) in self.pending.drain(..) {
            self.store
                .append(&stream, ExpectedVersion::Any, vec![new])
                .unwrap();
        }
    }

    fn t(&mut self, t: TicketId, event: TicketEvent, at: DateTime<Utc>) {
        self.push("ticket", &t.to_string(), &event, at);
    }

    fn open(&mut self, n: u128, at: DateTime<Utc>) -> TicketId {
        let t = TicketId(Uuid::from_u128(1_000 + n));
        self.t(
            t,
            TicketEvent::Opened {
                ticket: t,
                details: NewTicket {
                    org: OrgId::new("acme").unwrap(),
                    channel: Channel::Email,
                    title: "mail down".into(),
                    description: "cannot log in".into(),
                    contact: Contact {
                        name: "Zhang".into(),
                        email: None,
                        phone: None,
                    },
                    affected_system: "mail".into(),
                    reported_at: None,
                },
                opened_by: "member:sup".into(),
            },
            at,
        );
        t
    }
}

fn triaged() -> TicketEvent {
    TicketEvent::Triaged {
        severity: Severity::Medium,
        urgency: Urgency::Normal,
        complex: false,
        multi_team: false,
    }
}

fn passed() -> TicketEvent {
    TicketEvent::VerificationPassed { notes: "ok".into() }
}

fn assign(owner: &str, team: &str) -> TicketEvent {
    TicketEvent::Assigned {
        owner: MemberId::new(owner).unwrap(),
        team: team.into(),
    }
}

fn rated(score: u8) -> TicketEvent {
    TicketEvent::SatisfactionRated {
        score,
        comment: None,
    }
}

/// The hand-built March 2026 desk of the module's known-answer test.
fn march() -> Log {
    let mut log = Log::new();
    // T1: opened in February, resolved, confirmed and rated 5 in March.
    let t1 = log.open(1, sh(2, 27, 10, 0));
    log.t(t1, assign("sup", "net"), sh(2, 27, 10, 5));
    log.t(t1, triaged(), sh(2, 27, 10, 30));
    log.t(t1, passed(), sh(3, 3, 10, 0));
    log.t(
        t1,
        TicketEvent::CustomerConfirmed { comment: None },
        sh(3, 3, 12, 0),
    );
    log.t(t1, rated(5), sh(3, 3, 13, 0));
    // T2: failed verification, resolved, rejected, resolved again, confirmed by
    // silence, rated 2.
    let t2 = log.open(2, sh(3, 2, 9, 0));
    log.t(t2, assign("sup", "net"), sh(3, 2, 9, 10));
    log.t(t2, triaged(), sh(3, 2, 9, 30));
    log.t(
        t2,
        TicketEvent::VerificationFailed {
            evidence: "still down".into(),
        },
        sh(3, 2, 11, 0),
    );
    log.t(t2, passed(), sh(3, 2, 14, 0));
    log.t(
        t2,
        TicketEvent::CustomerRejected {
            reason: "again".into(),
        },
        sh(3, 2, 15, 0),
    );
    log.t(t2, passed(), sh(3, 3, 10, 0));
    log.t(
        t2,
        TicketEvent::ConfirmationExpired { window_hours: 168 },
        sh(3, 10, 10, 0),
    );
    log.t(t2, rated(2), sh(3, 11, 9, 0));
    // T3: a late first response (a customer-visible staff note), never resolved.
    let t3 = log.open(3, sh(3, 4, 9, 0));
    log.t(
        t3,
        TicketEvent::NoteAdded {
            text: "looking".into(),
            customer_visible: true,
            by_staff: true,
        },
        sh(3, 4, 12, 0),
    );
    // T4: withdrawn.
    let t4 = log.open(4, sh(3, 5, 9, 0));
    log.t(
        t4,
        TicketEvent::Withdrawn {
            reason: WithdrawalReason::NotAProblem,
            detail: "works".into(),
        },
        sh(3, 5, 10, 0),
    );
    // T5: opened in April.
    log.open(5, sh(4, 1, 9, 0));
    // Incidents: one for acme, one internal.
    let plan = PlanRef {
        plan: PlanId(Uuid::from_u128(77)),
        revision: 1,
    };
    let i1 = IncidentId(Uuid::from_u128(501));
    let declare = |title: &str, customers: Vec<OrgId>, detected| IncidentEvent::Declared {
        incident: i1,
        details: NewIncident {
            title: title.into(),
            description: "d".into(),
            severity: Severity::High,
            affected_customers: customers,
            affected_systems: vec!["mail".into()],
            plan,
            detected_at: detected,
            source: IncidentSource::Manual,
        },
        declared_by: "member:sec".into(),
    };
    log.push(
        "incident",
        &i1.to_string(),
        &declare("breach", vec![OrgId::new("acme").unwrap()], sh(3, 6, 9, 40)),
        sh(3, 6, 10, 0),
    );
    log.push(
        "incident",
        &i1.to_string(),
        &IncidentEvent::Acknowledged {
            by: "member:sec".into(),
        },
        sh(3, 6, 10, 10),
    );
    log.push(
        "incident",
        &i1.to_string(),
        &IncidentEvent::RecoveryVerified {
            evidence: "ok".into(),
        },
        sh(3, 6, 12, 40),
    );
    let i2 = IncidentId(Uuid::from_u128(502));
    let mut internal = declare("internal", vec![], sh(3, 20, 8, 0));
    if let IncidentEvent::Declared { incident, .. } = &mut internal {
        *incident = i2;
    }
    log.push("incident", &i2.to_string(), &internal, sh(3, 20, 8, 0));
    // A drill: planned and held in March, scored against revision 1 of the plan.
    log.push(
        "plan",
        &plan.plan.to_string(),
        &PlanEvent::RevisionPublished {
            revision: 1,
            content: PlanContent {
                organisation: vec![ResponseRole {
                    role: "lead".into(),
                    filled_by: "sec".into(),
                    duties: "lead".into(),
                }],
                steps: vec![ProcessStep {
                    phase: Phase::Occurrence,
                    description: "detect".into(),
                    target_minutes: 10,
                }],
                measures: vec!["isolate".into()],
            },
            summary: "first".into(),
            addresses: vec![],
        },
        sh(3, 1, 9, 0),
    );
    let d = DrillId(Uuid::from_u128(601));
    let drill = |e: DrillEvent, at, log: &mut Log| log.push("drill", &d.to_string(), &e, at);
    drill(
        DrillEvent::DrillScheduled {
            drill: d,
            plan,
            scenario: "ransomware".into(),
            participants: vec![MemberId::new("sec").unwrap()],
            date: sh(3, 25, 9, 0),
        },
        sh(3, 2, 9, 0),
        &mut log,
    );
    drill(DrillEvent::DrillStarted, sh(3, 25, 9, 0), &mut log);
    // Occurrence took 20 minutes against a 10-minute target: 12 of 25 points; the
    // other phases have no target: 25 each; one finding costs 5: 12 + 75 - 5 = 82.
    for (phase, minute) in [
        (Phase::Occurrence, 20),
        (Phase::Report, 30),
        (Phase::Handling, 40),
        (Phase::Recovery, 50),
    ] {
        drill(
            DrillEvent::DrillPhaseMarked { phase },
            sh(3, 25, 9, minute),
            &mut log,
        );
    }
    drill(
        DrillEvent::DrillEvaluated { notes: "ok".into() },
        sh(3, 25, 11, 0),
        &mut log,
    );
    drill(
        DrillEvent::DrillFindingsRecorded {
            findings: vec!["slow detection".into()],
        },
        sh(3, 25, 11, 30),
        &mut log,
    );
    // A drill planned for March never held.
    let d2 = DrillId(Uuid::from_u128(602));
    log.push(
        "drill",
        &d2.to_string(),
        &DrillEvent::DrillScheduled {
            drill: d2,
            plan,
            scenario: "ddos".into(),
            participants: vec![MemberId::new("sec").unwrap()],
            date: sh(3, 28, 9, 0),
        },
        sh(3, 2, 9, 0),
    );
    log.flush();
    log
}

fn march_period() -> Period {
    Period::month(2026, 3, Shanghai).unwrap()
}

#[test]
fn march_known_answers() {
    let log = march();
    let period = march_period();
    let report = KpiReport::build(&log.store, &period, AsOf::Instant(sh(5, 1, 0, 0))).unwrap();
    assert_eq!(report.cut_off, period.end);
    let d = &report.desk;

    // Response: T2 after 30 minutes, T3 after 3 hours (T1 responded in February).
    assert_eq!(d.response.time.count, 2);
    assert_eq!(d.response.time.mean_seconds, Some(6_300.0));
    assert_eq!(d.response.time.median_seconds, Some(1_800));
    assert_eq!(d.response.time.p90_seconds, Some(10_800));
    assert_eq!((d.response.within_target, d.response.with_target), (1, 2));

    // Resolution: T1 open at start, T2 and T3 opened (T4 withdrawn, T5 in April).
    let r = &d.resolution;
    assert_eq!((r.open_at_start, r.opened, r.resolved), (1, 2, 2));
    assert_eq!(r.resolution_rate, Some(2.0 / 3.0));
    assert_eq!((r.first_time, r.reopened), (1, 1));
    assert_eq!(r.first_time_rate, Some(0.5));
    assert_eq!(r.reopen_rate, Some(0.5));

    // Backlog at 1 April 00:00: T3, opened 4 March 09:00, past its deadlines.
    assert_eq!(d.backlog.age.count, 1);
    assert_eq!(d.backlog.age.median_seconds, Some(27 * 86_400 + 15 * 3_600));
    assert_eq!(d.backlog.past_deadline, 1);

    // Satisfaction: 5 and 2; both confirmed tickets rated.
    let s = &d.satisfaction;
    assert_eq!((s.ratings, s.satisfied), (2, 1));
    assert_eq!(s.mean_score, Some(3.5));
    assert_eq!((s.eligible, s.responded), (2, 2));
    assert_eq!(s.response_rate, Some(1.0));

    // SLA: first response T2 met, T3 late; resolution T1 late (Feb deadline), T2 late
    // after the rejection resumed its cycle, T3 still running past its deadline.
    let fr = d.sla[&TargetKind::FirstResponse];
    assert_eq!((fr.met, fr.breached), (1, 1));
    let res = d.sla[&TargetKind::Resolution];
    assert_eq!((res.met, res.breached), (0, 3));
    // Desk-wide equals the SLA view's own compliance.
    let sla = SlaView::as_of(&log.store, period.end).unwrap();
    let own = sla.compliance(period.start, period.end);
    for (kind, c) in &own.targets {
        assert_eq!((d.sla[kind].met, d.sla[kind].breached), (c.met, c.breached));
    }

    // Groups.
    let net = report.group(Dimension::Team, "net").unwrap();
    assert_eq!(net.resolution.resolved, 2);
    assert_eq!(net.resolution.resolution_rate, Some(1.0));
    let unassigned = report.group(Dimension::Team, "(unassigned)").unwrap();
    assert_eq!(unassigned.backlog.age.count, 1);
    assert_eq!(
        report
            .group(Dimension::Member, "sup")
            .unwrap()
            .satisfaction
            .mean_score,
        Some(3.5)
    );
    assert_eq!(
        report
            .group(Dimension::Customer, "acme")
            .unwrap()
            .resolution
            .resolved,
        2
    );
    assert_eq!(
        report
            .group(Dimension::Severity, "(untriaged)")
            .unwrap()
            .backlog
            .past_deadline,
        1
    );

    // Incidents: two declared (one for acme, one internal); acknowledged after 30
    // minutes, recovered after 3 hours.
    let i = &report.incidents;
    assert_eq!(i.declared, 2);
    assert_eq!(i.per_customer.get("acme"), Some(&1));
    assert_eq!(i.per_customer.get("(internal)"), Some(&1));
    assert_eq!(i.time_to_acknowledge.median_seconds, Some(1_800));
    assert_eq!(i.time_to_recover.mean_seconds, Some(10_800.0));

    // Drills: two planned, one held, scored 82.
    let dr = &report.drills;
    assert_eq!((dr.planned, dr.held, dr.scored, dr.unscored), (2, 1, 1, 0));
    assert_eq!(dr.mean_score, Some(82.0));

    // Outputs.
    let csv = report.to_csv();
    assert!(csv.starts_with("dimension,key,responses,"));
    assert!(csv
        .lines()
        .nth(1)
        .unwrap()
        .starts_with("desk,desk,2,6300.0,1800,10800,1,2,0.5000,1,2,2,0.6667"));
    let table = report.to_table();
    assert!(table.contains("Drills: 1 held of 2 planned; mean score 82.0"));
    let json: serde_json::Value = serde_json::from_str(&report.to_json().unwrap()).unwrap();
    assert_eq!(json["desk"]["resolution"]["resolved"], 2);
    assert_eq!(json["position"], report.position);
}

#[test]
fn as_of_a_past_instant_and_position() {
    let log = march();
    let period = march_period();
    let cut = sh(3, 3, 11, 0);
    let report = KpiReport::build(&log.store, &period, AsOf::Instant(cut)).unwrap();
    assert_eq!(report.cut_off, cut + TimeDelta::microseconds(1));
    let view = KpiView::as_of(&log.store, cut).unwrap();
    assert_eq!(report.position, view.position());
    let r = &report.desk.resolution;
    // T1 and T2 resolved by then; T3 not yet opened; T1 not yet confirmed.
    assert_eq!((r.resolved, r.opened), (2, 1));
    assert_eq!(report.desk.backlog.age.count, 0);
    assert_eq!(report.desk.satisfaction.eligible, 0);
    // The same position gives the same figures (the cut-off is its event's time).
    let by_position =
        KpiReport::build(&log.store, &period, AsOf::Position(report.position)).unwrap();
    assert_eq!(by_position.desk.resolution, report.desk.resolution);
    // Computing it again later gives the same answer.
    let again = KpiReport::build(&log.store, &period, AsOf::Instant(cut)).unwrap();
    assert_eq!(again, report);
    // Before the period: refused.
    assert!(matches!(
        KpiReport::build(&log.store, &period, AsOf::Instant(sh(2, 1, 0, 0))),
        Err(KpiError::BeforePeriod { .. })
    ));
}

#[test]
fn views_at_different_positions_are_refused() {
    let log = march();
    let kpi = KpiView::build(&log.store).unwrap();
    let sla = SlaView::at_position(&log.store, 3).unwrap();
    assert!(matches!(
        KpiReport::compute(&kpi, &sla, &march_period(), sh(4, 1, 0, 0)),
        Err(KpiError::PositionMismatch { .. })
    ));
}

/// A random ticket event for the property test.
#[derive(Debug, Clone)]
struct Step {
    ticket: u8,
    kind: u8,
    minutes: i64,
}

fn step() -> impl Strategy<Value = Step> {
    (0u8..5, 0u8..14, 0i64..600).prop_map(|(ticket, kind, minutes)| Step {
        ticket,
        kind,
        minutes,
    })
}

fn write(log: &mut Log, steps: &[Step]) {
    let mut at = sh(3, 2, 8, 0);
    let mut opened = [false; 5];
    for s in steps {
        at += TimeDelta::minutes(s.minutes);
        let i = usize::from(s.ticket);
        let t = TicketId(Uuid::from_u128(1_000 + u128::from(s.ticket)));
        if !opened[i] {
            opened[i] = true;
            log.open(u128::from(s.ticket), at);
            continue;
        }
        let event = match s.kind {
            0 => triaged(),
            1 => assign(if s.ticket % 2 == 0 { "sup" } else { "sec" }, "net"),
            2 => TicketEvent::Diagnosed(Diagnosis {
                cause: format!("证书过期 cause {}", s.ticket),
                solution: "renew".into(),
            }),
            3 => passed(),
            4 => TicketEvent::VerificationFailed {
                evidence: "no".into(),
            },
            5 => TicketEvent::CustomerRejected {
                reason: "no".into(),
            },
            6 => TicketEvent::CustomerConfirmed { comment: None },
            7 => rated(u8::try_from(s.minutes % 5 + 1).unwrap()),
            8 => TicketEvent::Closed {
                category: "auth".into(),
                summary: "LDAP 证书".into(),
                result: "renewed".into(),
                classification: Classification::Internal,
            },
            9 => TicketEvent::Reopened {
                reason: "again".into(),
            },
            10 => TicketEvent::InfoRequested {
                question: "logs?".into(),
            },
            11 => TicketEvent::CustomerReplied {
                text: "here".into(),
            },
            12 => TicketEvent::NoteAdded {
                text: "n".into(),
                customer_visible: true,
                by_staff: true,
            },
            _ => TicketEvent::Withdrawn {
                reason: WithdrawalReason::NotAProblem,
                detail: "x".into(),
            },
        };
        log.t(t, event, at);
    }
    log.flush();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Folding in random chunks with a checkpoint saved and restored after each ends in
    /// the same state (and the same report) as a rebuild from zero; the same for the
    /// knowledge view.
    #[test]
    fn incremental_with_checkpoints_equals_rebuild(
        steps in proptest::collection::vec(step(), 0..60),
        cuts in proptest::collection::vec(0u64..80, 0..6),
    ) {
        let mut log = Log::new();
        write(&mut log, &steps);
        let head = log.store.head_position().unwrap();
        let mut cuts: Vec<u64> = cuts.into_iter().map(|c| c % (head + 1)).collect();
        cuts.sort_unstable();
        cuts.push(head);
        let mut kpi = KpiView::new();
        let mut knowledge = KnowledgeView::new();
        for cut in cuts {
            kpi.catch_up_to(&log.store, cut).unwrap();
            kpi.save_checkpoint(&log.store).unwrap();
            kpi = KpiView::from_checkpoint(&log.store).unwrap().unwrap();
            knowledge.catch_up_to(&log.store, cut).unwrap();
            knowledge.save_checkpoint(&log.store).unwrap();
            knowledge = KnowledgeView::from_checkpoint(&log.store).unwrap().unwrap();
        }
        let rebuilt = KpiView::build(&log.store).unwrap();
        prop_assert_eq!(&kpi, &rebuilt);
        prop_assert_eq!(&KpiView::resume(&log.store).unwrap(), &rebuilt);
        let sla = SlaView::build(&log.store).unwrap();
        let period = march_period();
        let now = sh(3, 31, 12, 0);
        prop_assert_eq!(
            KpiReport::compute(&kpi, &sla, &period, now).unwrap(),
            KpiReport::compute(&rebuilt, &sla, &period, now).unwrap()
        );
        let rebuilt_knowledge = KnowledgeView::build(&log.store).unwrap();
        prop_assert_eq!(&knowledge, &rebuilt_knowledge);
        let roles = [casebook_core::Role::Auditor].into();
        prop_assert_eq!(
            knowledge.search("证书 ldap", &roles, 10),
            rebuilt_knowledge.search("证书 ldap", &roles, 10)
        );
    }
}
