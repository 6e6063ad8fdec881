//! Integrity at open and read: damaged files, foreign formats, locks, clean reopen.
//!
//! The damage test copies a cleanly closed store, damages bytes in one of its files
//! (bit flips, overwritten runs, zeroed blocks, truncation, and flips inside known
//! records), and requires that opening or reading reports a typed error, or returns
//! exactly the original data (damage in space sled no longer uses). Trials: 60 by default,
//! `CASEBOOK_CORRUPTION_TRIALS` for more; the seed is printed and `CASEBOOK_CORRUPTION_SEED`
//! replays it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use casebook_sled::{Durability, SledOptions, SledStore, STORAGE_FORMAT};
use casebook_store::conformance::event;
use casebook_store::{
    read_stream_to_end, read_stream_to_end_global, Checkpoint, Envelope, EventStore,
    ExpectedVersion, Payload, Snapshot, StoreError, StreamId,
};

const HOLDER_DIR: &str = "CASEBOOK_LOCK_HOLDER_DIR";
const STREAMS: usize = 12;

fn synced() -> SledOptions {
    SledOptions {
        durability: Durability::Synced,
    }
}

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
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

fn stream(i: usize) -> StreamId {
    StreamId::new("integrity", &format!("s{i}")).unwrap()
}

/// Everything readable from a store, to compare before and after.
#[derive(Debug, PartialEq)]
struct Contents {
    log: Vec<Envelope>,
    streams: Vec<Vec<Envelope>>,
    versions: Vec<u64>,
    snapshots: Vec<Option<Snapshot>>,
    checkpoints: Vec<Option<Checkpoint>>,
    head: u64,
}

fn contents(store: &SledStore) -> Result<Contents, StoreError> {
    let mut streams = Vec::new();
    let mut versions = Vec::new();
    let mut snapshots = Vec::new();
    for i in 0..STREAMS {
        streams.push(read_stream_to_end(store, &stream(i), 0)?);
        versions.push(store.stream_version(&stream(i))?);
        snapshots.push(store.load_snapshot(&stream(i))?);
    }
    let checkpoints = ["a", "b", "c"]
        .iter()
        .map(|name| store.load_checkpoint(name))
        .collect::<Result<_, _>>()?;
    Ok(Contents {
        log: read_stream_to_end_global(store)?,
        streams,
        versions,
        snapshots,
        checkpoints,
        head: store.head_position()?,
    })
}

