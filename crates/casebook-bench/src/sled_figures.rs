//! Figures of the embedded sled adapter: durable append throughput against raw sled
//! under the same sync policy, snapshot loading against a full read, bytes on disk.

use std::error::Error;
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Instant;

use casebook_sled::{Durability, SledOptions, SledStore};
use casebook_store::conformance::event;
use casebook_store::limits::{MAX_EVENTS_PER_APPEND, MAX_PAGE};
use casebook_store::{
    read_stream_to_end, Envelope, EventStore, ExpectedVersion, NewEvent, Payload, Snapshot,
    StreamId,
};

use crate::{median, Ctx, Figure};

type BenchResult<T> = Result<T, Box<dyn Error>>;

/// A realistic small event: a ticket comment of about 200 bytes of JSON.
fn ticket_event(i: u64) -> NewEvent {
    event(
        "TicketCommented",
        serde_json::json!({
            "ticket": format!("T-{:06}", i % 1000),
            "author": "member:0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1b",
            "body": "Customer confirms the VPN gateway is reachable again after the restart.",
            "visibility": "internal",
            "seq": i,
        }),
    )
}

fn stream(name: &str) -> BenchResult<StreamId> {
    Ok(StreamId::new("bench", name)?)
}

/// Durable append throughput with 1, 4 and 16 appenders, each appending one event per
/// append to its own stream, against raw sled inserts of the same bytes with the same
/// sync policy (flush, then fsync of the data file, shared by concurrent writers).
pub fn append_durable(ctx: &Ctx) -> BenchResult<Vec<Figure>> {
    let mut figures = Vec::new();
    for threads in [1usize, 4, 16] {
        let per_thread = match (ctx.quick, threads) {
            (true, 1) => 300,
            (true, 4) => 150,
            (true, _) => 60,
            (false, 1) => 2_000,
            (false, 4) => 1_000,
            (false, _) => 400,
        };
        // fsync latency on a shared disk drifts with everything else the machine writes,
        // so the store and the raw reference run in alternating order, twice as many
        // times as other figures, and each side reports its median.
        let mut ours = Vec::new();
        let mut raw = Vec::new();
        for pair in 0..ctx.runs() * 2 {
            if pair % 2 == 0 {
                ours.push(casebook_append_run(ctx, threads, per_thread)?);
                raw.push(raw_append_run(ctx, threads, per_thread)?);
            } else {
                raw.push(raw_append_run(ctx, threads, per_thread)?);
                ours.push(casebook_append_run(ctx, threads, per_thread)?);
            }
        }
        figures.push(Figure {
            name: format!("append_durable_{threads}"),
            value: median(ours),
            unit: "events/s",
            reference: median(raw),
            reference_label: "raw sled insert+flush+fsync",
        });
    }
    Ok(figures)
}

fn casebook_append_run(ctx: &Ctx, threads: usize, per_thread: u64) -> BenchResult<f64> {
    let store = SledStore::open(
        ctx.fresh_dir("append"),
        SledOptions {
            durability: Durability::Synced,
        },
    )?;
    let batches: Vec<Vec<NewEvent>> = (0..threads)
        .map(|t| {
            (0..per_thread)
                .map(|i| ticket_event(t as u64 * per_thread + i))
                .collect()
        })
        .collect();
    let started = Instant::now();
    std::thread::scope(|scope| -> BenchResult<()> {
        let handles: Vec<_> = batches
            .into_iter()
            .enumerate()
            .map(|(t, events)| {
                let store = &store;
                scope.spawn(move || -> Result<(), String> {
                    let s = StreamId::new("bench", &format!("append-{t}"))
                        .map_err(|e| e.to_string())?;
                    for (version, event) in (0u64..).zip(events) {
                        store
                            .append(&s, ExpectedVersion::Exact(version), vec![event])
                            .map_err(|e| e.to_string())?;
                    }
                    Ok(())
                })
            })
            .collect();
        for handle in handles {
            handle.join().map_err(|_| "an appender panicked")??;
        }
        Ok(())
    })?;
    let seconds = started.elapsed().as_secs_f64();
    store.close()?;
    Ok((threads as u64 * per_thread) as f64 / seconds)
}

