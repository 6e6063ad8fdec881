//! Monitoring rules, metric samples and alerts (domain.md §5).
//!
//! A [`MonitoringRule`] names a metric, a scope, a threshold with a comparison and a
//! window, a severity and suggested measures. Samples come in with
//! [`RuleCommand::Sample`]; per monitored target (the alert's scope) the rule keeps one
//! small state machine:
//!
//! ```text
//! inside --past threshold--> pending --still past after the window--> firing (alert raised)
//!   ^                            |                                        |
//!   +------back inside-----------+----------------back inside-------------+ (alert cleared)
//! ```
//!
//! With a window of zero the first sample past the threshold raises the alert at once.
//! Only changes of this state are recorded: a sample that changes nothing decides no
//! events, so a high rate of samples does not become a high rate of events. There is at
//! most one open alert per (rule, scope); [`ScopeState::occurrences`] counts how many
//! alerts the scope has had, and each alert carries its occurrence number.
//!
//! Bad input is refused with a typed [`Rejection`] and records nothing: a non-finite
//! sample, a negative sample of a metric that cannot be negative, a sample dated in the
//! future or older than the rule's window (at least [`MIN_SAMPLE_WINDOW_SECONDS`]) before
//! now or before the scope's last recorded change, and a rule whose threshold can never
//! be crossed.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, Context, DomainCommand, DomainEvent};
use crate::ids::{OrgId, RuleId};
use crate::rejection::{check_text, Rejection, Rule, MAX_LONG_TEXT, MAX_SHORT_TEXT};
use crate::roles::Permission;
use crate::Severity;

/// How late a sample may arrive, at least, whatever the rule's window.
pub const MIN_SAMPLE_WINDOW_SECONDS: u32 = 60;
/// The longest window a rule may have (one day).
pub const MAX_WINDOW_SECONDS: u32 = 86_400;

/// What a rule watches.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// System performance: utilisation in percent, 0 to 100.
    SystemPerformance,
    /// Network traffic, in bytes per second (not negative).
    NetworkTraffic,
    /// Open vulnerabilities, a count.
    OpenVulnerabilities,
    /// Security incidents, a count.
    SecurityIncidents,
    /// Any other named metric, unbounded.
    Named(String),
}

impl Metric {
    /// The range a sample of this metric can take.
    pub fn range(&self) -> (f64, f64) {
        match self {
            Metric::SystemPerformance => (0.0, 100.0),
            Metric::NetworkTraffic | Metric::OpenVulnerabilities | Metric::SecurityIncidents => {
                (0.0, f64::INFINITY)
            }
            Metric::Named(_) => (f64::NEG_INFINITY, f64::INFINITY),
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Metric::SystemPerformance => f.write_str("system performance (%)"),
            Metric::NetworkTraffic => f.write_str("network traffic (B/s)"),
            Metric::OpenVulnerabilities => f.write_str("open vulnerabilities"),
            Metric::SecurityIncidents => f.write_str("security incidents"),
            Metric::Named(n) => f.write_str(n),
        }
    }
}

/// Where the monitored targets are.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeKind {
    /// The desk's own systems.
    InternalSystem,
    /// A customer's systems.
    CustomerSystem {
        /// The customer.
        org: OrgId,
    },
    /// Network devices.
    NetworkDevice,
}

impl fmt::Display for ScopeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScopeKind::InternalSystem => f.write_str("internal system"),
            ScopeKind::CustomerSystem { org } => write!(f, "customer system of {org}"),
            ScopeKind::NetworkDevice => f.write_str("network device"),
        }
    }
}

/// How a sample is compared with the threshold; "past the threshold" means the
/// comparison holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    /// value > threshold.
    Above,
    /// value ≥ threshold.
    AtOrAbove,
    /// value < threshold.
    Below,
    /// value ≤ threshold.
    AtOrBelow,
}

impl Comparison {
    /// Whether `value` is past `threshold`.
    pub fn past(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::Above => value > threshold,
            Comparison::AtOrAbove => value >= threshold,
            Comparison::Below => value < threshold,
            Comparison::AtOrBelow => value <= threshold,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Comparison::Above => ">",
            Comparison::AtOrAbove => ">=",
            Comparison::Below => "<",
            Comparison::AtOrBelow => "<=",
        }
    }
}

