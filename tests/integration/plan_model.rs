//! Property-based state-machine spec of the contingency-plan lifecycle (domain.md §4),
//! plus the helpers the incident, alert and drill specs share.
//!
//! A small reference model says which plan commands the rules accept and how many events
//! each records; random sequences of valid and invalid commands (wrong role, offboarded or
//! unknown actors, bad titles, intervals and contents, unchanged contents, unknown or
//! already addressed requests, duplicate request sources, unknown or retired revisions,
//! anything on a retired plan) run against the real engine on the in-memory store, mixed
//! with probes that name a revision from a new incident or drill. After every step: the
//! engine accepted exactly when the model did, with the predicted number of events; a
//! rejection recorded nothing; the state equals the fold of the stored events; versions
//! are contiguous; the revisions, their retirement, the requests and what addressed
//! them, the current revision and whether the review is overdue agree with the model.
//!
//! 400 cases by default; set `CASEBOOK_PROPTEST_CASES` for more.

use std::collections::BTreeSet;
use std::fmt::Debug;

use casebook::core::Aggregate;
use casebook::prelude::*;
use casebook::Envelope;
use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use proptest::test_runner::Config;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};
use uuid::Uuid;

use crate::plans::{content, new_incident};
use crate::support::{member, Desk};

// ---------------------------------------------------------------------------------------
// Shared by the emergency-response lifecycle specs.
// ---------------------------------------------------------------------------------------

/// Who issues a command: every role of the desk fixture, an offboarded and an unknown
/// member, and the trusted system actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Who {
    Pm,
    Sup,
    Sec,
    Cust,
    OtherCust,
    Auditor,
    Gone,
    Nobody,
    System,
}

impl Who {
    pub(crate) fn actor(self) -> Actor {
        match self {
            Who::Pm => Actor::member("pm"),
            Who::Sup => Actor::member("sup"),
            Who::Sec => Actor::member("sec"),
            Who::Cust => Actor::member("cust"),
            Who::OtherCust => Actor::member("other"),
            Who::Auditor => Actor::member("aud"),
            Who::Gone => Actor::member("gone"),
            Who::Nobody => Actor::member("nobody"),
            Who::System => return Actor::system("feed"),
        }
        .expect("slug")
    }
}

/// The members offboarded during a run (the fixture's `gone` always is).
#[derive(Debug, Clone, Default)]
pub(crate) struct People {
    offboarded: BTreeSet<Who>,
}

impl People {
    pub(crate) fn active(&self, who: Who) -> bool {
        !matches!(who, Who::Gone | Who::Nobody) && !self.offboarded.contains(&who)
    }

    /// Holds `HandleSecurity`: a project manager, a security engineer, or the system.
    pub(crate) fn security(&self, who: Who) -> bool {
        self.active(who) && matches!(who, Who::Pm | Who::Sec | Who::System)
    }

    /// Offboards a member; whether the directory accepts it (once only).
    pub(crate) fn offboard(&mut self, who: Who) -> bool {
        self.offboarded.insert(who)
    }
}

/// Actors weighted towards the ones allowed to do security work.
pub(crate) fn who() -> BoxedStrategy<Who> {
    prop_oneof![
        6 => Just(Who::Sec),
        4 => Just(Who::Pm),
        2 => Just(Who::System),
        1 => Just(Who::Sup),
        1 => Just(Who::Cust),
        1 => Just(Who::OtherCust),
        1 => Just(Who::Auditor),
        1 => Just(Who::Gone),
        1 => Just(Who::Nobody),
    ]
    .boxed()
}

/// Offboards `who` by the project manager; asserts the directory agreed with the model.
pub(crate) fn offboard(desk: &Desk, who: Who, model_accepts: bool) {
    let Actor::Member(id) = who.actor() else {
        unreachable!("members only")
    };
    let result = desk.engine.execute(
        &desk.pm,
        DirectoryCommand::Offboard {
            member: id,
            reason: "left".into(),
        },
    );
    assert_eq!(
        result.is_ok(),
        model_accepts,
        "offboarding {who:?}: {result:?}"
    );
}

