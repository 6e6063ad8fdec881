//! The SLA board as the tool prints it: a table (at risk and breached first, as the view
//! orders it) or JSON.

use std::fmt::Write as _;

use casebook::projections::{BoardPage, BoardRow};
use casebook_sla::{ClockState, TargetKind};
use chrono::TimeDelta;
use serde_json::{json, Value};

/// The state's name as printed and in JSON.
pub fn state_name(state: Option<ClockState>) -> &'static str {
    match state {
        Some(ClockState::Breached) => "breached",
        Some(ClockState::AtRisk) => "at_risk",
        Some(ClockState::Running) => "running",
        Some(ClockState::Paused) => "paused",
        Some(ClockState::Met) => "met",
        None => "-",
    }
}

fn target_short(t: TargetKind) -> &'static str {
    match t {
        TargetKind::FirstResponse => "first",
        TargetKind::NextUpdate => "update",
        TargetKind::Resolution => "resolve",
    }
}

/// A signed business-time span as `-1h05m` / `0h40m`.
pub fn span(d: TimeDelta) -> String {
    let minutes = d.num_minutes();
    let sign = if minutes < 0 { "-" } else { "" };
    let m = minutes.unsigned_abs();
    format!("{sign}{}h{:02}m", m / 60, m % 60)
}

/// The board as a table.
pub fn render_table(page: &BoardPage) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<9} {:<9} {:<36} {:<12} {:<14} {:<17} TARGETS (business time left)",
        "STATE", "SEVERITY", "CASE", "CUSTOMER", "OWNER", "DEADLINE (UTC)"
    );
    for row in &page.rows {
        let _ = writeln!(out, "{}", table_row(row));
    }
    if page.rows.is_empty() {
        out.push_str("(no open case on the board)\n");
    }
    let _ = writeln!(
        out,
        "{} rows{}; computed at log position {} for {}",
        page.rows.len(),
        if page.next.is_some() {
            " (more with a higher --limit)"
        } else {
            ""
        },
        page.position,
        page.now.format("%Y-%m-%dT%H:%M:%SZ")
    );
    out
}

fn table_row(row: &BoardRow) -> String {
    let targets: Vec<String> = row
        .targets
        .iter()
        .map(|t| {
            let state = state_name(Some(t.status.state));
            match t.status.state {
                ClockState::Met => format!("{} met", target_short(t.target)),
                _ => format!("{} {state} {}", target_short(t.target), span(t.status.left)),
            }
        })
        .collect();
    format!(
        "{:<9} {:<9} {:<36} {:<12} {:<14} {:<17} {}",
        state_name(row.state),
        row.severity.as_str(),
        row.case.to_string(),
        row.org.as_str(),
        row.owner.as_ref().map_or("-", |o| o.as_str()),
        row.nearest_deadline.map_or_else(
            || "-".to_string(),
            |d| d.format("%Y-%m-%d %H:%M").to_string()
        ),
        targets.join(", ")
    )
}

/// The board as JSON.
pub fn render_json(page: &BoardPage) -> Value {
    let rows: Vec<Value> = page
        .rows
        .iter()
        .map(|row| {
            let targets: Vec<Value> = row
                .targets
                .iter()
                .map(|t| {
                    json!({
                        "target": t.target.as_str(),
                        "state": state_name(Some(t.status.state)),
                        "cycle": t.status.cycle,
                        "deadline": t.status.deadline.to_rfc3339(),
                        "provisional": t.status.provisional,
                        "left_minutes": t.status.left.num_minutes(),
                        "elapsed_minutes": t.status.elapsed.num_minutes(),
                        "stopped_at": t.status.stopped_at.map(|s| s.to_rfc3339()),
                    })
                })
                .collect();
            json!({
                "case": row.case.to_string(),
                "kind": row.kind.as_str(),
                "customer": row.org.as_str(),
                "owner": row.owner.as_ref().map(|o| o.as_str()),
                "team": row.team,
                "severity": row.severity.as_str(),
                "policy_version": row.policy_version,
                "state": state_name(row.state),
                "nearest_deadline": row.nearest_deadline.map(|d| d.to_rfc3339()),
                "targets": targets,
            })
        })
        .collect();
    json!({
        "position": page.position,
        "now": page.now.to_rfc3339(),
        "more": page.next.is_some(),
        "rows": rows,
    })
}
