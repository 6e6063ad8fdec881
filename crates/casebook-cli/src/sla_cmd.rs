//! Service-level commands: `board`, `tick`, `replay`, `sla publish`, `sla example`.

use std::io::IsTerminal;

use casebook::projections::kpi::KpiView;
use casebook::projections::{BoardFilter, Page, SlaView};
use casebook::scheduler;
use casebook_core::{MemberId, OrgId, ServiceLevelsCommand};
use casebook_sla::SlaPolicySpec;
use casebook_store::limits::MAX_PAGE;
use chrono::Utc;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::board;
use crate::cli::{BoardArgs, Cli, SlaCmd, TopCommand};
use crate::desk::{actor, parse_time, render_recorded, Desk};
use crate::error::{usage, CliError};

fn kpi_error(e: impl std::fmt::Display) -> CliError {
    CliError::Storage(format!("KPI view: {e}"))
}

fn view_error(e: impl std::fmt::Display) -> CliError {
    CliError::Storage(format!("SLA view: {e}"))
}

/// Runs a service-level command.
///
/// # Errors
///
/// Usage, rejection and storage errors.
pub fn run(cli: &Cli) -> Result<String, CliError> {
    match &cli.command {
        TopCommand::Board(args) => board_cmd(cli, args),
        TopCommand::Tick { now } => {
            let now = now
                .as_deref()
                .map(|t| parse_time("--now", t))
                .transpose()?
                .unwrap_or_else(Utc::now);
            let desk = Desk::open(&cli.store, true)?;
            let result = scheduler::tick(&desk.engine, now);
            desk.close()?;
            let report = result.map_err(|e| match e {
                scheduler::SchedulerError::Engine(e) => CliError::from(e),
                other => view_error(other),
            })?;
            let expired: Vec<String> = report.expired.iter().map(ToString::to_string).collect();
            if cli.json {
                return Ok(format!(
                    "{}\n",
                    json!({
                        "now": now.to_rfc3339(),
                        "warnings": report.warnings,
                        "breaches": report.breaches,
                        "expired": expired,
                        "position": report.position,
                    })
                ));
            }
            let mut out = format!(
                "tick at {}: {} warnings, {} breaches recorded, {} confirmations expired (view at log position {})\n",
                now.format("%Y-%m-%dT%H:%M:%SZ"),
                report.warnings,
                report.breaches,
                expired.len(),
                report.position
            );
            for id in expired {
                out.push_str(&format!("expired {id}\n"));
            }
            Ok(out)
        }
        TopCommand::Replay => replay(cli),
        TopCommand::Sla(SlaCmd::Example {
            version,
            effective_from,
        }) => {
            let from = parse_time("--effective-from", effective_from)?;
            let value = crate::policy::standard_policy_json(*version, from);
            serde_json::to_string_pretty(&value)
                .map(|s| format!("{s}\n"))
                .map_err(|e| CliError::Usage(e.to_string()))
        }
        TopCommand::Sla(SlaCmd::Publish { file }) => {
            let who = actor(cli)?;
            // Read and parse before opening the store: bad input writes nothing.
            let text = std::fs::read_to_string(file).map_err(|e| {
                CliError::Usage(format!("cannot read policy file {}: {e}", file.display()))
            })?;
            let policy: SlaPolicySpec = serde_json::from_str(&text)
                .map_err(|e| CliError::Usage(format!("policy file {}: {e}", file.display())))?;
            let desk = Desk::open(&cli.store, false)?;
            let result = desk
                .engine
                .execute(&who, ServiceLevelsCommand::PublishPolicy { policy });
            desk.close()?;
            Ok(render_recorded(&result?, None, cli.json))
        }
        _ => Err(CliError::Usage("not a service-level command".into())),
    }
}

fn board_cmd(cli: &Cli, args: &BoardArgs) -> Result<String, CliError> {
    let filter = BoardFilter {
        customer: args
            .customer
            .as_deref()
            .map(OrgId::new)
            .transpose()
            .map_err(usage)?,
        team: args.team.clone(),
        owner: args
            .owner
            .as_deref()
            .map(MemberId::new)
            .transpose()
            .map_err(usage)?,
    };
    let as_of = args
        .as_of
        .as_deref()
        .map(|t| parse_time("--as-of", t))
        .transpose()?;
    let limit = usize::try_from(args.limit).unwrap_or(20);
    let desk = Desk::open(&cli.store, true)?;
    let result = (|| {
        let store = &**desk.engine.store();
        let (view, now) = match as_of {
            // The log as it was then: every event recorded at or before the instant.
            Some(t) => (SlaView::as_of(store, t).map_err(view_error)?, t),
            None => {
                // A read never writes: the checkpoint is only a head start.
                let mut view = SlaView::resume(store).map_err(view_error)?;
                view.catch_up(store).map_err(view_error)?;
                (view, Utc::now())
            }
        };
        Ok::<_, CliError>(view.board(now, &filter, Page::first(limit)))
    })();
    desk.close()?;
    let page = result?;
    Ok(if cli.json {
        format!("{}\n", board::render_json(&page))
    } else {
        board::render_table(&page)
    })
}

/// Rebuilds the SLA view from the first event, with a progress bar on stderr, and saves
/// its checkpoint.
fn replay(cli: &Cli) -> Result<String, CliError> {
    let desk = Desk::open(&cli.store, true)?;
    let result = (|| {
        let store = &**desk.engine.store();
        let head = store.head_position()?;
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(head), target);
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} replaying [{bar:40}] {pos}/{len} events {per_sec}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        let started = std::time::Instant::now();
        let mut view = SlaView::new();
        let mut kpi = KpiView::new();
        let (mut position, mut events) = (0u64, 0u64);
        loop {
            let page = store.read_all(position, MAX_PAGE)?;
            let Some(last) = page.last() else { break };
            position = last.global_position;
            for envelope in &page {
                view.apply(envelope).map_err(view_error)?;
                kpi.apply(envelope).map_err(kpi_error)?;
            }
            events += u64::try_from(page.len()).unwrap_or(0);
            bar.set_position(position);
        }
        bar.finish_and_clear();
        view.save_checkpoint(store).map_err(view_error)?;
        kpi.save_checkpoint(store).map_err(kpi_error)?;
        let tickets = kpi.ticket_count();
        let cases = view.cases().count();
        let open = view.cases().filter(|c| c.open).count();
        let breaches = view.breaches().len();
        let elapsed = started.elapsed();
        Ok::<_, CliError>((events, position, cases, open, breaches, tickets, elapsed))
    })();
    desk.close()?;
    let (events, position, cases, open, breaches, tickets, elapsed) = result?;
    if cli.json {
        return Ok(format!(
            "{}\n",
            json!({
                "events": events,
                "position": position,
                "views": [{"name": casebook::projections::SLA_CHECKPOINT, "cases": cases,
                    "open_cases": open, "breaches": breaches},
                    {"name": "kpi", "tickets": tickets}],
                "elapsed_ms": u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            })
        ));
    }
    Ok(format!(
        "replayed {events} events to log position {position} in {:.2} s\n\
         sla view: {cases} cases ({open} open), {breaches} breaches; checkpoint saved\n\
         kpi view: {tickets} tickets; checkpoint saved\n",
        elapsed.as_secs_f64()
    ))
}
