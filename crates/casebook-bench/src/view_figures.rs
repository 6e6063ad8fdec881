//! Figures of the read side: view rebuild from a sled log against a raw scan and
//! decode, the SLA board's top 50 against a full scan, and the memory a replay holds.

use std::collections::HashMap;
use std::error::Error;
use std::time::Instant;

use casebook_core::ticket::Urgency;
use casebook_core::{DirectoryEvent, ServiceLevelsEvent, Severity, TicketEvent};
use casebook_projections::kpi::KpiView;
use casebook_projections::{BoardFilter, Page, SlaView};
use casebook_sled::{Durability, SledOptions, SledStore};
use casebook_store::limits::MAX_PAGE;
use casebook_store::{Envelope, EventStore, ExpectedVersion, MemoryStore, StreamId};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};

use crate::workload::{monday_morning, number, preamble, realistic_log, ticket_lifecycle};
use crate::{median, run_child, Ctx, Figure};

type BenchResult<T> = Result<T, Box<dyn Error>>;

/// `rebuild` (SLA view) and `rebuild_kpi`: events folded per second from a sled log of
/// realistic ticket events, against reading the same log and decoding every payload.
pub fn rebuild(ctx: &Ctx) -> BenchResult<Vec<Figure>> {
    let tickets = if ctx.quick { 2_000 } else { 20_000 };
    let store = SledStore::open(
        ctx.fresh_dir("rebuild"),
        SledOptions {
            durability: Durability::Buffered,
        },
    )?;
    let log = realistic_log(tickets, monday_morning())?;
    let events = log.len() as f64;
    let mut versions: HashMap<StreamId, u64> = HashMap::new();
    for (stream, event) in log {
        let version = versions.entry(stream.clone()).or_insert(0);
        store.append(&stream, ExpectedVersion::Exact(*version), vec![event])?;
        *version += 1;
    }
    store.sync()?;
    eprintln!("note: rebuild folds {events} events of {tickets} tickets from sled");
    // Warm the page cache the same way for every contender.
    raw_scan(&store)?;
    let (mut raw, mut sla, mut kpi) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ctx.runs() {
        let started = Instant::now();
        raw_scan(&store)?;
        raw.push(events / started.elapsed().as_secs_f64());
        let started = Instant::now();
        std::hint::black_box(SlaView::build(&store)?);
        sla.push(events / started.elapsed().as_secs_f64());
        let started = Instant::now();
        std::hint::black_box(KpiView::build(&store)?);
        kpi.push(events / started.elapsed().as_secs_f64());
    }
    store.close()?;
    let raw = median(raw);
    Ok(vec![
        Figure {
            name: "rebuild".into(),
            value: median(sla),
            unit: "events/s",
            reference: raw,
            reference_label: "read_all + typed serde_json decode",
        },
        Figure {
            name: "rebuild_kpi".into(),
            value: median(kpi),
            unit: "events/s",
            reference: raw,
            reference_label: "read_all + typed serde_json decode",
        },
    ])
}

/// The floor of any view: every page of the log read through the store and every
/// payload decoded into its typed event.
pub(crate) fn raw_scan(store: &SledStore) -> BenchResult<()> {
    let mut after = 0;
    loop {
        let page = store.read_all(after, MAX_PAGE)?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after = last.global_position;
        for envelope in &page {
            match envelope.stream_kind() {
                "ticket" => {
                    std::hint::black_box(envelope.payload.decode::<TicketEvent>()?);
                }
                "directory" => {
                    std::hint::black_box(envelope.payload.decode::<DirectoryEvent>()?);
                }
                "service_levels" => {
                    std::hint::black_box(envelope.payload.decode::<ServiceLevelsEvent>()?);
                }
                _ => {}
            }
        }
        if page.len() < MAX_PAGE {
            return Ok(());
        }
    }
}

/// The instant the board is asked at: Tuesday 3 March 2026, 11:00 in Shanghai.
fn board_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 3, 3, 0, 0)
        .single()
        .unwrap_or(DateTime::UNIX_EPOCH)
}

