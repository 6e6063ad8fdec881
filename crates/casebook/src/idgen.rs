//! Id generators: UUID v7 (time-ordered) for events and new cases. Replaceable so that a
//! seeded simulation produces the same ids, and so the same report, every run.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A source of fresh ids.
pub trait IdGenerator: Send + Sync {
    /// A new UUID v7 whose timestamp is `at`.
    fn next_id(&self, at: DateTime<Utc>) -> Uuid;
}

/// Random UUID v7s.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomIds;

impl IdGenerator for RandomIds {
    fn next_id(&self, at: DateTime<Utc>) -> Uuid {
        let secs = u64::try_from(at.timestamp()).unwrap_or(0);
        Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            secs,
            at.timestamp_subsec_nanos(),
        ))
    }
}

/// Deterministic UUID v7s from a seed (SplitMix64), for simulations and tests.
#[derive(Debug)]
pub struct SeededIds {
    state: Mutex<u64>,
}

impl SeededIds {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        SeededIds {
            state: Mutex::new(seed),
        }
    }
}

/// One step of SplitMix64: a tiny, well-distributed generator, enough for ids.
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl IdGenerator for SeededIds {
    fn next_id(&self, at: DateTime<Utc>) -> Uuid {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let a = splitmix64(&mut state).to_le_bytes();
        let b = splitmix64(&mut state).to_le_bytes();
        let mut bytes = [0u8; 10];
        bytes[..8].copy_from_slice(&a);
        bytes[8..].copy_from_slice(&b[..2]);
        let ms = u64::try_from(at.timestamp_millis()).unwrap_or(0);
        uuid::Builder::from_unix_timestamp_millis(ms, &bytes).into_uuid()
    }
}
