//! The embedded default storage adapter of Casebook: an [`EventStore`] in a local
//! directory, on the sled embedded database. No server to run.
//!
//! ```
//! use casebook_sled::{Durability, SledOptions, SledStore};
//! use casebook_store::{conformance::event, EventStore, ExpectedVersion, StreamId};
//!
//! let dir = tempfile::tempdir()?;
//! let store = SledStore::open(dir.path(), SledOptions { durability: Durability::Synced })?;
//! let stream = StreamId::new("ticket", "T-1")?;
//! let out = store.append(
//!     &stream,
//!     ExpectedVersion::NoStream,
//!     vec![event("TicketOpened", serde_json::json!({ "title": "VPN down" }))],
//! )?;
//! assert_eq!(out.stream_version, 1);
//! store.close()?;
//!
//! // Everything is still there after a reopen.
//! let store = SledStore::open(dir.path(), SledOptions { durability: Durability::Synced })?;
//! assert_eq!(store.read_stream(&stream, 0, 100)?, out.recorded);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Durability
//!
//! Every caller states it in [`SledOptions`]; there is no default.
//!
//! - [`Durability::Synced`]: `append` and `save_checkpoint` return only after their data
//!   is on stable storage. sled's own `flush` is not enough for that on Linux (it uses
//!   `sync_file_range`, which does not persist the file's new length, and it never syncs
//!   the files it writes large values to), so after sled's flush the store `fsync`s the
//!   data file, each new or grown file beside it and in `blobs/`, and any directory whose
//!   listing changed. Writers that commit at the same time share one such sync (group
//!   commit): the first writer to wait syncs for everybody who committed before the sync
//!   began, so throughput follows the disk's sync rate, not one sync per event.
//! - [`Durability::Buffered`]: writes return once committed in memory. They reach the
//!   disk when sled's background flusher writes them (every 500 ms, itself without a full
//!   `fsync` guarantee), at [`SledStore::sync`], or at [`SledStore::close`]. A crash may
//!   lose the writes since the last sync, but never leaves a partial batch or a gap (see
//!   below). For simulations, tests and bulk imports that can be rerun.
//!
//! Snapshots are a cache and are never synced on their own; they reach the disk with the
//! next synced write. Because sled's log is one sequence, a synced write also makes every
//! write committed before it durable.
//!
//! A reader may see an event from the moment it is committed, a sync's duration before
//! its `append` returns. If the process dies in between, the event may be lost, but so is
//! everything written after it, since recovery keeps a prefix of the log.
//!
//! # Atomicity and positions
//!
//! Appends are serialised inside the store (sled locks the directory to one process), so
//! global positions are assigned at commit, in commit order, without gaps. An append
//! checks the expected version, then writes, one after the other: its events, its stream
//! index entries, the stream's head, and last the commit record (last position and write
//! count). Readers only see positions up to the last finished commit. sled recovers a
//! prefix of its log after a crash, so whatever lies past the commit record belongs to
//! one unfinished append; `open` removes it (head first, events last, so that an undo cut
//! short is redone). A write that fails midway is undone the same way at once.
//!
//! Why not a sled transaction: sled 0.34 writes out its current IO buffer at the start of
//! every transaction or batch (`pin_log`), an extra write and `sync_file_range` per
//! append that kept group commit from working (measured 2,000 against 7,000 events/s for
//! raw inserts with 16 appenders). The commit-record order gives the same all-or-nothing
//! result, and the crash test checks it.
//!
//! # Integrity
//!
//! Every stored value is a frame with a record format version, a record kind and a CRC-32
//! of its content (see the layout below); every read checks it. The store's format key is
//! checked at open ([`StoreError::UnsupportedFormat`] for another one), and so is the
//! position counter against the last event.
//!
//! sled recovers its log up to the first message that fails its own checksum and treats
//! the rest as a torn write: one damaged byte in the middle of the log silently loses
//! everything after it (measured by this crate's damage test). So after every sync the
//! store also writes the synced position and write count to a small side file,
//! `casebook.synced` (overwritten in place, itself fsynced only at [`SledStore::close`]:
//! it is written after the data it vouches for is durable, so whatever version of it
//! survives a crash is a lower bound). At open, a database that recovered less than the
//! side file vouches for is [`StoreError::Corrupt`] instead of quietly shorter. Damage
//! that only cuts off writes made after the last side-file update that reached the disk
//! cannot be told from a torn write; sled then keeps the intact prefix.
//!
//! Errors are typed, never panics: a corrupt record is [`StoreError::Corrupt`], a store
//! held by another process or another [`SledStore`] is [`StoreError::Locked`], and a
//! database sled cannot open (sled panics on some damaged files) is
//! [`StoreError::Corrupt`] naming the directory.
//!
//! # Storage layout
//!
//! In the directory: sled's files (`conf`, `db`, `snap.*`, `blobs/`), `casebook.lock`
//! (held with an exclusive `flock` while open) and `casebook.synced` (a frame of kind 7
//! holding the synced position and write count, `u64` little endian each).
//!
//! | tree | key | value (framed) |
//! | --- | --- | --- |
//! | `events` | global position, `u64` big endian | the envelope, binary (below) |
//! | `streams` | stream id, `0x00`, version `u64` big endian | global position `u64` |
//! | `heads` | stream id | current version `u64` |
//! | `meta` | `format`, `commit` | `casebook-sled/1`; last position and write count |
//! | `snapshots` | stream id | version, schema version, stream id, state |
//! | `checkpoints` | name | position, name, state |
//!
//! A frame is: record format (1 byte, currently 1), record kind (1 byte), CRC-32 of the
//! previous two bytes and the body (4 bytes, little endian), body. An envelope body holds
//! position, version, event id, correlation id, optional causation id, recorded time
//! (seconds and nanoseconds), schema version, then the text fields as `u32` length plus
//! UTF-8: stream id, event type, actor, optional tenant, personal-data pointers, optional
//! integrity hash and the payload's JSON as written.

