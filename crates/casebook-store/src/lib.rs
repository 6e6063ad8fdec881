//! The storage contract of Casebook.
//!
//! Everything the engine needs from storage, and nothing about the domain: the
//! [`Envelope`] every event is recorded in, the [`EventStore`] trait with its invariants,
//! typed [`StoreError`]s, the [`limits`], the reference [`MemoryStore`], and the
//! [`conformance`] suite every adapter runs.
//!
//! ```
//! use casebook_store::{EventStore, ExpectedVersion, MemoryStore, StreamId};
//! use casebook_store::conformance::event;
//!
//! let store = MemoryStore::new();
//! let stream = StreamId::new("ticket", "T-1")?;
//! let out = store.append(&stream, ExpectedVersion::NoStream, vec![event("TicketOpened", serde_json::json!({}))])?;
//! assert_eq!(out.stream_version, 1);
//! assert_eq!(store.read_all(0, 100)?.len(), 1);
//! # Ok::<(), casebook_store::StoreError>(())
//! ```

pub mod conformance;
mod copy;
mod envelope;
mod error;
mod hooked;
pub mod limits;
mod memory;
mod store;

pub use copy::{copy_all, CopyReport};
pub use envelope::{Checkpoint, Envelope, ExpectedVersion, NewEvent, Payload, Snapshot, StreamId};
pub use error::{Limit, StoreError};
pub use hooked::{Hooked, Hooks};
pub use memory::MemoryStore;
pub use store::{read_stream_to_end, read_stream_to_end_global, AppendOutcome, EventStore};
