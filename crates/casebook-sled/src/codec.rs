//! The on-disk encoding: record framing with a format version and a CRC-32, keys, and the
//! compact binary encoding of envelopes, snapshots and checkpoints.
//!
//! Every value this adapter stores is a *frame*:
//!
//! ```text
//! byte 0      record format version (RECORD_FORMAT)
//! byte 1      record kind (event, index entry, head, meta, snapshot, checkpoint, synced position)
//! bytes 2..6  CRC-32 (crc32fast, little endian) of byte 0, byte 1 and the body
//! bytes 6..   body
//! ```
//!
//! The kind byte makes a value copied into the wrong tree fail its check, and the checksum
//! makes any damaged byte fail it. Integers in bodies are little endian; keys that must
//! sort numerically (positions, versions) are big endian.

use chrono::{DateTime, Utc};
use serde::de::IntoDeserializer;
use serde::Deserialize;
use uuid::Uuid;

use casebook_store::{Checkpoint, Envelope, Payload, Snapshot, StoreError, StreamId};

/// Version of the record framing and of every body layout below. A reader refuses a
/// frame of another version with [`StoreError::UnsupportedFormat`].
pub(crate) const RECORD_FORMAT: u8 = 1;

/// Length of the frame header.
const HEADER_LEN: usize = 6;

/// What a frame holds; part of the checksummed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    /// An event envelope (events tree).
    Event = 1,
    /// A stream index entry: the global position of one stream version.
    Index = 2,
    /// A stream head: the stream's current version.
    Head = 3,
    /// A meta value (format key, position counter).
    Meta = 4,
    /// A snapshot.
    Snapshot = 5,
    /// A checkpoint.
    Checkpoint = 6,
    /// The synced-position side file.
    Watermark = 7,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Event => "event",
            Kind::Index => "stream index entry",
            Kind::Head => "stream head",
            Kind::Meta => "meta value",
            Kind::Snapshot => "snapshot",
            Kind::Checkpoint => "checkpoint",
            Kind::Watermark => "synced-position record",
        }
    }
}

/// Wraps a body in a frame.
pub(crate) fn frame(kind: Kind, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.push(RECORD_FORMAT);
    out.push(kind as u8);
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(body);
    let crc = checksum(&out);
    out[2..HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
    out
}

fn checksum(framed: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&framed[..2]);
    hasher.update(&framed[HEADER_LEN..]);
    hasher.finalize()
}

/// Checks a frame and returns its body.
///
/// # Errors
///
/// [`StoreError::Corrupt`] if the frame is short, fails its checksum or holds another kind
/// of record; [`StoreError::UnsupportedFormat`] if it is intact but of another format
/// version.
pub(crate) fn unframe<'a>(
    location: &dyn Fn() -> String,
    kind: Kind,
    bytes: &'a [u8],
) -> Result<&'a [u8], StoreError> {
    let corrupt = |detail: String| StoreError::Corrupt {
        location: location(),
        detail,
    };
    let Some(stored) = bytes.get(2..HEADER_LEN) else {
        return Err(corrupt(format!(
            "{} record of {} bytes is shorter than its {HEADER_LEN}-byte header",
            kind.name(),
            bytes.len()
        )));
    };
    let stored = u32::from_le_bytes([stored[0], stored[1], stored[2], stored[3]]);
    let actual = checksum(bytes);
    if stored != actual {
        return Err(corrupt(format!(
            "{} record fails its checksum (stored {stored:08x}, computed {actual:08x})",
            kind.name()
        )));
    }
    if bytes[0] != RECORD_FORMAT {
        return Err(StoreError::UnsupportedFormat {
            found: format!("record format {} at {}", bytes[0], location()),
            supported: format!("record format {RECORD_FORMAT}"),
        });
    }
    if bytes[1] != kind as u8 {
        return Err(corrupt(format!(
            "expected a {} record, found record kind {}",
            kind.name(),
            bytes[1]
        )));
    }
    Ok(&bytes[HEADER_LEN..])
}

/// Key of an event in the events tree: its global position, big endian.
pub(crate) fn position_key(position: u64) -> [u8; 8] {
    position.to_be_bytes()
}

/// Key of a stream version in the index tree: the stream id, a NUL (which a stream id
/// cannot contain, so no id is a prefix of another's keys) and the version, big endian.
pub(crate) fn index_key(stream: &StreamId, version: u64) -> Vec<u8> {
    let mut key = index_prefix(stream);
    key.extend_from_slice(&version.to_be_bytes());
    key
}

