//! Copying a whole store into another: backups into another adapter, and migration
//! between the embedded store and PostgreSQL.

use crate::envelope::{ExpectedVersion, NewEvent};
use crate::error::StoreError;
use crate::limits::MAX_PAGE;
use crate::store::EventStore;

/// What [`copy_all`] copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyReport {
    /// Events copied.
    pub events: u64,
    /// Checkpoints copied.
    pub checkpoints: usize,
}

/// Copies every event of `from` into the empty store `to`, in global order, keeping each
/// event's id, type, schema, times, actor, tenant, correlation, causation, payload and
/// personal-data markers. Because `to` starts empty and events go in one at a time in
/// `from`'s order, every event gets the same stream version and global position it had.
/// The named checkpoints are copied after the events (snapshots are a cache and are not).
///
/// # Errors
///
/// [`StoreError::InvalidAppend`] if `to` is not empty; any read or append error of either
/// store. A failed copy leaves `to` with a prefix of `from`'s log, which a retry into a
/// fresh store repeats.
pub fn copy_all<F, T>(from: &F, to: &T, checkpoints: &[&str]) -> Result<CopyReport, StoreError>
where
    F: EventStore + ?Sized,
    T: EventStore + ?Sized,
{
    if to.head_position()? != 0 {
        return Err(StoreError::InvalidAppend {
            stream: "(whole store)".into(),
            reason: "the target of a copy must be empty".into(),
        });
    }
    let mut after = 0;
    let mut events = 0;
    loop {
        let page = from.read_all(after, MAX_PAGE)?;
        let Some(last) = page.last() else { break };
        after = last.global_position;
        for envelope in page {
            let stream = envelope.stream_id.clone();
            let version = envelope.stream_version;
            let position = envelope.global_position;
            let new = NewEvent {
                event_id: envelope.event_id,
                event_type: envelope.event_type,
                schema_version: envelope.schema_version,
                recorded_at: envelope.recorded_at,
                actor: envelope.actor,
                tenant: envelope.tenant,
                correlation_id: envelope.correlation_id,
                causation_id: envelope.causation_id,
                payload: envelope.payload,
                personal_data: envelope.personal_data,
            };
            let out = to.append(&stream, ExpectedVersion::Exact(version - 1), vec![new])?;
            let copied = out.recorded.first().map(|e| e.global_position);
            if copied != Some(position) {
                return Err(StoreError::Backend(format!(
                    "copy diverged: event at position {position} landed at {copied:?}"
                )));
            }
            events += 1;
        }
    }
    let mut copied_checkpoints = 0;
    for name in checkpoints {
        if let Some(cp) = from.load_checkpoint(name)? {
            to.save_checkpoint(&cp)?;
            copied_checkpoints += 1;
        }
    }
    Ok(CopyReport {
        events,
        checkpoints: copied_checkpoints,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::conformance::event;
    use crate::{MemoryStore, StreamId};

    #[test]
    fn a_copy_has_the_same_log_and_refuses_a_non_empty_target() {
        let from = MemoryStore::new();
        for i in 0..30u64 {
            let s = StreamId::new("t", &format!("{}", i % 4)).unwrap();
            let v = from.stream_version(&s).unwrap();
            from.append(
                &s,
                ExpectedVersion::Exact(v),
                vec![event("E", serde_json::json!({ "i": i }))],
            )
            .unwrap();
        }
        let to = MemoryStore::new();
        let report = copy_all(&from, &to, &[]).unwrap();
        assert_eq!(report.events, 30);
        assert_eq!(from.read_all(0, 100).unwrap(), to.read_all(0, 100).unwrap());
        assert!(matches!(
            copy_all(&from, &to, &[]),
            Err(StoreError::InvalidAppend { .. })
        ));
    }
}
