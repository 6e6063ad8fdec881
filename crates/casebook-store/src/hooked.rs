//! A store with hooks around its operations, for the tests (and tools) that need to
//! see or steer what reaches a store without writing a whole adapter.
//!
//! Fault injection (refuse or fail appends), holding an append or a read at a chosen
//! moment to stage a race, counting conflicts, or keeping a resource alive as long as
//! the store: each is a [`Hooks`] implementation overriding one or two methods, and
//! [`Hooked`] forwards everything else to the wrapped store unchanged.

use crate::envelope::{Checkpoint, Envelope, ExpectedVersion, NewEvent, Snapshot, StreamId};
use crate::error::StoreError;
use crate::store::{AppendOutcome, EventStore};

/// What [`Hooked`] calls around the wrapped store's operations. Every method does
/// nothing by default.
pub trait Hooks: Send + Sync {
    /// Before an append reaches the store. An error is returned to the caller in place
    /// of appending (nothing is written).
    ///
    /// # Errors
    ///
    /// Whatever the hook decides the append should fail with.
    fn before_append(
        &self,
        _stream: &StreamId,
        _expected: ExpectedVersion,
        _events: &[NewEvent],
    ) -> Result<(), StoreError> {
        Ok(())
    }

    /// After an append, with its result, before the caller gets it.
    fn after_append(&self, _stream: &StreamId, _result: &Result<AppendOutcome, StoreError>) {}

    /// After a stream read, with its result, before the caller gets it.
    fn after_read_stream(&self, _stream: &StreamId, _result: &Result<Vec<Envelope>, StoreError>) {}
}

/// A store and its hooks: every operation is forwarded to the wrapped store, with the
/// [`Hooks`] called around appends and stream reads (fault injection, staged races,
/// counters, or a resource kept alive as long as the store).
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use casebook_store::conformance::event;
/// use casebook_store::{AppendOutcome, EventStore, ExpectedVersion, Hooked, Hooks, MemoryStore, StoreError, StreamId};
///
/// #[derive(Default)]
/// struct CountConflicts(AtomicU64);
/// impl Hooks for CountConflicts {
///     fn after_append(&self, _: &StreamId, result: &Result<AppendOutcome, StoreError>) {
///         if matches!(result, Err(e) if e.is_conflict()) {
///             self.0.fetch_add(1, Ordering::SeqCst);
///         }
///     }
/// }
///
/// let store = Hooked::new(MemoryStore::new(), CountConflicts::default());
/// let s = StreamId::new("ticket", "1")?;
/// store.append(&s, ExpectedVersion::NoStream, vec![event("Opened", serde_json::json!({}))])?;
/// assert!(store.append(&s, ExpectedVersion::NoStream, vec![event("Opened", serde_json::json!({}))]).is_err());
/// assert_eq!(store.hooks().0.load(Ordering::SeqCst), 1);
/// # Ok::<(), StoreError>(())
/// ```
pub struct Hooked<S, H> {
    inner: S,
    hooks: H,
}

impl<S: EventStore, H: Hooks> Hooked<S, H> {
    /// Wraps `inner` with `hooks`.
    pub fn new(inner: S, hooks: H) -> Self {
        Hooked { inner, hooks }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The hooks.
    pub fn hooks(&self) -> &H {
        &self.hooks
    }
}

impl<S: EventStore, H: Hooks> EventStore for Hooked<S, H> {
    fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, StoreError> {
        self.hooks.before_append(stream, expected, &events)?;
        let result = self.inner.append(stream, expected, events);
        self.hooks.after_append(stream, &result);
        result
    }
    fn read_stream(
        &self,
        stream: &StreamId,
        after: u64,
        max_count: usize,
    ) -> Result<Vec<Envelope>, StoreError> {
        let result = self.inner.read_stream(stream, after, max_count);
        self.hooks.after_read_stream(stream, &result);
        result
    }
    fn read_all(&self, after: u64, max_count: usize) -> Result<Vec<Envelope>, StoreError> {
        self.inner.read_all(after, max_count)
    }
    fn stream_version(&self, stream: &StreamId) -> Result<u64, StoreError> {
        self.inner.stream_version(stream)
    }
    fn head_position(&self) -> Result<u64, StoreError> {
        self.inner.head_position()
    }
    fn load_snapshot(&self, stream: &StreamId) -> Result<Option<Snapshot>, StoreError> {
        self.inner.load_snapshot(stream)
    }
    fn save_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        self.inner.save_snapshot(snapshot)
    }
    fn clear_snapshots(&self) -> Result<(), StoreError> {
        self.inner.clear_snapshots()
    }
    fn load_checkpoint(&self, name: &str) -> Result<Option<Checkpoint>, StoreError> {
        self.inner.load_checkpoint(name)
    }
    fn save_checkpoint(&self, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        self.inner.save_checkpoint(checkpoint)
    }
}