/// Checks one command's outcome: accepted exactly when the model predicts `Some(events)`,
/// with that many events recorded; a rejection (a typed business rejection, nothing
/// else) recorded nothing.
pub(crate) fn expect_outcome(
    desk: &Desk,
    head_before: u64,
    result: &Result<Vec<Envelope>, EngineError>,
    predicted: Option<u64>,
    what: &dyn Debug,
) {
    let after = desk.engine.store().head_position().expect("head");
    match (result, predicted) {
        (Ok(recorded), Some(n)) => {
            assert_eq!(recorded.len() as u64, n, "{what:?}: events recorded");
            assert_eq!(
                after,
                head_before + n,
                "{what:?}: the store grew by the events"
            );
        }
        (Err(EngineError::Rejected(_)), None) => {
            assert_eq!(
                after, head_before,
                "{what:?}: a rejected command recorded something"
            );
        }
        (got, predicted) => panic!("{what:?}: engine {got:?}, model predicts {predicted:?}"),
    }
}

/// Checks a stream against its model's event count: versions contiguous from 1, and the
/// engine's state (cached or loaded) equal to the fold of the stored events. Returns the
/// state for field checks.
pub(crate) fn check_stream<A: Aggregate + PartialEq>(desk: &Desk, id: &A::Id, events: u64) -> A {
    let engine = &desk.engine;
    let stream = stream_of::<A>(id).expect("stream");
    let history = engine.history(&stream).expect("history");
    assert_eq!(history.len() as u64, events, "event count of {stream}");
    for (i, e) in history.iter().enumerate() {
        assert_eq!(e.stream_version, i as u64 + 1, "versions are contiguous");
    }
    let decoded: Vec<(A::Event, DateTime<Utc>)> = history
        .iter()
        .map(|e| (engine.decode(e).expect("decodes"), e.recorded_at))
        .collect();
    let folded: A = casebook::core::fold(decoded.iter().map(|(e, at)| (e, *at)));
    let (state, version) = engine.load::<A>(id).expect("load");
    assert_eq!(
        state, folded,
        "the state equals the fold of the stored events"
    );
    assert_eq!(version, events, "the version is the event count");
    state
}

/// Cases per spec: 400 by default, `CASEBOOK_PROPTEST_CASES` to override.
pub(crate) fn cases() -> u32 {
    std::env::var("CASEBOOK_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400)
}

/// Which plan revision a new incident or drill names, against [`PlanBench`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PlanChoice {
    /// Plan A revision 1 (usable until a step retires it or plan A).
    Current,
    /// Plan A revision 2, retired in the setup.
    RetiredRevision,
    /// Plan A revision 9, never published.
    MissingRevision,
    /// Plan B revision 1; plan B is retired in the setup.
    RetiredPlan,
    /// A plan never created.
    UnknownPlan,
}

pub(crate) fn plan_choice() -> BoxedStrategy<PlanChoice> {
    prop_oneof![
        8 => Just(PlanChoice::Current),
        1 => Just(PlanChoice::RetiredRevision),
        1 => Just(PlanChoice::MissingRevision),
        1 => Just(PlanChoice::RetiredPlan),
        1 => Just(PlanChoice::UnknownPlan),
    ]
    .boxed()
}

/// Plans set up for the incident and drill specs: plan A with revision 1 in force and
/// revision 2 retired, plan B retired.
pub(crate) struct PlanBench {
    pub a: PlanId,
    pub b: PlanId,
}

/// The model's view of [`PlanBench`]: what steps retired since the setup.
#[derive(Debug, Clone, Default)]
pub(crate) struct PlanWorld {
    pub a_revision_1_retired: bool,
    pub a_retired: bool,
}

impl PlanWorld {
    pub(crate) fn usable(&self, choice: PlanChoice) -> bool {
        choice == PlanChoice::Current && !self.a_revision_1_retired && !self.a_retired
    }
}