/// The raw reference: one sled tree, the event serialized as the envelope JSON a naive
/// adapter would store, and the same group-commit sync as the store (sled flush, then
/// fsync of its data file, one sync for every writer that committed before it began).
fn raw_append_run(ctx: &Ctx, threads: usize, per_thread: u64) -> BenchResult<f64> {
    let dir = ctx.fresh_dir("raw");
    let db = sled::Config::new().path(&dir).open()?;
    let tree = db.open_tree("raw")?;
    let data = File::open(dir.join("db"))?;
    let group = RawGroupSync::default();
    let values: Vec<Vec<Vec<u8>>> = (0..threads)
        .map(|t| {
            let s = StreamId::new("bench", &format!("append-{t}"))?;
            (0..per_thread)
                .map(|i| {
                    let env = Envelope::from_new(
                        s.clone(),
                        i + 1,
                        i + 1,
                        ticket_event(t as u64 * per_thread + i),
                    );
                    Ok(serde_json::to_vec(&env)?)
                })
                .collect::<BenchResult<Vec<_>>>()
        })
        .collect::<BenchResult<_>>()?;
    let sync = || -> Result<(), String> {
        db.flush().map_err(|e| e.to_string())?;
        data.sync_all().map_err(|e| e.to_string())
    };
    let started = Instant::now();
    std::thread::scope(|scope| -> BenchResult<()> {
        let handles: Vec<_> = values
            .into_iter()
            .enumerate()
            .map(|(t, values)| {
                let (tree, group, sync) = (&tree, &group, &sync);
                scope.spawn(move || -> Result<(), String> {
                    for (i, value) in (0u64..).zip(values) {
                        let mut key = vec![t as u8];
                        key.extend_from_slice(&i.to_be_bytes());
                        tree.insert(key, value).map_err(|e| e.to_string())?;
                        let ticket = group.done.fetch_add(1, Ordering::SeqCst) + 1;
                        group.wait(ticket, sync)?;
                    }
                    Ok(())
                })
            })
            .collect();
        for handle in handles {
            handle.join().map_err(|_| "a raw appender panicked")??;
        }
        Ok(())
    })?;
    let seconds = started.elapsed().as_secs_f64();
    Ok((threads as u64 * per_thread) as f64 / seconds)
}

/// Leader/follower sync sharing for the raw reference (the store has its own).
#[derive(Default)]
struct RawGroupSync {
    done: AtomicU64,
    state: Mutex<(u64, bool)>,
    wake: Condvar,
}

impl RawGroupSync {
    fn wait(&self, ticket: u64, sync: &dyn Fn() -> Result<(), String>) -> Result<(), String> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let (synced, syncing) = *state;
            if synced >= ticket {
                return Ok(());
            }
            if syncing {
                state = self
                    .wake
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            state.1 = true;
            let target = self.done.load(Ordering::SeqCst);
            drop(state);
            let result = sync();
            state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.1 = false;
            if result.is_ok() {
                state.0 = state.0.max(target);
            }
            self.wake.notify_all();
            result?;
        }
    }
}

/// Loading a 10- and a 10,000-event stream: from a snapshot (state as JSON, nothing
/// after it) against reading and folding every event.
pub fn load_snapshot(ctx: &Ctx) -> BenchResult<Vec<Figure>> {
    let mut figures = Vec::new();
    for n in [10u64, 10_000] {
        let store = SledStore::open(
            ctx.fresh_dir("load"),
            SledOptions {
                durability: Durability::Buffered,
            },
        )?;
        let s = stream("load")?;
        let mut written = 0;
        while written < n {
            let batch = (n - written).min(MAX_EVENTS_PER_APPEND as u64);
            let events = (written..written + batch).map(ticket_event).collect();
            store.append(&s, ExpectedVersion::Exact(written), events)?;
            written += batch;
        }
        let folded = fold_all(&store, &s)?;
        store.save_snapshot(&Snapshot {
            stream_id: s.clone(),
            version: n,
            schema_version: 1,
            state: Payload::encode(&folded)?,
        })?;
        store.sync()?;
        let iterations = match (ctx.quick, n) {
            (true, 10) => 300,
            (true, _) => 2,
            (false, 10) => 2_000,
            (false, _) => 10,
        };
        let mut full = Vec::new();
        let mut snap = Vec::new();
        for _ in 0..ctx.runs() {
            full.push(time_per_iteration(iterations, || {
                fold_all(&store, &s).map(drop)
            })?);
            snap.push(time_per_iteration(iterations, || {
                from_snapshot(&store, &s)
            })?);
        }
        figures.push(Figure {
            name: format!("load_snapshot_{n}"),
            value: median(snap),
            unit: "us",
            reference: median(full),
            reference_label: "read and fold every event",
        });
        store.close()?;
    }
    Ok(figures)
}

