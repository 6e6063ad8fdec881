//! Append throughput of `PgStore` against raw INSERTs of the same rows into a bare table
//! on the same server, in the same run.
//!
//! ```text
//! CASEBOOK_PG_URL="host=127.0.0.1 port=5432 user=postgres dbname=test" \
//!     cargo run --release -p casebook-postgres --example pg_append_bench -- [appends] [rounds] [batch]
//! ```
//!
//! For 1, 4 and 16 concurrent writers (each on its own stream and connection) it runs
//! `rounds` rounds of `appends` appends per writer, each append carrying `batch` events,
//! and reports the median events per second of the store, of the raw INSERTs, and their
//! ratio; the median of the per-round ratios (each store round against the raw round
//! right after it, so a change of the disk's speed between rounds, which happens on a
//! shared machine, weighs on one round and not on the whole figure); and the mean number
//! of appends the store carried per transaction (its group commit: see
//! `PgStore::group_commit_stats`). The raw INSERT is one autocommit statement
//! per batch into a table with the same columns and no constraints, each writer on its
//! own connection: the physical floor of "one commit per append" on this server, where
//! concurrent commits share WAL flushes. The store adds the stream check and the
//! serialised position counter.
//! Works in a schema of its own, dropped at the end.

use std::time::Instant;

use casebook_postgres::{PgOptions, PgStore};
use casebook_store::conformance::event;
use casebook_store::{EventStore, ExpectedVersion, NewEvent, StoreError, StreamId};
use postgres::{Client, NoTls};

const RAW_TABLE: &str = "CREATE TABLE IF NOT EXISTS bare_events (
    id bigserial PRIMARY KEY, stream_id text, event_id uuid, event_type text,
    schema_version bigint, recorded_at timestamptz, actor text, tenant text,
    correlation_id uuid, payload text, personal_data text)";

const RAW_INSERT: &str = "INSERT INTO bare_events (stream_id, event_id, event_type,
    schema_version, recorded_at, actor, tenant, correlation_id, payload, personal_data)
    SELECT $1, * FROM unnest($2::uuid[], $3::text[], $4::bigint[], $5::timestamptz[],
    $6::text[], $7::text[], $8::uuid[], $9::text[], $10::text[])";