/// Fills a store with events of many sizes (two large enough to become sled blobs),
/// snapshots and checkpoints, and closes it.
fn build_reference(dir: &Path) -> Contents {
    let store = SledStore::open(
        dir,
        SledOptions {
            durability: Durability::Buffered,
        },
    )
    .unwrap();
    let mut rng = Rng(7);
    for n in 0..300u64 {
        let s = stream(rng.below(STREAMS as u64) as usize);
        let pad = match n {
            100 | 200 => 150_000,
            _ => rng.below(400) as usize,
        };
        let batch = (0..1 + rng.below(3))
            .map(|i| {
                event(
                    "Integrity",
                    serde_json::json!({ "n": n, "i": i, "mark": format!("MARK-{n}-{i}-"), "pad": "y".repeat(pad) }),
                )
            })
            .collect();
        store.append(&s, ExpectedVersion::Any, batch).unwrap();
    }
    for i in 0..STREAMS {
        let version = store.stream_version(&stream(i)).unwrap();
        store
            .save_snapshot(&Snapshot {
                stream_id: stream(i),
                version,
                schema_version: 1,
                state: Payload::encode(&serde_json::json!({ "snap": i })).unwrap(),
            })
            .unwrap();
    }
    for (k, name) in ["a", "b"].iter().enumerate() {
        store
            .save_checkpoint(&Checkpoint {
                name: (*name).into(),
                position: 10 * k as u64 + 5,
                state: Payload::encode(&serde_json::json!({ "cp": name })).unwrap(),
            })
            .unwrap();
    }
    let expected = contents(&store).unwrap();
    store.close().unwrap();
    expected
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else if path.file_name().unwrap() != "casebook.lock" {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// Damages one file of `dir`; returns what was done.
fn damage(dir: &Path, rng: &mut Rng) -> String {
    let all = files(dir);
    let db = dir.join("db");
    let target = if rng.below(10) < 7 {
        db.clone()
    } else {
        all[rng.below(all.len() as u64) as usize].clone()
    };
    let mut bytes = std::fs::read(&target).unwrap();
    let name = target.strip_prefix(dir).unwrap().display().to_string();
    if bytes.is_empty() {
        return format!("nothing ({name} is empty)");
    }
    let len = bytes.len() as u64;
    let what = match rng.below(5) {
        0 => {
            let at = rng.below(len) as usize;
            let bit = 1u8 << rng.below(8);
            bytes[at] ^= bit;
            format!("flipped bit {bit:#04x} at {at} of {name}")
        }
        1 => {
            let at = rng.below(len) as usize;
            let n = (1 + rng.below(64) as usize).min(bytes.len() - at);
            for b in &mut bytes[at..at + n] {
                *b = rng.next() as u8;
            }
            format!("overwrote {n} bytes at {at} of {name}")
        }
        2 => {
            let at = (rng.below(len) as usize) & !4095;
            let n = 4096.min(bytes.len() - at);
            bytes[at..at + n].fill(0);
            format!("zeroed {n} bytes at {at} of {name}")
        }
        3 => {
            let keep = rng.below(len) as usize;
            bytes.truncate(keep);
            format!("truncated {name} from {len} to {keep} bytes")
        }
        _ => {
            // Flip a byte inside a known record, found by its marker text.
            let mut db_bytes = std::fs::read(&db).unwrap();
            let marks: Vec<usize> = db_bytes
                .windows(5)
                .enumerate()
                .filter(|(_, w)| w == b"MARK-")
                .map(|(i, _)| i)
                .collect();
            if marks.is_empty() {
                return "nothing (no record marker found in db)".into();
            }
            let at = marks[rng.below(marks.len() as u64) as usize] + 5;
            db_bytes[at] ^= 0x01;
            std::fs::write(&db, db_bytes).unwrap();
            return format!("flipped a bit inside a record at {at} of db");
        }
    };
    std::fs::write(&target, bytes).unwrap();
    what
}

#[test]
fn damaged_files_give_typed_errors_never_different_data() {
    let trials: usize = std::env::var("CASEBOOK_CORRUPTION_TRIALS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(60);
    let seed: u64 = std::env::var("CASEBOOK_CORRUPTION_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!(
        "damage test: seed {seed} (replay with CASEBOOK_CORRUPTION_SEED={seed}), {trials} trials"
    );
    let root = tempfile::tempdir().unwrap();
    let clean = root.path().join("clean");
    let expected = build_reference(&clean);
    let mut rng = Rng(seed);
    let (mut at_open, mut at_read, mut unchanged) = (0, 0, 0);
    for trial in 0..trials {
        let dir = root.path().join(format!("trial-{trial}"));
        copy_dir(&clean, &dir);
        let what = damage(&dir, &mut rng);
        match SledStore::open(&dir, synced()) {
            Err(e) => {
                assert!(
                    !matches!(e, StoreError::Locked(_)),
                    "trial {trial} ({what}): {e}"
                );
                at_open += 1;
                if std::env::var("CASEBOOK_CORRUPTION_VERBOSE").is_ok() {
                    println!("trial {trial}: {what}: {e}");
                }
            }
            Ok(store) => match contents(&store) {
                Err(_) => at_read += 1,
                Ok(found) => {
                    assert!(
                        found == expected,
                        "trial {trial}, seed {seed}: after {what} the store returned different data"
                    );
                    unchanged += 1;
                }
            },
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
    println!(
        "damage test: {at_open} detected at open, {at_read} detected at read, \
         {unchanged} read back unchanged (damage in unused space)"
    );
}

#[test]
fn reopen_after_clean_close_keeps_everything() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("store");
    let expected = build_reference(&dir);
    let store = SledStore::open(&dir, synced()).unwrap();
    assert_eq!(contents(&store).unwrap(), expected);
    // And it goes on where it stopped.
    let out = store
        .append(
            &stream(0),
            ExpectedVersion::Exact(expected.versions[0]),
            vec![event("More", serde_json::json!({}))],
        )
        .unwrap();
    assert_eq!(out.recorded[0].global_position, expected.head + 1);
    drop(store);
    let store = SledStore::open(&dir, synced()).unwrap();
    assert_eq!(store.head_position().unwrap(), expected.head + 1);
    assert_eq!(store.read_all(expected.head, 10).unwrap(), out.recorded);
}

/// Opens the store's sled database directly, to damage it on purpose.
///
/// sled releases its directory lock from its own background threads after the last
/// handle is dropped, so right after a store (or a raw handle) was dropped in this
/// process the lock can still be held for a moment. This waits for that release: it
/// retries only `WouldBlock` from the lock, a bounded number of times, yielding between
/// tries; any other error fails the test at once.
fn open_raw(dir: &Path) -> sled::Db {
    let mut attempts = 0u32;
    loop {
        match sled::open(dir) {
            Ok(db) => return db,
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock") && attempts < 100_000 =>
            {
                attempts += 1;
                std::thread::yield_now();
            }
            Err(e) => panic!("opening the raw sled database failed: {e}"),
        }
    }
}

/// Writes a framed meta value straight into sled, as the store's layout describes it.
fn write_raw_meta(dir: &Path, key: &[u8], format_byte: u8, body: &[u8]) {
    let db = open_raw(dir);
    let meta = db.open_tree("meta").unwrap();
    let mut value = vec![format_byte, 4, 0, 0, 0, 0];
    value.extend_from_slice(body);
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&value[..2]);
    hasher.update(&value[6..]);
    let crc = hasher.finalize().to_le_bytes();
    value[2..6].copy_from_slice(&crc);
    meta.insert(key, value).unwrap();
    db.flush().unwrap();
}

#[test]
fn an_unknown_format_key_is_unsupported() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("store");
    SledStore::open(&dir, synced()).unwrap().close().unwrap();
    write_raw_meta(&dir, b"format", 1, b"casebook-sled/99");
    match SledStore::open(&dir, synced()) {
        Err(StoreError::UnsupportedFormat { found, supported }) => {
            assert_eq!(found, "casebook-sled/99");
            assert_eq!(supported, STORAGE_FORMAT);
        }
        other => panic!("expected UnsupportedFormat, got {other:?}"),
    }
    // A record framing version this build does not know, checksum intact.
    write_raw_meta(&dir, b"format", 9, STORAGE_FORMAT.as_bytes());
    assert!(matches!(
        SledStore::open(&dir, synced()),
        Err(StoreError::UnsupportedFormat { .. })
    ));
    // A damaged format key.
    write_raw_meta(&dir, b"format", 1, STORAGE_FORMAT.as_bytes());
    {
        let db = open_raw(&dir);
        let meta = db.open_tree("meta").unwrap();
        let mut value = meta.get(b"format").unwrap().unwrap().to_vec();
        value[8] ^= 0x20;
        meta.insert(b"format", value).unwrap();
        db.flush().unwrap();
    }
    assert!(matches!(
        SledStore::open(&dir, synced()),
        Err(StoreError::Corrupt { .. })
    ));
}

#[test]
fn a_foreign_sled_database_or_garbage_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let foreign = root.path().join("foreign");
    {
        let db = sled::open(&foreign).unwrap();
        db.insert(b"someone", b"else's data").unwrap();
        db.flush().unwrap();
    }
    assert!(matches!(
        SledStore::open(&foreign, synced()),
        Err(StoreError::UnsupportedFormat { .. })
    ));
    let garbage = root.path().join("garbage");
    std::fs::create_dir_all(&garbage).unwrap();
    std::fs::write(garbage.join("conf"), b"this is not sled's config").unwrap();
    std::fs::write(garbage.join("db"), vec![0xA5; 100_000]).unwrap();
    let err = SledStore::open(&garbage, synced()).unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupt { .. } | StoreError::Io(_)),
        "{err}"
    );
}

