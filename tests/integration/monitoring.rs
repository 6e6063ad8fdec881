//! Monitoring rules, samples and alerts, and the alert process manager.

use casebook::prelude::*;
use chrono::Duration;

use crate::plans::create_plan;
use crate::support::{rule_of, Desk};

pub fn cpu_rule(window_seconds: u32) -> RuleDefinition {
    RuleDefinition {
        name: "CPU saturation".into(),
        metric: Metric::SystemPerformance,
        scope: ScopeKind::InternalSystem,
        comparison: Comparison::Above,
        threshold: 90.0,
        window_seconds,
        severity: Severity::High,
        measures: vec!["check runaway processes".into()],
    }
}

pub fn define(desk: &Desk, def: RuleDefinition) -> RuleId {
    let rule = RuleId(desk.engine.new_id());
    desk.engine
        .execute(&desk.sec, (rule, RuleCommand::Define(def)))
        .unwrap();
    rule
}

pub fn sample(desk: &Desk, rule: RuleId, scope: &str, value: f64) -> Result<usize, EngineError> {
    let at = desk.clock.now();
    desk.engine
        .execute(
            &Actor::system("monitoring-feed"),
            (
                rule,
                RuleCommand::Sample {
                    scope: scope.into(),
                    value,
                    at,
                },
            ),
        )
        .map(|e| e.len())
}

#[test]
fn only_changes_of_alert_state_are_recorded() {
    let desk = Desk::new();
    let rule = define(&desk, cpu_rule(0));
    let head = desk.engine.store().head_position().unwrap();
    for _ in 0..50 {
        assert_eq!(sample(&desk, rule, "db-01", 40.0).unwrap(), 0);
    }
    assert_eq!(sample(&desk, rule, "db-01", 95.0).unwrap(), 1);
    for _ in 0..50 {
        desk.advance(Duration::seconds(1));
        assert_eq!(sample(&desk, rule, "db-01", 99.0).unwrap(), 0);
    }
    assert_eq!(desk.engine.store().head_position().unwrap(), head + 1);
    let state = desk.engine.monitoring_rule(rule).unwrap();
    let alert = state.open_alerts().next().unwrap();
    assert_eq!(alert.occurrence, 1);
    assert_eq!(alert.measures, vec!["check runaway processes".to_string()]);
    assert!(alert.description.contains("db-01"));
    assert!(alert.impact.contains("internal system"));

    assert_eq!(sample(&desk, rule, "db-01", 20.0).unwrap(), 1);
    assert_eq!(
        desk.engine
            .monitoring_rule(rule)
            .unwrap()
            .open_alerts()
            .count(),
        0
    );
    desk.advance(Duration::seconds(1));
    assert_eq!(sample(&desk, rule, "db-01", 97.0).unwrap(), 1);
    let state = desk.engine.monitoring_rule(rule).unwrap();
    assert_eq!(state.open_alerts().next().unwrap().occurrence, 2);
    assert_eq!(state.scopes["db-01"].occurrences, 2);
}

#[test]
fn a_window_needs_the_breach_to_last() {
    let desk = Desk::new();
    let rule = define(&desk, cpu_rule(300));
    assert_eq!(sample(&desk, rule, "web-01", 95.0).unwrap(), 1); // breach started
    desk.advance(Duration::minutes(2));
    assert_eq!(sample(&desk, rule, "web-01", 96.0).unwrap(), 0);
    desk.advance(Duration::minutes(1));
    assert_eq!(sample(&desk, rule, "web-01", 50.0).unwrap(), 1); // breach ended, no alert
    assert_eq!(
        desk.engine
            .monitoring_rule(rule)
            .unwrap()
            .open_alerts()
            .count(),
        0
    );
    assert_eq!(sample(&desk, rule, "web-01", 95.0).unwrap(), 1);
    desk.advance(Duration::minutes(5));
    assert_eq!(sample(&desk, rule, "web-01", 95.0).unwrap(), 1); // raised
    let state = desk.engine.monitoring_rule(rule).unwrap();
    assert_eq!(state.open_alerts().count(), 1);
}

