//! Crash test: a child process appends with `Durability::Synced` and reports every
//! acknowledgement through a pipe; the parent kills it with SIGKILL at random moments,
//! reopens the store and checks that every acknowledged event is there, whole and in
//! order, with contiguous versions and positions and no partial batch.
//!
//! The child is this test binary run again with `CASEBOOK_CRASH_CHILD_DIR` set, filtered
//! to the `crash_child` test. Kills: 50 by default, `CASEBOOK_CRASH_KILLS` for more.
//! Randomness comes from a seed printed at the start; `CASEBOOK_CRASH_SEED` replays it
//! (thread timing in the child still varies).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Instant;

use casebook_sled::{Durability, SledOptions, SledStore};
use casebook_store::conformance::event;
use casebook_store::{read_stream_to_end_global, Checkpoint, EventStore, ExpectedVersion};
use casebook_store::{Payload, StreamId};

const CHILD_DIR: &str = "CASEBOOK_CRASH_CHILD_DIR";
const CHILD_SEED: &str = "CASEBOOK_CRASH_CHILD_SEED";
const WRITERS: usize = 3;
/// The child stops by itself after this many appends per writer, so that a parent that
/// failed to kill it never leaves it running.
const CHILD_APPENDS_PER_WRITER: usize = 5_000;

/// splitmix64: small, seedable, good enough to pick moments and sizes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn options() -> SledOptions {
    SledOptions {
        durability: Durability::Synced,
    }
}

/// The child's side: only active when re-executed by the parent.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let seed: u64 = std::env::var(CHILD_SEED).unwrap().parse().unwrap();
    let store = SledStore::open(&dir, options()).unwrap();
    let out = Mutex::new(std::io::stdout());
    report(&out, "@O\n");
    std::thread::scope(|scope| {
        for w in 0..WRITERS {
            let (store, out) = (&store, &out);
            scope.spawn(move || writer(store, out, w, seed));
        }
        scope.spawn(|| checkpointer(&store, &out));
    });
}

/// One write per report, so each report reaches the pipe whole (below PIPE_BUF).
fn report(out: &Mutex<std::io::Stdout>, text: &str) {
    let mut out = out.lock().unwrap();
    out.write_all(text.as_bytes()).unwrap();
    out.flush().unwrap();
}

fn writer(store: &SledStore, out: &Mutex<std::io::Stdout>, w: usize, seed: u64) {
    let mut rng = Rng(seed ^ (w as u64).wrapping_mul(0x1234_5678_9ABC_DEF1));
    let own = StreamId::new("crash", &format!("w{w}")).unwrap();
    let shared = StreamId::new("crash", "shared").unwrap();
    for _ in 0..CHILD_APPENDS_PER_WRITER {
        let stream = if rng.below(5) == 0 { &shared } else { &own };
        let batch = 1 + rng.below(3);
        // Now and then one event is large enough for sled to put it in a blob file.
        let large = rng.below(60) == 0;
        let version = store.stream_version(stream).unwrap();
        let events = (0..batch)
            .map(|i| {
                let pad = if large && i == 0 {
                    200_000
                } else {
                    rng.below(300) as usize
                };
                event(
                    "CrashTested",
                    serde_json::json!({
                        "s": stream.as_str(), "v": version + 1 + i, "b": batch, "i": i,
                        "n": pad, "pad": "x".repeat(pad),
                    }),
                )
            })
            .collect();
        match store.append(stream, ExpectedVersion::Exact(version), events) {
            Ok(outcome) => {
                let mut text = String::new();
                for env in &outcome.recorded {
                    text.push_str(&format!(
                        "@A {} {} {} {}\n",
                        env.stream_id, env.stream_version, env.global_position, env.event_id
                    ));
                }
                report(out, &text);
            }
            Err(e) if e.is_conflict() => {}
            Err(e) => panic!("append failed: {e}"),
        }
    }
}

fn checkpointer(store: &SledStore, out: &Mutex<std::io::Stdout>) {
    for _ in 0..CHILD_APPENDS_PER_WRITER {
        let position = store.head_position().unwrap();
        let state = Payload::encode(&serde_json::json!({ "p": position })).unwrap();
        store
            .save_checkpoint(&Checkpoint {
                name: "cp".into(),
                position,
                state,
            })
            .unwrap();
        report(out, &format!("@C {position}\n"));
    }
}

/// What the parent knows was acknowledged.
#[derive(Default)]
struct Acked {
    /// (stream, version) -> (position, event id)
    events: BTreeMap<(String, u64), (u64, String)>,
    checkpoint: Option<u64>,
}