/// An SLA view of `open` open tickets: 1 % opened and triaged on Monday morning (long
/// past their next-update warnings: at risk or breached at [`board_now`]), the rest in
/// the 20 minutes before it (running, nothing due yet). Events are generated and
/// applied one at a time, never kept.
pub fn open_tickets_view(open: u64) -> BenchResult<SlaView> {
    let mut view = SlaView::new();
    let mut position = 0u64;
    let mut versions: HashMap<StreamId, u64> = HashMap::new();
    let mut apply = |view: &mut SlaView,
                     stream: StreamId,
                     event: casebook_store::NewEvent|
     -> BenchResult<()> {
        position += 1;
        let version = versions.entry(stream.clone()).or_insert(0);
        *version += 1;
        view.apply(&Envelope::from_new(stream, *version, position, event))?;
        Ok(())
    };
    let start = monday_morning();
    for (stream, event) in preamble(start)? {
        apply(&mut view, stream, event)?;
    }
    let old = (open / 100).max(50);
    let recent_from = board_now() - TimeDelta::minutes(20);
    let recent_step_ms = (20 * 60 * 1000 / open.max(1)).max(1) as i64;
    for i in 0..open {
        let opened = if i < old {
            start + TimeDelta::minutes(60) + TimeDelta::seconds(i as i64 % 7_200)
        } else {
            recent_from + TimeDelta::milliseconds((i - old) as i64 * recent_step_ms)
        };
        let (id, events) = ticket_lifecycle(i, opened, false)?;
        let stream = StreamId::new("ticket", &id.to_string())?;
        for (n, (at, event)) in (0u64..).zip(events.into_iter().take(2)) {
            let event = match event {
                // Triaged one minute after opening (the lifecycle's 10 minutes would
                // put recent tickets after `now`).
                TicketEvent::Triaged { .. } => TicketEvent::Triaged {
                    severity: [Severity::Low, Severity::Medium, Severity::High][(i % 3) as usize],
                    urgency: Urgency::Normal,
                    complex: false,
                    multi_team: false,
                },
                other => other,
            };
            let at = if n == 0 {
                at
            } else {
                opened + TimeDelta::minutes(1)
            };
            let new = casebook_store::NewEvent {
                event_id: uuid::Uuid::from_u128(u128::from(i) << 1 | 1 | (n as u128) << 2),
                event_type: casebook_core::DomainEvent::event_type(&event).to_string(),
                schema_version: 1,
                recorded_at: at,
                actor: "member:wang.wei".into(),
                tenant: None,
                correlation_id: uuid::Uuid::from_u128(u128::from(i)),
                causation_id: None,
                payload: casebook_store::Payload::encode(&event)?,
                personal_data: Vec::new(),
            };
            apply(&mut view, stream.clone(), new)?;
        }
    }
    Ok(view)
}

/// `board_top50`: median time of the board's top 50 at risk or breached over an SLA
/// view of 1,000,000 open tickets (100,000 with `--quick`), against `board_by_scan`.
pub fn board_top50(ctx: &Ctx) -> BenchResult<Vec<Figure>> {
    let open = if ctx.quick { 100_000 } else { 1_000_000 };
    let started = Instant::now();
    let view = open_tickets_view(open)?;
    let built = started.elapsed().as_secs_f64();
    let now = board_now();
    let filter = BoardFilter::default();
    let page = Page::first(50);
    let first = view.board(now, &filter, page);
    let scanned = view.board_by_scan(now, &filter, page);
    let indexed_ids: Vec<_> = first.rows.iter().map(|r| r.case).collect();
    let scanned_ids: Vec<_> = scanned.iter().map(|r| r.case).collect();
    if indexed_ids != scanned_ids {
        eprintln!("warning: board_top50: the indexed board and the scan disagree");
    }
    let at_risk = first
        .rows
        .iter()
        .filter(|r| {
            matches!(
                r.state,
                Some(casebook_sla::ClockState::AtRisk | casebook_sla::ClockState::Breached)
            )
        })
        .count();
    eprintln!(
        "note: board_top50 over {open} open tickets ({} at risk or breached by design), \
         view built by apply in {built:.1} s; {at_risk} of the 50 rows at risk or breached",
        (open / 100).max(50)
    );
    let mut indexed = Vec::new();
    for _ in 0..if ctx.quick { 51 } else { 201 } {
        let started = Instant::now();
        std::hint::black_box(view.board(now, &filter, page));
        indexed.push(started.elapsed().as_secs_f64() * 1e6);
    }
    let mut scan = Vec::new();
    // The scan takes seconds over a million cases: three runs are enough for a median.
    for _ in 0..3 {
        let started = Instant::now();
        std::hint::black_box(view.board_by_scan(now, &filter, page));
        scan.push(started.elapsed().as_secs_f64() * 1e6);
    }
    Ok(vec![Figure {
        name: "board_top50".into(),
        value: median(indexed),
        unit: "us",
        reference: median(scan),
        reference_label: "board_by_scan (every case)",
    }])
}

