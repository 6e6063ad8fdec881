//! Property-based state-machine spec of the incident lifecycle (domain.md §3).
//!
//! A small reference model says which incident commands the rules accept; random
//! sequences of valid and invalid commands (wrong stage, wrong role, offboarded or
//! unknown actors, customers confirming for another organisation, unknown or unaffected
//! organisations, blank fields, a detection time after the declaration, recovery without
//! a logged action, duplicate alerts, a review without a loss assessment, closing before
//! the review, declaring under a retired, missing or unknown plan revision, with the plan
//! retired under a running incident) run against the real engine on the in-memory store.
//! After every step: the engine accepted exactly when the model did, with one event; a
//! rejection recorded nothing; the state equals the fold of the stored events; versions
//! are contiguous; the stage, severity, affected and confirming customers, actions,
//! progress reports, attached alerts, review, plan, timeline length, time to acknowledge
//! and missed progress reports agree with the model.
//!
//! 400 cases by default; set `CASEBOOK_PROPTEST_CASES` for more.

use std::collections::BTreeSet;

use casebook::prelude::*;
use chrono::Duration;
use proptest::prelude::*;
use proptest::test_runner::Config;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};
use uuid::Uuid;

use crate::plan_model::{
    cases, check_stream, expect_outcome, offboard, plan_choice, who, People, PlanBench, PlanChoice,
    PlanWorld, Who,
};
use crate::support::Desk;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Org {
    Acme,
    Globex,
    /// Not a registered customer.
    Initech,
}