mod codec;
mod durable;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use casebook_store::limits::{check_append, check_page};
use casebook_store::{
    AppendOutcome, Checkpoint, Envelope, EventStore, ExpectedVersion, NewEvent, Snapshot,
    StoreError, StreamId,
};

use crate::codec::Kind;
use crate::durable::{FileSyncer, GroupCommit};

/// The storage format this build writes and reads, kept under `meta/format`.
pub const STORAGE_FORMAT: &str = "casebook-sled/1";

const LOCK_FILE: &str = "casebook.lock";
const WATERMARK_FILE: &str = "casebook.synced";
const KEY_FORMAT: &[u8] = b"format";
/// The commit record: last committed position and write count, written last by every
/// append and checkpoint save.
const KEY_COMMIT: &[u8] = b"commit";

/// When a write is acknowledged. There is no default: every caller states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// A write returns only after it is on stable storage (flush plus `fsync`, shared by
    /// concurrent writers). Nothing acknowledged is lost in a crash or power cut.
    Synced,
    /// A write returns once committed in memory; it reaches stable storage at the next
    /// [`SledStore::sync`], [`SledStore::close`] or background flush. A crash may lose
    /// the latest acknowledged writes (whole batches, never part of one). For
    /// simulations, tests and bulk imports that can be redone.
    Buffered,
}

/// How to open a [`SledStore`]. Deliberately without `Default`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SledOptions {
    /// When writes are acknowledged; see [`Durability`].
    pub durability: Durability,
}

/// The trees of one store.
struct Trees {
    events: sled::Tree,
    streams: sled::Tree,
    heads: sled::Tree,
    meta: sled::Tree,
    snapshots: sled::Tree,
    checkpoints: sled::Tree,
}

/// What only the (single, serialised) writer changes.
struct Writer {
    /// The last committed global position.
    position: u64,
    /// Count of committed appends and checkpoint saves, for the clean-close check.
    generation: u64,
}

/// An [`EventStore`] in a local directory, on sled. See the [crate docs](crate) for
/// durability, atomicity, integrity and the storage layout.
///
/// One `SledStore` per directory at a time, in one process: share it with `Arc` between
/// threads. Dropping it closes it like [`SledStore::close`], ignoring errors.
pub struct SledStore {
    dir: PathBuf,
    durability: Durability,
    db: sled::Db,
    trees: Trees,
    writer: Mutex<Writer>,
    /// Readers see positions up to here: every event at or below is fully committed.
    visible: AtomicU64,
    group: GroupCommit,
    syncer: FileSyncer,
    /// The side file with the last synced position and write count.
    watermark: Watermark,
    /// Serialises snapshot saves, so that "keep the newer" is one decision.
    snapshot_lock: Mutex<()>,
    closed: bool,
    /// Held (with an exclusive flock) for as long as the store is open; dropped last.
    _lock: File,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore")
            .field("dir", &self.dir)
            .field("durability", &self.durability)
            .field("head_position", &self.visible.load(Ordering::Acquire))
            .finish_non_exhaustive()
    }
}