/// A rule's definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleDefinition {
    /// Name.
    pub name: String,
    /// The metric.
    pub metric: Metric,
    /// Where its targets are.
    pub scope: ScopeKind,
    /// How samples compare with the threshold.
    pub comparison: Comparison,
    /// The threshold.
    pub threshold: f64,
    /// How long, in seconds, the metric must stay past the threshold before an alert is
    /// raised (0: at once).
    pub window_seconds: u32,
    /// Severity of the alert (and of the incident it declares).
    pub severity: Severity,
    /// Suggested measures, carried by the alert.
    pub measures: Vec<String>,
}

impl RuleDefinition {
    fn check(&self, ctx: &Context<'_>) -> Result<(), Rejection> {
        check_text("name", &self.name, MAX_SHORT_TEXT)?;
        if let Metric::Named(n) = &self.metric {
            check_text("metric", n, MAX_SHORT_TEXT)?;
        }
        if let ScopeKind::CustomerSystem { org } = &self.scope {
            if !ctx.directory.customers.contains_key(org) {
                return Err(Rejection::NotFound {
                    kind: "customer",
                    id: org.to_string(),
                });
            }
        }
        if self.window_seconds > MAX_WINDOW_SECONDS {
            return Err(Rejection::invalid(
                "window",
                format!(
                    "{} seconds; at most {MAX_WINDOW_SECONDS}",
                    self.window_seconds
                ),
            ));
        }
        if self.measures.is_empty() || self.measures.len() > 50 {
            return Err(Rejection::invalid("measures", "suggest 1 to 50 measures"));
        }
        for m in &self.measures {
            check_text("measure", m, MAX_LONG_TEXT)?;
        }
        let t = self.threshold;
        if !t.is_finite() {
            return Err(Rejection::invalid(
                "threshold",
                format!("{t} is not a finite number"),
            ));
        }
        let (lo, hi) = self.metric.range();
        // A threshold no sample in the metric's range can pass would never alert.
        let impossible = match self.comparison {
            Comparison::Above => t >= hi,
            Comparison::AtOrAbove => t > hi,
            Comparison::Below => t <= lo,
            Comparison::AtOrBelow => t < lo,
        };
        if impossible {
            return Err(Rejection::invalid(
                "threshold",
                format!(
                    "{} {} {t} can never hold: {} lies in [{lo}, {hi}]",
                    self.metric,
                    self.comparison.symbol(),
                    self.metric
                ),
            ));
        }
        Ok(())
    }

    /// The longest a sample may lag behind now.
    pub fn sample_window(&self) -> Duration {
        Duration::seconds(i64::from(
            self.window_seconds.max(MIN_SAMPLE_WINDOW_SECONDS),
        ))
    }
}

/// The raised alert: what §4.3.2 asks an alert to carry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The target it concerns.
    pub scope: String,
    /// Its occurrence number for (rule, scope): 1, 2, ...
    pub occurrence: u32,
    /// When the metric first went past the threshold.
    pub since: DateTime<Utc>,
    /// The sample time that raised it.
    pub raised_at: DateTime<Utc>,
    /// The sample value that raised it.
    pub value: f64,
    /// Description.
    pub description: String,
    /// Possible impact scope.
    pub impact: String,
    /// Suggested measures.
    pub measures: Vec<String>,
    /// Severity.
    pub severity: Severity,
}

/// Where one monitored target stands.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ScopeState {
    /// Past the threshold since then, waiting for the window (no alert yet).
    pub pending_since: Option<DateTime<Utc>>,
    /// The open alert.
    pub alert: Option<Alert>,
    /// How many alerts the scope has had.
    pub occurrences: u32,
    /// The sample time of the last recorded change; older samples are refused.
    pub last_change_at: Option<DateTime<Utc>>,
}

/// Commands on a monitoring rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleCommand {
    /// Defines the rule.
    Define(RuleDefinition),
    /// A metric sample for one target.
    Sample {
        /// The target (system or device name).
        scope: String,
        /// The value.
        value: f64,
        /// When it was measured.
        at: DateTime<Utc>,
    },
    /// Retires the rule; its open alerts are cleared.
    Retire {
        /// Why.
        reason: String,
    },
}

impl DomainCommand for RuleCommand {
    fn name(&self) -> &'static str {
        match self {
            RuleCommand::Define(_) => "define a monitoring rule",
            RuleCommand::Sample { .. } => "take a metric sample",
            RuleCommand::Retire { .. } => "retire a monitoring rule",
        }
    }
}