#[test]
fn bad_samples_and_impossible_thresholds_are_typed_errors_that_record_nothing() {
    let desk = Desk::new();
    let rule = define(&desk, cpu_rule(120));
    let head = desk.engine.store().head_position().unwrap();
    for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, 100.5] {
        let err = sample(&desk, rule, "db-01", value).unwrap_err();
        assert!(
            matches!(
                err.rejection(),
                Some(Rejection::InvalidInput {
                    field: "sample value",
                    ..
                })
            ),
            "{value}: {err}"
        );
    }
    let now = desk.clock.now();
    for at in [now - Duration::seconds(121), now + Duration::seconds(1)] {
        let err = desk
            .engine
            .execute(
                &desk.sec,
                (
                    rule,
                    RuleCommand::Sample {
                        scope: "db-01".into(),
                        value: 10.0,
                        at,
                    },
                ),
            )
            .unwrap_err();
        assert!(matches!(
            err.rejection(),
            Some(Rejection::InvalidInput {
                field: "sample time",
                ..
            })
        ));
    }
    for (comparison, threshold) in [
        (Comparison::Above, 100.0),
        (Comparison::Below, 0.0),
        (Comparison::AtOrAbove, 101.0),
        (Comparison::Above, f64::NAN),
    ] {
        let mut def = cpu_rule(0);
        def.comparison = comparison;
        def.threshold = threshold;
        let err = desk
            .engine
            .execute(
                &desk.sec,
                (RuleId(desk.engine.new_id()), RuleCommand::Define(def)),
            )
            .unwrap_err();
        assert!(matches!(
            err.rejection(),
            Some(Rejection::InvalidInput {
                field: "threshold",
                ..
            })
        ));
    }
    assert_eq!(desk.engine.store().head_position().unwrap(), head);
}

#[test]
fn a_sample_older_than_the_last_change_is_refused() {
    let desk = Desk::new();
    let rule = define(&desk, cpu_rule(0));
    desk.advance(Duration::seconds(30));
    sample(&desk, rule, "db-01", 95.0).unwrap();
    let err = desk
        .engine
        .execute(
            &desk.sec,
            (
                rule,
                RuleCommand::Sample {
                    scope: "db-01".into(),
                    value: 10.0,
                    at: desk.clock.now() - Duration::seconds(10),
                },
            ),
        )
        .unwrap_err();
    assert_eq!(rule_of(&err), Some(Rule::OutOfOrder));
}

#[test]
fn an_alert_declares_an_incident_and_later_alerts_join_the_open_one() {
    let desk = Desk::new();
    let plan = create_plan(&desk);
    let rule = define(&desk, cpu_rule(0));
    let mut pm = EmergencyResponse::resume(&desk.engine, EmergencyConfig::new(plan)).unwrap();
    sample(&desk, rule, "db-01", 95.0).unwrap();
    sample(&desk, rule, "db-02", 95.0).unwrap();
    pm.run_once(&desk.engine).unwrap();
    let first = pm.open_incident_for(rule, "db-01").unwrap();
    let other = pm.open_incident_for(rule, "db-02").unwrap();
    assert_ne!(first, other);
    let incident = desk.engine.incident(first).unwrap();
    assert_eq!(incident.severity, Some(Severity::High));
    assert_eq!(incident.affected_systems, vec!["db-01".to_string()]);

    // Cleared and raised again while the incident is open: joins it.
    desk.advance(Duration::seconds(5));
    sample(&desk, rule, "db-01", 10.0).unwrap();
    desk.advance(Duration::seconds(5));
    sample(&desk, rule, "db-01", 98.0).unwrap();
    pm.run_once(&desk.engine).unwrap();
    assert_eq!(pm.open_incident_for(rule, "db-01"), Some(first));
    let incident = desk.engine.incident(first).unwrap();
    assert_eq!(incident.alerts.len(), 2);
    assert!(pm.skipped().is_empty());
    let declared = desk
        .engine
        .store()
        .read_all(0, 10_000)
        .unwrap()
        .iter()
        .filter(|e| e.event_type == "IncidentDeclared")
        .count();
    assert_eq!(declared, 2);
}