impl SledStore {
    /// Opens the store in `path`, creating the directory and an empty store if needed.
    ///
    /// # Errors
    ///
    /// - [`StoreError::Locked`] if another process or another `SledStore` in this process
    ///   has the directory open.
    /// - [`StoreError::UnsupportedFormat`] if the directory holds a store of another
    ///   format, or a sled database that is not a Casebook store.
    /// - [`StoreError::Corrupt`] if sled cannot open the database (including when it
    ///   panics on damaged files), a stored counter fails its checks, or the store was
    ///   closed cleanly at a later position than sled recovered.
    /// - [`StoreError::Io`] for operating-system errors (permissions, disk full, ...).
    pub fn open(path: impl AsRef<Path>, options: SledOptions) -> Result<SledStore, StoreError> {
        let dir = path.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir)?;
        let lock = take_lock(&dir)?;
        let synced_before = read_watermark(&dir)?;
        let db = open_sled(&dir)?;
        let tree = |name: &str| -> Result<sled::Tree, StoreError> {
            guarded(&format!("opening tree {name}"), || {
                db.open_tree(name).map_err(|e| map_sled(&dir, e))
            })
        };
        let trees = Trees {
            events: tree("events")?,
            streams: tree("streams")?,
            heads: tree("heads")?,
            meta: tree("meta")?,
            snapshots: tree("snapshots")?,
            checkpoints: tree("checkpoints")?,
        };
        let syncer = FileSyncer::new(&dir)?;
        let (position, generation) = check_format_and_counters(&dir, &db, &trees)?;
        if let Some((synced_position, synced_generation)) = synced_before {
            if position < synced_position || generation < synced_generation {
                return Err(StoreError::Corrupt {
                    location: dir.display().to_string(),
                    detail: format!(
                        "position {synced_position} after {synced_generation} writes was synced, \
                         but the database recovered only position {position} after \
                         {generation} writes: part of its log was lost or damaged"
                    ),
                });
            }
        }
        let watermark = Watermark::open(&dir)?;
        guarded("flush", || db.flush().map_err(|e| map_sled(&dir, e)))?;
        syncer.sync()?;
        watermark.record(position, generation)?;
        Ok(SledStore {
            durability: options.durability,
            db,
            trees,
            writer: Mutex::new(Writer {
                position,
                generation,
            }),
            visible: AtomicU64::new(position),
            group: GroupCommit::new(),
            syncer,
            watermark,
            snapshot_lock: Mutex::new(()),
            closed: false,
            _lock: lock,
            dir,
        })
    }

    /// The directory the store lives in.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The durability the store was opened with.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// Makes every write committed so far durable (flush and `fsync`), whatever the
    /// store's [`Durability`]. With [`Durability::Buffered`] this is the way to set a
    /// point from which nothing is lost, e.g. at the end of a bulk import.
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] or [`StoreError::Backend`] if a flush or `fsync` fails; from
    /// then on the store refuses writes.
    pub fn sync(&self) -> Result<(), StoreError> {
        let ticket = self.group.ticket();
        self.group.wait_durable(ticket, || self.flush_and_fsync())
    }

    /// Syncs everything, makes the record of the synced position durable for the next
    /// open's check, and closes the store.
    ///
    /// # Errors
    ///
    /// As [`SledStore::sync`], and [`StoreError::Io`] if the side file cannot be synced. The
    /// store is closed either way; data acknowledged before stays durable.
    pub fn close(mut self) -> Result<(), StoreError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), StoreError> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        self.group.check_healthy()?;
        self.sync()?;
        self.watermark.sync()
    }

    fn flush_and_fsync(&self) -> Result<(), StoreError> {
        // Every commit counted here finished under the writer lock, so the flush below
        // covers it.
        let (position, generation) = {
            let writer = lock(&self.writer);
            (writer.position, writer.generation)
        };
        guarded("flush", || self.db.flush().map_err(|e| self.sled_error(e)))?;
        self.syncer.sync()?;
        self.watermark.record(position, generation)
    }

    fn sled_error(&self, e: sled::Error) -> StoreError {
        map_sled(&self.dir, e)
    }

    /// Waits until the write with `ticket` is durable, if the store is synced.
    fn acknowledge(&self, ticket: u64) -> Result<(), StoreError> {
        match self.durability {
            Durability::Synced => self.group.wait_durable(ticket, || self.flush_and_fsync()),
            Durability::Buffered => Ok(()),
        }
    }

    fn read_event(&self, position: u64) -> Result<Option<Envelope>, StoreError> {
        let key = codec::position_key(position);
        match self.trees.events.get(key).map_err(|e| self.sled_error(e))? {
            Some(bytes) => {
                let env = codec::decode_envelope(&|| format!("events/{position}"), &bytes)?;
                if env.global_position != position {
                    return Err(StoreError::Corrupt {
                        location: format!("events/{position}"),
                        detail: format!(
                            "the record says it is at position {}",
                            env.global_position
                        ),
                    });
                }
                Ok(Some(env))
            }
            None => Ok(None),
        }
    }
}

impl Drop for SledStore {
    fn drop(&mut self) {
        // Errors cannot be returned from drop; callers who need them call `close`. Data
        // acknowledged as durable is durable regardless.
        let _ = self.shutdown();
    }
}