impl Org {
    fn id(self) -> OrgId {
        OrgId::new(match self {
            Org::Acme => "acme",
            Org::Globex => "globex",
            Org::Initech => "initech",
        })
        .expect("org")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DeclareBad {
    None,
    BlankTitle,
    NoSystems,
    DetectedInFuture,
    BlankAlertScope,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Manual,
    Alert,
    Ticket,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReviewBad {
    None,
    NoLoss,
    BlankRootCause,
    NoLessons,
    BlankImprovement,
}

#[derive(Debug, Clone)]
enum Cmd {
    Declare {
        plan: PlanChoice,
        customers: Vec<Org>,
        severity: Severity,
        source: Source,
        bad: DeclareBad,
    },
    Acknowledge,
    Assess {
        blank: bool,
    },
    LogAction {
        containment: bool,
        blank: bool,
    },
    ReportProgress {
        blank: bool,
    },
    ReportRecovered {
        blank: bool,
    },
    Verify {
        passed: bool,
        blank: bool,
    },
    Confirm {
        org: Option<Org>,
        blank_comment: bool,
    },
    JoinAlert {
        scope: u8,
        occurrence: u32,
        blank: bool,
    },
    SubmitReview(ReviewBad),
    Close,
}

#[derive(Debug, Clone)]
enum Step {
    Do(Who, Cmd),
    /// Minutes pass.
    Advance(i64),
    Offboard(Who),
    /// Plan A's revision 1 (or plan A) is retired, possibly under a running incident.
    RetirePlan {
        whole: bool,
    },
}

const HANDLING: [Stage; 3] = [Stage::Analysis, Stage::Fix, Stage::Verify];
const OPEN: [Stage; 6] = [
    Stage::Intake,
    Stage::Analysis,
    Stage::Fix,
    Stage::Verify,
    Stage::Confirm,
    Stage::Record,
];

fn cadence_minutes(severity: Severity) -> i64 {
    match severity {
        Severity::Critical => 30,
        Severity::High => 60,
        Severity::Medium => 4 * 60,
        Severity::Low => 24 * 60,
    }
}

#[derive(Debug, Clone, Default)]
struct Model {
    stage: Option<Stage>,
    severity: Option<Severity>,
    affected: BTreeSet<Org>,
    confirmed: BTreeSet<Org>,
    actions: u32,
    reports: u32,
    last_report: Option<i64>,
    alerts: BTreeSet<(u8, u32)>,
    reviewed: bool,
    detected_at: i64,
    acknowledged_at: Option<i64>,
    now_minutes: i64,
    plans: PlanWorld,
    people: People,
    events: u64,
    last: Option<u64>,
}

impl Model {
    fn at(&self, stages: &[Stage]) -> bool {
        self.stage.is_some_and(|s| stages.contains(&s))
    }

    fn accepts(&self, who: Who, cmd: &Cmd) -> bool {
        let security = self.people.security(who);
        match cmd {
            Cmd::Declare {
                plan,
                customers,
                bad,
                ..
            } => {
                self.plans.usable(*plan)
                    && security
                    && self.stage.is_none()
                    && *bad == DeclareBad::None
                    && !customers.contains(&Org::Initech)
            }
            Cmd::Acknowledge => security && self.at(&[Stage::Intake]),
            Cmd::Assess { blank } => security && self.at(&[Stage::Analysis]) && !blank,
            Cmd::LogAction { blank, .. } => security && self.at(&[Stage::Fix]) && !blank,
            Cmd::ReportProgress { blank } => security && self.at(&HANDLING) && !blank,
            Cmd::ReportRecovered { blank } => {
                security && self.at(&[Stage::Fix]) && !blank && self.actions > 0
            }
            Cmd::Verify { blank, .. } => security && self.at(&[Stage::Verify]) && !blank,
            Cmd::Confirm { org, blank_comment } => {
                // Staff confirm for anyone; a customer contact only for its own organisation.
                let own = self.people.active(who)
                    && matches!(
                        (who, org),
                        (Who::Cust, Some(Org::Acme)) | (Who::OtherCust, Some(Org::Globex))
                    );
                (security || own)
                    && self.at(&[Stage::Confirm])
                    && !blank_comment
                    && match org {
                        Some(o) => self.affected.contains(o) && !self.confirmed.contains(o),
                        None => self.affected.is_empty(),
                    }
            }
            Cmd::JoinAlert {
                scope,
                occurrence,
                blank,
            } => {
                security
                    && self.at(&OPEN)
                    && !blank
                    && !self.alerts.contains(&(*scope, *occurrence))
            }
            Cmd::SubmitReview(bad) => {
                security && self.at(&[Stage::Record]) && *bad == ReviewBad::None && !self.reviewed
            }
            Cmd::Close => security && self.at(&[Stage::Record]) && self.reviewed,
        }
    }

    fn apply_accepted(&mut self, cmd: &Cmd) {
        match cmd {
            Cmd::Declare {
                customers,
                severity,
                source,
                ..
            } => {
                self.stage = Some(Stage::Intake);
                self.severity = Some(*severity);
                self.affected = customers.iter().copied().collect();
                self.detected_at = self.now_minutes - 5;
                if *source == Source::Alert {
                    self.alerts.insert((0, 1));
                }
            }
            Cmd::Acknowledge => {
                self.stage = Some(Stage::Analysis);
                self.acknowledged_at = Some(self.now_minutes);
            }
            Cmd::Assess { .. } => self.stage = Some(Stage::Fix),
            Cmd::LogAction { .. } => self.actions += 1,
            Cmd::ReportProgress { .. } => {
                self.reports += 1;
                self.last_report = Some(self.now_minutes);
            }
            Cmd::ReportRecovered { .. } => self.stage = Some(Stage::Verify),
            Cmd::Verify { passed, .. } => {
                self.stage = Some(if *passed { Stage::Confirm } else { Stage::Fix });
            }
            Cmd::Confirm { org, .. } => {
                if let Some(o) = org {
                    self.confirmed.insert(*o);
                }
                if self.affected.iter().all(|o| self.confirmed.contains(o)) {
                    self.stage = Some(Stage::Record);
                }
            }
            Cmd::JoinAlert {
                scope, occurrence, ..
            } => {
                self.alerts.insert((*scope, *occurrence));
            }
            Cmd::SubmitReview(_) => self.reviewed = true,
            Cmd::Close => self.stage = Some(Stage::Closed),
        }
    }

    /// Progress reports are due from acknowledgement until recovery is verified, every
    /// cadence period after the last report (or the acknowledgement).
    fn missed_reports(&self) -> u32 {
        let (Some(severity), true) = (self.severity, self.at(&HANDLING)) else {
            return 0;
        };
        let Some(since) = self.last_report.or(self.acknowledged_at) else {
            return 0;
        };
        let cadence = cadence_minutes(severity);
        let due = since + cadence;
        if self.now_minutes <= due {
            0
        } else {
            u32::try_from(1 + (self.now_minutes - due) / cadence).expect("small")
        }
    }
}

fn severity() -> BoxedStrategy<Severity> {
    prop_oneof![
        Just(Severity::Critical),
        Just(Severity::High),
        Just(Severity::Medium),
        Just(Severity::Low)
    ]
    .boxed()
}

fn blank() -> BoxedStrategy<bool> {
    prop::bool::weighted(0.08).boxed()
}

fn customers() -> BoxedStrategy<Vec<Org>> {
    prop_oneof![
        2 => Just(vec![]),
        3 => Just(vec![Org::Acme]),
        2 => Just(vec![Org::Globex, Org::Acme]),
        1 => Just(vec![Org::Acme, Org::Acme]),
        1 => Just(vec![Org::Acme, Org::Initech]),
    ]
    .boxed()
}

fn declare() -> BoxedStrategy<Cmd> {
    let bad = prop_oneof![
        12 => Just(DeclareBad::None),
        1 => Just(DeclareBad::BlankTitle),
        1 => Just(DeclareBad::NoSystems),
        1 => Just(DeclareBad::DetectedInFuture),
        1 => Just(DeclareBad::BlankAlertScope),
    ];
    let source = prop_oneof![
        Just(Source::Manual),
        Just(Source::Alert),
        Just(Source::Ticket)
    ];
    (plan_choice(), customers(), severity(), source, bad)
        .prop_map(|(plan, customers, severity, source, bad)| Cmd::Declare {
            plan,
            customers,
            severity,
            source,
            bad,
        })
        .boxed()
}

fn assess() -> BoxedStrategy<Cmd> {
    blank().prop_map(|blank| Cmd::Assess { blank }).boxed()
}

fn log_action() -> BoxedStrategy<Cmd> {
    (any::<bool>(), blank())
        .prop_map(|(containment, blank)| Cmd::LogAction { containment, blank })
        .boxed()
}

fn progress() -> BoxedStrategy<Cmd> {
    blank()
        .prop_map(|blank| Cmd::ReportProgress { blank })
        .boxed()
}

fn recovered() -> BoxedStrategy<Cmd> {
    blank()
        .prop_map(|blank| Cmd::ReportRecovered { blank })
        .boxed()
}

fn verify() -> BoxedStrategy<Cmd> {
    (prop::bool::weighted(0.8), blank())
        .prop_map(|(passed, blank)| Cmd::Verify { passed, blank })
        .boxed()
}

fn confirm() -> BoxedStrategy<Cmd> {
    let org = prop_oneof![
        1 => Just(None),
        3 => Just(Some(Org::Acme)),
        2 => Just(Some(Org::Globex)),
        1 => Just(Some(Org::Initech)),
    ];
    (org, blank())
        .prop_map(|(org, blank_comment)| Cmd::Confirm { org, blank_comment })
        .boxed()
}

fn join_alert() -> BoxedStrategy<Cmd> {
    (0u8..2, 1u32..4, blank())
        .prop_map(|(scope, occurrence, blank)| Cmd::JoinAlert {
            scope,
            occurrence,
            blank,
        })
        .boxed()
}

fn review() -> BoxedStrategy<Cmd> {
    prop_oneof![
        8 => Just(ReviewBad::None),
        1 => Just(ReviewBad::NoLoss),
        1 => Just(ReviewBad::BlankRootCause),
        1 => Just(ReviewBad::NoLessons),
        1 => Just(ReviewBad::BlankImprovement),
    ]
    .prop_map(Cmd::SubmitReview)
    .boxed()
}

/// Any command, whatever the stage.
fn cmd() -> BoxedStrategy<Cmd> {
    prop_oneof![
        declare(),
        Just(Cmd::Acknowledge),
        assess(),
        log_action(),
        progress(),
        recovered(),
        verify(),
        confirm(),
        join_alert(),
        review(),
        Just(Cmd::Close),
    ]
    .boxed()
}

/// The commands that move an incident on from `stage` (still with bad fields now and
/// then), so that runs of 30 steps reach the review and closing.
fn cmd_for(state: &Model) -> BoxedStrategy<Cmd> {
    match state.stage {
        None => declare(),
        Some(Stage::Intake) => Just(Cmd::Acknowledge).boxed(),
        Some(Stage::Analysis) => prop_oneof![3 => assess(), 1 => progress()].boxed(),
        Some(Stage::Fix) => {
            prop_oneof![3 => log_action(), 3 => recovered(), 1 => progress()].boxed()
        }
        Some(Stage::Verify) => prop_oneof![3 => verify(), 1 => progress()].boxed(),
        Some(Stage::Confirm) => {
            // Mostly an affected customer that has not confirmed yet.
            let waiting: Vec<Option<Org>> = state
                .affected
                .iter()
                .filter(|o| !state.confirmed.contains(o))
                .map(|o| Some(*o))
                .collect();
            let waiting = if waiting.is_empty() {
                vec![None]
            } else {
                waiting
            };
            prop_oneof![
                3 => (prop::sample::select(waiting), blank())
                    .prop_map(|(org, blank_comment)| Cmd::Confirm { org, blank_comment }),
                1 => confirm(),
            ]
            .boxed()
        }
        Some(Stage::Record) => prop_oneof![review(), Just(Cmd::Close)].boxed(),
        Some(Stage::Closed) => cmd(),
    }
}

/// Confirmations are mostly issued by the customer they name, so that the own-organisation
/// rule is exercised from both sides.
fn actor_for(cmd: &Cmd) -> BoxedStrategy<Who> {
    match cmd {
        Cmd::Confirm { .. } => prop_oneof![
            2 => who(),
            2 => Just(Who::Cust),
            1 => Just(Who::OtherCust),
        ]
        .boxed(),
        _ => who(),
    }
}

struct IncidentMachine;

impl ReferenceStateMachine for IncidentMachine {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model::default()).boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Step> {
        let step = |c: Cmd| actor_for(&c).prop_map(move |w| Step::Do(w, c.clone()));
        prop_oneof![
            18 => cmd_for(state).prop_flat_map(step),
            8 => cmd().prop_flat_map(step),
            3 => prop_oneof![1i64..40, 60i64..300].prop_map(Step::Advance),
            1 => prop_oneof![Just(Who::Sec), Just(Who::Cust)].prop_map(Step::Offboard),
            1 => any::<bool>().prop_map(|whole| Step::RetirePlan { whole }),
        ]
        .boxed()
    }

    fn apply(mut state: Model, step: &Step) -> Model {
        state.last = match step {
            Step::Do(who, cmd) => {
                let accepted = state.accepts(*who, cmd);
                if accepted {
                    state.apply_accepted(cmd);
                    state.events += 1;
                }
                accepted.then_some(1)
            }
            Step::Advance(m) => {
                state.now_minutes += m;
                Some(0)
            }
            Step::Offboard(who) => state.people.offboard(*who).then_some(1),
            Step::RetirePlan { whole } => state.plans.retire(*whole).then_some(1),
        };
        state
    }
}

struct Sut {
    desk: Desk,
    plans: PlanBench,
    incident: IncidentId,
}

const RULE: u128 = 0x5;
const SCOPES: [&str; 2] = ["db-01", "db-02"];

fn to_command(sut: &Sut, cmd: &Cmd) -> IncidentCommand {
    let text = |blank: bool, s: &str| {
        if blank {
            "   ".to_string()
        } else {
            s.to_string()
        }
    };
    let now = sut.desk.clock.now();
    match cmd {
        Cmd::Declare {
            plan,
            customers,
            severity,
            source,
            bad,
        } => {
            let source = match (source, bad) {
                (_, DeclareBad::BlankAlertScope) | (Source::Alert, _) => IncidentSource::Alert {
                    rule: RuleId(Uuid::from_u128(RULE)),
                    scope: text(*bad == DeclareBad::BlankAlertScope, SCOPES[0]),
                    occurrence: 1,
                },
                (Source::Ticket, _) => IncidentSource::UrgentTicket {
                    ticket: TicketId(Uuid::from_u128(42)),
                },
                (Source::Manual, _) => IncidentSource::Manual,
            };
            IncidentCommand::Declare(NewIncident {
                title: text(*bad == DeclareBad::BlankTitle, "Mail server encrypted"),
                description: "Files on mail-01 are encrypted".into(),
                severity: *severity,
                affected_customers: customers.iter().map(|o| o.id()).collect(),
                affected_systems: if *bad == DeclareBad::NoSystems {
                    vec![]
                } else {
                    vec!["mail-01".into()]
                },
                plan: sut.plans.reference(*plan),
                detected_at: if *bad == DeclareBad::DetectedInFuture {
                    now + Duration::minutes(1)
                } else {
                    now - Duration::minutes(5)
                },
                source,
            })
        }
        Cmd::Acknowledge => IncidentCommand::Acknowledge,
        Cmd::Assess { blank } => IncidentCommand::Assess {
            scope: "mail cluster".into(),
            impact: text(*blank, "mail down for acme"),
        },
        Cmd::LogAction { containment, blank } => IncidentCommand::LogAction {
            kind: if *containment {
                ActionKind::Containment
            } else {
                ActionKind::Disposal
            },
            description: text(*blank, "isolated mail-01"),
        },
        Cmd::ReportProgress { blank } => IncidentCommand::ReportProgress {
            summary: text(*blank, "contained, restoring"),
        },
        Cmd::ReportRecovered { blank } => IncidentCommand::ReportRecovered {
            summary: text(*blank, "restored from backup"),
        },
        Cmd::Verify { passed, blank } => IncidentCommand::VerifyRecovery {
            passed: *passed,
            evidence: text(*blank, "logins work"),
        },
        Cmd::Confirm { org, blank_comment } => IncidentCommand::ConfirmRecovery {
            org: org.map(Org::id),
            comment: blank_comment.then(|| " ".to_string()),
        },
        Cmd::JoinAlert {
            scope,
            occurrence,
            blank,
        } => IncidentCommand::JoinAlert {
            rule: RuleId(Uuid::from_u128(RULE)),
            scope: text(*blank, SCOPES[usize::from(*scope)]),
            occurrence: *occurrence,
        },
        Cmd::SubmitReview(bad) => IncidentCommand::SubmitReview(PostIncidentReview {
            loss: (*bad != ReviewBad::NoLoss).then_some(LossAssessment {
                downtime_minutes: 90,
                systems_affected: 1,
                records_affected: 0,
                direct_cost_cents: 50_000,
                responder_minutes: 240,
                hourly_rate_cents: 10_000,
            }),
            root_cause: text(*bad == ReviewBad::BlankRootCause, "phished credentials"),
            lessons: if *bad == ReviewBad::NoLessons {
                vec![]
            } else {
                vec!["MFA everywhere".into()]
            },
            improvements: vec![text(*bad == ReviewBad::BlankImprovement, "add an MFA step")],
        }),
        Cmd::Close => IncidentCommand::Close,
    }
}

impl StateMachineTest for Sut {
    type SystemUnderTest = Sut;
    type Reference = IncidentMachine;

    fn init_test(_: &Model) -> Sut {
        let desk = Desk::new();
        let plans = PlanBench::set_up(&desk);
        Sut {
            desk,
            plans,
            incident: IncidentId(Uuid::from_u128(0x1)),
        }
    }

    fn apply(sut: Sut, model: &Model, step: Step) -> Sut {
        let desk = &sut.desk;
        let head = desk.engine.store().head_position().expect("head");
        match &step {
            Step::Do(who, cmd) => {
                let result = desk
                    .engine
                    .execute(&who.actor(), (sut.incident, to_command(&sut, cmd)));
                expect_outcome(desk, head, &result, model.last, &step);
            }
            Step::Advance(m) => desk.advance(Duration::minutes(*m)),
            Step::Offboard(who) => offboard(desk, *who, model.last.is_some()),
            Step::RetirePlan { whole } => sut.plans.retire(desk, *whole, model.last.is_some()),
        }
        sut
    }

    fn check_invariants(sut: &Sut, model: &Model) {
        let state: Incident = check_stream(&sut.desk, &sut.incident, model.events);
        assert_eq!(state.stage, model.stage, "stage");
        assert_eq!(state.severity, model.severity, "severity");
        let affected: Vec<OrgId> = model.affected.iter().map(|o| o.id()).collect();
        assert_eq!(state.affected_customers, affected, "affected customers");
        let confirmed: BTreeSet<OrgId> = model.confirmed.iter().map(|o| o.id()).collect();
        assert_eq!(state.confirmed_by, confirmed, "confirmed by");
        assert_eq!(state.actions.len(), model.actions as usize, "actions");
        assert_eq!(state.reports.len(), model.reports as usize, "reports");
        let alerts: BTreeSet<(u8, u32)> = state
            .alerts
            .iter()
            .map(|(rule, scope, occurrence)| {
                assert_eq!(rule.0, Uuid::from_u128(RULE));
                let s = SCOPES.iter().position(|s| s == scope).expect("known scope");
                (u8::try_from(s).expect("small"), *occurrence)
            })
            .collect();
        assert_eq!(alerts, model.alerts, "attached alerts");
        assert_eq!(state.review.is_some(), model.reviewed, "review");
        assert_eq!(
            state.closed_at.is_some(),
            model.stage == Some(Stage::Closed)
        );
        let declared = model.stage.is_some();
        assert_eq!(
            state.plan,
            declared.then(|| sut.plans.reference(PlanChoice::Current)),
            "plan revision in force"
        );
        // Each event adds one timeline line; the declaration also adds the detection.
        let lines = if declared { model.events + 1 } else { 0 };
        assert_eq!(
            state.timeline.len() as u64,
            lines,
            "timeline derived from the events"
        );
        assert_eq!(
            state.time_to_acknowledge(),
            model
                .acknowledged_at
                .map(|a| Duration::minutes(a - model.detected_at)),
            "time to acknowledge"
        );
        let now = sut.desk.clock.now();
        assert_eq!(
            state.missed_reports(now),
            model.missed_reports(),
            "missed progress reports"
        );
    }
}

prop_state_machine! {
    #![proptest_config(Config { cases: cases(), failure_persistence: None, .. Config::default() })]

    #[test]
    fn incident_lifecycle_matches_the_reference_model(sequential 1..30 => Sut);
}
