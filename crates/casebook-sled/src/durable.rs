//! Making writes durable: a real fsync of sled's files, and group commit so that writers
//! who commit at the same time share one sync.
//!
//! sled 0.34's `flush` writes its log buffers with `sync_file_range`, which on Linux
//! neither forces the file's metadata (its new length) nor the drive's cache, and it
//! writes values too large for a log segment to files under `blobs/` without syncing
//! them at all. [`FileSyncer`] therefore follows every flush with `fsync` on the data
//! file, on every blob or snapshot file that appeared or grew since the last sync, and on
//! the directories whose listing changed.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use casebook_store::StoreError;

/// Shares syncs between concurrent writers.
///
/// Each write, once committed to sled's memory, takes a ticket from [`GroupCommit::done`];
/// tickets are taken only after the write finished, so every ticket up to the counter's
/// current value belongs to a finished write. A writer then waits until a sync that
/// *started* after its ticket was taken has finished. The first waiter to find no sync
/// running becomes the leader: it notes the counter, syncs once for everybody up to
/// there, and wakes the rest. While it syncs, new writers queue up for the next round,
/// so the number of syncs follows the disk's speed, not the number of writes.
pub(crate) struct GroupCommit {
    done: AtomicU64,
    state: Mutex<SyncState>,
    wake: Condvar,
}

struct SyncState {
    /// Every ticket up to this one is on stable storage.
    synced: u64,
    /// A leader is syncing right now.
    syncing: bool,
    /// A sync failed: what is on disk is unknown, so no later write is acknowledged.
    failed: Option<String>,
}

impl GroupCommit {
    pub(crate) fn new() -> Self {
        GroupCommit {
            done: AtomicU64::new(0),
            state: Mutex::new(SyncState {
                synced: 0,
                syncing: false,
                failed: None,
            }),
            wake: Condvar::new(),
        }
    }

    /// Takes the ticket of a write that has just been committed to memory.
    pub(crate) fn ticket(&self) -> u64 {
        self.done.fetch_add(1, Ordering::SeqCst) + 1
    }

    fn lock(&self) -> MutexGuard<'_, SyncState> {
        // The state is three plain fields updated in single assignments; a panic elsewhere
        // cannot leave them inconsistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks the store as failed: no later write is acknowledged.
    pub(crate) fn fail(&self, why: String) {
        self.lock().failed = Some(why);
        self.wake.notify_all();
    }

    /// The error every writer gets once a sync (or the undo of a failed write) has failed.
    pub(crate) fn check_healthy(&self) -> Result<(), StoreError> {
        match &self.lock().failed {
            Some(why) => Err(failed_before(why)),
            None => Ok(()),
        }
    }

    /// Returns once the write with `ticket` is on stable storage, syncing with `sync` if
    /// no other writer is doing it already.
    ///
    /// # Errors
    ///
    /// The sync's error; after one failure every later call fails too, because the data on
    /// disk can no longer be vouched for (a failed fsync may have dropped dirty pages).
    pub(crate) fn wait_durable(
        &self,
        ticket: u64,
        sync: impl Fn() -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        loop {
            if let Some(why) = &state.failed {
                return Err(failed_before(why));
            }
            if state.synced >= ticket {
                return Ok(());
            }
            if state.syncing {
                state = self
                    .wake
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            state.syncing = true;
            let target = self.done.load(Ordering::SeqCst);
            drop(state);
            let result = sync();
            state = self.lock();
            state.syncing = false;
            match result {
                Ok(()) => state.synced = state.synced.max(target),
                Err(e) => {
                    state.failed = Some(e.to_string());
                    self.wake.notify_all();
                    return Err(e);
                }
            }
            self.wake.notify_all();
        }
    }
}

fn failed_before(why: &str) -> StoreError {
    StoreError::Backend(format!(
        "an earlier sync to disk failed ({why}); the store accepts no more writes, reopen it"
    ))
}

/// The name of sled's data file in the store's directory.
const DATA_FILE: &str = "db";

/// Forces sled's files to stable storage with `fsync`.
pub(crate) struct FileSyncer {
    dir: PathBuf,
    /// sled's data file, opened once; `fsync` applies to the file, whichever handle.
    data: File,
    /// Length of each file as of its last fsync, per directory (the store's and `blobs/`).
    seen: Mutex<HashMap<PathBuf, HashMap<std::ffi::OsString, u64>>>,
}

impl FileSyncer {
    /// Opens sled's data file in `dir` for syncing.
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] if the file cannot be opened.
    pub(crate) fn new(dir: &Path) -> Result<Self, StoreError> {
        let data = File::open(dir.join(DATA_FILE))?;
        Ok(FileSyncer {
            dir: dir.to_path_buf(),
            data,
            seen: Mutex::new(HashMap::new()),
        })
    }