impl EventStore for SledStore {
    fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, StoreError> {
        check_append(stream.as_str(), &events)?;
        self.group.check_healthy()?;
        let mut writer = lock(&self.writer);
        let head_key = stream.as_str().as_bytes();
        let head_location = || format!("heads/{stream}");
        let actual = guarded("reading a stream head", || {
            match self
                .trees
                .heads
                .get(head_key)
                .map_err(|e| self.sled_error(e))?
            {
                Some(bytes) => codec::decode_u64(&head_location, Kind::Head, &bytes),
                None => Ok(0),
            }
        })?;
        if !expected.admits(actual) {
            return Err(StoreError::Conflict {
                stream: stream.to_string(),
                expected,
                actual,
            });
        }
        let first_position = writer.position + 1;
        let recorded: Vec<Envelope> = events
            .into_iter()
            .zip(0u64..)
            .map(|(new, i)| {
                Envelope::from_new(stream.clone(), actual + 1 + i, first_position + i, new)
            })
            .collect();
        let count = recorded.len() as u64;
        let last_position = writer.position + count;
        let new_version = actual + count;
        let generation = writer.generation + 1;
        let rows: Vec<(u64, u64, Vec<u8>)> = recorded
            .iter()
            .map(|env| {
                (
                    env.global_position,
                    env.stream_version,
                    codec::encode_envelope(env),
                )
            })
            .collect();
        let head_value = codec::encode_u64(Kind::Head, new_version);
        let commit_value = encode_commit(last_position, generation);
        let t = &self.trees;
        // Four kinds of writes in a fixed order, the commit record last: sled recovers a
        // prefix of its log, so after a crash anything past the commit record belongs to
        // one unfinished append, which `open` rolls back (see `rollback_tail`). This is
        // as atomic as a sled transaction, which would cost an extra log write per append
        // (sled's `pin_log` writes out the current IO buffer for every transaction).
        let written = guarded("an append", || {
            for (position, _, bytes) in &rows {
                t.events
                    .insert(codec::position_key(*position), bytes.as_slice())
                    .map_err(|e| self.sled_error(e))?;
            }
            for (position, version, _) in &rows {
                t.streams
                    .insert(
                        codec::index_key(stream, *version),
                        codec::encode_u64(Kind::Index, *position),
                    )
                    .map_err(|e| self.sled_error(e))?;
            }
            t.heads
                .insert(head_key, head_value)
                .map_err(|e| self.sled_error(e))?;
            t.meta
                .insert(KEY_COMMIT, commit_value)
                .map_err(|e| self.sled_error(e))?;
            Ok(())
        });
        if let Err(e) = written {
            // Take back what was written so that a failed append leaves no trace; if even
            // that fails, refuse further writes (reopening rolls the tail back).
            if let Err(undo) = guarded("undoing a failed append", || {
                rollback_tail(&self.dir, &self.trees, writer.position).map(drop)
            }) {
                self.group
                    .fail(format!("undoing a failed append failed: {undo}"));
            }
            return Err(e);
        }
        writer.position = last_position;
        writer.generation = generation;
        self.visible.store(last_position, Ordering::Release);
        let ticket = self.group.ticket();
        drop(writer);
        self.acknowledge(ticket)?;
        Ok(AppendOutcome {
            recorded,
            stream_version: new_version,
        })
    }

    fn read_stream(
        &self,
        stream: &StreamId,
        after: u64,
        max_count: usize,
    ) -> Result<Vec<Envelope>, StoreError> {
        check_page(max_count)?;
        if max_count == 0 || after == u64::MAX {
            return Ok(Vec::new());
        }
        let visible = self.visible.load(Ordering::Acquire);
        let last = after.saturating_add(max_count as u64);
        let from = codec::index_key(stream, after + 1);
        let to = codec::index_key(stream, last);
        guarded("reading a stream", || {
            let mut out = Vec::with_capacity(max_count.min(1024));
            for (expected_version, item) in (after + 1..).zip(self.trees.streams.range(from..=to)) {
                let (key, value) = item.map_err(|e| self.sled_error(e))?;
                let location = || format!("streams/{stream}/{expected_version}");
                let version = key
                    .len()
                    .checked_sub(8)
                    .and_then(|at| key.get(at..))
                    .and_then(|tail| <[u8; 8]>::try_from(tail).ok())
                    .map(u64::from_be_bytes);
                if version != Some(expected_version) {
                    return Err(StoreError::Corrupt {
                        location: location(),
                        detail: format!(
                            "stream index jumps from version {} to {version:?}",
                            expected_version - 1
                        ),
                    });
                }
                let position = codec::decode_u64(&location, Kind::Index, &value)?;
                if position > visible {
                    // Committed after this read began; the next read will see it.
                    break;
                }
                let env = self
                    .read_event(position)?
                    .ok_or_else(|| StoreError::Corrupt {
                        location: location(),
                        detail: format!(
                            "the index points to position {position}, which is missing"
                        ),
                    })?;
                if env.stream_id != *stream || env.stream_version != expected_version {
                    return Err(StoreError::Corrupt {
                        location: location(),
                        detail: format!(
                            "the index points to position {position}, which holds {} version {}",
                            env.stream_id, env.stream_version
                        ),
                    });
                }
                out.push(env);
            }
            Ok(out)
        })
    }

