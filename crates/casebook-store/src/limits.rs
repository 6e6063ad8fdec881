//! Limits every store enforces, so that no input can make a write or a read unbounded.
//!
//! They are checked before anything is written: a request past a limit gets
//! [`StoreError::LimitExceeded`] and changes nothing.

use std::collections::HashSet;

use crate::envelope::NewEvent;
use crate::error::{Limit, StoreError};

/// Most events one append may carry (one command never needs more).
pub const MAX_EVENTS_PER_APPEND: usize = 1_000;
/// Most bytes of JSON in one payload.
pub const MAX_PAYLOAD_BYTES: usize = 1024 * 1024;
/// Most bytes in the actor, tenant or event type of an envelope.
pub const MAX_FIELD_BYTES: usize = 256;
/// Most bytes in a stream id.
pub const MAX_STREAM_ID_BYTES: usize = 256;
/// Most events one read returns; callers page through longer ranges.
pub const MAX_PAGE: usize = 10_000;

/// Batches up to this size are checked for repeated event ids pairwise.
const SMALL_BATCH: usize = 16;

/// Checks an append against the limits and its own consistency. Every adapter calls
/// this first, so they all refuse the same things in the same way.
///
/// # Errors
///
/// [`StoreError::InvalidAppend`] for an empty batch or a duplicated event id,
/// [`StoreError::LimitExceeded`] for a batch, payload or field past its limit.
pub fn check_append(stream: &str, events: &[NewEvent]) -> Result<(), StoreError> {
    if events.is_empty() {
        return Err(StoreError::InvalidAppend {
            stream: stream.to_string(),
            reason: "no events to append".into(),
        });
    }
    if events.len() > MAX_EVENTS_PER_APPEND {
        return Err(StoreError::LimitExceeded {
            what: Limit::EventsPerAppend,
            actual: events.len(),
            limit: MAX_EVENTS_PER_APPEND,
        });
    }
    // Most appends carry one to a few events: a set is only built for large batches,
    // so the common append allocates nothing here.
    let mut ids = (events.len() > SMALL_BATCH).then(|| HashSet::with_capacity(events.len()));
    for (i, event) in events.iter().enumerate() {
        if event.payload.len() > MAX_PAYLOAD_BYTES {
            return Err(StoreError::LimitExceeded {
                what: Limit::PayloadBytes,
                actual: event.payload.len(),
                limit: MAX_PAYLOAD_BYTES,
            });
        }
        let longest_field = [
            event.actor.len(),
            event.event_type.len(),
            event.tenant.as_deref().map_or(0, str::len),
        ]
        .into_iter()
        .max()
        .unwrap_or(0);
        if longest_field > MAX_FIELD_BYTES {
            return Err(StoreError::LimitExceeded {
                what: Limit::FieldBytes,
                actual: longest_field,
                limit: MAX_FIELD_BYTES,
            });
        }
        if event.event_type.is_empty() {
            return Err(StoreError::InvalidAppend {
                stream: stream.to_string(),
                reason: "an event has an empty event type".into(),
            });
        }
        let repeated = match ids.as_mut() {
            Some(ids) => !ids.insert(event.event_id),
            None => events[..i].iter().any(|e| e.event_id == event.event_id),
        };
        if repeated {
            return Err(StoreError::InvalidAppend {
                stream: stream.to_string(),
                reason: format!("event id {} appears twice in the batch", event.event_id),
            });
        }
    }
    Ok(())
}

/// Checks a requested page size.
///
/// # Errors
///
/// [`StoreError::LimitExceeded`] if `max_count` is above [`MAX_PAGE`].
pub fn check_page(max_count: usize) -> Result<(), StoreError> {
    if max_count > MAX_PAGE {
        return Err(StoreError::LimitExceeded {
            what: Limit::PageSize,
            actual: max_count,
            limit: MAX_PAGE,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::event;

    fn batch(n: usize) -> Vec<NewEvent> {
        (0..n)
            .map(|i| {
                let mut e = event("Tested", serde_json::json!({ "i": i }));
                e.event_id = uuid::Uuid::from_u128(i as u128 + 1);
                e
            })
            .collect()
    }

    /// Small batches are checked pairwise, large ones with a set: both find a repeated
    /// id wherever it is, and neither refuses distinct ids.
    #[test]
    fn a_repeated_event_id_is_refused_in_small_and_large_batches() {
        for n in [2, SMALL_BATCH, SMALL_BATCH + 1, 200] {
            assert!(check_append("ticket:1", &batch(n)).is_ok(), "{n} distinct");
            for (first, second) in [(0, n - 1), (n / 2, n / 2 + 1), (0, 1)] {
                if second >= n || first == second {
                    continue;
                }
                let mut events = batch(n);
                events[second].event_id = events[first].event_id;
                assert!(
                    matches!(
                        check_append("ticket:1", &events),
                        Err(StoreError::InvalidAppend { .. })
                    ),
                    "{n} events, {first} repeated at {second}"
                );
            }
        }
    }
}