/// Events of a monitoring rule: changes of alert state only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RuleEvent {
    /// Defined.
    RuleDefined {
        /// The rule.
        rule: RuleId,
        /// Definition.
        definition: RuleDefinition,
    },
    /// A target went past the threshold; the window started.
    BreachStarted {
        /// Target.
        scope: String,
        /// Sample time.
        at: DateTime<Utc>,
        /// Sample value.
        value: f64,
    },
    /// A target came back inside before the window ran out; no alert.
    BreachEnded {
        /// Target.
        scope: String,
        /// Sample time.
        at: DateTime<Utc>,
        /// Sample value.
        value: f64,
    },
    /// An alert raised.
    AlertRaised {
        /// The rule.
        rule: RuleId,
        /// The alert.
        alert: Alert,
    },
    /// An alert cleared: the metric is back inside.
    AlertCleared {
        /// The rule.
        rule: RuleId,
        /// Target.
        scope: String,
        /// Occurrence.
        occurrence: u32,
        /// Sample time.
        at: DateTime<Utc>,
        /// Sample value (`None` when cleared by retiring the rule).
        value: Option<f64>,
    },
    /// Retired.
    RuleRetired {
        /// Why.
        reason: String,
    },
}

impl DomainEvent for RuleEvent {
    fn event_type(&self) -> &'static str {
        match self {
            RuleEvent::RuleDefined { .. } => "MonitoringRuleDefined",
            RuleEvent::BreachStarted { .. } => "MonitoringBreachStarted",
            RuleEvent::BreachEnded { .. } => "MonitoringBreachEnded",
            RuleEvent::AlertRaised { .. } => "AlertRaised",
            RuleEvent::AlertCleared { .. } => "AlertCleared",
            RuleEvent::RuleRetired { .. } => "MonitoringRuleRetired",
        }
    }
}

/// A monitoring rule's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MonitoringRule {
    /// Id, once defined.
    pub id: Option<RuleId>,
    /// Definition, once defined.
    pub definition: Option<RuleDefinition>,
    /// Per target.
    pub scopes: BTreeMap<String, ScopeState>,
    /// Whether retired.
    pub retired: bool,
}

impl MonitoringRule {
    /// The open alerts.
    pub fn open_alerts(&self) -> impl Iterator<Item = &Alert> {
        self.scopes.values().filter_map(|s| s.alert.as_ref())
    }
}

impl Aggregate for MonitoringRule {
    const KIND: &'static str = "rule";
    type Id = RuleId;
    type Command = RuleCommand;
    type Event = RuleEvent;

    fn decide(
        &self,
        id: &RuleId,
        command: &RuleCommand,
        ctx: &Context<'_>,
    ) -> Result<Vec<RuleEvent>, Rejection> {
        ctx.principal
            .require(Permission::HandleSecurity, command.name())?;
        if let RuleCommand::Define(definition) = command {
            if self.id.is_some() {
                return Err(Rejection::rule(Rule::AlreadyExists, "the rule exists"));
            }
            definition.check(ctx)?;
            return Ok(vec![RuleEvent::RuleDefined {
                rule: *id,
                definition: definition.clone(),
            }]);
        }
        let Some(def) = &self.definition else {
            return Err(Rejection::NotFound {
                kind: "monitoring rule",
                id: id.to_string(),
            });
        };
        if self.retired {
            return Err(Rejection::rule(
                Rule::UnusableReference,
                format!("monitoring rule {id} is retired"),
            ));
        }
        match command {
            RuleCommand::Define(_) => Err(Rejection::rule(Rule::AlreadyExists, "the rule exists")),
            RuleCommand::Retire { reason } => {
                check_text("reason", reason, MAX_LONG_TEXT)?;
                let mut events: Vec<RuleEvent> = self
                    .scopes
                    .iter()
                    .filter_map(|(scope, s)| {
                        s.alert.as_ref().map(|a| RuleEvent::AlertCleared {
                            rule: *id,
                            scope: scope.clone(),
                            occurrence: a.occurrence,
                            at: ctx.now,
                            value: None,
                        })
                    })
                    .collect();
                events.push(RuleEvent::RuleRetired {
                    reason: reason.clone(),
                });
                Ok(events)
            }
            RuleCommand::Sample { scope, value, at } => {
                check_text("scope", scope, MAX_SHORT_TEXT)?;
                let value = *value;
                if !value.is_finite() {
                    return Err(Rejection::invalid(
                        "sample value",
                        format!("{value} is not a finite number"),
                    ));
                }
                let (lo, hi) = def.metric.range();
                if value < lo || value > hi {
                    return Err(Rejection::invalid(
                        "sample value",
                        format!("{value} is outside [{lo}, {hi}] for {}", def.metric),
                    ));
                }
                if *at > ctx.now {
                    return Err(Rejection::invalid(
                        "sample time",
                        format!("{} is in the future", at.to_rfc3339()),
                    ));
                }
                if *at < ctx.now - def.sample_window() {
                    return Err(Rejection::invalid(
                        "sample time",
                        format!(
                            "{} is older than the rule's window ({} s) before now",
                            at.to_rfc3339(),
                            def.sample_window().num_seconds()
                        ),
                    ));
                }
                let state = self.scopes.get(scope);
                if let Some(last) = state.and_then(|s| s.last_change_at) {
                    if *at < last {
                        return Err(Rejection::rule(
                            Rule::OutOfOrder,
                            format!(
                                "sample at {} is older than the last change at {}",
                                at.to_rfc3339(),
                                last.to_rfc3339()
                            ),
                        ));
                    }
                }
                Ok(self.on_sample(*id, def, scope, value, *at, state))
            }
        }
    }