#[test]
fn a_store_that_recovers_less_than_was_synced_is_corrupt() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("store");
    let store = SledStore::open(&dir, synced()).unwrap();
    store
        .append(
            &stream(1),
            ExpectedVersion::NoStream,
            vec![event("One", serde_json::json!({}))],
        )
        .unwrap();
    store.close().unwrap();
    // Pretend more was synced than sled recovers: the shape of a cut-short log.
    let marker = dir.join("casebook.synced");
    let mut body = Vec::new();
    body.extend_from_slice(&5u64.to_le_bytes());
    body.extend_from_slice(&5u64.to_le_bytes());
    let mut value = vec![1, 7, 0, 0, 0, 0];
    value.extend_from_slice(&body);
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&value[..2]);
    hasher.update(&value[6..]);
    let crc = hasher.finalize().to_le_bytes();
    value[2..6].copy_from_slice(&crc);
    std::fs::write(&marker, &value).unwrap();
    let err = SledStore::open(&dir, synced()).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    // A damaged record is corrupt too, not ignored.
    value[7] ^= 1;
    std::fs::write(&marker, &value).unwrap();
    let err = SledStore::open(&dir, synced()).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
}

#[test]
fn a_second_open_in_this_process_is_locked() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("store");
    let store = SledStore::open(&dir, synced()).unwrap();
    let err = SledStore::open(&dir, synced()).unwrap_err();
    assert!(matches!(err, StoreError::Locked(_)), "{err}");
    drop(store);
    SledStore::open(&dir, synced()).unwrap();
}

/// The other process's side of the lock test: holds the store until stdin closes.
#[test]
fn lock_holder() {
    let Ok(dir) = std::env::var(HOLDER_DIR) else {
        return;
    };
    let store = SledStore::open(&dir, synced()).unwrap();
    let mut out = std::io::stdout();
    out.write_all(b"HOLDING\n").unwrap();
    out.flush().unwrap();
    let mut rest = String::new();
    while std::io::stdin().read_line(&mut rest).unwrap() > 0 {}
    store.close().unwrap();
}

#[test]
fn an_open_in_another_process_is_locked() {
    if std::env::var(HOLDER_DIR).is_ok() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("store");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["lock_holder", "--exact", "--nocapture", "--test-threads=1"])
        .env(HOLDER_DIR, &dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    // libtest may print "test lock_holder ... " on the same line first.
    while !line.trim_end().ends_with("HOLDING") {
        line.clear();
        assert!(
            lines.read_line(&mut line).unwrap() > 0,
            "the holder exited early"
        );
    }
    let err = SledStore::open(&dir, synced()).unwrap_err();
    assert!(matches!(err, StoreError::Locked(_)), "{err}");
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    SledStore::open(&dir, synced()).unwrap();
}