/// `replay_rss_per_1m_events` and `replay_rss_per_open_ticket`, each measured in a
/// fresh child process (see [`replay_rss_child`] and [`open_rss_child`]).
pub fn replay_rss(ctx: &Ctx) -> BenchResult<Vec<Figure>> {
    let replay = run_child(ctx, "replay_rss")?;
    let open = run_child(ctx, "open_rss")?;
    let pair = |v: &[f64]| -> BenchResult<(f64, f64)> {
        match v {
            [value, reference, ..] => Ok((*value, *reference)),
            _ => Err("a memory child returned too few numbers".into()),
        }
    };
    let (replay_value, replay_reference) = pair(&replay)?;
    let (open_value, open_reference) = pair(&open)?;
    Ok(vec![
        Figure {
            name: "replay_rss_per_1m_events".into(),
            value: replay_value,
            unit: "MB",
            reference: replay_reference,
            reference_label: "the same events as envelope JSON",
        },
        Figure {
            name: "replay_rss_per_open_ticket".into(),
            value: open_value,
            unit: "bytes",
            reference: open_reference,
            reference_label: "the case in the view's checkpoint",
        },
    ])
}

/// A field of `/proc/self/status` in bytes.
fn status_bytes(field: &str) -> BenchResult<f64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .ok_or_else(|| format!("{field} missing from /proc/self/status"))?;
    let kb: f64 = line
        .trim_start_matches(field)
        .trim_start_matches(':')
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?;
    Ok(kb * 1024.0)
}

/// Current RSS, after resetting the peak to it (clear_refs 5), so that VmHWM later
/// is the peak of what follows.
fn reset_peak() -> BenchResult<f64> {
    std::fs::write("/proc/self/clear_refs", "5")?;
    status_bytes("VmRSS")
}

/// Child: SLA and KPI views folded from a realistic log of about 1,000,000 events
/// (100,000 with `--quick`) held in memory; peak RSS growth during the fold, per
/// 1,000,000 events, against the log's size as envelope JSON.
pub fn replay_rss_child(ctx: &Ctx) -> BenchResult<Vec<f64>> {
    let tickets = if ctx.quick { 9_000 } else { 90_000 };
    let envelopes = number(realistic_log(tickets, monday_morning())?);
    let json: usize = envelopes
        .iter()
        .map(|e| serde_json::to_vec(e).map(|v| v.len()))
        .sum::<Result<usize, _>>()?;
    let events = envelopes.len() as f64;
    let baseline = reset_peak()?;
    let mut sla = SlaView::new();
    let mut kpi = KpiView::new();
    for envelope in &envelopes {
        sla.apply(envelope)?;
        kpi.apply(envelope)?;
    }
    let peak = status_bytes("VmHWM")?;
    std::hint::black_box((&sla, &kpi));
    let per_million = 1e6 / events;
    Ok(vec![
        (peak - baseline) * per_million / 1e6,
        json as f64 * per_million / 1e6,
        events,
    ])
}

/// Child: an SLA view of 1,000,000 open tickets (100,000 with `--quick`); peak RSS
/// growth per open ticket, against the bytes per case of the view's checkpoint.
pub fn open_rss_child(ctx: &Ctx) -> BenchResult<Vec<f64>> {
    let open = if ctx.quick { 100_000 } else { 1_000_000 };
    let baseline = reset_peak()?;
    let view = open_tickets_view(open)?;
    let peak = status_bytes("VmHWM")?;
    let store = MemoryStore::new();
    view.save_checkpoint(&store)?;
    let checkpoint = store
        .load_checkpoint(casebook_projections::SLA_CHECKPOINT)?
        .ok_or("the checkpoint was not saved")?;
    Ok(vec![
        (peak - baseline) / open as f64,
        checkpoint.state.len() as f64 / open as f64,
        open as f64,
    ])
}
