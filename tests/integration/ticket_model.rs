//! Property-based state-machine spec of the ticket lifecycle and roles.
//!
//! A small reference model says which commands the rules accept; random sequences of
//! valid and invalid commands (wrong stage, wrong role, offboarded or unknown actors,
//! bad field values) run against the real engine on the in-memory store. After every
//! step: the engine accepted exactly when the model did; a rejection recorded nothing;
//! the state equals the fold of the stored events; versions are contiguous; the stage and
//! flags agree with the model.
//!
//! 2,000 cases by default; set `CASEBOOK_PROPTEST_CASES` for more.

use std::collections::BTreeSet;

use casebook::prelude::*;
use chrono::Duration;
use proptest::prelude::*;
use proptest::test_runner::Config;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};
use uuid::Uuid;

use crate::support::{member, Desk};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Pm,
    Sup,
    Sec,
    Cust,
    OtherCust,
    Auditor,
    Gone,
    Nobody,
}

impl Who {
    fn actor(self) -> Actor {
        Actor::member(match self {
            Who::Pm => "pm",
            Who::Sup => "sup",
            Who::Sec => "sec",
            Who::Cust => "cust",
            Who::OtherCust => "other",
            Who::Auditor => "aud",
            Who::Gone => "gone",
            Who::Nobody => "nobody",
        })
        .expect("slug")
    }
    fn id(self) -> MemberId {
        match self.actor() {
            Actor::Member(m) => m,
            Actor::System(_) => unreachable!("members only"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WithdrawKind {
    Duplicate,
    NotAProblem,
    Cancelled,
}

#[derive(Debug, Clone)]
enum Cmd {
    Open {
        bad: bool,
    },
    Triage {
        severity: Severity,
        urgent: bool,
        complex: bool,
    },
    ChangeSeverity(Severity),
    Diagnose {
        bad: bool,
    },
    PlanFix,
    StartFix,
    Revise,
    ReportFix,
    FailVerify,
    PassVerify,
    Confirm,
    Reject,
    Expire,
    Rate(u8),
    Improve,
    Close,
    Withdraw(WithdrawKind),
    Reopen,
    AssignSelf,
    AssignSec,
    Note,
    RequestInfo,
    Reply,
    Escalate,
    Link(u8),
}

#[derive(Debug, Clone)]
enum Step {
    Do(Who, Cmd),
    Advance(i64),
    Offboard(Who),
}

#[derive(Debug, Clone, Default)]
struct Model {
    stage: Option<Stage>,
    severity: Option<Severity>,
    complex: bool,
    diagnosed: bool,
    planned: bool,
    waiting: bool,
    rated: Option<u8>,
    improved: bool,
    withdrawn: bool,
    owner: Option<(Who, &'static str)>,
    linked: BTreeSet<u8>,
    offboarded: BTreeSet<Who>,
    now_hours: i64,
    confirm_since: i64,
    closed_at: i64,
    events: u64,
    last_accepted: bool,
}

const OPEN: [Stage; 6] = [
    Stage::Intake,
    Stage::Analysis,
    Stage::Fix,
    Stage::Verify,
    Stage::Confirm,
    Stage::Record,
];

impl Model {
    fn active(&self, who: Who) -> bool {
        !matches!(who, Who::Gone | Who::Nobody) && !self.offboarded.contains(&who)
    }
    fn staff(&self, who: Who) -> bool {
        self.active(who) && matches!(who, Who::Pm | Who::Sup | Who::Sec)
    }
    fn cust(&self, who: Who) -> bool {
        self.active(who) && who == Who::Cust
    }
    fn at(&self, stages: &[Stage]) -> bool {
        self.stage.is_some_and(|s| stages.contains(&s))
    }

    /// The number of events the rules record for this command, or `None` if refused.
    fn accepts(&self, who: Who, cmd: &Cmd) -> Option<u64> {
        let staff = self.staff(who);
        let either = staff || self.cust(who);
        let ok = match cmd {
            Cmd::Open { bad } => either && self.stage.is_none() && !bad,
            Cmd::Triage { urgent, .. } => {
                return (staff && self.at(&[Stage::Intake])).then_some(if *urgent { 2 } else { 1 })
            }
            Cmd::ChangeSeverity(s) => {
                staff && self.at(&OPEN[1..]) && self.severity.is_some_and(|cur| cur != *s)
            }
            Cmd::Diagnose { bad } => staff && self.at(&[Stage::Analysis]) && !bad,
            Cmd::PlanFix => staff && self.at(&[Stage::Analysis]),
            Cmd::StartFix => {
                staff
                    && self.at(&[Stage::Analysis])
                    && self.diagnosed
                    && (!self.complex || self.planned)
            }
            Cmd::Revise | Cmd::ReportFix => staff && self.at(&[Stage::Fix]),
            Cmd::FailVerify | Cmd::PassVerify => staff && self.at(&[Stage::Verify]),
            Cmd::Confirm | Cmd::Reject => self.cust(who) && self.at(&[Stage::Confirm]),
            Cmd::Expire => {
                staff && self.at(&[Stage::Confirm]) && self.now_hours >= self.confirm_since + 7 * 24
            }
            Cmd::Rate(score) => {
                self.cust(who)
                    && self.at(&[Stage::Record, Stage::Closed])
                    && !self.withdrawn
                    && (1..=5).contains(score)
                    && self.rated.is_none()
            }
            Cmd::Improve => staff && self.at(&[Stage::Record, Stage::Closed]),
            Cmd::Close => {
                staff
                    && self.at(&[Stage::Record])
                    && (self.rated.is_none_or(|s| s > 2) || self.improved)
            }
            Cmd::Withdraw(kind) => {
                either
                    && self.at(&[Stage::Intake, Stage::Analysis])
                    && (staff || *kind == WithdrawKind::Cancelled)
            }
            Cmd::Reopen => {
                either && self.at(&[Stage::Closed]) && self.now_hours <= self.closed_at + 30 * 24
            }
            Cmd::AssignSelf => staff && self.at(&OPEN) && self.owner != Some((who, "l2")),
            Cmd::AssignSec => {
                staff
                    && self.at(&OPEN)
                    && matches!(who, Who::Pm | Who::Sec)
                    && self.active(Who::Sec)
                    && self.owner != Some((Who::Sec, "security"))
            }
            Cmd::Note => either && self.at(&OPEN),
            Cmd::RequestInfo => staff && self.at(&OPEN) && !self.waiting,
            Cmd::Reply => either && self.at(&OPEN) && self.waiting,
            Cmd::Escalate => staff && self.at(&OPEN),
            Cmd::Link(n) => staff && self.at(&OPEN) && !self.linked.contains(n),
        };
        ok.then_some(1)
    }

    fn apply_accepted(&mut self, who: Who, cmd: &Cmd) {
        match cmd {
            Cmd::Open { .. } => self.stage = Some(Stage::Intake),
            Cmd::Triage {
                severity, complex, ..
            } => {
                self.stage = Some(Stage::Analysis);
                self.severity = Some(*severity);
                self.complex = *complex;
            }
            Cmd::ChangeSeverity(s) => self.severity = Some(*s),
            Cmd::Diagnose { .. } => self.diagnosed = true,
            Cmd::PlanFix => self.planned = true,
            Cmd::StartFix => self.stage = Some(Stage::Fix),
            Cmd::Revise => {
                self.stage = Some(Stage::Analysis);
                self.diagnosed = true;
            }
            Cmd::ReportFix => self.stage = Some(Stage::Verify),
            Cmd::FailVerify => self.stage = Some(Stage::Fix),
            Cmd::PassVerify => {
                self.stage = Some(Stage::Confirm);
                self.confirm_since = self.now_hours;
            }
            Cmd::Confirm | Cmd::Expire => self.stage = Some(Stage::Record),
            Cmd::Reject => self.stage = Some(Stage::Analysis),
            Cmd::Rate(s) => self.rated = Some(*s),
            Cmd::Improve => self.improved = true,
            Cmd::Close => {
                self.stage = Some(Stage::Closed);
                self.closed_at = self.now_hours;
                self.waiting = false;
            }
            Cmd::Withdraw(_) => {
                self.stage = Some(Stage::Record);
                self.withdrawn = true;
                self.waiting = false;
            }
            Cmd::Reopen => {
                self.stage = Some(Stage::Analysis);
                self.withdrawn = false;
            }
            Cmd::AssignSelf => self.owner = Some((who, "l2")),
            Cmd::AssignSec => self.owner = Some((Who::Sec, "security")),
            Cmd::RequestInfo => self.waiting = true,
            Cmd::Reply => self.waiting = false,
            Cmd::Link(n) => {
                self.linked.insert(*n);
            }
            Cmd::Note | Cmd::Escalate => {}
        }
    }
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![
        6 => Just(Who::Sup),
        3 => Just(Who::Pm),
        3 => Just(Who::Sec),
        5 => Just(Who::Cust),
        1 => Just(Who::OtherCust),
        1 => Just(Who::Auditor),
        1 => Just(Who::Gone),
        1 => Just(Who::Nobody),
    ]
}

fn severity() -> impl Strategy<Value = Severity> {
    prop_oneof![
        Just(Severity::Critical),
        Just(Severity::High),
        Just(Severity::Medium),
        Just(Severity::Low)
    ]
}

fn cmd() -> impl Strategy<Value = Cmd> {
    prop_oneof![
        2 => any::<bool>().prop_map(|b| Cmd::Open { bad: b }),
        3 => (severity(), any::<bool>(), any::<bool>()).prop_map(|(severity, urgent, complex)| Cmd::Triage { severity, urgent, complex }),
        1 => severity().prop_map(Cmd::ChangeSeverity),
        3 => prop::bool::weighted(0.15).prop_map(|bad| Cmd::Diagnose { bad }),
        2 => Just(Cmd::PlanFix),
        3 => Just(Cmd::StartFix),
        1 => Just(Cmd::Revise),
        3 => Just(Cmd::ReportFix),
        1 => Just(Cmd::FailVerify),
        3 => Just(Cmd::PassVerify),
        3 => Just(Cmd::Confirm),
        1 => Just(Cmd::Reject),
        1 => Just(Cmd::Expire),
        2 => (0u8..=6).prop_map(Cmd::Rate),
        1 => Just(Cmd::Improve),
        3 => Just(Cmd::Close),
        1 => prop_oneof![Just(WithdrawKind::Duplicate), Just(WithdrawKind::NotAProblem), Just(WithdrawKind::Cancelled)].prop_map(Cmd::Withdraw),
        1 => Just(Cmd::Reopen),
        1 => Just(Cmd::AssignSelf),
        1 => Just(Cmd::AssignSec),
        1 => Just(Cmd::Note),
        1 => Just(Cmd::RequestInfo),
        1 => Just(Cmd::Reply),
        1 => Just(Cmd::Escalate),
        1 => (0u8..3).prop_map(Cmd::Link),
    ]
}

struct TicketMachine;

impl ReferenceStateMachine for TicketMachine {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model::default()).boxed()
    }

    fn transitions(_state: &Model) -> BoxedStrategy<Step> {
        prop_oneof![
            20 => (who(), cmd()).prop_map(|(w, c)| Step::Do(w, c)),
            2 => prop_oneof![1i64..48, 24 * 6..24 * 40i64].prop_map(Step::Advance),
            1 => prop_oneof![Just(Who::Sup), Just(Who::Sec)].prop_map(Step::Offboard),
        ]
        .boxed()
    }

    fn apply(mut state: Model, step: &Step) -> Model {
        match step {
            Step::Do(who, cmd) => match state.accepts(*who, cmd) {
                Some(n) => {
                    state.apply_accepted(*who, cmd);
                    state.events += n;
                    state.last_accepted = true;
                }
                None => state.last_accepted = false,
            },
            Step::Advance(h) => {
                state.now_hours += h;
                state.last_accepted = true;
            }
            Step::Offboard(who) => {
                state.last_accepted = state.offboarded.insert(*who);
            }
        }
        state
    }
}

struct Sut {
    desk: Desk,
    ticket: TicketId,
}

fn incident(n: u8) -> IncidentId {
    IncidentId(Uuid::from_u128(0x1000 + u128::from(n)))
}

fn to_command(desk: &Desk, cmd: &Cmd) -> TicketCommand {
    let now = desk.clock.now();
    match cmd {
        Cmd::Open { bad } => {
            let mut t = desk.new_ticket();
            t.reported_at = None;
            if *bad {
                t.description = " ".into();
            }
            TicketCommand::Open(t)
        }
        Cmd::Triage {
            severity,
            urgent,
            complex,
        } => TicketCommand::Triage {
            severity: *severity,
            urgency: if *urgent {
                Urgency::Urgent
            } else {
                Urgency::Normal
            },
            complex: *complex,
            multi_team: false,
        },
        Cmd::ChangeSeverity(s) => TicketCommand::ChangeSeverity {
            severity: *s,
            reason: "new facts".into(),
        },
        Cmd::Diagnose { bad } => TicketCommand::Diagnose {
            cause: if *bad {
                String::new()
            } else {
                "disk full".into()
            },
            solution: "rotate logs".into(),
        },
        Cmd::PlanFix => TicketCommand::PlanFix {
            steps: vec![PlanStep {
                description: "clean up".into(),
                owner: member("pm"),
                due: now + Duration::days(1),
            }],
        },
        Cmd::StartFix => TicketCommand::StartFix,
        Cmd::Revise => TicketCommand::ReviseSolution {
            new_facts: "quota too".into(),
            solution: "raise quota".into(),
            reported_to: member("pm"),
        },
        Cmd::ReportFix => TicketCommand::ReportFixDone {
            summary: "done".into(),
        },
        Cmd::FailVerify => TicketCommand::FailVerification {
            evidence: "still full".into(),
        },
        Cmd::PassVerify => TicketCommand::PassVerification { notes: "ok".into() },
        Cmd::Confirm => TicketCommand::Confirm { comment: None },
        Cmd::Reject => TicketCommand::Reject {
            reason: "not fixed".into(),
        },
        Cmd::Expire => TicketCommand::ExpireConfirmation,
        Cmd::Rate(s) => TicketCommand::RateSatisfaction {
            score: *s,
            comment: None,
        },
        Cmd::Improve => TicketCommand::RecordImprovementAction {
            action: "monitor disks".into(),
        },
        Cmd::Close => crate::support::close(),
        Cmd::Withdraw(kind) => TicketCommand::Withdraw {
            reason: match kind {
                WithdrawKind::Duplicate => WithdrawalReason::Duplicate {
                    of: TicketId(Uuid::from_u128(42)),
                },
                WithdrawKind::NotAProblem => WithdrawalReason::NotAProblem,
                WithdrawKind::Cancelled => WithdrawalReason::CustomerCancelled,
            },
            detail: "see detail".into(),
        },
        Cmd::Reopen => TicketCommand::Reopen {
            reason: "again".into(),
        },
        Cmd::AssignSelf => unreachable!("built with the actor"),
        Cmd::AssignSec => TicketCommand::Assign {
            owner: member("sec"),
            team: "security".into(),
        },
        Cmd::Note => TicketCommand::AddNote {
            text: "n".into(),
            customer_visible: true,
        },
        Cmd::RequestInfo => TicketCommand::RequestInfo {
            question: "logs?".into(),
        },
        Cmd::Reply => TicketCommand::CustomerReply {
            text: "attached".into(),
        },
        Cmd::Escalate => TicketCommand::Escalate {
            to: member("pm"),
            reason: "slow".into(),
        },
        Cmd::Link(n) => TicketCommand::LinkIncident {
            incident: incident(*n),
        },
    }
}

impl StateMachineTest for Sut {
    type SystemUnderTest = Sut;
    type Reference = TicketMachine;

    fn init_test(_: &Model) -> Sut {
        let desk = Desk::new();
        let ticket = TicketId(Uuid::from_u128(7));
        Sut { desk, ticket }
    }

    fn apply(sut: Sut, model: &Model, step: Step) -> Sut {
        let head = sut.desk.engine.store().head_position().expect("head");
        match &step {
            Step::Do(who, cmd) => {
                let command = match cmd {
                    Cmd::AssignSelf => TicketCommand::Assign {
                        owner: who.id(),
                        team: "l2".into(),
                    },
                    other => to_command(&sut.desk, other),
                };
                let result = sut.desk.run(&who.actor(), sut.ticket, command);
                match (&result, model.last_accepted) {
                    (Ok(_), true) => {}
                    (Err(EngineError::Rejected(_)), false) => {
                        let after = sut.desk.engine.store().head_position().expect("head");
                        assert_eq!(head, after, "a rejected command recorded something");
                    }
                    (got, model_says) => {
                        panic!("{who:?} {cmd:?}: engine {got:?}, model accepts = {model_says}")
                    }
                }
            }
            Step::Advance(h) => sut.desk.advance(Duration::hours(*h)),
            Step::Offboard(who) => {
                let result = sut.desk.engine.execute(
                    &Who::Pm.actor(),
                    DirectoryCommand::Offboard {
                        member: who.id(),
                        reason: "left".into(),
                    },
                );
                assert_eq!(
                    result.is_ok(),
                    model.last_accepted,
                    "offboarding {who:?}: {result:?}"
                );
            }
        }
        sut
    }

    fn check_invariants(sut: &Sut, model: &Model) {
        let engine = &sut.desk.engine;
        let stream = stream_of::<Ticket>(&sut.ticket).expect("stream");
        let history = engine.history(&stream).expect("history");
        assert_eq!(history.len() as u64, model.events, "event count");
        for (i, e) in history.iter().enumerate() {
            assert_eq!(e.stream_version, i as u64 + 1, "versions are contiguous");
        }
        let events: Vec<(TicketEvent, _)> = history
            .iter()
            .map(|e| (engine.decode(e).expect("decodes"), e.recorded_at))
            .collect();
        let folded: Ticket = casebook::core::fold(events.iter().map(|(e, at)| (e, *at)));
        let (state, version) = engine.load::<Ticket>(&sut.ticket).expect("load");
        assert_eq!(
            state, folded,
            "the state equals the fold of the stored events"
        );
        assert_eq!(version, model.events);
        assert_eq!(state.stage, model.stage);
        assert_eq!(state.severity, model.severity);
        assert_eq!(state.waiting_since.is_some(), model.waiting);
        assert_eq!(state.satisfaction, model.rated);
        assert_eq!(state.withdrawal.is_some(), model.withdrawn);
        assert_eq!(state.incidents.len(), model.linked.len());
    }
}

fn cases() -> u32 {
    std::env::var("CASEBOOK_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

prop_state_machine! {
    #![proptest_config(Config { cases: cases(), failure_persistence: None, .. Config::default() })]

    #[test]
    fn ticket_lifecycle_matches_the_reference_model(sequential 1..40 => Sut);
}