    fn read_all(&self, after: u64, max_count: usize) -> Result<Vec<Envelope>, StoreError> {
        check_page(max_count)?;
        let visible = self.visible.load(Ordering::Acquire);
        if max_count == 0 || after >= visible {
            return Ok(Vec::new());
        }
        let last = after.saturating_add(max_count as u64).min(visible);
        guarded("reading the log", || {
            let mut out = Vec::with_capacity(max_count.min(1024));
            let mut expected = after + 1;
            let range = codec::position_key(after + 1)..=codec::position_key(last);
            for item in self.trees.events.range(range) {
                let (key, value) = item.map_err(|e| self.sled_error(e))?;
                let key = <[u8; 8]>::try_from(key.as_ref())
                    .ok()
                    .map(u64::from_be_bytes);
                if key != Some(expected) {
                    return Err(StoreError::Corrupt {
                        location: format!("events/{expected}"),
                        detail: format!("the event is missing (next key: {key:?})"),
                    });
                }
                let env = codec::decode_envelope(&|| format!("events/{expected}"), &value)?;
                if env.global_position != expected {
                    return Err(StoreError::Corrupt {
                        location: format!("events/{expected}"),
                        detail: format!(
                            "the record says it is at position {}",
                            env.global_position
                        ),
                    });
                }
                out.push(env);
                expected += 1;
            }
            if expected <= last {
                return Err(StoreError::Corrupt {
                    location: format!("events/{expected}"),
                    detail: format!("the event is missing below the head position {visible}"),
                });
            }
            Ok(out)
        })
    }

    fn stream_version(&self, stream: &StreamId) -> Result<u64, StoreError> {
        guarded("reading a stream head", || {
            match self
                .trees
                .heads
                .get(stream.as_str().as_bytes())
                .map_err(|e| self.sled_error(e))?
            {
                Some(bytes) => codec::decode_u64(&|| format!("heads/{stream}"), Kind::Head, &bytes),
                None => Ok(0),
            }
        })
    }

    fn head_position(&self) -> Result<u64, StoreError> {
        Ok(self.visible.load(Ordering::Acquire))
    }

    fn load_snapshot(&self, stream: &StreamId) -> Result<Option<Snapshot>, StoreError> {
        guarded("reading a snapshot", || {
            let location = || format!("snapshots/{stream}");
            match self
                .trees
                .snapshots
                .get(stream.as_str().as_bytes())
                .map_err(|e| self.sled_error(e))?
            {
                Some(bytes) => {
                    let snapshot = codec::decode_snapshot(&location, &bytes)?;
                    if snapshot.stream_id != *stream {
                        return Err(StoreError::Corrupt {
                            location: location(),
                            detail: format!("the snapshot is of {}", snapshot.stream_id),
                        });
                    }
                    Ok(Some(snapshot))
                }
                None => Ok(None),
            }
        })
    }

    fn save_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        self.group.check_healthy()?;
        let _one_at_a_time = lock(&self.snapshot_lock);
        let key = snapshot.stream_id.as_str().as_bytes();
        guarded("saving a snapshot", || {
            let stored = self
                .trees
                .snapshots
                .get(key)
                .map_err(|e| self.sled_error(e))?;
            // A stored snapshot that fails its checks is a damaged cache entry: replacing
            // it is the repair, so it does not block the save.
            let newer = stored
                .and_then(|bytes| codec::decode_snapshot(&|| String::new(), &bytes).ok())
                .is_none_or(|old| old.version <= snapshot.version);
            if newer {
                self.trees
                    .snapshots
                    .insert(key, codec::encode_snapshot(snapshot))
                    .map_err(|e| self.sled_error(e))?;
            }
            Ok(())
        })
    }

    fn clear_snapshots(&self) -> Result<(), StoreError> {
        let _one_at_a_time = lock(&self.snapshot_lock);
        guarded("clearing snapshots", || {
            self.trees.snapshots.clear().map_err(|e| self.sled_error(e))
        })
    }

    fn load_checkpoint(&self, name: &str) -> Result<Option<Checkpoint>, StoreError> {
        guarded("reading a checkpoint", || {
            let location = || format!("checkpoints/{name}");
            match self
                .trees
                .checkpoints
                .get(name.as_bytes())
                .map_err(|e| self.sled_error(e))?
            {
                Some(bytes) => {
                    let checkpoint = codec::decode_checkpoint(&location, &bytes)?;
                    if checkpoint.name != name {
                        return Err(StoreError::Corrupt {
                            location: location(),
                            detail: format!("the checkpoint is named {:?}", checkpoint.name),
                        });
                    }
                    Ok(Some(checkpoint))
                }
                None => Ok(None),
            }
        })
    }

    fn save_checkpoint(&self, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        self.group.check_healthy()?;
        let mut writer = lock(&self.writer);
        let generation = writer.generation + 1;
        let value = codec::encode_checkpoint(checkpoint);
        let commit_value = encode_commit(writer.position, generation);
        guarded("saving a checkpoint", || {
            self.trees
                .checkpoints
                .insert(checkpoint.name.as_bytes(), value)
                .map_err(|e| self.sled_error(e))?;
            self.trees
                .meta
                .insert(KEY_COMMIT, commit_value)
                .map_err(|e| self.sled_error(e))?;
            Ok(())
        })?;
        writer.generation = generation;
        let ticket = self.group.ticket();
        drop(writer);
        self.acknowledge(ticket)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while these locks are held except sled itself, which is caught and
    // leaves the writer state untouched (it is updated only after a successful commit).
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs a sled operation, turning a panic inside sled into a typed error.
fn guarded<T>(
    what: &str,
    operation: impl FnOnce() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(operation)) {
        Ok(result) => result,
        Err(panic) => Err(StoreError::Backend(format!(
            "sled panicked during {what}: {}",
            panic_message(panic.as_ref())
        ))),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "(no message)".to_string()
    }
}