impl PlanBench {
    pub(crate) fn set_up(desk: &Desk) -> PlanBench {
        let a = PlanId(Uuid::from_u128(0xA));
        let b = PlanId(Uuid::from_u128(0xB));
        for plan in [a, b] {
            desk.engine
                .execute(
                    &desk.sec,
                    (
                        plan,
                        PlanCommand::Create {
                            title: "Ransomware response".into(),
                            review_interval_days: 90,
                            content: content(15),
                        },
                    ),
                )
                .expect("create plan");
        }
        let setup = [
            (
                a,
                PlanCommand::PublishRevision {
                    content: content(20),
                    summary: "longer report".into(),
                    addresses: vec![],
                },
            ),
            (
                a,
                PlanCommand::RetireRevision {
                    revision: 2,
                    reason: "withdrawn".into(),
                },
            ),
            (
                b,
                PlanCommand::Retire {
                    reason: "superseded".into(),
                },
            ),
        ];
        for (plan, c) in setup {
            desk.engine
                .execute(&desk.sec, (plan, c))
                .expect("plan setup");
        }
        PlanBench { a, b }
    }

    pub(crate) fn reference(&self, choice: PlanChoice) -> PlanRef {
        let (plan, revision) = match choice {
            PlanChoice::Current => (self.a, 1),
            PlanChoice::RetiredRevision => (self.a, 2),
            PlanChoice::MissingRevision => (self.a, 9),
            PlanChoice::RetiredPlan => (self.b, 1),
            PlanChoice::UnknownPlan => (PlanId(Uuid::from_u128(0xC)), 1),
        };
        PlanRef { plan, revision }
    }

    /// Retires revision 1 of plan A, or plan A; asserts it was accepted as the model says.
    pub(crate) fn retire(&self, desk: &Desk, whole: bool, model_accepts: bool) {
        let c = if whole {
            PlanCommand::Retire {
                reason: "superseded".into(),
            }
        } else {
            PlanCommand::RetireRevision {
                revision: 1,
                reason: "outdated".into(),
            }
        };
        let result = desk.engine.execute(&desk.pm, (self.a, c));
        assert_eq!(result.is_ok(), model_accepts, "retiring plan A: {result:?}");
    }
}

impl PlanWorld {
    /// Applies a retirement step; whether the plan accepts it.
    pub(crate) fn retire(&mut self, whole: bool) -> bool {
        if self.a_retired || (!whole && self.a_revision_1_retired) {
            return false;
        }
        if whole {
            self.a_retired = true;
        } else {
            self.a_revision_1_retired = true;
        }
        true
    }
}

// ---------------------------------------------------------------------------------------
// The plan spec.
// ---------------------------------------------------------------------------------------

/// A plan content: one of three valid ones (differing in the report target) or a broken
/// one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Content {
    Valid(u8),
    NoOrganisation,
    ZeroTarget,
    StepsOutOfOrder,
    NoMeasures,
    BlankStep,
}

impl Content {
    fn valid(self) -> bool {
        matches!(self, Content::Valid(_))
    }

    fn build(self) -> PlanContent {
        let mut c = content(15);
        match self {
            Content::Valid(k) => c = content(15 + 5 * u32::from(k)),
            Content::NoOrganisation => c.organisation.clear(),
            Content::ZeroTarget => c.steps[1].target_minutes = 0,
            Content::StepsOutOfOrder => c.steps.swap(0, 3),
            Content::NoMeasures => c.measures.clear(),
            Content::BlankStep => c.steps[2].description = "  ".into(),
        }
        c
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    Manual,
    Incident(u8),
    Drill(u8),
}

#[derive(Debug, Clone)]
enum Cmd {
    Create {
        blank_title: bool,
        interval: u32,
        content: Content,
    },
    Publish {
        content: Content,
        blank_summary: bool,
        addresses: Vec<u32>,
    },
    Review {
        blank: bool,
    },
    Request {
        source: Source,
        blank: bool,
    },
    RetireRevision {
        revision: u32,
        blank: bool,
    },
    Retire {
        blank: bool,
    },
}

#[derive(Debug, Clone)]
enum Step {
    Do(Who, Cmd),
    /// A new incident or drill names a revision of the plan (or of a plan never created).
    Name {
        incident: bool,
        revision: u32,
        other_plan: bool,
    },
    Advance(i64),
    Offboard(Who),
}

#[derive(Debug, Clone)]
struct Revision {
    content: Content,
    retired: bool,
}

#[derive(Debug, Clone)]
struct Request {
    source: Source,
    addressed_by: Option<u32>,
}

#[derive(Debug, Clone, Default)]
struct Model {
    created: bool,
    retired: bool,
    interval_days: u32,
    revisions: Vec<Revision>,
    requests: Vec<Request>,
    last_review_hours: i64,
    now_hours: i64,
    people: People,
    events: u64,
    /// What the last step should do: `Some(n)` accepted with `n` events on its stream.
    last: Option<u64>,
}

impl Model {
    fn usable(&self) -> bool {
        self.created && !self.retired
    }

