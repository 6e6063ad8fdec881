//! The in-memory store: the reference adapter, used by tests, simulations and examples.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::envelope::{Checkpoint, Envelope, ExpectedVersion, NewEvent, Snapshot, StreamId};
use crate::error::StoreError;
use crate::limits::{check_append, check_page};
use crate::store::{AppendOutcome, EventStore};

#[derive(Default)]
struct Inner {
    /// The global log; the event at index `i` has global position `i + 1`.
    log: Vec<Envelope>,
    /// Per stream, the indices of its events in `log`, in version order.
    streams: HashMap<StreamId, Vec<usize>>,
    snapshots: HashMap<StreamId, Snapshot>,
    checkpoints: HashMap<String, Checkpoint>,
}

/// An [`EventStore`] held in memory behind one lock. Nothing survives the process.
///
/// One lock serialises appends, which makes global positions trivially gap-free and in
/// commit order; it is the reference the other adapters are compared against.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave `Inner` half-updated: every
        // mutation below is prepared first and then pushed, so the data is still valid.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl EventStore for MemoryStore {
    fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, StoreError> {
        check_append(stream.as_str(), &events)?;
        let mut inner = self.lock();
        let actual = inner.streams.get(stream).map_or(0, |v| v.len() as u64);
        if !expected.admits(actual) {
            return Err(StoreError::Conflict {
                stream: stream.to_string(),
                expected,
                actual,
            });
        }
        let start = inner.log.len();
        let recorded: Vec<Envelope> = events
            .into_iter()
            .enumerate()
            .map(|(i, new)| {
                Envelope::from_new(
                    stream.clone(),
                    actual + 1 + i as u64,
                    (start + i + 1) as u64,
                    new,
                )
            })
            .collect();
        let stream_version = actual + recorded.len() as u64;
        inner.log.extend(recorded.iter().cloned());
        match inner.streams.get_mut(stream) {
            Some(indices) => indices.extend(start..start + recorded.len()),
            None => {
                inner
                    .streams
                    .insert(stream.clone(), (start..start + recorded.len()).collect());
            }
        }
        Ok(AppendOutcome {
            recorded,
            stream_version,
        })
    }

    fn read_stream(
        &self,
        stream: &StreamId,
        after: u64,
        max_count: usize,
    ) -> Result<Vec<Envelope>, StoreError> {
        check_page(max_count)?;
        let inner = self.lock();
        let Some(indices) = inner.streams.get(stream) else {
            return Ok(Vec::new());
        };
        let skip = usize::try_from(after).unwrap_or(usize::MAX);
        Ok(indices
            .iter()
            .skip(skip)
            .take(max_count)
            .filter_map(|&i| inner.log.get(i).cloned())
            .collect())
    }

    fn read_all(&self, after: u64, max_count: usize) -> Result<Vec<Envelope>, StoreError> {
        check_page(max_count)?;
        let inner = self.lock();
        let skip = usize::try_from(after).unwrap_or(usize::MAX);
        Ok(inner
            .log
            .iter()
            .skip(skip)
            .take(max_count)
            .cloned()
            .collect())
    }

    fn stream_version(&self, stream: &StreamId) -> Result<u64, StoreError> {
        Ok(self
            .lock()
            .streams
            .get(stream)
            .map_or(0, |v| v.len() as u64))
    }

    fn head_position(&self) -> Result<u64, StoreError> {
        Ok(self.lock().log.len() as u64)
    }

    fn load_snapshot(&self, stream: &StreamId) -> Result<Option<Snapshot>, StoreError> {
        Ok(self.lock().snapshots.get(stream).cloned())
    }

    fn save_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let newer = inner
            .snapshots
            .get(&snapshot.stream_id)
            .is_none_or(|old| old.version <= snapshot.version);
        if newer {
            inner
                .snapshots
                .insert(snapshot.stream_id.clone(), snapshot.clone());
        }
        Ok(())
    }

    fn clear_snapshots(&self) -> Result<(), StoreError> {
        self.lock().snapshots.clear();
        Ok(())
    }

    fn load_checkpoint(&self, name: &str) -> Result<Option<Checkpoint>, StoreError> {
        Ok(self.lock().checkpoints.get(name).cloned())
    }

    fn save_checkpoint(&self, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        self.lock()
            .checkpoints
            .insert(checkpoint.name.clone(), checkpoint.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_store_passes_the_conformance_suite() {
        crate::conformance::run_all(MemoryStore::new);
    }
}
