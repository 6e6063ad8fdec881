//! Property-based state-machine spec of emergency response as a whole: urgent tickets,
//! metric samples and the process manager, with simulated crashes (the manager's memory
//! dropped and its checkpoint rewound, so events are delivered again).
//!
//! After every step that runs the manager: each urgent ticket has exactly one incident,
//! linked; every raised alert is attached to exactly one incident (so no alert declared
//! two); no (rule, scope) ever has two open incidents. 200 cases by default; set `CASEBOOK_PROPTEST_CASES` for more.

use std::collections::{BTreeMap, BTreeSet};

use casebook::prelude::*;
use casebook::store::{Checkpoint, Payload};
use chrono::Duration;
use proptest::prelude::*;
use proptest::test_runner::Config;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};

use crate::monitoring::{cpu_rule, define, sample};
use crate::plans::create_plan;
use crate::support::{triage, Desk};

const SCOPES: [&str; 2] = ["db-01", "db-02"];

#[derive(Debug, Clone)]
enum Step {
    UrgentTicket,
    Sample {
        scope: usize,
        high: bool,
    },
    RunManager,
    /// The manager's memory is lost and its checkpoint rewound to the start.
    Crash,
    CloseIncidents,
}

#[derive(Debug, Clone, Default)]
struct Model {
    urgent: u32,
    open: BTreeSet<usize>,
}

struct Machine;

impl ReferenceStateMachine for Machine {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model::default()).boxed()
    }

    fn transitions(_: &Model) -> BoxedStrategy<Step> {
        prop_oneof![
            2 => Just(Step::UrgentTicket),
            6 => (0..SCOPES.len(), any::<bool>()).prop_map(|(scope, high)| Step::Sample { scope, high }),
            4 => Just(Step::RunManager),
            1 => Just(Step::Crash),
            1 => Just(Step::CloseIncidents),
        ]
        .boxed()
    }

    fn apply(mut state: Model, step: &Step) -> Model {
        match step {
            Step::UrgentTicket => state.urgent += 1,
            Step::Sample { scope, high } => {
                if *high {
                    state.open.insert(*scope);
                } else {
                    state.open.remove(scope);
                }
            }
            Step::RunManager | Step::Crash | Step::CloseIncidents => {}
        }
        state
    }
}

struct Sut {
    desk: Desk,
    plan: PlanId,
    rule: RuleId,
    manager: EmergencyResponse,
    tickets: Vec<TicketId>,
}

fn incidents(desk: &Desk) -> Vec<Incident> {
    let mut ids = BTreeSet::new();
    for e in desk.engine.store().read_all(0, 10_000).unwrap() {
        if e.event_type == "IncidentDeclared" {
            ids.insert(e.stream_id.clone());
        }
    }
    ids.iter()
        .map(|s| desk.engine.incident(s.local_id().parse().unwrap()).unwrap())
        .collect()
}

/// Takes every open incident through to closing, so later alerts open new ones.
fn close_all(desk: &Desk) {
    for i in incidents(desk).into_iter().filter(Incident::is_open) {
        let id = i.id.unwrap();
        let mut steps = vec![
            IncidentCommand::Acknowledge,
            IncidentCommand::Assess {
                scope: "s".into(),
                impact: "i".into(),
            },
            IncidentCommand::LogAction {
                kind: ActionKind::Containment,
                description: "c".into(),
            },
            IncidentCommand::ReportRecovered {
                summary: "r".into(),
            },
            IncidentCommand::VerifyRecovery {
                passed: true,
                evidence: "e".into(),
            },
        ];
        steps.extend(
            i.affected_customers
                .iter()
                .map(|o| IncidentCommand::ConfirmRecovery {
                    org: Some(o.clone()),
                    comment: None,
                }),
        );
        if i.affected_customers.is_empty() {
            steps.push(IncidentCommand::ConfirmRecovery {
                org: None,
                comment: None,
            });
        }
        steps.push(IncidentCommand::SubmitReview(crate::incidents::review(
            true,
        )));
        steps.push(IncidentCommand::Close);
        for c in steps {
            desk.engine.execute(&desk.sec, (id, c)).unwrap();
        }
    }
}

impl StateMachineTest for Sut {
    type SystemUnderTest = Sut;
    type Reference = Machine;

