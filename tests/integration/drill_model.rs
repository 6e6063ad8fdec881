//! Property-based state-machine spec of the drill lifecycle (domain.md §4).
//!
//! A small reference model says which drill commands the rules accept; random sequences
//! of valid and invalid commands (wrong stage, wrong role, offboarded or unknown actors,
//! offboarded, unknown or no participants, blank fields, phases out of order or marked
//! twice, scheduling under a retired, missing or unknown plan revision, the plan retired
//! under a running drill) run against the real engine on the in-memory store. After every
//! step: the engine accepted exactly when the model did, with one event; a rejection
//! recorded nothing; the state equals the fold of the stored events; versions are
//! contiguous; the stage, participants, marked phases, findings and the score against
//! the plan's targets (occurrence 10, report 15, handling 60, recovery 30 minutes) agree
//! with the model.
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
use crate::support::{member, Desk};

/// The target of each phase in plan A revision 1 (`plans::content(15)`), in minutes.
const TARGETS: [i64; 4] = [10, 15, 60, 30];

#[derive(Debug, Clone)]
enum Cmd {
    Schedule {
        plan: PlanChoice,
        participants: Vec<Who>,
        blank: bool,
        date_days: i64,
    },
    Start,
    Mark(Phase),
    Evaluate {
        blank: bool,
    },
    Findings {
        count: usize,
        blank: bool,
    },
}

#[derive(Debug, Clone)]
enum Step {
    Do(Who, Cmd),
    /// Minutes pass.
    Advance(i64),
    Offboard(Who),
    RetirePlan {
        whole: bool,
    },
}

#[derive(Debug, Clone, Default)]
struct Model {
    stage: Option<Stage>,
    participants: BTreeSet<Who>,
    started_at: Option<i64>,
    /// End time of each marked phase, in order.
    phases: Vec<i64>,
    findings: usize,
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

    fn next_phase(&self) -> Option<Phase> {
        Phase::ALL.get(self.phases.len()).copied()
    }

    fn accepts(&self, who: Who, cmd: &Cmd) -> bool {
        let security = self.people.security(who);
        match cmd {
            Cmd::Schedule {
                plan,
                participants,
                blank,
                ..
            } => {
                self.plans.usable(*plan)
                    && security
                    && self.stage.is_none()
                    && !blank
                    && !participants.is_empty()
                    // Any active member may take part, whatever their role.
                    && participants.iter().all(|p| self.people.active(*p))
            }
            Cmd::Start => security && self.at(&[Stage::Intake]),
            Cmd::Mark(phase) => {
                security
                    && self.at(&[Stage::Analysis, Stage::Fix, Stage::Verify])
                    && self.next_phase() == Some(*phase)
            }
            Cmd::Evaluate { blank } => security && self.at(&[Stage::Confirm]) && !blank,
            Cmd::Findings { count, blank } => {
                security && self.at(&[Stage::Record]) && !(*blank && *count > 0)
            }
        }
    }

    fn apply_accepted(&mut self, cmd: &Cmd) {
        match cmd {
            Cmd::Schedule { participants, .. } => {
                self.stage = Some(Stage::Intake);
                self.participants = participants.iter().copied().collect();
            }
            Cmd::Start => {
                self.stage = Some(Stage::Analysis);
                self.started_at = Some(self.now_minutes);
            }
            Cmd::Mark(_) => {
                self.phases.push(self.now_minutes);
                // Occurrence and report are Analysis, handling Fix, recovery Verify; the
                // end of a phase moves to the stage of the next one.
                self.stage = Some(match self.phases.len() {
                    1 => Stage::Analysis,
                    2 => Stage::Fix,
                    3 => Stage::Verify,
                    _ => Stage::Confirm,
                });
            }
            Cmd::Evaluate { .. } => self.stage = Some(Stage::Record),
            Cmd::Findings { count, .. } => {
                self.stage = Some(Stage::Closed);
                self.findings = *count;
            }
        }
    }

    /// Each phase is worth 25 points, all of them within target, else in proportion
    /// target ÷ actual; each finding costs 5.
    fn score(&self) -> (Vec<(i64, u32)>, u32) {
        let mut from = self.started_at.unwrap_or_default();
        let mut phases = Vec::new();
        for (end, target) in self.phases.iter().zip(TARGETS) {
            let actual = end - from;
            let points = if actual <= target {
                25
            } else {
                u32::try_from(25 * target / actual).expect("small")
            };
            phases.push((actual, points));
            from = *end;
        }
        let earned: u32 = phases.iter().map(|(_, p)| p).sum();
        let findings = u32::try_from(self.findings).expect("small");
        (phases, earned.saturating_sub(5 * findings))
    }
}

fn blank() -> BoxedStrategy<bool> {
    prop::bool::weighted(0.08).boxed()
}

fn phase() -> BoxedStrategy<Phase> {
    prop::sample::select(Phase::ALL.to_vec()).boxed()
}

fn schedule() -> BoxedStrategy<Cmd> {
    let participants = prop_oneof![
        4 => Just(vec![Who::Sec, Who::Pm]),
        2 => Just(vec![Who::Pm]),
        1 => Just(vec![Who::Sec, Who::Sec]),
        1 => Just(vec![Who::Sup, Who::Cust, Who::Auditor]),
        1 => Just(vec![Who::Pm, Who::Gone]),
        1 => Just(vec![Who::Nobody]),
        1 => Just(vec![]),
    ];
    (plan_choice(), participants, blank(), -3i64..10)
        .prop_map(|(plan, participants, blank, date_days)| Cmd::Schedule {
            plan,
            participants,
            blank,
            date_days,
        })
        .boxed()
}