impl Acked {
    fn take(&mut self, line: &str) {
        let parts: Vec<&str> = line.split(' ').collect();
        match parts.as_slice() {
            ["A", stream, version, position, id] => {
                let key = (stream.to_string(), version.parse().unwrap());
                let value = (position.parse().unwrap(), id.to_string());
                if let Some(old) = self.events.insert(key.clone(), value.clone()) {
                    assert_eq!(old, value, "{key:?} acknowledged twice differently");
                }
            }
            ["C", position] => {
                let position: u64 = position.parse().unwrap();
                self.checkpoint = Some(self.checkpoint.map_or(position, |p| p.max(position)));
            }
            ["O"] => {}
            _ => panic!("unexpected line from the child: {line:?}"),
        }
    }
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    if std::env::var(CHILD_DIR).is_ok() {
        return;
    }
    let kills: usize = std::env::var("CASEBOOK_CRASH_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(50);
    let seed: u64 = std::env::var("CASEBOOK_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("crash test: seed {seed} (replay with CASEBOOK_CRASH_SEED={seed}), {kills} kills");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let stderr_path = dir.path().join("child-stderr.txt");
    let exe = std::env::current_exe().unwrap();
    let started = Instant::now();
    let mut acked = Acked::default();
    let (mut killed, mut exited) = (0, 0);
    for round in 0..kills {
        // Kill after a random number of lines (0: right after spawning, maybe during
        // sled's recovery), then after a random bit of busy work for a finer moment.
        let kill_after = if rng.below(5) == 0 {
            rng.below(2)
        } else {
            1 + rng.below(150)
        };
        let spin = rng.below(200_000);
        let mut child = Command::new(&exe)
            .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR, &store_dir)
            .env(CHILD_SEED, rng.next().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout);
        let mut seen = 0u64;
        let mut sent_kill = false;
        let mut line = String::new();
        loop {
            if !sent_kill && seen >= kill_after {
                let mut x = 0u64;
                for i in 0..spin {
                    x = std::hint::black_box(x.wrapping_add(i));
                }
                child.kill().unwrap();
                sent_kill = true;
            }
            line.clear();
            let n = lines.read_line(&mut line).unwrap();
            if n == 0 {
                break;
            }
            // A line without its newline was cut by the kill mid-write; a report is one
            // write below PIPE_BUF, so this does not happen, but it would not count.
            let Some(text) = line.strip_suffix('\n') else {
                break;
            };
            // Reports start with '@'; libtest may print its own text before the first.
            if let Some(at) = text.find('@') {
                acked.take(&text[at + 1..]);
                seen += 1;
            }
        }
        let status = child.wait().unwrap();
        if status.success() {
            exited += 1;
        } else {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(
                status.signal(),
                Some(libc::SIGKILL),
                "round {round}: the child failed on its own ({status}); stderr:\n{}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
            killed += 1;
        }
        verify(&store_dir, &acked, round, seed);
    }
    println!(
        "crash test: {killed} kills, {exited} clean exits, {} acknowledged events, {:.1} s",
        acked.events.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(killed >= kills * 9 / 10, "most rounds must end in a kill");
}

fn verify(dir: &Path, acked: &Acked, round: usize, seed: u64) {
    let ctx = format!("round {round}, seed {seed}");
    let store = match SledStore::open(dir, options()) {
        Ok(store) => store,
        Err(e) => panic!("{ctx}: reopening after the kill failed: {e}"),
    };
    let all = read_stream_to_end_global(&store).unwrap_or_else(|e| panic!("{ctx}: {e}"));
    let head = store.head_position().unwrap();
    let positions: Vec<u64> = all.iter().map(|e| e.global_position).collect();
    assert_eq!(
        positions,
        (1..=head).collect::<Vec<_>>(),
        "{ctx}: positions not contiguous"
    );
    let mut by_key = BTreeMap::new();
    // Per stream: (last version, open batch as (size, next index)).
    let mut streams: BTreeMap<String, (u64, Option<(u64, u64)>)> = BTreeMap::new();
    for env in &all {
        let s = env.stream_id.as_str().to_string();
        let payload: serde_json::Value = env.payload.decode().unwrap();
        assert_eq!(payload["s"], s.as_str(), "{ctx}: payload of another stream");
        assert_eq!(payload["v"], env.stream_version, "{ctx}: payload version");
        let pad = payload["pad"].as_str().unwrap();
        assert_eq!(
            Some(pad.len() as u64),
            payload["n"].as_u64(),
            "{ctx}: padding"
        );
        let (last, batch) = streams.entry(s.clone()).or_insert((0, None));
        assert_eq!(
            env.stream_version,
            *last + 1,
            "{ctx}: {s} versions not contiguous"
        );
        *last = env.stream_version;
        let (b, i) = (
            payload["b"].as_u64().unwrap(),
            payload["i"].as_u64().unwrap(),
        );
        match batch {
            None => assert_eq!(i, 0, "{ctx}: {s} v{} starts mid-batch", env.stream_version),
            Some((size, next)) => {
                assert_eq!((b, i), (*size, *next), "{ctx}: {s} batch interleaved");
            }
        }
        *batch = if i + 1 < b { Some((b, i + 1)) } else { None };
        by_key.insert(
            (s, env.stream_version),
            (env.global_position, env.event_id.to_string()),
        );
    }
    for (s, (last, batch)) in &streams {
        assert!(batch.is_none(), "{ctx}: {s} ends with a partial batch");
        let id = StreamId::parse(s.clone()).unwrap();
        assert_eq!(store.stream_version(&id).unwrap(), *last, "{ctx}: {s} head");
        let read = casebook_store::read_stream_to_end(&store, &id, 0).unwrap();
        assert_eq!(read.len() as u64, *last, "{ctx}: {s} stream read");
    }
    for (key, value) in &acked.events {
        match by_key.get(key) {
            Some(found) => assert_eq!(found, value, "{ctx}: acknowledged {key:?} changed"),
            None => panic!("{ctx}: acknowledged event {key:?} at {value:?} is lost"),
        }
    }
    if let Some(acked_position) = acked.checkpoint {
        let cp = store.load_checkpoint("cp").unwrap();
        let cp = cp.unwrap_or_else(|| panic!("{ctx}: acknowledged checkpoint lost"));
        assert!(cp.position >= acked_position, "{ctx}: checkpoint went back");
        assert!(cp.position <= head, "{ctx}: checkpoint beyond the log");
        let state: serde_json::Value = cp.state.decode().unwrap();
        assert_eq!(
            state["p"], cp.position,
            "{ctx}: checkpoint state and position differ"
        );
    }
    store
        .close()
        .unwrap_or_else(|e| panic!("{ctx}: close: {e}"));
}