fn map_sled(dir: &Path, e: sled::Error) -> StoreError {
    match e {
        sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
            StoreError::Locked(format!("{}: {io}", dir.display()))
        }
        sled::Error::Io(io) => StoreError::Io(io),
        sled::Error::Corruption { at, .. } => StoreError::Corrupt {
            location: format!("{} (sled {at:?})", dir.display()),
            detail: "sled found a damaged log or page".into(),
        },
        other => StoreError::Backend(format!("sled: {other}")),
    }
}

/// Takes the store's lock file, so that a second opener gets a typed error before sled
/// is touched.
fn take_lock(dir: &Path) -> Result<File, StoreError> {
    use fs2::FileExt;
    let file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(LOCK_FILE))?;
    match file.try_lock_exclusive() {
        Ok(()) => Ok(file),
        Err(e) if e.kind() == fs2::lock_contended_error().kind() => Err(StoreError::Locked(
            format!("{} is open in another process or SledStore", dir.display()),
        )),
        Err(e) => Err(StoreError::Io(e)),
    }
}

fn open_sled(dir: &Path) -> Result<sled::Db, StoreError> {
    let config = sled::Config::new().path(dir);
    // We already hold the store's own exclusive lock, so no other store has this
    // directory. sled's lock can still be held for a moment by a handle of this process
    // that was just dropped: sled releases it from its background threads. Wait for that
    // release, briefly and boundedly, rather than report the directory as locked.
    let lock_deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let opened = loop {
        let attempt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| config.open()));
        match &attempt {
            Ok(Err(sled::Error::Io(e)))
                if e.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < lock_deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            _ => break attempt,
        }
    };
    match opened {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(e)) => Err(match map_sled(dir, e) {
            StoreError::Backend(detail) => StoreError::Corrupt {
                location: dir.display().to_string(),
                detail: format!("sled cannot open the database: {detail}"),
            },
            other => other,
        }),
        Err(panic) => Err(StoreError::Corrupt {
            location: dir.display().to_string(),
            detail: format!(
                "sled panicked opening the database (its files are probably damaged): {}",
                panic_message(panic.as_ref())
            ),
        }),
    }
}

/// Checks the format key (writing it into a new, empty store) and the counters; returns
/// the last position and the write count.
fn check_format_and_counters(
    dir: &Path,
    db: &sled::Db,
    trees: &Trees,
) -> Result<(u64, u64), StoreError> {
    guarded("checking the store format", || {
        let sled_err = |e| map_sled(dir, e);
        let meta_location = |key: &'static str| move || format!("meta/{key}");
        match trees.meta.get(KEY_FORMAT).map_err(sled_err)? {
            Some(bytes) => {
                let body = codec::unframe(&meta_location("format"), Kind::Meta, &bytes)?;
                if body != STORAGE_FORMAT.as_bytes() {
                    return Err(StoreError::UnsupportedFormat {
                        found: String::from_utf8_lossy(body).into_owned(),
                        supported: STORAGE_FORMAT.into(),
                    });
                }
            }
            None => {
                let mut names = Vec::new();
                for name in db.tree_names() {
                    let tree = db.open_tree(&name).map_err(sled_err)?;
                    if !tree.is_empty() {
                        names.push(String::from_utf8_lossy(&name).into_owned());
                    }
                }
                if !names.is_empty() {
                    return Err(StoreError::UnsupportedFormat {
                        found: format!(
                            "a sled database without a Casebook format key (non-empty trees: {})",
                            names.join(", ")
                        ),
                        supported: STORAGE_FORMAT.into(),
                    });
                }
                trees
                    .meta
                    .insert(
                        KEY_FORMAT,
                        codec::frame(Kind::Meta, STORAGE_FORMAT.as_bytes()),
                    )
                    .map_err(sled_err)?;
            }
        }
        let (position, generation) = match trees.meta.get(KEY_COMMIT).map_err(sled_err)? {
            Some(bytes) => decode_commit(&bytes)?,
            None => (0, 0),
        };
        // An append that was cut short by a crash left events past the commit record.
        rollback_tail(dir, trees, position)?;
        let last_key = trees.events.last().map_err(sled_err)?.map(|(key, _)| key);
        let last = match last_key {
            Some(key) => Some(
                <[u8; 8]>::try_from(key.as_ref())
                    .map(u64::from_be_bytes)
                    .map_err(|_| StoreError::Corrupt {
                        location: "events".into(),
                        detail: format!("an event key has {} bytes instead of 8", key.len()),
                    })?,
            ),
            None => None,
        };
        if last.unwrap_or(0) != position {
            return Err(StoreError::Corrupt {
                location: "meta/position".into(),
                detail: format!(
                    "the position counter is {position} but the last event is at {last:?}"
                ),
            });
        }
        Ok((position, generation))
    })
}

