//! Storage errors: what broke, never a business rule.

use crate::envelope::ExpectedVersion;

/// Which limit an append or read went past.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Events in one append.
    EventsPerAppend,
    /// Bytes in one payload.
    PayloadBytes,
    /// Bytes in one text field of the envelope (actor, tenant, event type).
    FieldBytes,
    /// Events in one read page.
    PageSize,
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Limit::EventsPerAppend => "events per append",
            Limit::PayloadBytes => "payload bytes",
            Limit::FieldBytes => "envelope field bytes",
            Limit::PageSize => "events per read page",
        })
    }
}

/// Everything a store can report. A version conflict is the one error a writer is
/// expected to handle routinely (reload and retry); the rest say what broke.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The stream was not at the expected version: another writer got there first.
    #[error(
        "version conflict on {stream}: expected {expected}, but the stream is at version {actual}"
    )]
    Conflict {
        /// The stream.
        stream: String,
        /// What the writer expected.
        expected: ExpectedVersion,
        /// The version the stream actually has.
        actual: u64,
    },
    /// The append itself was malformed (no events, a duplicate event id, ...).
    #[error("invalid append to {stream}: {reason}")]
    InvalidAppend {
        /// The stream.
        stream: String,
        /// What was wrong.
        reason: String,
    },
    /// A stream id did not parse.
    #[error("invalid stream id {stream:?}: {reason}")]
    InvalidStreamId {
        /// The offending text (cut to 80 characters).
        stream: String,
        /// What was wrong.
        reason: String,
    },
    /// A limit was exceeded; nothing was written.
    #[error("limit exceeded: {what} is {actual}, the limit is {limit}")]
    LimitExceeded {
        /// Which limit.
        what: Limit,
        /// The size that was asked for.
        actual: usize,
        /// The limit.
        limit: usize,
    },
    /// A value could not be encoded.
    #[error("could not encode: {0}")]
    Encode(String),
    /// A stored record failed its checksum or did not decode.
    #[error("corrupt record at {location}: {detail}")]
    Corrupt {
        /// Where (key, position, file).
        location: String,
        /// What check failed.
        detail: String,
    },
    /// The store was written in a format this build does not read.
    #[error("unsupported storage format {found:?}; this build reads {supported:?}")]
    UnsupportedFormat {
        /// The format found on disk.
        found: String,
        /// The format this build reads.
        supported: String,
    },
    /// Another process holds the store.
    #[error("store is locked by another process: {0}")]
    Locked(String),
    /// The backend is unreachable (refused connection, dropped connection, timeout).
    /// An append that fails this way either happened whole or not at all.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// An I/O error from the operating system.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// Any other failure reported by the backend.
    #[error("storage backend error: {0}")]
    Backend(String),
}

impl StoreError {
    /// Whether this is a version conflict, which a writer resolves by reloading and
    /// retrying.
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }
}
