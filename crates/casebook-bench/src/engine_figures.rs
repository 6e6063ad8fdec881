//! Engine command throughput on the in-memory store, tickets of 8 and of 1,000 events,
//! against cqrs-es 0.5 (serializing event-store path and `MemStore`) and against a
//! hand-written loop of the same decide/evolve (the limit).

use std::collections::HashMap;
use std::error::Error;
use std::time::Instant;

use casebook_core::{Aggregate as _, Context, Ticket, TicketCommand, TicketId};
use chrono::Utc;
use cqrs_es::mem_store::MemStore;
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{CqrsFramework, EventStore};
use uuid::Uuid;

use crate::cqrs_peer::{CqrsCommand, CqrsServices, CqrsTicket, MemRepository};
use crate::workload::{desk, ticket_commands, Desk};
use crate::{median, run_child, Ctx, Figure};

type BenchResult<T> = Result<T, Box<dyn Error>>;

/// Tickets per run for a ticket size.
fn tickets(ctx: &Ctx, events: usize) -> usize {
    match (ctx.quick, events) {
        (true, 8) => 300,
        (false, 8) => 3_000,
        (true, _) => 1,
        (false, _) => 3,
    }
}

/// `engine_commands_{8,1000}_vs_{cqrs,memstore,limit}`.
pub fn engine_commands(ctx: &Ctx) -> BenchResult<Vec<Figure>> {
    let mut figures = Vec::new();
    for events in [8usize, 1_000] {
        let n = tickets(ctx, events);
        let (mut ours, mut cqrs, mut limit) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ctx.runs() {
            ours.push(engine_run(events, n)?);
            cqrs.push(cqrs_run(events, n)?);
            limit.push(limit_run(events, n)?);
        }
        // MemStore prints a line per command on stdout: it runs in a child process
        // whose stdout is discarded (the printing stays part of its cost).
        let memstore = run_child(ctx, &format!("memstore_{events}"))?;
        let ours = median(ours);
        for (peer, reference, label) in [
            ("cqrs", median(cqrs), "cqrs-es 0.5 PersistedEventStore"),
            ("memstore", median(memstore), "cqrs-es 0.5 MemStore"),
            ("limit", median(limit), "decide+evolve+json+version loop"),
        ] {
            figures.push(Figure {
                name: format!("engine_commands_{events}_vs_{peer}"),
                value: ours,
                unit: "cmds/s",
                reference,
                reference_label: label,
            });
        }
    }
    Ok(figures)
}

/// The child-process part: MemStore runs, one sample per run.
pub fn memstore_samples(ctx: &Ctx, events: usize) -> BenchResult<Vec<f64>> {
    let n = tickets(ctx, events);
    (0..ctx.runs()).map(|_| memstore_run(events, n)).collect()
}

fn actor_of(desk: &Desk, by_customer: bool) -> &casebook_core::Actor {
    if by_customer {
        &desk.customer
    } else {
        &desk.engineer
    }
}

fn engine_run(events: usize, tickets: usize) -> BenchResult<f64> {
    let desk = desk()?;
    let commands = ticket_commands(&desk.org, events);
    let ids: Vec<TicketId> = (0..tickets)
        .map(|_| TicketId(desk.engine.new_id()))
        .collect();
    let started = Instant::now();
    for id in ids {
        for (by_customer, command) in &commands {
            desk.engine
                .execute(actor_of(&desk, *by_customer), (id, command.clone()))?;
        }
    }
    Ok((tickets * commands.len()) as f64 / started.elapsed().as_secs_f64())
}

/// The limit: the same decide and evolve, each event serialized to JSON bytes and
/// appended after a version check, in a plain map; no engine, no envelope.
fn limit_run(events: usize, tickets: usize) -> BenchResult<f64> {
    let desk = desk()?;
    let commands = ticket_commands(&desk.org, events);
    let ids: Vec<TicketId> = (0..tickets).map(|_| TicketId(Uuid::now_v7())).collect();
    let mut streams: HashMap<TicketId, (Ticket, Vec<Vec<u8>>)> = HashMap::new();
    let started = Instant::now();
    for id in ids {
        for (by_customer, command) in &commands {
            let command: TicketCommand = command.clone();
            let now = Utc::now();
            let principal = desk.directory.resolve(actor_of(&desk, *by_customer))?;
            let ctx = Context {
                now,
                principal: &principal,
                directory: &desk.directory,
                settings: &desk.settings,
            };
            let (state, log) = streams.entry(id).or_default();
            let expected = log.len();
            let decided = state.decide(&id, &command, &ctx)?;
            if log.len() != expected {
                return Err("version conflict".into());
            }
            for event in decided {
                log.push(serde_json::to_vec(&event)?);
                state.evolve(&event, now);
            }
        }
    }
    std::hint::black_box(&streams);
    Ok((tickets * commands.len()) as f64 / started.elapsed().as_secs_f64())
}

fn cqrs_run(events: usize, tickets: usize) -> BenchResult<f64> {
    let store =
        PersistedEventStore::<MemRepository, CqrsTicket>::new_event_store(MemRepository::default());
    cqrs_drive(store, events, tickets)
}

fn memstore_run(events: usize, tickets: usize) -> BenchResult<f64> {
    cqrs_drive(MemStore::<CqrsTicket>::default(), events, tickets)
}

fn cqrs_drive<ES: EventStore<CqrsTicket>>(
    store: ES,
    events: usize,
    tickets: usize,
) -> BenchResult<f64> {
    let desk = desk()?;
    let commands = ticket_commands(&desk.org, events);
    let cqrs = CqrsFramework::new(
        store,
        vec![],
        CqrsServices {
            directory: desk.directory.clone(),
            settings: desk.settings.clone(),
        },
    );
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let ids: Vec<TicketId> = (0..tickets).map(|_| TicketId(Uuid::now_v7())).collect();
    let started = Instant::now();
    runtime.block_on(async {
        for id in ids {
            let aggregate_id = id.to_string();
            for (by_customer, command) in &commands {
                let actor = actor_of(&desk, *by_customer).clone();
                let metadata = HashMap::from([("actor".to_string(), actor.as_envelope_actor())]);
                cqrs.execute_with_metadata(
                    &aggregate_id,
                    CqrsCommand {
                        id,
                        actor,
                        command: command.clone(),
                    },
                    metadata,
                )
                .await
                .map_err(|e| e.to_string())?;
            }
        }
        Ok::<(), Box<dyn Error>>(())
    })?;
    Ok((tickets * commands.len()) as f64 / started.elapsed().as_secs_f64())
}
