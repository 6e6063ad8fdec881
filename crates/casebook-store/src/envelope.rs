//! The envelope: everything recorded about one event besides its payload.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::StoreError;
use crate::limits::MAX_STREAM_ID_BYTES;

/// Identifies one event stream: `kind:id`, e.g. `ticket:0193...`.
///
/// The kind names the aggregate type (`ticket`, `incident`, `roster`, ...). It is part of
/// the id so that a stream's kind can never disagree with its events.
///
/// Shared text: every envelope of a stream names it, and a clone is a reference count.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StreamId(Arc<str>);

impl StreamId {
    /// Builds a stream id from a kind and an id within that kind.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidStreamId`] if the kind is empty or not lowercase ASCII letters,
    /// digits, `_` or `-`, if the id is empty or has control characters, or if the whole id
    /// is longer than [`MAX_STREAM_ID_BYTES`].
    pub fn new(kind: &str, id: &str) -> Result<Self, StoreError> {
        Self::parse(format!("{kind}:{id}"))
    }

    /// Parses `kind:id`.
    ///
    /// # Errors
    ///
    /// As [`StreamId::new`].
    pub fn parse(text: impl Into<String>) -> Result<Self, StoreError> {
        let text = text.into();
        let invalid = |why: &str| StoreError::InvalidStreamId {
            stream: text.chars().take(80).collect(),
            reason: why.to_string(),
        };
        if text.len() > MAX_STREAM_ID_BYTES {
            return Err(invalid("longer than the limit"));
        }
        let Some((kind, id)) = text.split_once(':') else {
            return Err(invalid("missing the ':' between kind and id"));
        };
        if kind.is_empty()
            || !kind
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            return Err(invalid(
                "the kind must be lowercase ASCII letters, digits, '_' or '-'",
            ));
        }
        if id.is_empty() || id.chars().any(char::is_control) {
            return Err(invalid(
                "the id must be non-empty without control characters",
            ));
        }
        Ok(Self(text.into()))
    }

    /// The aggregate kind, the part before the first `:`.
    pub fn kind(&self) -> &str {
        self.0.split_once(':').map_or("", |(kind, _)| kind)
    }

    /// The id within the kind, the part after the first `:`.
    pub fn local_id(&self) -> &str {
        self.0.split_once(':').map_or("", |(_, id)| id)
    }

    /// The whole id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for StreamId {
    type Error = StoreError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<StreamId> for String {
    fn from(value: StreamId) -> Self {
        value.0.to_string()
    }
}

/// What the caller believes about a stream's current version before appending.
///
/// There is deliberately no `Default`: every append states its expectation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpectedVersion {
    /// The stream must have no events yet.
    NoStream,
    /// The stream's last event must have exactly this version (`0` means no events).
    Exact(u64),
    /// Append whatever the stream's version is. For streams with a single writer only.
    Any,
}

impl ExpectedVersion {
    /// Whether a stream at `actual` satisfies this expectation.
    pub fn admits(self, actual: u64) -> bool {
        match self {
            ExpectedVersion::NoStream => actual == 0,
            ExpectedVersion::Exact(v) => actual == v,
            ExpectedVersion::Any => true,
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedVersion::NoStream => f.write_str("no stream"),
            ExpectedVersion::Exact(v) => write!(f, "version {v}"),
            ExpectedVersion::Any => f.write_str("any version"),
        }
    }
}

/// An event as the writer hands it to the store; the store adds the stream version and
/// global position when it commits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    /// Unique id of the event (UUID v7, time-ordered).
    pub event_id: Uuid,
    /// Event type name, e.g. `TicketOpened`.
    pub event_type: String,
    /// Version of the payload's schema for this event type; old versions are upcast on read.
    pub schema_version: u32,
    /// When the event was recorded, from the engine's replaceable clock.
    pub recorded_at: DateTime<Utc>,
    /// Who caused it: a member id, or `system:<component>`.
    pub actor: String,
    /// The customer organisation the event concerns, if any.
    pub tenant: Option<String>,
    /// Id shared by every event that one request caused, across streams.
    pub correlation_id: Uuid,
    /// The event (or command) that directly caused this one.
    pub causation_id: Option<Uuid>,
    /// The payload: one JSON document.
    pub payload: Payload,
    /// JSON pointers (RFC 6901) to the payload fields that hold personal data, so that
    /// views can redact them and erasure can find them.
    pub personal_data: Vec<String>,
}