    fn evolve(&mut self, event: &RuleEvent, _at: DateTime<Utc>) {
        match event {
            RuleEvent::RuleDefined { rule, definition } => {
                self.id = Some(*rule);
                self.definition = Some(definition.clone());
            }
            RuleEvent::BreachStarted { scope, at, .. } => {
                let s = self.scopes.entry(scope.clone()).or_default();
                s.pending_since = Some(*at);
                s.last_change_at = Some(*at);
            }
            RuleEvent::BreachEnded { scope, at, .. } => {
                let s = self.scopes.entry(scope.clone()).or_default();
                s.pending_since = None;
                s.last_change_at = Some(*at);
            }
            RuleEvent::AlertRaised { alert, .. } => {
                let s = self.scopes.entry(alert.scope.clone()).or_default();
                s.pending_since = None;
                s.occurrences = s.occurrences.max(alert.occurrence);
                s.last_change_at = Some(alert.raised_at);
                s.alert = Some(alert.clone());
            }
            RuleEvent::AlertCleared { scope, at, .. } => {
                let s = self.scopes.entry(scope.clone()).or_default();
                s.alert = None;
                s.pending_since = None;
                s.last_change_at = Some(*at);
            }
            RuleEvent::RuleRetired { .. } => self.retired = true,
        }
    }
}

impl MonitoringRule {
    fn on_sample(
        &self,
        id: RuleId,
        def: &RuleDefinition,
        scope: &str,
        value: f64,
        at: DateTime<Utc>,
        state: Option<&ScopeState>,
    ) -> Vec<RuleEvent> {
        let past = def.comparison.past(value, def.threshold);
        let open = state.and_then(|s| s.alert.as_ref());
        let pending = state.and_then(|s| s.pending_since);
        let window = Duration::seconds(i64::from(def.window_seconds));
        match (past, open, pending) {
            (true, Some(_), _) | (false, None, None) => Vec::new(),
            (false, Some(alert), _) => vec![RuleEvent::AlertCleared {
                rule: id,
                scope: scope.to_string(),
                occurrence: alert.occurrence,
                at,
                value: Some(value),
            }],
            (false, None, Some(_)) => vec![RuleEvent::BreachEnded {
                scope: scope.to_string(),
                at,
                value,
            }],
            (true, None, since) => {
                let since_or_now = since.unwrap_or(at);
                if at - since_or_now >= window {
                    let occurrence = state.map_or(0, |s| s.occurrences).saturating_add(1);
                    vec![RuleEvent::AlertRaised {
                        rule: id,
                        alert: Alert {
                            scope: scope.to_string(),
                            occurrence,
                            since: since_or_now,
                            raised_at: at,
                            value,
                            description: format!(
                                "{}: {} is {value} ({} {}) on {scope}",
                                def.name,
                                def.metric,
                                def.comparison.symbol(),
                                def.threshold
                            ),
                            impact: format!("{} {scope}", def.scope),
                            measures: def.measures.clone(),
                            severity: def.severity,
                        },
                    }]
                } else if since.is_none() {
                    vec![RuleEvent::BreachStarted {
                        scope: scope.to_string(),
                        at,
                        value,
                    }]
                } else {
                    Vec::new()
                }
            }
        }
    }
}
