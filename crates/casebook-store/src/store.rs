//! The `EventStore` trait: the contract every storage adapter keeps.

use std::sync::Arc;

use crate::envelope::{Checkpoint, Envelope, ExpectedVersion, NewEvent, Snapshot, StreamId};
use crate::error::StoreError;

/// What an append committed.
#[derive(Debug, Clone, PartialEq)]
pub struct AppendOutcome {
    /// The recorded envelopes, in order, with their versions and positions.
    pub recorded: Vec<Envelope>,
    /// The stream's version after the append.
    pub stream_version: u64,
}

/// The storage contract.
///
/// # Invariants every adapter keeps
///
/// 1. **Atomic batches.** An append writes all its events or none.
/// 2. **Optimistic concurrency.** An append whose [`ExpectedVersion`] does not match the
///    stream fails with [`StoreError::Conflict`] and writes nothing; of writers racing
///    on one version exactly one wins.
/// 3. **Contiguous stream versions** 1, 2, 3, ... with no gaps or repeats.
/// 4. **Gap-free global positions** 1, 2, 3, ... assigned inside the commit, so a reader
///    of the global log never skips an event that commits late; the global order agrees
///    with every stream's order.
/// 5. **Read your writes.** Once `append` returns, every read sees the events.
/// 6. **Durability** as the adapter documents it; an adapter that acknowledges before
///    stable storage says so in the option that asks for it.
/// 7. **Limits** ([`crate::limits`]) are enforced before anything is written.
///
/// The suite in [`crate::conformance`] checks all of these.
pub trait EventStore: Send + Sync {
    /// Appends a batch to one stream atomically.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] if the stream is not at `expected`; limit and validation
    /// errors from [`crate::limits::check_append`]; backend errors. On any error nothing
    /// was written.
    fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, StoreError>;

    /// Reads up to `max_count` events of one stream with version greater than `after`,
    /// in version order.
    ///
    /// # Errors
    ///
    /// [`StoreError::LimitExceeded`] if `max_count` is above [`crate::limits::MAX_PAGE`];
    /// [`StoreError::Corrupt`] if a stored record fails its checks; backend errors.
    fn read_stream(
        &self,
        stream: &StreamId,
        after: u64,
        max_count: usize,
    ) -> Result<Vec<Envelope>, StoreError>;

    /// Reads up to `max_count` events of the global log with position greater than
    /// `after`, in position order.
    ///
    /// # Errors
    ///
    /// As [`EventStore::read_stream`].
    fn read_all(&self, after: u64, max_count: usize) -> Result<Vec<Envelope>, StoreError>;

    /// The stream's current version (`0` if it has no events).
    ///
    /// # Errors
    ///
    /// Backend errors.
    fn stream_version(&self, stream: &StreamId) -> Result<u64, StoreError>;

    /// The global position of the last committed event (`0` if the store is empty).
    ///
    /// # Errors
    ///
    /// Backend errors.
    fn head_position(&self) -> Result<u64, StoreError>;

    /// The latest snapshot of a stream, if any.
    ///
    /// # Errors
    ///
    /// Backend errors, [`StoreError::Corrupt`].
    fn load_snapshot(&self, stream: &StreamId) -> Result<Option<Snapshot>, StoreError>;

    /// Stores a snapshot, replacing an older one of the same stream. A snapshot that is
    /// older than the stored one is ignored.
    ///
    /// # Errors
    ///
    /// Backend errors.
    fn save_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError>;

    /// Removes every snapshot. Loses nothing: snapshots are a cache.
    ///
    /// # Errors
    ///
    /// Backend errors.
    fn clear_snapshots(&self) -> Result<(), StoreError>;

    /// A projection's checkpoint, if it has one.
    ///
    /// # Errors
    ///
    /// Backend errors, [`StoreError::Corrupt`].
    fn load_checkpoint(&self, name: &str) -> Result<Option<Checkpoint>, StoreError>;

    /// Stores a checkpoint (position and state together, atomically).
    ///
    /// # Errors
    ///
    /// Backend errors.
    fn save_checkpoint(&self, checkpoint: &Checkpoint) -> Result<(), StoreError>;
}

macro_rules! forward_event_store {
    ($($ty:ty),*) => {$(
        impl<S: EventStore + ?Sized> EventStore for $ty {
            fn append(&self, stream: &StreamId, expected: ExpectedVersion, events: Vec<NewEvent>) -> Result<AppendOutcome, StoreError> {
                (**self).append(stream, expected, events)
            }
            fn read_stream(&self, stream: &StreamId, after: u64, max_count: usize) -> Result<Vec<Envelope>, StoreError> {
                (**self).read_stream(stream, after, max_count)
            }
            fn read_all(&self, after: u64, max_count: usize) -> Result<Vec<Envelope>, StoreError> {
                (**self).read_all(after, max_count)
            }
            fn stream_version(&self, stream: &StreamId) -> Result<u64, StoreError> {
                (**self).stream_version(stream)
            }
            fn head_position(&self) -> Result<u64, StoreError> {
                (**self).head_position()
            }
            fn load_snapshot(&self, stream: &StreamId) -> Result<Option<Snapshot>, StoreError> {
                (**self).load_snapshot(stream)
            }
            fn save_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
                (**self).save_snapshot(snapshot)
            }
            fn clear_snapshots(&self) -> Result<(), StoreError> {
                (**self).clear_snapshots()
            }
            fn load_checkpoint(&self, name: &str) -> Result<Option<Checkpoint>, StoreError> {
                (**self).load_checkpoint(name)
            }
            fn save_checkpoint(&self, checkpoint: &Checkpoint) -> Result<(), StoreError> {
                (**self).save_checkpoint(checkpoint)
            }
        }
    )*};
}

forward_event_store!(Arc<S>, Box<S>, &S);

/// Reads a whole stream by pages of [`crate::limits::MAX_PAGE`].
///
/// # Errors
///
/// As [`EventStore::read_stream`].
pub fn read_stream_to_end<S: EventStore + ?Sized>(
    store: &S,
    stream: &StreamId,
    after: u64,
) -> Result<Vec<Envelope>, StoreError> {
    let mut out = Vec::new();
    let mut cursor = after;
    loop {
        let page = store.read_stream(stream, cursor, crate::limits::MAX_PAGE)?;
        let Some(last) = page.last() else { break };
        cursor = last.stream_version;
        let full = page.len() == crate::limits::MAX_PAGE;
        out.extend(page);
        if !full {
            break;
        }
    }
    Ok(out)
}

/// Reads the whole global log by pages of [`crate::limits::MAX_PAGE`].
///
/// # Errors
///
/// As [`EventStore::read_all`].
pub fn read_stream_to_end_global<S: EventStore + ?Sized>(
    store: &S,
) -> Result<Vec<Envelope>, StoreError> {
    let mut out = Vec::new();
    let mut cursor = 0;
    loop {
        let page = store.read_all(cursor, crate::limits::MAX_PAGE)?;
        let Some(last) = page.last() else { break };
        cursor = last.global_position;
        out.extend(page);
    }
    Ok(out)
}