    fn init_test(_: &Model) -> Sut {
        let desk = Desk::new();
        let plan = create_plan(&desk);
        let rule = define(&desk, cpu_rule(0));
        let manager = EmergencyResponse::resume(&desk.engine, EmergencyConfig::new(plan)).unwrap();
        Sut {
            desk,
            plan,
            rule,
            manager,
            tickets: Vec::new(),
        }
    }

    fn apply(mut sut: Sut, model: &Model, step: Step) -> Sut {
        sut.desk.advance(Duration::seconds(1));
        match step {
            Step::UrgentTicket => {
                let t = sut.desk.open();
                sut.desk.ok(
                    &sut.desk.sup,
                    t,
                    triage(Severity::Critical, Urgency::Urgent),
                );
                sut.tickets.push(t);
            }
            Step::Sample { scope, high } => {
                sample(
                    &sut.desk,
                    sut.rule,
                    SCOPES[scope],
                    if high { 99.0 } else { 10.0 },
                )
                .unwrap();
            }
            Step::RunManager => {
                sut.manager.run_once(&sut.desk.engine).unwrap();
                check_after_run(&sut, model);
            }
            Step::Crash => {
                let name = EmergencyConfig::new(sut.plan).name;
                sut.desk
                    .engine
                    .store()
                    .save_checkpoint(&Checkpoint {
                        name,
                        position: 0,
                        state: Payload::encode(&serde_json::json!({
                            "open_by_alert": {}, "skipped": []
                        }))
                        .unwrap(),
                    })
                    .unwrap();
                sut.manager =
                    EmergencyResponse::resume(&sut.desk.engine, EmergencyConfig::new(sut.plan))
                        .unwrap();
                assert_eq!(sut.manager.position(), 0);
            }
            Step::CloseIncidents => {
                // Handle whatever the manager has declared so far, then let it catch up.
                sut.manager.run_once(&sut.desk.engine).unwrap();
                close_all(&sut.desk);
                sut.manager.run_once(&sut.desk.engine).unwrap();
            }
        }
        sut
    }

    fn check_invariants(sut: &Sut, model: &Model) {
        assert_eq!(sut.tickets.len() as u32, model.urgent);
        let state = sut.desk.engine.monitoring_rule(sut.rule).unwrap();
        let open: BTreeSet<usize> = (0..SCOPES.len())
            .filter(|i| {
                state
                    .scopes
                    .get(SCOPES[*i])
                    .is_some_and(|s| s.alert.is_some())
            })
            .collect();
        assert_eq!(open, model.open, "alert state follows the samples");
    }
}

fn check_after_run(sut: &Sut, model: &Model) {
    let desk = &sut.desk;
    let all = incidents(desk);
    assert!(
        sut.manager.skipped().is_empty(),
        "{:?}",
        sut.manager.skipped()
    );
    // One incident per urgent ticket, linked to it.
    for t in &sut.tickets {
        let ticket = desk.engine.ticket(*t).unwrap();
        assert_eq!(ticket.incidents.len(), 1, "ticket {t}");
        let from_ticket = all
            .iter()
            .filter(|i| i.source == Some(IncidentSource::UrgentTicket { ticket: *t }))
            .count();
        assert_eq!(from_ticket, 1);
    }
    // Every raised alert is attached to exactly one incident.
    let mut attached: BTreeMap<(String, u32), usize> = BTreeMap::new();
    for i in &all {
        for (_, scope, occ) in &i.alerts {
            *attached.entry((scope.clone(), *occ)).or_default() += 1;
        }
    }
    let state = desk.engine.monitoring_rule(sut.rule).unwrap();
    for (scope, s) in &state.scopes {
        for occ in 1..=s.occurrences {
            assert_eq!(
                attached.get(&(scope.clone(), occ)),
                Some(&1),
                "{scope}#{occ}"
            );
        }
    }
    // Never two open incidents for one (rule, scope); an open alert whose incident is
    // still open has exactly that one.
    let _ = model;
    for scope in SCOPES {
        let open = all
            .iter()
            .filter(|i| i.is_open() && i.alerts.iter().any(|(_, s, _)| s == scope))
            .count();
        assert!(open <= 1, "{open} open incidents for {scope}");
    }
}

fn cases() -> u32 {
    std::env::var("CASEBOOK_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(200, |n: u32| n / 10)
}

prop_state_machine! {
    #![proptest_config(Config { cases: cases(), failure_persistence: None, .. Config::default() })]

    #[test]
    fn one_incident_per_urgent_ticket_and_per_open_alert_even_after_crashes(sequential 1..30 => Sut);
}
