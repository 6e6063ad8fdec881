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
    let mut ids = HashSet::with_capacity(events.len());
    for event in events {
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
        if !ids.insert(event.event_id) {
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
