//! The desk's standard service-level policy: the one the simulation publishes and
//! `casebook sla example` prints as a starting point for `casebook sla publish`.

use casebook_sla::SlaPolicySpec;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::error::CliError;

/// Local dates off in the simulated quarter (Asia/Shanghai): Qingming, Labour Day and the
/// Dragon Boat Festival of 2026.
pub const HOLIDAYS: &[&str] = &[
    "2026-04-06",
    "2026-05-01",
    "2026-05-04",
    "2026-05-05",
    "2026-06-19",
];

/// Business minutes in one working day of the calendar (09:00–18:00).
const DAY: i64 = 9 * 60;

/// First response, next update and resolution targets in business minutes, per tier and
/// severity; `None` where the tier has no such target.
type Row = (&'static str, &'static str, i64, Option<i64>, i64);

const TARGETS: &[Row] = &[
    ("premium", "critical", 15, Some(30), 4 * 60),
    ("premium", "high", 30, Some(60), 8 * 60),
    ("premium", "medium", 60, Some(4 * 60), 2 * DAY),
    ("premium", "low", 4 * 60, Some(DAY), 5 * DAY),
    ("standard", "critical", 30, Some(60), 8 * 60),
    ("standard", "high", 60, Some(2 * 60), 2 * DAY),
    ("standard", "medium", 2 * 60, Some(DAY), 4 * DAY),
    ("standard", "low", 8 * 60, None, 8 * DAY),
    ("basic", "critical", 60, Some(2 * 60), DAY),
    ("basic", "high", 2 * 60, Some(4 * 60), 3 * DAY),
    ("basic", "medium", 4 * 60, None, 6 * DAY),
    ("basic", "low", 8 * 60, None, 10 * DAY),
];

/// The standard policy as JSON (the `sla publish` file format), version `version`,
/// effective from `from`.
pub fn standard_policy_json(version: u32, from: DateTime<Utc>) -> Value {
    let weekday = json!(["09:00-18:00"]);
    let targets: Vec<Value> = TARGETS
        .iter()
        .map(|(tier, severity, first, next, resolution)| {
            let mut row = json!({
                "kind": "ticket",
                "tier": tier,
                "severity": severity,
                "first_response_minutes": first,
                "resolution_minutes": resolution,
            });
            if let Some(next) = next {
                row["next_update_minutes"] = json!(next);
            }
            row
        })
        .collect();
    json!({
        "version": version,
        "effective_from": from.to_rfc3339(),
        "calendar": {
            "kind": "business_hours",
            "time_zone": "Asia/Shanghai",
            "weekly": {
                "monday": weekday, "tuesday": weekday, "wednesday": weekday,
                "thursday": weekday, "friday": weekday,
            },
            "holidays": HOLIDAYS,
        },
        "targets": targets,
        "warnings": [0.75, 0.9],
        "reopen_window_minutes": 30 * 24 * 60,
    })
}

/// The standard policy as a spec.
///
/// # Errors
///
/// [`CliError::Simulation`] if the built-in table does not parse (a bug).
pub fn standard_policy(version: u32, from: DateTime<Utc>) -> Result<SlaPolicySpec, CliError> {
    serde_json::from_value(standard_policy_json(version, from))
        .map_err(|e| CliError::Simulation(format!("the built-in SLA policy does not parse: {e}")))
}
