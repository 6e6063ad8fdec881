//! Property-based state-machine spec of a monitoring rule and its alerts (domain.md §5).
//!
//! A small reference model keeps, per monitored target, the little state machine the
//! rule documents (inside → pending → firing → inside) and says which commands the rules
//! accept and how many events each records; random sequences of valid and invalid
//! commands (wrong role, offboarded or unknown actors, broken definitions: blank name,
//! NaN or impossible threshold, too long a window, no measures, an unknown customer;
//! samples that are NaN, infinite, outside the metric's range, dated in the future, older
//! than the window or older than the target's last change, for a blank target; anything
//! after the rule is retired) run against the real engine on the in-memory store. After
//! every step: the engine accepted exactly when the model did, with the predicted number
//! of events (a sample that changes nothing records none); a rejection recorded nothing;
//! the state equals the fold of the stored events; versions are contiguous; per target
//! the pending breach, the open alert (occurrence, since, raised at), the occurrence count
//! and the last change agree with the model, with at most one open alert per target.
//!
//! 400 cases by default; set `CASEBOOK_PROPTEST_CASES` for more.

use std::collections::BTreeMap;

use casebook::prelude::*;
use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use proptest::test_runner::Config;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};
use uuid::Uuid;

use crate::plan_model::{cases, check_stream, expect_outcome, offboard, who, People, Who};
use crate::support::{start, Desk};

const SCOPES: [&str; 3] = ["db-01", "db-02", "  "];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MetricKind {
    /// Percent, 0 to 100.
    Performance,
    /// Not negative.
    Traffic,
    /// Unbounded.
    Named,
}