/// The prefix of every index key of one stream.
pub(crate) fn index_prefix(stream: &StreamId) -> Vec<u8> {
    let mut key = Vec::with_capacity(stream.as_str().len() + 9);
    key.extend_from_slice(stream.as_str().as_bytes());
    key.push(0);
    key
}

/// Encodes a `u64` frame body (index entries, heads, counters).
pub(crate) fn encode_u64(kind: Kind, value: u64) -> Vec<u8> {
    frame(kind, &value.to_le_bytes())
}

/// Decodes a `u64` frame.
///
/// # Errors
///
/// As [`unframe`], and [`StoreError::Corrupt`] if the body is not 8 bytes.
pub(crate) fn decode_u64(
    location: &dyn Fn() -> String,
    kind: Kind,
    bytes: &[u8],
) -> Result<u64, StoreError> {
    let body = unframe(location, kind, bytes)?;
    let mut reader = Reader::new(body, location);
    let value = reader.u64()?;
    reader.finish()?;
    Ok(value)
}

/// Encodes an envelope as an event frame.
pub(crate) fn encode_envelope(env: &Envelope) -> Vec<u8> {
    let mut body = Vec::with_capacity(
        128 + env.payload.len()
            + env.stream_id.as_str().len()
            + env.actor.len()
            + env.event_type.len(),
    );
    body.extend_from_slice(&env.global_position.to_le_bytes());
    body.extend_from_slice(&env.stream_version.to_le_bytes());
    body.extend_from_slice(env.event_id.as_bytes());
    body.extend_from_slice(env.correlation_id.as_bytes());
    put_opt_uuid(&mut body, env.causation_id);
    body.extend_from_slice(&env.recorded_at.timestamp().to_le_bytes());
    body.extend_from_slice(&env.recorded_at.timestamp_subsec_nanos().to_le_bytes());
    body.extend_from_slice(&env.schema_version.to_le_bytes());
    put_str(&mut body, env.stream_id.as_str());
    put_str(&mut body, &env.event_type);
    put_str(&mut body, &env.actor);
    put_opt_str(&mut body, env.tenant.as_deref());
    put_len(&mut body, env.personal_data.len());
    for pointer in &env.personal_data {
        put_str(&mut body, pointer);
    }
    put_opt_str(&mut body, env.integrity.as_deref());
    put_str(&mut body, env.payload.as_str());
    frame(Kind::Event, &body)
}

/// Decodes and verifies an event frame.
///
/// # Errors
///
/// As [`unframe`], and [`StoreError::Corrupt`] if the body does not decode.
pub(crate) fn decode_envelope(
    location: &dyn Fn() -> String,
    bytes: &[u8],
) -> Result<Envelope, StoreError> {
    let body = unframe(location, Kind::Event, bytes)?;
    let mut r = Reader::new(body, location);
    let global_position = r.u64()?;
    let stream_version = r.u64()?;
    let event_id = r.uuid()?;
    let correlation_id = r.uuid()?;
    let causation_id = r.opt_uuid()?;
    let secs = r.i64()?;
    let nanos = r.u32()?;
    let recorded_at: DateTime<Utc> = DateTime::from_timestamp(secs, nanos)
        .ok_or_else(|| r.corrupt(format!("recorded_at {secs}.{nanos} is out of range")))?;
    let schema_version = r.u32()?;
    let stream_id = StreamId::parse(r.string()?)
        .map_err(|e| r.corrupt(format!("stored stream id is invalid: {e}")))?;
    let event_type = r.string()?;
    let actor = r.string()?;
    let tenant = r.opt_string()?;
    let count = r.len()?;
    let mut personal_data = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        personal_data.push(r.string()?);
    }
    let integrity = r.opt_string()?;
    let text = r.string()?;
    let payload = trusted_payload(&r, text)?;
    r.finish()?;
    Ok(Envelope {
        event_id,
        stream_id,
        stream_version,
        global_position,
        recorded_at,
        actor,
        tenant,
        correlation_id,
        causation_id,
        event_type,
        schema_version,
        payload,
        personal_data,
        integrity,
    })
}

/// Encodes a snapshot frame.
pub(crate) fn encode_snapshot(snapshot: &Snapshot) -> Vec<u8> {
    let mut body = Vec::with_capacity(32 + snapshot.state.len());
    body.extend_from_slice(&snapshot.version.to_le_bytes());
    body.extend_from_slice(&snapshot.schema_version.to_le_bytes());
    put_str(&mut body, snapshot.stream_id.as_str());
    put_str(&mut body, snapshot.state.as_str());
    frame(Kind::Snapshot, &body)
}

