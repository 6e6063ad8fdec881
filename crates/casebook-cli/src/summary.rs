//! Folds of the whole log that the tool prints: every ticket's state, and the desk
//! summary at the end of a simulation.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use casebook::Engine;
use casebook_core::ticket::{Stage, TicketEvent};
use casebook_core::{Aggregate, Severity, Ticket, TicketId};
use casebook_store::limits::MAX_PAGE;

use crate::error::CliError;

/// Every ticket's state, folded from the global log, and the log position it was folded
/// at. Ordered by id (UUID v7: roughly by opening time).
///
/// # Errors
///
/// Storage and decode errors.
pub fn fold_tickets(engine: &Engine) -> Result<(BTreeMap<TicketId, Ticket>, u64), CliError> {
    let mut tickets: BTreeMap<TicketId, Ticket> = BTreeMap::new();
    let mut position = 0;
    loop {
        let page = engine.store().read_all(position, MAX_PAGE)?;
        let Some(last) = page.last() else { break };
        position = last.global_position;
        for envelope in &page {
            if envelope.stream_id.kind() != Ticket::KIND {
                continue;
            }
            let event: TicketEvent = engine.decode(envelope)?;
            let id = envelope
                .stream_id
                .local_id()
                .parse::<TicketId>()
                .map_err(|e| CliError::Storage(format!("stream {}: {e}", envelope.stream_id)))?;
            tickets
                .entry(id)
                .or_default()
                .evolve(&event, envelope.recorded_at);
        }
    }
    Ok((tickets, position))
}

/// The desk at the end of a simulation, as text. Depends only on the log, so the same
/// log prints the same summary.
pub fn render(tickets: &BTreeMap<TicketId, Ticket>, position: u64) -> String {
    let mut by_stage: BTreeMap<Stage, usize> = BTreeMap::new();
    let mut by_severity: BTreeMap<Option<Severity>, (usize, usize)> = BTreeMap::new();
    let (mut scores, mut rated, mut reopens, mut reopened_tickets) = (0u64, 0u64, 0u64, 0usize);
    let (mut withdrawn, mut by_silence, mut failed) = (0usize, 0usize, 0u64);
    for t in tickets.values() {
        let Some(stage) = t.stage else { continue };
        *by_stage.entry(stage).or_default() += 1;
        let entry = by_severity.entry(t.severity).or_default();
        entry.0 += 1;
        if stage == Stage::Closed {
            entry.1 += 1;
        }
        if let Some(s) = t.satisfaction {
            scores += u64::from(s);
            rated += 1;
        }
        reopens += u64::from(t.reopens);
        if t.reopens > 0 {
            reopened_tickets += 1;
        }
        if t.withdrawal.is_some() {
            withdrawn += 1;
        }
        if t.feedback == Some(casebook_core::ticket::Feedback::ConfirmedBySilence) {
            by_silence += 1;
        }
        failed += u64::from(t.failed_verifications);
    }
    let opened = tickets.len();
    let closed = by_stage.get(&Stage::Closed).copied().unwrap_or(0);
    let mut out = String::new();
    let _ = writeln!(out, "log position       {position}");
    let _ = writeln!(out, "tickets opened     {opened}");
    let _ = writeln!(out, "tickets closed     {closed}");
    let _ = writeln!(out, "tickets open       {}", opened - closed);
    for (stage, n) in &by_stage {
        if stage.is_open() {
            let _ = writeln!(out, "  in {:<14} {n}", stage.as_str());
        }
    }
    let _ = writeln!(out, "per severity       opened  closed");
    for (severity, (n, c)) in &by_severity {
        let name = severity.map_or_else(|| "(untriaged)".to_string(), |s| s.to_string());
        let _ = writeln!(out, "  {name:<16} {n:>6}  {c:>6}");
    }
    // Two decimals from integers, so the text never depends on float formatting.
    let mean = (scores * 100 + rated / 2).checked_div(rated).map_or_else(
        || "-".to_string(),
        |hundredths| format!("{}.{:02}", hundredths / 100, hundredths % 100),
    );
    let _ = writeln!(out, "mean satisfaction  {mean} / 5 ({rated} ratings)");
    let _ = writeln!(
        out,
        "reopens            {reopens} (on {reopened_tickets} tickets)"
    );
    let _ = writeln!(out, "failed verifications {failed}");
    let _ = writeln!(out, "confirmed by silence {by_silence}");
    let _ = writeln!(out, "withdrawn          {withdrawn}");
    out
}