/// A recorded event: the [`NewEvent`] plus what the store assigned at commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Unique id of the event.
    pub event_id: Uuid,
    /// The stream it belongs to.
    pub stream_id: StreamId,
    /// Position within the stream: 1, 2, 3, ... with no gaps.
    pub stream_version: u64,
    /// Position in the whole store's log: 1, 2, 3, ... with no gaps, in commit order.
    pub global_position: u64,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// Who caused it.
    pub actor: String,
    /// The customer organisation it concerns, if any.
    pub tenant: Option<String>,
    /// Correlation id (see [`NewEvent::correlation_id`]).
    pub correlation_id: Uuid,
    /// Causation id (see [`NewEvent::causation_id`]).
    pub causation_id: Option<Uuid>,
    /// Event type name.
    pub event_type: String,
    /// Schema version of the payload.
    pub schema_version: u32,
    /// The payload.
    pub payload: Payload,
    /// JSON pointers to personal-data fields in the payload.
    pub personal_data: Vec<String>,
    /// Integrity hash chained to the previous event in the global log, hex encoded, for
    /// stores that keep a tamper-evident chain; `None` where the store does not.
    pub integrity: Option<String>,
}

impl Envelope {
    /// Builds the recorded envelope from what the writer gave and what the store assigned.
    pub fn from_new(
        stream_id: StreamId,
        stream_version: u64,
        global_position: u64,
        new: NewEvent,
    ) -> Self {
        Envelope {
            event_id: new.event_id,
            stream_id,
            stream_version,
            global_position,
            recorded_at: new.recorded_at,
            actor: new.actor,
            tenant: new.tenant,
            correlation_id: new.correlation_id,
            causation_id: new.causation_id,
            event_type: new.event_type,
            schema_version: new.schema_version,
            payload: new.payload,
            personal_data: new.personal_data,
            integrity: None,
        }
    }

    /// The aggregate kind of the stream.
    pub fn stream_kind(&self) -> &str {
        self.stream_id.kind()
    }
}

/// A JSON payload, kept as text so that stores move bytes and only readers decode.
///
/// Shared text: an envelope handed back to the writer, kept in a cache or passed to
/// several readers clones a reference count, not the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload(Arc<str>);

/// As the JSON text (a string), like the `String` it wraps.
impl Serialize for Payload {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|text| Payload(text.into()))
    }
}

impl Payload {
    /// Serializes a value into a payload.
    ///
    /// # Errors
    ///
    /// [`StoreError::Encode`] if the value cannot be written as JSON (a map with non-string
    /// keys, for example).
    pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Self, StoreError> {
        serde_json::to_string(value)
            .map(|text| Payload(text.into()))
            .map_err(|e| StoreError::Encode(e.to_string()))
    }

    /// Takes JSON text as it is, after checking that it is one valid JSON document.
    ///
    /// # Errors
    ///
    /// [`StoreError::Encode`] if the text is not valid JSON.
    pub fn from_json(text: impl Into<String>) -> Result<Self, StoreError> {
        let text = text.into();
        serde_json::from_str::<serde::de::IgnoredAny>(&text)
            .map_err(|e| StoreError::Encode(format!("payload is not valid JSON: {e}")))?;
        Ok(Payload(text.into()))
    }

    /// Decodes the payload into a typed value.
    ///
    /// # Errors
    ///
    /// `serde_json::Error` when the JSON does not match the type.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.0)
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Length of the JSON text in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the JSON text is empty (never true for a payload built by this type).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A cached aggregate state at a stream version. Snapshots are a cache: deleting them
/// loses nothing, because the state is always the fold of the stream's events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The stream.
    pub stream_id: StreamId,
    /// The version of the last event folded into `state`.
    pub version: u64,
    /// Version of the state's encoding; a reader that does not know it ignores the
    /// snapshot and folds from the start.
    pub schema_version: u32,
    /// The encoded state.
    pub state: Payload,
}

/// A projection's (or process manager's) progress through the global log, stored together
/// with its output so that both move at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The projection's stable name.
    pub name: String,
    /// The global position of the last event the projection has applied.
    pub position: u64,
    /// The projection's state after applying it.
    pub state: Payload,
}