fn fail(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn batch(size: usize, seq: usize) -> Vec<NewEvent> {
    (0..size)
        .map(|i| {
            let mut e = event(
                "TicketCommented",
                serde_json::json!({
                    "ticket": format!("T-{seq}"),
                    "comment": "Customer reports the VPN drops every 20 minutes since the update.",
                    "i": i,
                }),
            );
            e.event_id = uuid::Uuid::now_v7();
            e
        })
        .collect()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(0.0)
}

/// Events per second of `writers` threads each running `appends` store appends.
fn run_store(
    store: &PgStore,
    round: usize,
    writers: usize,
    appends: usize,
    size: usize,
) -> Result<f64, StoreError> {
    let start = Instant::now();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                scope.spawn(move || -> Result<(), StoreError> {
                    let s = StreamId::new("bench", &format!("r{round}-w{writers}-{w}"))?;
                    for i in 0..appends {
                        store.append(
                            &s,
                            ExpectedVersion::Exact((i * size) as u64),
                            batch(size, i),
                        )?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().map_err(|_| fail("a writer panicked"))?)
    })?;
    Ok((writers * appends * size) as f64 / start.elapsed().as_secs_f64())
}

/// The same rows as raw INSERTs, one connection per writer.
fn run_raw(
    url: &str,
    schema: &str,
    writers: usize,
    appends: usize,
    size: usize,
) -> Result<f64, StoreError> {
    let mut clients = (0..writers)
        .map(|_| {
            let mut c = Client::connect(url, NoTls).map_err(fail)?;
            c.batch_execute(&format!("SET search_path TO {schema}"))
                .map_err(fail)?;
            let stmt = c.prepare(RAW_INSERT).map_err(fail)?;
            Ok((c, stmt))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let start = Instant::now();
    std::thread::scope(|scope| {
        let handles: Vec<_> = clients
            .iter_mut()
            .enumerate()
            .map(|(w, (client, stmt))| {
                scope.spawn(move || -> Result<(), StoreError> {
                    let stream = format!("bench:raw-{w}");
                    for i in 0..appends {
                        let b = batch(size, i);
                        let ids: Vec<_> = b.iter().map(|e| e.event_id).collect();
                        let types: Vec<_> = b.iter().map(|e| e.event_type.clone()).collect();
                        let versions: Vec<i64> =
                            b.iter().map(|e| i64::from(e.schema_version)).collect();
                        let at: Vec<_> = b.iter().map(|e| e.recorded_at).collect();
                        let actors: Vec<_> = b.iter().map(|e| e.actor.clone()).collect();
                        let tenants: Vec<_> = b.iter().map(|e| e.tenant.clone()).collect();
                        let corr: Vec<_> = b.iter().map(|e| e.correlation_id).collect();
                        let payloads: Vec<_> =
                            b.iter().map(|e| e.payload.as_str().to_string()).collect();
                        let personal: Vec<String> = b
                            .iter()
                            .map(|e| serde_json::to_string(&e.personal_data).unwrap_or_default())
                            .collect();
                        client
                            .execute(
                                &*stmt,
                                &[
                                    &stream, &ids, &types, &versions, &at, &actors, &tenants,
                                    &corr, &payloads, &personal,
                                ],
                            )
                            .map_err(fail)?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().map_err(|_| fail("a writer panicked"))?)
    })?;
    Ok((writers * appends * size) as f64 / start.elapsed().as_secs_f64())
}

fn main() -> Result<(), StoreError> {
    let Ok(url) = std::env::var("CASEBOOK_PG_URL") else {
        eprintln!("skipped: CASEBOOK_PG_URL not set");
        return Ok(());
    };
    let arg = |i: usize, default: usize| {
        std::env::args()
            .nth(i)
            .and_then(|a| a.parse().ok())
            .unwrap_or(default)
    };
    let (appends, rounds, size) = (arg(1, 200), arg(2, 5), arg(3, 1));
    let schema = format!("cbbench_{}", std::process::id());
    let store = PgStore::open(PgOptions::new(&url, &schema)?.max_connections(16))?;
    let mut admin = Client::connect(&url, NoTls).map_err(fail)?;
    admin
        .batch_execute(&format!("SET search_path TO {schema}; {RAW_TABLE}"))
        .map_err(fail)?;
    println!(
        "append throughput, {appends} appends x {size} events per writer, median of {rounds} rounds"
    );
    println!(
        "{:>8} {:>12} {:>16} {:>7} {:>13} {:>11}",
        "writers", "store ev/s", "raw insert ev/s", "ratio", "paired ratio", "mean group"
    );
    for writers in [1, 4, 16] {
        let before = store.group_commit_stats();
        let mut store_rates = Vec::new();
        let mut raw_rates = Vec::new();
        for round in 0..rounds {
            // Alternate which side goes first, so that neither always runs on a warmer
            // server.
            if round % 2 == 0 {
                store_rates.push(run_store(&store, round, writers, appends, size)?);
                raw_rates.push(run_raw(&url, &schema, writers, appends, size)?);
            } else {
                raw_rates.push(run_raw(&url, &schema, writers, appends, size)?);
                store_rates.push(run_store(&store, round, writers, appends, size)?);
            }
        }
        let paired = median(
            store_rates
                .iter()
                .zip(&raw_rates)
                .map(|(s, r)| s / r)
                .collect(),
        );
        let (s, r) = (median(store_rates), median(raw_rates));
        let after = store.group_commit_stats();
        // Appends per transaction of the store over this writer count's rounds.
        let group =
            (after.appends - before.appends) as f64 / (after.groups - before.groups).max(1) as f64;
        println!(
            "{writers:>8} {s:>12.0} {r:>16.0} {:>7.2} {paired:>13.2} {group:>11.1}",
            s / r
        );
    }
    catch_up(&store, &mut admin, &schema, rounds)?;
    drop(store);
    admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .map_err(fail)?;
    Ok(())
}

/// A subscriber catching up: the whole log read from position 0 in pages of 1,000
/// through the store (checksums verified, envelopes decoded), against one raw `SELECT` of
/// the same rows in order on the same server, in the same run.
fn catch_up(
    store: &PgStore,
    admin: &mut Client,
    schema: &str,
    rounds: usize,
) -> Result<(), StoreError> {
    let mut store_rates = Vec::new();
    let mut raw_rates = Vec::new();
    let mut events = 0;
    for _ in 0..rounds {
        let start = Instant::now();
        let (mut after, mut read) = (0, 0usize);
        loop {
            let page = store.read_all(after, 1_000)?;
            let Some(last) = page.last() else { break };
            after = last.global_position;
            read += page.len();
        }
        store_rates.push(read as f64 / start.elapsed().as_secs_f64());
        events = read;
        let start = Instant::now();
        let rows = admin
            .query(
                &format!("SELECT * FROM {schema}.events ORDER BY global_position"),
                &[],
            )
            .map_err(fail)?;
        raw_rates.push(rows.len() as f64 / start.elapsed().as_secs_f64());
    }
    let (s, r) = (median(store_rates), median(raw_rates));
    println!(
        "catch-up read of {events} events: store {s:.0} ev/s, raw SELECT {r:.0} rows/s, ratio {:.2}",
        s / r
    );
    Ok(())
}