fn encode_commit(position: u64, generation: u64) -> Vec<u8> {
    let mut body = Vec::with_capacity(16);
    body.extend_from_slice(&position.to_le_bytes());
    body.extend_from_slice(&generation.to_le_bytes());
    codec::frame(Kind::Meta, &body)
}

fn decode_commit(bytes: &[u8]) -> Result<(u64, u64), StoreError> {
    let location = || "meta/commit".to_string();
    let body = codec::unframe(&location, Kind::Meta, bytes)?;
    decode_pair(&location, body)
}

/// Two little-endian `u64`s, the body of the commit record and of the side file.
fn decode_pair(location: &dyn Fn() -> String, body: &[u8]) -> Result<(u64, u64), StoreError> {
    match <[u8; 16]>::try_from(body) {
        Ok(body) => {
            let mut first = [0; 8];
            let mut second = [0; 8];
            first.copy_from_slice(&body[..8]);
            second.copy_from_slice(&body[8..]);
            Ok((u64::from_le_bytes(first), u64::from_le_bytes(second)))
        }
        Err(_) => Err(StoreError::Corrupt {
            location: location(),
            detail: format!("the record has {} bytes instead of 16", body.len()),
        }),
    }
}

/// Removes the traces of an append that did not reach its commit record: events past
/// `committed`, their stream's index entries and head. Returns whether there were any.
///
/// Appends write events, then index entries, then the head, then the commit record, and
/// one at a time; sled recovers a prefix of its log. So past the commit record there is
/// at most one append's worth: some or all of its events, and perhaps its index entries
/// and head. The undo runs in the reverse order (head, index, events from the highest
/// position down), so that an undo cut short by another crash is redone from the events
/// that remain.
///
/// # Errors
///
/// [`StoreError::Corrupt`] if the tail does not look like one append (damage, not a
/// crash); sled errors.
fn rollback_tail(dir: &Path, trees: &Trees, committed: u64) -> Result<bool, StoreError> {
    let sled_err = |e| map_sled(dir, e);
    let mut tail = Vec::new();
    for item in trees
        .events
        .range(codec::position_key(committed.saturating_add(1))..)
    {
        let (key, value) = item.map_err(sled_err)?;
        let position = <[u8; 8]>::try_from(key.as_ref()).map(u64::from_be_bytes);
        let location = || format!("events/{position:?}");
        tail.push((key.to_vec(), codec::decode_envelope(&location, &value)?));
    }
    let Some((_, first)) = tail.first() else {
        return Ok(false);
    };
    let (stream, first_version) = (first.stream_id.clone(), first.stream_version);
    for (i, (_, env)) in (0u64..).zip(&tail) {
        if env.stream_id != stream
            || env.stream_version != first_version + i
            || env.global_position != committed + 1 + i
        {
            return Err(StoreError::Corrupt {
                location: format!("events/{}", env.global_position),
                detail: format!(
                    "past the commit record at position {committed} there is more than one \
                     unfinished append ({} version {} follows {stream} from version \
                     {first_version})",
                    env.stream_id, env.stream_version
                ),
            });
        }
    }
    let head_key = stream.as_str().as_bytes();
    match first_version.checked_sub(1) {
        Some(previous) if previous > 0 => {
            trees
                .heads
                .insert(head_key, codec::encode_u64(Kind::Head, previous))
                .map_err(sled_err)?;
        }
        _ => {
            trees.heads.remove(head_key).map_err(sled_err)?;
        }
    }
    let index_range =
        codec::index_key(&stream, first_version)..=codec::index_key(&stream, u64::MAX);
    let index_keys: Vec<sled::IVec> = trees
        .streams
        .range(index_range)
        .keys()
        .collect::<Result<_, _>>()
        .map_err(sled_err)?;
    for key in index_keys {
        trees.streams.remove(key).map_err(sled_err)?;
    }
    for (key, _) in tail.iter().rev() {
        trees.events.remove(key.as_slice()).map_err(sled_err)?;
    }
    Ok(true)
}

/// The side file recording the last synced position and write count.
struct Watermark {
    file: File,
}

impl Watermark {
    fn open(dir: &Path) -> Result<Self, StoreError> {
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(WATERMARK_FILE))?;
        Ok(Watermark { file })
    }

    /// Overwrites the record in place. No fsync: it is written after the data it vouches
    /// for is durable, so any version of it that reaches the disk is a lower bound.
    fn record(&self, position: u64, generation: u64) -> Result<(), StoreError> {
        use std::os::unix::fs::FileExt;
        let mut body = Vec::with_capacity(16);
        body.extend_from_slice(&position.to_le_bytes());
        body.extend_from_slice(&generation.to_le_bytes());
        self.file
            .write_all_at(&codec::frame(Kind::Watermark, &body), 0)?;
        Ok(())
    }

    fn sync(&self) -> Result<(), StoreError> {
        self.file.sync_all()?;
        Ok(())
    }
}