fn time_per_iteration(
    iterations: u32,
    mut work: impl FnMut() -> BenchResult<()>,
) -> BenchResult<f64> {
    let started = Instant::now();
    for _ in 0..iterations {
        work()?;
    }
    Ok(started.elapsed().as_secs_f64() * 1e6 / f64::from(iterations))
}

/// The aggregate state this benchmark folds: a count and the last few comments.
#[derive(serde::Serialize, serde::Deserialize, Default)]
struct TicketState {
    comments: u64,
    last_seq: u64,
    recent: Vec<String>,
}

fn apply(state: &mut TicketState, env: &Envelope) -> BenchResult<()> {
    let payload: serde_json::Value = env.payload.decode()?;
    state.comments += 1;
    state.last_seq = payload["seq"].as_u64().unwrap_or(0);
    if state.recent.len() == 5 {
        state.recent.remove(0);
    }
    state
        .recent
        .push(payload["body"].as_str().unwrap_or("").to_string());
    Ok(())
}

fn fold_all(store: &SledStore, s: &StreamId) -> BenchResult<TicketState> {
    let mut state = TicketState::default();
    for env in read_stream_to_end(store, s, 0)? {
        apply(&mut state, &env)?;
    }
    Ok(state)
}

fn from_snapshot(store: &SledStore, s: &StreamId) -> BenchResult<()> {
    let snapshot = store.load_snapshot(s)?.ok_or("the snapshot is missing")?;
    let mut state: TicketState = snapshot.state.decode()?;
    for env in store.read_stream(s, snapshot.version, MAX_PAGE)? {
        apply(&mut state, &env)?;
    }
    std::hint::black_box(state);
    Ok(())
}

/// Bytes on disk per event after durable appends by 4 writers (one event per append),
/// against the size of the envelope as JSON.
pub fn bytes_per_event(ctx: &Ctx) -> BenchResult<Vec<Figure>> {
    let per_thread: u64 = if ctx.quick { 500 } else { 2_500 };
    let threads = 4u64;
    let mut on_disk = Vec::new();
    let mut logical = Vec::new();
    for _ in 0..ctx.runs() {
        let dir = ctx.fresh_dir("bytes");
        let store = SledStore::open(
            &dir,
            SledOptions {
                durability: Durability::Synced,
            },
        )?;
        std::thread::scope(|scope| -> BenchResult<()> {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let store = &store;
                    scope.spawn(move || -> Result<(), String> {
                        let s = StreamId::new("bench", &format!("bytes-{t}"))
                            .map_err(|e| e.to_string())?;
                        for i in 0..per_thread {
                            store
                                .append(
                                    &s,
                                    ExpectedVersion::Exact(i),
                                    vec![ticket_event(t * per_thread + i)],
                                )
                                .map_err(|e| e.to_string())?;
                        }
                        Ok(())
                    })
                })
                .collect();
            for handle in handles {
                handle.join().map_err(|_| "an appender panicked")??;
            }
            Ok(())
        })?;
        let json_bytes: usize = casebook_store::read_stream_to_end_global(&store)?
            .iter()
            .map(|env| serde_json::to_vec(env).map(|v| v.len()))
            .sum::<Result<usize, _>>()?;
        store.close()?;
        let events = (threads * per_thread) as f64;
        on_disk.push(dir_bytes(&dir)? as f64 / events);
        logical.push(json_bytes as f64 / events);
    }
    Ok(vec![Figure {
        name: "bytes_per_event".into(),
        value: median(on_disk),
        unit: "bytes",
        reference: median(logical),
        reference_label: "envelope as JSON",
    }])
}

/// Total length of the files under `dir`.
fn dir_bytes(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}