    /// Fsyncs the data file, then every file in the store's directory and in `blobs/`
    /// that is new or grew since the last call, then each directory whose listing
    /// changed. Call it after sled's own flush.
    ///
    /// Returns how many fsyncs it made besides the data file's.
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] from any fsync or directory listing.
    pub(crate) fn sync(&self) -> Result<usize, StoreError> {
        let mut extra = 0;
        self.data.sync_all()?;
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let blobs = self.dir.join("blobs");
        for dir in [self.dir.clone(), blobs] {
            if !dir.is_dir() {
                continue;
            }
            let known = seen.entry(dir.clone()).or_default();
            if dir == self.dir {
                // The data file was synced just above; it counts as known at any length
                // (a second fsync would cost a second drive cache flush).
                known.insert(DATA_FILE.into(), u64::MAX);
            }
            let (files, listing_changed) = sync_changed_files(&dir, known)?;
            extra += files;
            if listing_changed {
                File::open(&dir)?.sync_all()?;
                extra += 1;
            }
        }
        Ok(extra)
    }
}

/// Fsyncs the regular files of `dir` that are not in `known` at their current length;
/// updates `known`. Returns how many files it synced and whether the directory's listing
/// changed.
fn sync_changed_files(
    dir: &Path,
    known: &mut HashMap<std::ffi::OsString, u64>,
) -> Result<(usize, bool), StoreError> {
    let mut listed = HashMap::with_capacity(known.len());
    let mut changed = false;
    let mut synced = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let meta = match entry.metadata() {
            Ok(meta) => meta,
            // sled removes blobs and temporary snapshot files concurrently; a file that is
            // gone needs no sync.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e.into()),
        };
        if !meta.is_file() {
            continue;
        }
        let len = meta.len();
        match known.get(&name) {
            Some(&synced_len) if synced_len == len || synced_len == u64::MAX => {}
            previous => {
                changed |= previous.is_none();
                match File::open(entry.path()) {
                    Ok(file) => {
                        file.sync_all()?;
                        synced += 1;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        let keep = if known.get(&name) == Some(&u64::MAX) {
            u64::MAX
        } else {
            len
        };
        listed.insert(name, keep);
    }
    changed |= known.keys().any(|name| !listed.contains_key(name));
    *known = listed;
    Ok((synced, changed))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn concurrent_writers_share_syncs_and_all_are_covered() {
        let group = GroupCommit::new();
        let syncs = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    for _ in 0..200 {
                        let ticket = group.ticket();
                        group
                            .wait_durable(ticket, || {
                                syncs.fetch_add(1, Ordering::SeqCst);
                                Ok(())
                            })
                            .unwrap();
                        assert!(group.lock().synced >= ticket);
                    }
                });
            }
        });
        let syncs = syncs.load(Ordering::SeqCst);
        assert!((1..=1600).contains(&syncs), "{syncs} syncs");
    }

    #[test]
    fn a_failed_sync_fails_every_later_write() {
        let group = GroupCommit::new();
        let ticket = group.ticket();
        let err = group
            .wait_durable(ticket, || Err(StoreError::Backend("disk gone".into())))
            .unwrap_err();
        assert!(err.to_string().contains("disk gone"));
        let ticket = group.ticket();
        let err = group.wait_durable(ticket, || Ok(())).unwrap_err();
        assert!(err.to_string().contains("earlier sync"), "{err}");
        assert!(group.check_healthy().is_err());
    }

    #[test]
    fn new_and_grown_files_are_synced_and_known() {
        let dir = tempfile::tempdir().unwrap();
        let mut known = HashMap::new();
        std::fs::write(dir.path().join("a"), b"1").unwrap();
        assert_eq!(
            sync_changed_files(dir.path(), &mut known).unwrap(),
            (1, true)
        );
        assert_eq!(
            sync_changed_files(dir.path(), &mut known).unwrap(),
            (0, false)
        );
        std::fs::write(dir.path().join("a"), b"12").unwrap();
        assert_eq!(
            sync_changed_files(dir.path(), &mut known).unwrap(),
            (1, false)
        );
        assert_eq!(known.get(std::ffi::OsStr::new("a")), Some(&2));
        std::fs::remove_file(dir.path().join("a")).unwrap();
        assert_eq!(
            sync_changed_files(dir.path(), &mut known).unwrap(),
            (0, true)
        );
        assert!(known.is_empty());
    }

    #[test]
    fn an_unchanged_store_costs_only_the_data_file_fsync() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(DATA_FILE), b"log").unwrap();
        std::fs::write(dir.path().join("conf"), b"c").unwrap();
        std::fs::create_dir(dir.path().join("blobs")).unwrap();
        let syncer = FileSyncer::new(dir.path()).unwrap();
        // First time: conf and the store's directory (the empty blobs/ has nothing new).
        assert_eq!(syncer.sync().unwrap(), 2);
        // The data file grows with every append; it is synced anyway, nothing else is.
        std::fs::write(dir.path().join(DATA_FILE), b"log grown").unwrap();
        assert_eq!(syncer.sync().unwrap(), 0);
        std::fs::write(dir.path().join("blobs").join("17"), b"blob").unwrap();
        assert_eq!(syncer.sync().unwrap(), 2, "a new blob and its directory");
        assert_eq!(syncer.sync().unwrap(), 0);
    }
}