impl MetricKind {
    fn range(self) -> (f64, f64) {
        match self {
            MetricKind::Performance => (0.0, 100.0),
            MetricKind::Traffic => (0.0, f64::INFINITY),
            MetricKind::Named => (f64::NEG_INFINITY, f64::INFINITY),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DefBad {
    None,
    BlankName,
    NanThreshold,
    ImpossibleThreshold,
    WindowTooLong,
    NoMeasures,
    UnknownCustomer,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Def {
    metric: MetricKind,
    comparison: Comparison,
    window: u32,
    customer: bool,
    bad: DefBad,
}

impl Def {
    /// 90 for the "above" comparisons, 10 for the "below" ones: crossable in every range.
    fn threshold(&self) -> f64 {
        match self.comparison {
            Comparison::Above | Comparison::AtOrAbove => 90.0,
            Comparison::Below | Comparison::AtOrBelow => 10.0,
        }
    }

    fn past(&self, value: f64) -> bool {
        let t = self.threshold();
        match self.comparison {
            Comparison::Above => value > t,
            Comparison::AtOrAbove => value >= t,
            Comparison::Below => value < t,
            Comparison::AtOrBelow => value <= t,
        }
    }

    /// How far back a sample may be dated: the window, at least a minute.
    fn sample_window(&self) -> i64 {
        i64::from(self.window.max(60))
    }

    fn build(&self) -> RuleDefinition {
        let mut d = RuleDefinition {
            name: "saturation".into(),
            metric: match self.metric {
                MetricKind::Performance => Metric::SystemPerformance,
                MetricKind::Traffic => Metric::NetworkTraffic,
                MetricKind::Named => Metric::Named("queue depth".into()),
            },
            scope: if self.customer {
                ScopeKind::CustomerSystem {
                    org: OrgId::new("acme").expect("org"),
                }
            } else {
                ScopeKind::InternalSystem
            },
            comparison: self.comparison,
            threshold: self.threshold(),
            window_seconds: self.window,
            severity: Severity::High,
            measures: vec!["check runaway processes".into()],
        };
        match self.bad {
            DefBad::None => {}
            DefBad::BlankName => d.name = " ".into(),
            DefBad::NanThreshold => d.threshold = f64::NAN,
            DefBad::ImpossibleThreshold => {
                d.metric = Metric::SystemPerformance;
                d.comparison = Comparison::Above;
                d.threshold = 100.0;
            }
            DefBad::WindowTooLong => d.window_seconds = 86_401,
            DefBad::NoMeasures => d.measures.clear(),
            DefBad::UnknownCustomer => {
                d.scope = ScopeKind::CustomerSystem {
                    org: OrgId::new("initech").expect("org"),
                }
            }
        }
        d
    }
}

#[derive(Debug, Clone)]
enum Cmd {
    Define(Def),
    Sample {
        scope: usize,
        value: f64,
        /// Seconds before now the sample is dated (negative: in the future).
        lag: i64,
    },
    Retire {
        blank: bool,
    },
}

#[derive(Debug, Clone)]
enum Step {
    Do(Who, Cmd),
    /// Seconds pass.
    Advance(i64),
    Offboard(Who),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct OpenAlert {
    occurrence: u32,
    since: i64,
    raised_at: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Target {
    pending_since: Option<i64>,
    alert: Option<OpenAlert>,
    occurrences: u32,
    last_change: Option<i64>,
}

#[derive(Debug, Clone, Default)]
struct Model {
    def: Option<Def>,
    retired: bool,
    targets: BTreeMap<usize, Target>,
    now_seconds: i64,
    people: People,
    events: u64,
    last: Option<u64>,
}

impl Model {
    /// The events the rule records for the command, or `None` if it is refused; applies
    /// them to the model.
    fn step(&mut self, who: Who, cmd: &Cmd) -> Option<u64> {
        if !self.people.security(who) {
            return None;
        }
        let def = match (cmd, self.def) {
            (Cmd::Define(def), None) => {
                if def.bad != DefBad::None {
                    return None;
                }
                self.def = Some(*def);
                return Some(1);
            }
            (_, None) => return None,
            (_, Some(_)) if self.retired => return None,
            (Cmd::Define(_), Some(_)) => return None,
            (_, Some(def)) => def,
        };
        let now = self.now_seconds;
        match cmd {
            Cmd::Define(_) => None,
            Cmd::Retire { blank } => {
                if *blank {
                    return None;
                }
                let mut events = 1;
                // Retiring clears every open alert, dated now.
                for t in self.targets.values_mut() {
                    if t.alert.take().is_some() {
                        t.pending_since = None;
                        t.last_change = Some(now);
                        events += 1;
                    }
                }
                self.retired = true;
                Some(events)
            }
            Cmd::Sample { scope, value, lag } => {
                let (lo, hi) = def.metric.range();
                let at = now - lag;
                let target = self.targets.get(scope).cloned().unwrap_or_default();
                let valid = SCOPES[*scope].trim() != ""
                    && value.is_finite()
                    && (lo..=hi).contains(value)
                    && *lag >= 0
                    && *lag <= def.sample_window()
                    && target.last_change.is_none_or(|last| at >= last);
                if !valid {
                    return None;
                }
                let mut t = target;
                let recorded = match (def.past(*value), t.alert, t.pending_since) {
                    (true, Some(_), _) | (false, None, None) => 0,
                    (false, Some(_), _) => {
                        // The alert clears: the metric is back inside.
                        t.alert = None;
                        t.pending_since = None;
                        t.last_change = Some(at);
                        1
                    }
                    (false, None, Some(_)) => {
                        // Back inside before the window ran out: no alert.
                        t.pending_since = None;
                        t.last_change = Some(at);
                        1
                    }
                    (true, None, pending) => {
                        let since = pending.unwrap_or(at);
                        if at - since >= i64::from(def.window) {
                            t.occurrences += 1;
                            t.alert = Some(OpenAlert {
                                occurrence: t.occurrences,
                                since,
                                raised_at: at,
                            });
                            t.pending_since = None;
                            t.last_change = Some(at);
                            1
                        } else if pending.is_none() {
                            t.pending_since = Some(at);
                            t.last_change = Some(at);
                            1
                        } else {
                            0
                        }
                    }
                };
                if recorded > 0 {
                    self.targets.insert(*scope, t);
                }
                Some(recorded)
            }
        }
    }
}

fn definition() -> BoxedStrategy<Def> {
    let metric = prop_oneof![
        Just(MetricKind::Performance),
        Just(MetricKind::Traffic),
        Just(MetricKind::Named)
    ];
    let comparison = prop_oneof![
        Just(Comparison::Above),
        Just(Comparison::AtOrAbove),
        Just(Comparison::Below),
        Just(Comparison::AtOrBelow)
    ];
    let bad = prop_oneof![
        18 => Just(DefBad::None),
        1 => Just(DefBad::BlankName),
        1 => Just(DefBad::NanThreshold),
        1 => Just(DefBad::ImpossibleThreshold),
        1 => Just(DefBad::WindowTooLong),
        1 => Just(DefBad::NoMeasures),
        1 => Just(DefBad::UnknownCustomer),
    ];
    let window = prop_oneof![Just(0u32), Just(60u32), Just(300u32)];
    (metric, comparison, window, any::<bool>(), bad)
        .prop_map(|(metric, comparison, window, customer, bad)| Def {
            metric,
            comparison,
            window,
            customer,
            bad,
        })
        .boxed()
}

fn value() -> BoxedStrategy<f64> {
    prop_oneof![
        12 => prop::sample::select(vec![0.0, 5.0, 10.0, 50.0, 90.0, 95.0, 100.0]),
        2 => prop::sample::select(vec![-5.0, 150.0]),
        1 => prop::sample::select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY]),
    ]
    .boxed()
}

fn lag() -> BoxedStrategy<i64> {
    prop_oneof![
        10 => Just(0i64),
        4 => prop::sample::select(vec![10i64, 30, 59, 60]),
        1 => prop::sample::select(vec![-30i64, -1, 61, 120, 299, 300, 301, 600]),
    ]
    .boxed()
}

fn sample() -> BoxedStrategy<Cmd> {
    (
        prop_oneof![10 => 0usize..2, 1 => Just(2usize)],
        value(),
        lag(),
    )
        .prop_map(|(scope, value, lag)| Cmd::Sample { scope, value, lag })
        .boxed()
}

fn cmd() -> BoxedStrategy<Cmd> {
    prop_oneof![
        3 => definition().prop_map(Cmd::Define),
        24 => sample(),
        1 => prop::bool::weighted(0.2).prop_map(|blank| Cmd::Retire { blank }),
    ]
    .boxed()
}

struct AlertMachine;

impl ReferenceStateMachine for AlertMachine {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model::default()).boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Step> {
        let define = if state.def.is_none() { 8 } else { 0 };
        prop_oneof![
            define => (who(), definition()).prop_map(|(w, d)| Step::Do(w, Cmd::Define(d))),
            20 => (who(), cmd()).prop_map(|(w, c)| Step::Do(w, c)),
            6 => prop_oneof![1i64..30, 30i64..400].prop_map(Step::Advance),
            1 => Just(Step::Offboard(Who::Sec)),
        ]
        .boxed()
    }

    fn apply(mut state: Model, step: &Step) -> Model {
        state.last = match step {
            Step::Do(who, cmd) => {
                let outcome = state.step(*who, cmd);
                state.events += outcome.unwrap_or(0);
                outcome
            }
            Step::Advance(s) => {
                state.now_seconds += s;
                Some(0)
            }
            Step::Offboard(who) => state.people.offboard(*who).then_some(1),
        };
        state
    }
}

struct Sut {
    desk: Desk,
    rule: RuleId,
}

impl StateMachineTest for Sut {
    type SystemUnderTest = Sut;
    type Reference = AlertMachine;

    fn init_test(_: &Model) -> Sut {
        Sut {
            desk: Desk::new(),
            rule: RuleId(Uuid::from_u128(0x9)),
        }
    }

    fn apply(sut: Sut, model: &Model, step: Step) -> Sut {
        let desk = &sut.desk;
        let head = desk.engine.store().head_position().expect("head");
        match &step {
            Step::Do(who, cmd) => {
                let command = match cmd {
                    Cmd::Define(def) => RuleCommand::Define(def.build()),
                    Cmd::Sample { scope, value, lag } => RuleCommand::Sample {
                        scope: SCOPES[*scope].into(),
                        value: *value,
                        at: desk.clock.now() - Duration::seconds(*lag),
                    },
                    Cmd::Retire { blank } => RuleCommand::Retire {
                        reason: if *blank { "".into() } else { "replaced".into() },
                    },
                };
                let result = desk.engine.execute(&who.actor(), (sut.rule, command));
                expect_outcome(desk, head, &result, model.last, &step);
            }
            Step::Advance(s) => desk.advance(Duration::seconds(*s)),
            Step::Offboard(who) => offboard(desk, *who, model.last.is_some()),
        }
        sut
    }

    fn check_invariants(sut: &Sut, model: &Model) {
        let state: MonitoringRule = check_stream(&sut.desk, &sut.rule, model.events);
        assert_eq!(state.definition.is_some(), model.def.is_some(), "defined");
        if let Some(def) = &model.def {
            assert_eq!(state.definition.as_ref(), Some(&def.build()), "definition");
        }
        assert_eq!(state.retired, model.retired, "retired");
        let expected: BTreeMap<&str, Target> = model
            .targets
            .iter()
            .map(|(s, t)| (SCOPES[*s], t.clone()))
            .collect();
        let at = |t: DateTime<Utc>| (t - start()).num_seconds();
        let got: BTreeMap<&str, Target> = state
            .scopes
            .iter()
            .map(|(scope, s)| {
                if let Some(a) = &s.alert {
                    assert_eq!(&a.scope, scope, "an alert names its target");
                    assert_eq!(a.severity, Severity::High);
                    assert_eq!(a.measures, vec!["check runaway processes".to_string()]);
                }
                (
                    scope.as_str(),
                    Target {
                        pending_since: s.pending_since.map(at),
                        alert: s.alert.as_ref().map(|a| OpenAlert {
                            occurrence: a.occurrence,
                            since: at(a.since),
                            raised_at: at(a.raised_at),
                        }),
                        occurrences: s.occurrences,
                        last_change: s.last_change_at.map(at),
                    },
                )
            })
            .collect();
        assert_eq!(got, expected, "per-target alert state");
        assert_eq!(
            state.open_alerts().count(),
            model.targets.values().filter(|t| t.alert.is_some()).count(),
            "at most one open alert per target"
        );
    }
}

prop_state_machine! {
    #![proptest_config(Config { cases: cases(), failure_persistence: None, .. Config::default() })]

    #[test]
    fn alert_lifecycle_matches_the_reference_model(sequential 1..30 => Sut);
}