/// Decodes and verifies a snapshot frame.
///
/// # Errors
///
/// As [`unframe`], and [`StoreError::Corrupt`] if the body does not decode.
pub(crate) fn decode_snapshot(
    location: &dyn Fn() -> String,
    bytes: &[u8],
) -> Result<Snapshot, StoreError> {
    let body = unframe(location, Kind::Snapshot, bytes)?;
    let mut r = Reader::new(body, location);
    let version = r.u64()?;
    let schema_version = r.u32()?;
    let stream_id = StreamId::parse(r.string()?)
        .map_err(|e| r.corrupt(format!("stored stream id is invalid: {e}")))?;
    let text = r.string()?;
    let state = trusted_payload(&r, text)?;
    r.finish()?;
    Ok(Snapshot {
        stream_id,
        version,
        schema_version,
        state,
    })
}

/// Encodes a checkpoint frame.
pub(crate) fn encode_checkpoint(checkpoint: &Checkpoint) -> Vec<u8> {
    let mut body = Vec::with_capacity(16 + checkpoint.name.len() + checkpoint.state.len());
    body.extend_from_slice(&checkpoint.position.to_le_bytes());
    put_str(&mut body, &checkpoint.name);
    put_str(&mut body, checkpoint.state.as_str());
    frame(Kind::Checkpoint, &body)
}

/// Decodes and verifies a checkpoint frame.
///
/// # Errors
///
/// As [`unframe`], and [`StoreError::Corrupt`] if the body does not decode.
pub(crate) fn decode_checkpoint(
    location: &dyn Fn() -> String,
    bytes: &[u8],
) -> Result<Checkpoint, StoreError> {
    let body = unframe(location, Kind::Checkpoint, bytes)?;
    let mut r = Reader::new(body, location);
    let position = r.u64()?;
    let name = r.string()?;
    let text = r.string()?;
    let state = trusted_payload(&r, text)?;
    r.finish()?;
    Ok(Checkpoint {
        name,
        position,
        state,
    })
}

/// Rebuilds a payload from text that passed its record checksum. The text was a valid
/// `Payload` when it was written, and the checksum proves it is the same bytes, so it is
/// not parsed again (that would double the cost of every read).
fn trusted_payload(r: &Reader<'_, '_>, text: String) -> Result<Payload, StoreError> {
    let deserializer: serde::de::value::StringDeserializer<serde::de::value::Error> =
        text.into_deserializer();
    Payload::deserialize(deserializer)
        .map_err(|e| r.corrupt(format!("stored payload does not load: {e}")))
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    // Every stored string is bounded by the store's limits (at most a few MiB), far below
    // u32::MAX, so the cast cannot truncate.
    out.extend_from_slice(&(len as u32).to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    put_len(out, text.len());
    out.extend_from_slice(text.as_bytes());
}

fn put_opt_str(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        Some(text) => {
            out.push(1);
            put_str(out, text);
        }
        None => out.push(0),
    }
}

fn put_opt_uuid(out: &mut Vec<u8>, id: Option<Uuid>) {
    match id {
        Some(id) => {
            out.push(1);
            out.extend_from_slice(id.as_bytes());
        }
        None => out.push(0),
    }
}

/// A bounds-checked cursor over a frame body: every read past the end or of malformed
/// data is a [`StoreError::Corrupt`], never a panic.
struct Reader<'a, 'l> {
    bytes: &'a [u8],
    at: usize,
    location: &'l dyn Fn() -> String,
}

impl<'a, 'l> Reader<'a, 'l> {
    fn new(bytes: &'a [u8], location: &'l dyn Fn() -> String) -> Self {
        Reader {
            bytes,
            at: 0,
            location,
        }
    }