    fn accepts(&self, who: Who, cmd: &Cmd) -> Option<u64> {
        if !self.people.security(who) {
            return None;
        }
        let ok = match cmd {
            Cmd::Create {
                blank_title,
                interval,
                content,
            } => {
                return (!self.created
                    && !blank_title
                    && (1..=3650).contains(interval)
                    && content.valid())
                .then_some(2)
            }
            Cmd::Publish {
                content,
                blank_summary,
                addresses,
            } => {
                self.usable()
                    && content.valid()
                    && !blank_summary
                    && addresses.iter().all(|n| {
                        n.checked_sub(1)
                            .and_then(|i| self.requests.get(i as usize))
                            .is_some_and(|r| r.addressed_by.is_none())
                    })
                    // The newest revision, retired or not, is what "unchanged" compares with.
                    && self.revisions.last().is_none_or(|r| r.content != *content)
            }
            Cmd::Review { blank } => self.usable() && !blank,
            Cmd::Request { source, blank } => {
                self.usable()
                    && !blank
                    && (*source == Source::Manual
                        || self.requests.iter().all(|r| r.source != *source))
            }
            Cmd::RetireRevision { revision, blank } => {
                self.usable()
                    && !blank
                    && revision
                        .checked_sub(1)
                        .and_then(|i| self.revisions.get(i as usize))
                        .is_some_and(|r| !r.retired)
            }
            Cmd::Retire { blank } => self.usable() && !blank,
        };
        ok.then_some(1)
    }

    fn apply_accepted(&mut self, cmd: &Cmd) {
        match cmd {
            Cmd::Create {
                interval, content, ..
            } => {
                self.created = true;
                self.interval_days = *interval;
                self.revisions.push(Revision {
                    content: *content,
                    retired: false,
                });
                self.last_review_hours = self.now_hours;
            }
            Cmd::Publish {
                content, addresses, ..
            } => {
                self.revisions.push(Revision {
                    content: *content,
                    retired: false,
                });
                let number = self.revisions.len() as u32;
                for n in addresses {
                    self.requests[*n as usize - 1].addressed_by = Some(number);
                }
                self.last_review_hours = self.now_hours;
            }
            Cmd::Review { .. } => self.last_review_hours = self.now_hours,
            Cmd::Request { source, .. } => self.requests.push(Request {
                source: *source,
                addressed_by: None,
            }),
            Cmd::RetireRevision { revision, .. } => {
                self.revisions[*revision as usize - 1].retired = true;
            }
            Cmd::Retire { .. } => self.retired = true,
        }
    }

    fn current_revision(&self) -> Option<u32> {
        if !self.usable() {
            return None;
        }
        (1..=self.revisions.len() as u32)
            .rev()
            .find(|n| !self.revisions[*n as usize - 1].retired)
    }

