//! `casebook verify`: an integrity pass over the whole log.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use casebook_core::drill::DrillEvent;
use casebook_core::monitoring::RuleEvent;
use casebook_core::plan::PlanEvent;
use casebook_core::service_levels::ServiceLevelsEvent;
use casebook_core::{DirectoryEvent, IncidentEvent, SlaAlertEvent, TicketEvent};
use casebook_store::limits::MAX_PAGE;
use casebook_store::StreamId;
use serde_json::json;

use crate::desk::Desk;
use crate::error::CliError;

/// How many problems are listed before the rest are only counted.
const MAX_LISTED: usize = 20;

/// What the pass found.
#[derive(Debug, Default)]
struct Report {
    events: u64,
    streams: usize,
    per_kind: BTreeMap<String, u64>,
    /// Events of kinds this build has no type for: their payload was only checked to be
    /// JSON.
    unchecked: u64,
    problems: Vec<String>,
    problem_count: usize,
    head: u64,
}

impl Report {
    fn problem(&mut self, text: String) {
        self.problem_count += 1;
        if self.problems.len() < MAX_LISTED {
            self.problems.push(text);
        }
    }
}

/// Reads the whole log and checks it.
///
/// # Errors
///
/// Storage errors reading it; [`CliError::Integrity`] when a check fails.
pub fn run(path: &Path, json_out: bool) -> Result<String, CliError> {
    let desk = Desk::open(path, true)?;
    let report = check(&desk)?;
    desk.close()?;
    let out = if json_out {
        let value = json!({
            "events": report.events,
            "streams": report.streams,
            "head_position": report.head,
            "per_kind": report.per_kind,
            "payloads_not_typed": report.unchecked,
            "problems": report.problem_count,
            "problem_list": report.problems,
        });
        format!("{value}\n")
    } else {
        let mut out = String::new();
        let _ = writeln!(out, "events          {}", report.events);
        let _ = writeln!(out, "streams         {}", report.streams);
        let _ = writeln!(out, "head position   {}", report.head);
        for (kind, n) in &report.per_kind {
            let _ = writeln!(out, "  {kind:<14} {n}");
        }
        if report.unchecked > 0 {
            let _ = writeln!(
                out,
                "{} events of kinds this build has no types for: checked as JSON only",
                report.unchecked
            );
        }
        let _ = writeln!(out, "problems        {}", report.problem_count);
        out
    };
    if report.problem_count > 0 {
        // The counts still go to stdout; the error line says what broke first.
        print!("{out}");
        let first = report.problems.first().cloned().unwrap_or_default();
        return Err(CliError::Integrity(format!(
            "{} problem(s) in the log; first: {first}",
            report.problem_count
        )));
    }
    Ok(out)
}

fn check(desk: &Desk) -> Result<Report, CliError> {
    let store = desk.engine.store();
    let mut report = Report::default();
    let mut versions: BTreeMap<StreamId, u64> = BTreeMap::new();
    let mut expected_position = 1;
    let mut cursor = 0;
    loop {
        let page = store.read_all(cursor, MAX_PAGE)?;
        let Some(last) = page.last() else { break };
        cursor = last.global_position;
        for e in &page {
            report.events += 1;
            if e.global_position != expected_position {
                report.problem(format!(
                    "position {} follows {}: the global log has a gap or repeat",
                    e.global_position,
                    expected_position - 1
                ));
            }
            expected_position = e.global_position + 1;
            let version = versions.entry(e.stream_id.clone()).or_insert(0);
            if e.stream_version != *version + 1 {
                report.problem(format!(
                    "{} version {} at position {} follows version {}",
                    e.stream_id, e.stream_version, e.global_position, version
                ));
            }
            *version = e.stream_version;
            *report
                .per_kind
                .entry(e.stream_id.kind().to_string())
                .or_default() += 1;
            let decoded = match e.stream_id.kind() {
                "ticket" => desk.engine.decode::<TicketEvent>(e).map(drop),
                "directory" => desk.engine.decode::<DirectoryEvent>(e).map(drop),
                "incident" => desk.engine.decode::<IncidentEvent>(e).map(drop),
                "plan" => desk.engine.decode::<PlanEvent>(e).map(drop),
                "rule" => desk.engine.decode::<RuleEvent>(e).map(drop),
                "drill" => desk.engine.decode::<DrillEvent>(e).map(drop),
                "sla" => desk.engine.decode::<SlaAlertEvent>(e).map(drop),
                "service_levels" => desk.engine.decode::<ServiceLevelsEvent>(e).map(drop),
                "assessment" => desk
                    .engine
                    .decode::<casebook_core::AssessmentEvent>(e)
                    .map(drop),
                _ => {
                    report.unchecked += 1;
                    match serde_json::from_str::<serde_json::Value>(e.payload.as_str()) {
                        Ok(_) => Ok(()),
                        Err(err) => {
                            report.problem(format!(
                                "{} version {}: payload is not JSON: {err}",
                                e.stream_id, e.stream_version
                            ));
                            Ok(())
                        }
                    }
                }
            };
            if let Err(err) = decoded {
                report.problem(err.to_string());
            }
        }
    }
    report.head = store.head_position()?;
    if report.head != expected_position - 1 {
        report.problem(format!(
            "the store's head position is {} but the log ends at {}",
            report.head,
            expected_position - 1
        ));
    }
    for (stream, version) in &versions {
        let head = store.stream_version(stream)?;
        if head != *version {
            report.problem(format!(
                "{stream} is at version {head} but its events end at {version}"
            ));
        }
    }
    report.streams = versions.len();
    Ok(report)
}