    fn corrupt(&self, detail: String) -> StoreError {
        StoreError::Corrupt {
            location: (self.location)(),
            detail,
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        let end = self.at.checked_add(n);
        match end.and_then(|end| self.bytes.get(self.at..end)) {
            Some(slice) => {
                self.at += n;
                Ok(slice)
            }
            None => Err(self.corrupt(format!(
                "record body ends at byte {} but a field needs {n} bytes from byte {}",
                self.bytes.len(),
                self.at
            ))),
        }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], StoreError> {
        let slice = self.take(N)?;
        let mut out = [0; N];
        out.copy_from_slice(slice);
        Ok(out)
    }

    fn u64(&mut self) -> Result<u64, StoreError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64, StoreError> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, StoreError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn len(&mut self) -> Result<usize, StoreError> {
        let len = self.u32()?;
        usize::try_from(len).map_err(|_| self.corrupt(format!("length {len} does not fit")))
    }

    fn flag(&mut self) -> Result<bool, StoreError> {
        match self.array::<1>()? {
            [0] => Ok(false),
            [1] => Ok(true),
            [other] => Err(self.corrupt(format!("option flag is {other}, not 0 or 1"))),
        }
    }

    fn uuid(&mut self) -> Result<Uuid, StoreError> {
        Ok(Uuid::from_bytes(self.array()?))
    }

    fn opt_uuid(&mut self) -> Result<Option<Uuid>, StoreError> {
        if self.flag()? {
            Ok(Some(self.uuid()?))
        } else {
            Ok(None)
        }
    }

    fn string(&mut self) -> Result<String, StoreError> {
        let len = self.len()?;
        let bytes = self.take(len)?;
        match std::str::from_utf8(bytes) {
            Ok(text) => Ok(text.to_owned()),
            Err(e) => Err(self.corrupt(format!("text field is not UTF-8: {e}"))),
        }
    }

    fn opt_string(&mut self) -> Result<Option<String>, StoreError> {
        if self.flag()? {
            Ok(Some(self.string()?))
        } else {
            Ok(None)
        }
    }

    fn finish(self) -> Result<(), StoreError> {
        if self.at == self.bytes.len() {
            Ok(())
        } else {
            Err(self.corrupt(format!(
                "{} unexpected bytes after the last field",
                self.bytes.len() - self.at
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use casebook_store::conformance::event;

    fn here() -> String {
        "test".into()
    }

    fn sample() -> Envelope {
        let mut new = event("Opened", serde_json::json!({ "名": "值", "n": [1, 2] }));
        new.causation_id = Some(Uuid::from_u128(7));
        let mut env = Envelope::from_new(StreamId::new("ticket", "T-1").unwrap(), 3, 42, new);
        env.integrity = Some("abc".into());
        env
    }

    #[test]
    fn envelope_round_trips() {
        let env = sample();
        let bytes = encode_envelope(&env);
        assert_eq!(decode_envelope(&here, &bytes).unwrap(), env);
    }

    #[test]
    fn every_single_byte_flip_is_detected() {
        let bytes = encode_envelope(&sample());
        for i in 0..bytes.len() {
            for bit in [0x01, 0x80] {
                let mut damaged = bytes.clone();
                damaged[i] ^= bit;
                let result = decode_envelope(&here, &damaged);
                assert!(
                    matches!(
                        result,
                        Err(StoreError::Corrupt { .. } | StoreError::UnsupportedFormat { .. })
                    ),
                    "flip at byte {i} gave {result:?}"
                );
            }
        }
    }

    #[test]
    fn truncation_and_wrong_kind_are_corrupt() {
        let bytes = encode_envelope(&sample());
        for len in 0..bytes.len() {
            assert!(decode_envelope(&here, &bytes[..len]).is_err(), "len {len}");
        }
        let head = encode_u64(Kind::Head, 5);
        assert!(matches!(
            decode_u64(&here, Kind::Index, &head),
            Err(StoreError::Corrupt { .. })
        ));
        assert_eq!(decode_u64(&here, Kind::Head, &head).unwrap(), 5);
    }

    #[test]
    fn an_intact_frame_of_another_format_is_unsupported() {
        let mut bytes = vec![RECORD_FORMAT + 1, Kind::Head as u8, 0, 0, 0, 0];
        bytes.extend_from_slice(&5u64.to_le_bytes());
        let crc = checksum(&bytes);
        bytes[2..6].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(
            decode_u64(&here, Kind::Head, &bytes),
            Err(StoreError::UnsupportedFormat { .. })
        ));
    }

    #[test]
    fn snapshots_and_checkpoints_round_trip() {
        let snapshot = Snapshot {
            stream_id: StreamId::new("ticket", "T-1").unwrap(),
            version: 9,
            schema_version: 2,
            state: Payload::encode(&serde_json::json!({ "s": "快照" })).unwrap(),
        };
        assert_eq!(
            decode_snapshot(&here, &encode_snapshot(&snapshot)).unwrap(),
            snapshot
        );
        let checkpoint = Checkpoint {
            name: "sla".into(),
            position: 77,
            state: Payload::encode(&serde_json::json!([1, 2])).unwrap(),
        };
        assert_eq!(
            decode_checkpoint(&here, &encode_checkpoint(&checkpoint)).unwrap(),
            checkpoint
        );
    }

    #[test]
    fn index_keys_of_different_streams_never_share_a_prefix() {
        let a = StreamId::new("t", "a").unwrap();
        let ab = StreamId::new("t", "ab").unwrap();
        assert!(!index_key(&ab, 1).starts_with(&index_prefix(&a)));
        assert!(index_key(&a, 1) < index_key(&a, 256));
    }
}