    fn review_overdue(&self) -> bool {
        self.usable()
            && self.now_hours > self.last_review_hours + 24 * i64::from(self.interval_days)
    }
}

fn plan_content() -> BoxedStrategy<Content> {
    prop_oneof![
        12 => (0u8..3).prop_map(Content::Valid),
        1 => Just(Content::NoOrganisation),
        1 => Just(Content::ZeroTarget),
        1 => Just(Content::StepsOutOfOrder),
        1 => Just(Content::NoMeasures),
        1 => Just(Content::BlankStep),
    ]
    .boxed()
}

fn blank() -> BoxedStrategy<bool> {
    prop::bool::weighted(0.1).boxed()
}

fn create() -> BoxedStrategy<Cmd> {
    let interval =
        prop_oneof![12 => 1u32..=3, 1 => Just(0u32), 1 => Just(3650u32), 1 => Just(3651u32)];
    (blank(), interval, plan_content())
        .prop_map(|(blank_title, interval, content)| Cmd::Create {
            blank_title,
            interval,
            content,
        })
        .boxed()
}

/// Commands; the request numbers a revision addresses range over the requests made so
/// far, plus one that does not exist.
fn cmd(requests: usize) -> BoxedStrategy<Cmd> {
    let request = 0..=u32::try_from(requests).expect("small") + 1;
    prop_oneof![
        1 => create(),
        10 => (plan_content(), blank(), prop::collection::vec(request, 0..3))
            .prop_map(|(content, blank_summary, addresses)| Cmd::Publish { content, blank_summary, addresses }),
        3 => blank().prop_map(|blank| Cmd::Review { blank }),
        8 => (prop_oneof![Just(Source::Manual), (0u8..2).prop_map(Source::Incident), (0u8..2).prop_map(Source::Drill)], blank())
            .prop_map(|(source, blank)| Cmd::Request { source, blank }),
        3 => (0u32..5, blank()).prop_map(|(revision, blank)| Cmd::RetireRevision { revision, blank }),
        1 => blank().prop_map(|blank| Cmd::Retire { blank }),
    ]
    .boxed()
}

struct PlanMachine;

impl ReferenceStateMachine for PlanMachine {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model::default()).boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Step> {
        // Most runs create the plan early, so that most steps exercise a plan.
        let create_first = if state.created { 0 } else { 12 };
        prop_oneof![
            create_first => (who(), create()).prop_map(|(w, c)| Step::Do(w, c)),
            24 => (who(), cmd(state.requests.len())).prop_map(|(w, c)| Step::Do(w, c)),
            3 => (any::<bool>(), 0u32..5, prop::bool::weighted(0.15))
                .prop_map(|(incident, revision, other_plan)| Step::Name { incident, revision, other_plan }),
            2 => prop_oneof![1i64..30, 24i64..80].prop_map(Step::Advance),
            1 => Just(Step::Offboard(Who::Sec)),
        ]
        .boxed()
    }

    fn apply(mut state: Model, step: &Step) -> Model {
        state.last = match step {
            Step::Do(who, cmd) => {
                let outcome = state.accepts(*who, cmd);
                if let Some(n) = outcome {
                    state.apply_accepted(cmd);
                    state.events += n;
                }
                outcome
            }
            Step::Name {
                revision,
                other_plan,
                ..
            } => {
                let usable = !other_plan
                    && state.usable()
                    && revision
                        .checked_sub(1)
                        .and_then(|i| state.revisions.get(i as usize))
                        .is_some_and(|r| !r.retired);
                usable.then_some(1)
            }
            Step::Advance(h) => {
                state.now_hours += h;
                Some(0)
            }
            Step::Offboard(who) => state.people.offboard(*who).then_some(1),
        };
        state
    }
}

struct Sut {
    desk: Desk,
    plan: PlanId,
    named: u128,
}

fn to_command(cmd: &Cmd) -> PlanCommand {
    let text = |blank: bool, s: &str| {
        if blank {
            " \t".to_string()
        } else {
            s.to_string()
        }
    };
    match cmd {
        Cmd::Create {
            blank_title,
            interval,
            content,
        } => PlanCommand::Create {
            title: text(*blank_title, "Ransomware response"),
            review_interval_days: *interval,
            content: content.build(),
        },
        Cmd::Publish {
            content,
            blank_summary,
            addresses,
        } => PlanCommand::PublishRevision {
            content: content.build(),
            summary: text(*blank_summary, "lessons from the drill"),
            addresses: addresses.clone(),
        },
        Cmd::Review { blank } => PlanCommand::RecordReview {
            notes: text(*blank, "still fits"),
        },
        Cmd::Request { source, blank } => PlanCommand::RequestRevision {
            source: match source {
                Source::Manual => RevisionSource::Manual,
                Source::Incident(n) => RevisionSource::IncidentReview {
                    incident: IncidentId(Uuid::from_u128(0x100 + u128::from(*n))),
                    item: 0,
                },
                Source::Drill(n) => RevisionSource::DrillFinding {
                    drill: DrillId(Uuid::from_u128(0x200 + u128::from(*n))),
                    item: 0,
                },
            },
            text: text(*blank, "shorten the report step"),
        },
        Cmd::RetireRevision { revision, blank } => PlanCommand::RetireRevision {
            revision: *revision,
            reason: text(*blank, "outdated"),
        },
        Cmd::Retire { blank } => PlanCommand::Retire {
            reason: text(*blank, "superseded"),
        },
    }
}