fn evaluate() -> BoxedStrategy<Cmd> {
    blank().prop_map(|blank| Cmd::Evaluate { blank }).boxed()
}

fn findings() -> BoxedStrategy<Cmd> {
    (0usize..4, blank())
        .prop_map(|(count, blank)| Cmd::Findings { count, blank })
        .boxed()
}

fn cmd() -> BoxedStrategy<Cmd> {
    prop_oneof![
        schedule(),
        Just(Cmd::Start),
        phase().prop_map(Cmd::Mark),
        evaluate(),
        findings(),
    ]
    .boxed()
}

/// The command that moves the drill on from where the model is (bad fields now and then),
/// so that runs of 30 steps reach the findings.
fn cmd_for(state: &Model) -> BoxedStrategy<Cmd> {
    match state.stage {
        None => schedule(),
        Some(Stage::Intake) => Just(Cmd::Start).boxed(),
        Some(Stage::Analysis | Stage::Fix | Stage::Verify) => match state.next_phase() {
            Some(p) => Just(Cmd::Mark(p)).boxed(),
            None => cmd(),
        },
        Some(Stage::Confirm) => evaluate(),
        Some(Stage::Record) => findings(),
        Some(Stage::Closed) => cmd(),
    }
}

struct DrillMachine;

impl ReferenceStateMachine for DrillMachine {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model::default()).boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Step> {
        prop_oneof![
            12 => (who(), cmd_for(state)).prop_map(|(w, c)| Step::Do(w, c)),
            8 => (who(), cmd()).prop_map(|(w, c)| Step::Do(w, c)),
            4 => prop_oneof![1i64..20, 20i64..120].prop_map(Step::Advance),
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
    drill: DrillId,
}

fn member_of(who: Who) -> MemberId {
    match who.actor() {
        Actor::Member(m) => m,
        Actor::System(_) => member("system"),
    }
}

fn to_command(sut: &Sut, cmd: &Cmd) -> DrillCommand {
    let text = |blank: bool, s: &str| {
        if blank {
            "\n".to_string()
        } else {
            s.to_string()
        }
    };
    match cmd {
        Cmd::Schedule {
            plan,
            participants,
            blank,
            date_days,
        } => DrillCommand::Schedule {
            plan: sut.plans.reference(*plan),
            scenario: text(*blank, "ransomware on the mail server"),
            participants: participants.iter().map(|w| member_of(*w)).collect(),
            date: sut.desk.clock.now() + Duration::days(*date_days),
        },
        Cmd::Start => DrillCommand::Start,
        Cmd::Mark(phase) => DrillCommand::MarkPhase { phase: *phase },
        Cmd::Evaluate { blank } => DrillCommand::Evaluate {
            notes: text(*blank, "the team reacted well"),
        },
        Cmd::Findings { count, blank } => DrillCommand::RecordFindings {
            findings: (0..*count)
                .map(|i| text(*blank, &format!("finding {i}")))
                .collect(),
        },
    }
}

impl StateMachineTest for Sut {
    type SystemUnderTest = Sut;
    type Reference = DrillMachine;

    fn init_test(_: &Model) -> Sut {
        let desk = Desk::new();
        let plans = PlanBench::set_up(&desk);
        Sut {
            desk,
            plans,
            drill: DrillId(Uuid::from_u128(0x3)),
        }
    }

    fn apply(sut: Sut, model: &Model, step: Step) -> Sut {
        let desk = &sut.desk;
        let head = desk.engine.store().head_position().expect("head");
        match &step {
            Step::Do(who, cmd) => {
                let result = desk
                    .engine
                    .execute(&who.actor(), (sut.drill, to_command(&sut, cmd)));
                expect_outcome(desk, head, &result, model.last, &step);
            }
            Step::Advance(m) => desk.advance(Duration::minutes(*m)),
            Step::Offboard(who) => offboard(desk, *who, model.last.is_some()),
            Step::RetirePlan { whole } => sut.plans.retire(desk, *whole, model.last.is_some()),
        }
        sut
    }

    fn check_invariants(sut: &Sut, model: &Model) {
        let state: Drill = check_stream(&sut.desk, &sut.drill, model.events);
        assert_eq!(state.stage, model.stage, "stage");
        let participants: Vec<MemberId> =
            model.participants.iter().map(|w| member_of(*w)).collect();
        let mut stored = state.participants.clone();
        stored.sort();
        let mut expected = participants;
        expected.sort();
        assert_eq!(stored, expected, "participants, each once");
        assert_eq!(state.started_at.is_some(), model.started_at.is_some());
        let marked: Vec<Phase> = state.phases.keys().copied().collect();
        assert_eq!(marked, Phase::ALL[..model.phases.len()].to_vec(), "phases");
        assert_eq!(state.findings.len(), model.findings, "findings");
        if model.stage.is_none() {
            return;
        }
        assert_eq!(
            state.plan,
            Some(sut.plans.reference(PlanChoice::Current)),
            "plan revision"
        );
        // A retired revision still scores the drill that ran under it.
        let score = sut.desk.engine.drill_score(sut.drill).expect("score");
        let (phases, total) = model.score();
        let got: Vec<(i64, u32)> = score
            .phases
            .iter()
            .map(|p| (p.actual.num_minutes(), p.points))
            .collect();
        assert_eq!(got, phases, "phase durations and points");
        assert_eq!(score.findings as usize, model.findings);
        assert_eq!(score.total, total, "score");
    }
}

prop_state_machine! {
    #![proptest_config(Config { cases: cases(), failure_persistence: None, .. Config::default() })]

    #[test]
    fn drill_lifecycle_matches_the_reference_model(sequential 1..30 => Sut);
}