/// Reads the side file; `None` if there is none yet or it is empty (created, and the
/// process died before its first record reached the disk).
fn read_watermark(dir: &Path) -> Result<Option<(u64, u64)>, StoreError> {
    let path = dir.join(WATERMARK_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) if bytes.is_empty() => return Ok(None),
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let location = || path.display().to_string();
    let body = codec::unframe(&location, Kind::Watermark, &bytes)?;
    decode_pair(&location, body).map(Some)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use casebook_store::conformance::event;

    fn options() -> SledOptions {
        SledOptions {
            durability: Durability::Synced,
        }
    }

    /// Writes the first `written` steps of an append of `count` events to `stream`
    /// without its commit record, as a crash would leave it.
    fn partial_append(store: &SledStore, stream: &StreamId, count: u64, written: usize) {
        let writer = lock(&store.writer);
        let version = store.stream_version(stream).unwrap();
        let envs: Vec<Envelope> = (0..count)
            .map(|i| {
                Envelope::from_new(
                    stream.clone(),
                    version + 1 + i,
                    writer.position + 1 + i,
                    event("Partial", serde_json::json!({ "i": i })),
                )
            })
            .collect();
        let mut steps: Vec<Box<dyn Fn()>> = Vec::new();
        for env in &envs {
            let bytes = codec::encode_envelope(env);
            let position = env.global_position;
            let trees = &store.trees;
            steps.push(Box::new(move || {
                trees
                    .events
                    .insert(codec::position_key(position), bytes.clone())
                    .unwrap();
            }));
        }
        for env in &envs {
            let (key, position) = (
                codec::index_key(stream, env.stream_version),
                env.global_position,
            );
            let trees = &store.trees;
            steps.push(Box::new(move || {
                trees
                    .streams
                    .insert(key.clone(), codec::encode_u64(Kind::Index, position))
                    .unwrap();
            }));
        }
        let trees = &store.trees;
        steps.push(Box::new(move || {
            trees
                .heads
                .insert(
                    stream.as_str().as_bytes(),
                    codec::encode_u64(Kind::Head, version + count),
                )
                .unwrap();
        }));
        for step in steps.iter().take(written) {
            step();
        }
    }

    #[test]
    fn an_unfinished_append_is_rolled_back_at_open_whatever_it_reached() {
        let s = StreamId::new("t", "roll").unwrap();
        let other = StreamId::new("t", "other").unwrap();
        // 3 events: 3 event writes, 3 index writes, 1 head write.
        for written in 1..=7 {
            let dir = tempfile::tempdir().unwrap();
            let store = SledStore::open(dir.path(), options()).unwrap();
            let first = store
                .append(
                    &s,
                    ExpectedVersion::NoStream,
                    vec![event("A", serde_json::json!({}))],
                )
                .unwrap();
            store
                .append(
                    &other,
                    ExpectedVersion::NoStream,
                    vec![event("B", serde_json::json!({}))],
                )
                .unwrap();
            partial_append(&store, &s, 3, written);
            drop(store);
            let store = SledStore::open(dir.path(), options()).unwrap();
            assert_eq!(store.head_position().unwrap(), 2, "written {written}");
            assert_eq!(store.stream_version(&s).unwrap(), 1, "written {written}");
            assert_eq!(store.read_stream(&s, 0, 10).unwrap(), first.recorded);
            let next = store
                .append(
                    &s,
                    ExpectedVersion::Exact(1),
                    vec![event("C", serde_json::json!({}))],
                )
                .unwrap();
            assert_eq!(next.recorded[0].global_position, 3);
            assert_eq!(next.recorded[0].stream_version, 2);
            assert_eq!(store.read_all(0, 10).unwrap().len(), 3);
        }
    }

    #[test]
    fn an_unfinished_first_append_leaves_no_stream() {
        let dir = tempfile::tempdir().unwrap();
        let s = StreamId::new("t", "new").unwrap();
        let store = SledStore::open(dir.path(), options()).unwrap();
        partial_append(&store, &s, 2, 5);
        drop(store);
        let store = SledStore::open(dir.path(), options()).unwrap();
        assert_eq!(store.stream_version(&s).unwrap(), 0);
        assert!(store.read_stream(&s, 0, 10).unwrap().is_empty());
        assert_eq!(store.head_position().unwrap(), 0);
    }

    #[test]
    fn a_tail_that_is_not_one_append_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), options()).unwrap();
        let a = StreamId::new("t", "a").unwrap();
        partial_append(&store, &a, 1, 1);
        // A second "unfinished" append right after it: impossible after a crash.
        {
            let mut writer = lock(&store.writer);
            writer.position += 1;
        }
        partial_append(&store, &StreamId::new("t", "b").unwrap(), 1, 1);
        {
            let mut writer = lock(&store.writer);
            writer.position -= 1;
        }
        drop(store);
        let err = SledStore::open(dir.path(), options()).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    }
}