impl StateMachineTest for Sut {
    type SystemUnderTest = Sut;
    type Reference = PlanMachine;

    fn init_test(_: &Model) -> Sut {
        Sut {
            desk: Desk::new(),
            plan: PlanId(Uuid::from_u128(0x7)),
            named: 0,
        }
    }

    fn apply(mut sut: Sut, model: &Model, step: Step) -> Sut {
        let desk = &sut.desk;
        let head = desk.engine.store().head_position().expect("head");
        match &step {
            Step::Do(who, cmd) => {
                let result = desk
                    .engine
                    .execute(&who.actor(), (sut.plan, to_command(cmd)));
                expect_outcome(desk, head, &result, model.last, &step);
            }
            Step::Name {
                incident,
                revision,
                other_plan,
            } => {
                sut.named += 1;
                let plan = PlanRef {
                    plan: if *other_plan {
                        PlanId(Uuid::from_u128(0x8))
                    } else {
                        sut.plan
                    },
                    revision: *revision,
                };
                // The system actor isolates the plan check from roles.
                let system = Actor::system("probe");
                let result = if *incident {
                    let id = IncidentId(Uuid::from_u128(0x1_0000 + sut.named));
                    desk.engine.execute(
                        &system,
                        (id, IncidentCommand::Declare(new_incident(desk, plan))),
                    )
                } else {
                    let id = DrillId(Uuid::from_u128(0x2_0000 + sut.named));
                    desk.engine.execute(
                        &system,
                        (
                            id,
                            DrillCommand::Schedule {
                                plan,
                                scenario: "ransomware".into(),
                                participants: vec![member("pm")],
                                date: desk.clock.now(),
                            },
                        ),
                    )
                };
                expect_outcome(desk, head, &result, model.last, &step);
            }
            Step::Advance(h) => desk.advance(Duration::hours(*h)),
            Step::Offboard(who) => offboard(desk, *who, model.last.is_some()),
        }
        sut
    }

    fn check_invariants(sut: &Sut, model: &Model) {
        let state: ContingencyPlan = check_stream(&sut.desk, &sut.plan, model.events);
        assert_eq!(state.id.is_some(), model.created);
        assert_eq!(state.retired, model.retired);
        let revisions: Vec<(u32, bool)> = state
            .revisions
            .values()
            .map(|r| (r.number, r.retired))
            .collect();
        let expected: Vec<(u32, bool)> = (1..)
            .zip(model.revisions.iter().map(|r| r.retired))
            .collect();
        assert_eq!(revisions, expected, "revisions and their retirement");
        for (r, m) in state.revisions.values().zip(&model.revisions) {
            assert_eq!(
                r.content,
                m.content.build(),
                "revision {} content",
                r.number
            );
        }
        let requests: Vec<(u32, Option<u32>)> = state
            .requests
            .iter()
            .map(|r| (r.number, r.addressed_by))
            .collect();
        let expected: Vec<(u32, Option<u32>)> = (1..)
            .zip(model.requests.iter().map(|r| r.addressed_by))
            .collect();
        assert_eq!(requests, expected, "requests and what addressed them");
        assert_eq!(
            state.current_revision().map(|r| r.number),
            model.current_revision()
        );
        let now = sut.desk.clock.now();
        assert_eq!(
            state.review_overdue(now),
            model.review_overdue(),
            "review overdue"
        );
    }
}

prop_state_machine! {
    #![proptest_config(Config { cases: cases(), failure_persistence: None, .. Config::default() })]

    #[test]
    fn plan_lifecycle_matches_the_reference_model(sequential 1..30 => Sut);
}
