//! The conformance suite: one set of checks every [`EventStore`] adapter runs from its own
//! tests with a single call, so that the contract is defined once.
//!
//! ```
//! use casebook_store::{conformance, MemoryStore};
//! conformance::run_all(MemoryStore::new);
//! ```
//!
//! Each check takes a fresh, empty store from the factory. A failed check panics with a
//! message naming the invariant, which is what a test wants.

#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{TimeZone, Utc};
use uuid::Uuid;

use crate::envelope::{Checkpoint, ExpectedVersion, NewEvent, Payload, Snapshot, StreamId};
use crate::error::{Limit, StoreError};
use crate::limits::{MAX_EVENTS_PER_APPEND, MAX_PAGE, MAX_PAYLOAD_BYTES};
use crate::store::EventStore;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A test event with a unique id and the given payload.
pub fn event(event_type: &str, payload: serde_json::Value) -> NewEvent {
    let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    NewEvent {
        event_id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | u128::from(n)),
        event_type: event_type.to_string(),
        schema_version: 1,
        recorded_at: Utc
            .timestamp_opt(1_767_225_600 + i64::try_from(n % 1_000_000).unwrap(), 0)
            .unwrap(),
        actor: "member:conformance".into(),
        tenant: Some("org:acme".into()),
        correlation_id: Uuid::from_u128(u128::from(n) << 64),
        causation_id: None,
        payload: Payload::encode(&payload).unwrap(),
        personal_data: vec!["/contact".into()],
    }
}

fn events(n: usize) -> Vec<NewEvent> {
    (0..n)
        .map(|i| event("Tested", serde_json::json!({ "i": i })))
        .collect()
}

fn stream(name: &str) -> StreamId {
    StreamId::new("test", name).unwrap()
}

/// Runs every check, each on a fresh store from `make`.
pub fn run_all<S: EventStore, F: Fn() -> S>(make: F) {
    append_then_read_back_every_field(&make());
    versions_and_positions_are_contiguous(&make());
    expected_version_is_enforced(&make());
    failed_batches_write_nothing(&make());
    racing_writers_on_one_stream_have_one_winner_per_version(&make());
    racing_writers_on_many_streams_get_gap_free_positions(&make());
    paging_covers_everything_once(&make());
    global_order_agrees_with_stream_order(&make());
    unicode_and_large_payloads_round_trip(&make());
    limits_are_typed_errors(&make());
    snapshots_are_kept_newest_first_and_can_be_cleared(&make());
    checkpoints_round_trip(&make());
}

/// Every envelope field written comes back unchanged, and the store fills in versions and
/// positions.
pub fn append_then_read_back_every_field<S: EventStore>(store: &S) {
    let s = stream("fields");
    let mut batch = events(2);
    batch[1].causation_id = Some(batch[0].event_id);
    batch[1].tenant = None;
    batch[1].personal_data.clear();
    let out = store
        .append(&s, ExpectedVersion::NoStream, batch.clone())
        .unwrap();
    assert_eq!(
        out.stream_version, 2,
        "append reports the new stream version"
    );
    let read = store.read_stream(&s, 0, 10).unwrap();
    assert_eq!(
        read, out.recorded,
        "read-your-writes: read equals what append returned"
    );
    for (env, new) in read.iter().zip(&batch) {
        assert_eq!(env.event_id, new.event_id);
        assert_eq!(env.stream_id, s);
        assert_eq!(env.stream_kind(), "test");
        assert_eq!(env.event_type, new.event_type);
        assert_eq!(env.schema_version, new.schema_version);
        assert_eq!(env.recorded_at, new.recorded_at);
        assert_eq!(env.actor, new.actor);
        assert_eq!(env.tenant, new.tenant);
        assert_eq!(env.correlation_id, new.correlation_id);
        assert_eq!(env.causation_id, new.causation_id);
        assert_eq!(env.payload, new.payload);
        assert_eq!(env.personal_data, new.personal_data);
    }
    assert_eq!(store.stream_version(&s).unwrap(), 2);
    assert_eq!(store.stream_version(&stream("absent")).unwrap(), 0);
    assert!(store
        .read_stream(&stream("absent"), 0, 10)
        .unwrap()
        .is_empty());
    assert_eq!(store.head_position().unwrap(), 2);
    assert_eq!(store.read_all(0, 10).unwrap(), read);
}

/// Versions run 1, 2, 3, ... per stream and positions 1, 2, 3, ... globally.
pub fn versions_and_positions_are_contiguous<S: EventStore>(store: &S) {
    let (a, b) = (stream("a"), stream("b"));
    store
        .append(&a, ExpectedVersion::NoStream, events(3))
        .unwrap();
    store
        .append(&b, ExpectedVersion::NoStream, events(2))
        .unwrap();
    store
        .append(&a, ExpectedVersion::Exact(3), events(1))
        .unwrap();
    let versions: Vec<u64> = store
        .read_stream(&a, 0, 100)
        .unwrap()
        .iter()
        .map(|e| e.stream_version)
        .collect();
    assert_eq!(versions, vec![1, 2, 3, 4]);
    let positions: Vec<u64> = store
        .read_all(0, 100)
        .unwrap()
        .iter()
        .map(|e| e.global_position)
        .collect();
    assert_eq!(positions, (1..=6).collect::<Vec<_>>());
    let tail: Vec<u64> = store
        .read_stream(&a, 2, 100)
        .unwrap()
        .iter()
        .map(|e| e.stream_version)
        .collect();
    assert_eq!(
        tail,
        vec![3, 4],
        "read_stream starts after the given version"
    );
}

/// `NoStream`, `Exact` and `Any` admit exactly what they say, and a conflict says where
/// the stream really is.
pub fn expected_version_is_enforced<S: EventStore>(store: &S) {
    let s = stream("expect");
    store
        .append(&s, ExpectedVersion::Exact(0), events(1))
        .unwrap();
    match store.append(&s, ExpectedVersion::NoStream, events(1)) {
        Err(StoreError::Conflict {
            actual, expected, ..
        }) => {
            assert_eq!(actual, 1);
            assert_eq!(expected, ExpectedVersion::NoStream);
        }
        other => panic!("NoStream on an existing stream must conflict, got {other:?}"),
    }
    for wrong in [0, 2, 7] {
        let err = store
            .append(&s, ExpectedVersion::Exact(wrong), events(1))
            .unwrap_err();
        assert!(
            err.is_conflict(),
            "Exact({wrong}) at version 1 must conflict: {err}"
        );
    }
    store.append(&s, ExpectedVersion::Any, events(2)).unwrap();
    store
        .append(&s, ExpectedVersion::Exact(3), events(1))
        .unwrap();
    assert_eq!(store.stream_version(&s).unwrap(), 4);
    assert_eq!(store.head_position().unwrap(), 4, "conflicts wrote nothing");
}

/// A batch that fails for any reason leaves no trace, not even its first events.
pub fn failed_batches_write_nothing<S: EventStore>(store: &S) {
    let s = stream("atomic");
    store
        .append(&s, ExpectedVersion::NoStream, events(2))
        .unwrap();
    let before = store.read_all(0, 100).unwrap();

    let conflicting = store.append(&s, ExpectedVersion::Exact(1), events(5));
    assert!(conflicting.unwrap_err().is_conflict());

    let mut oversize = events(3);
    oversize[2].payload =
        Payload::from_json(format!("\"{}\"", "x".repeat(MAX_PAYLOAD_BYTES))).unwrap();
    let err = store
        .append(&s, ExpectedVersion::Exact(2), oversize)
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::LimitExceeded {
                what: Limit::PayloadBytes,
                ..
            }
        ),
        "{err}"
    );

    let mut duplicate = events(3);
    duplicate[2].event_id = duplicate[0].event_id;
    let err = store
        .append(&s, ExpectedVersion::Exact(2), duplicate)
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidAppend { .. }), "{err}");

    let err = store
        .append(&s, ExpectedVersion::Exact(2), Vec::new())
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidAppend { .. }), "{err}");

    assert_eq!(
        store.read_all(0, 100).unwrap(),
        before,
        "failed batches left a trace"
    );
    assert_eq!(store.stream_version(&s).unwrap(), 2);
    store
        .append(&s, ExpectedVersion::Exact(2), events(1))
        .unwrap();
    assert_eq!(
        store.head_position().unwrap(),
        3,
        "positions stay gap-free after failures"
    );
}

/// Threads that read the version and append with `Exact` race; each version has exactly
/// one winner, the stream has no gaps and no event is duplicated or lost.
pub fn racing_writers_on_one_stream_have_one_winner_per_version<S: EventStore>(store: &S) {
    const THREADS: usize = 4;
    const WINS_EACH: usize = 25;
    let s = stream("race");
    let wins: Vec<Vec<u64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                scope.spawn(|| {
                    let mut won = Vec::new();
                    while won.len() < WINS_EACH {
                        let v = store.stream_version(&s).unwrap();
                        match store.append(&s, ExpectedVersion::Exact(v), events(2)) {
                            Ok(out) => won.push(out.stream_version),
                            Err(e) if e.is_conflict() => {}
                            Err(e) => panic!("racing append failed: {e}"),
                        }
                    }
                    won
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut all: Vec<u64> = wins.into_iter().flatten().collect();
    all.sort_unstable();
    let expected: Vec<u64> = (1..=(THREADS * WINS_EACH) as u64).map(|i| i * 2).collect();
    assert_eq!(all, expected, "each version won exactly once");
    let read = crate::store::read_stream_to_end(store, &s, 0).unwrap();
    let versions: Vec<u64> = read.iter().map(|e| e.stream_version).collect();
    assert_eq!(
        versions,
        (1..=(THREADS * WINS_EACH * 2) as u64).collect::<Vec<_>>()
    );
    let ids: BTreeSet<Uuid> = read.iter().map(|e| e.event_id).collect();
    assert_eq!(ids.len(), read.len(), "no event stored twice");
}

/// Writers on different streams at once: global positions stay unique and gap-free.
pub fn racing_writers_on_many_streams_get_gap_free_positions<S: EventStore>(store: &S) {
    const THREADS: usize = 4;
    const APPENDS: usize = 40;
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            scope.spawn(move || {
                let s = stream(&format!("many-{t}"));
                for i in 0..APPENDS {
                    store
                        .append(&s, ExpectedVersion::Exact(i as u64 * 3), events(3))
                        .unwrap();
                }
            });
        }
    });
    let all = crate::store::read_stream_to_end_global(store).unwrap();
    let positions: Vec<u64> = all.iter().map(|e| e.global_position).collect();
    assert_eq!(
        positions,
        (1..=(THREADS * APPENDS * 3) as u64).collect::<Vec<_>>()
    );
    assert_eq!(store.head_position().unwrap(), positions.len() as u64);
}

/// Reading by small pages visits every event exactly once, for streams and the log.
pub fn paging_covers_everything_once<S: EventStore>(store: &S) {
    let s = stream("pages");
    for _ in 0..7 {
        let v = store.stream_version(&s).unwrap();
        store
            .append(&s, ExpectedVersion::Exact(v), events(3))
            .unwrap();
    }
    for page_size in [1, 2, 5, 21, 100] {
        let mut seen = Vec::new();
        let mut after = 0;
        loop {
            let page = store.read_all(after, page_size).unwrap();
            assert!(page.len() <= page_size, "a page never exceeds its size");
            let Some(last) = page.last() else { break };
            after = last.global_position;
            seen.extend(page.iter().map(|e| e.global_position));
        }
        assert_eq!(seen, (1..=21).collect::<Vec<_>>(), "page size {page_size}");
        let mut versions = Vec::new();
        let mut after = 0;
        loop {
            let page = store.read_stream(&s, after, page_size).unwrap();
            let Some(last) = page.last() else { break };
            after = last.stream_version;
            versions.extend(page.iter().map(|e| e.stream_version));
        }
        assert_eq!(
            versions,
            (1..=21).collect::<Vec<_>>(),
            "page size {page_size}"
        );
    }
    assert!(store.read_all(21, 10).unwrap().is_empty());
    assert!(store.read_all(u64::MAX, 10).unwrap().is_empty());
    assert!(store.read_all(0, 0).unwrap().is_empty());
}

/// In the global log, each stream's events appear in version order.
pub fn global_order_agrees_with_stream_order<S: EventStore>(store: &S) {
    std::thread::scope(|scope| {
        for t in 0..3 {
            scope.spawn(move || {
                for i in 0..30u64 {
                    let s = stream(&format!("order-{}", (t + i) % 5));
                    loop {
                        let v = store.stream_version(&s).unwrap();
                        match store.append(
                            &s,
                            ExpectedVersion::Exact(v),
                            events(1 + (i % 3) as usize),
                        ) {
                            Ok(_) => break,
                            Err(e) if e.is_conflict() => continue,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            });
        }
    });
    let all = crate::store::read_stream_to_end_global(store).unwrap();
    let mut last: HashMap<StreamId, u64> = HashMap::new();
    for e in &all {
        let prev = last
            .insert(e.stream_id.clone(), e.stream_version)
            .unwrap_or(0);
        assert_eq!(
            e.stream_version,
            prev + 1,
            "stream {} out of order in the global log at position {}",
            e.stream_id,
            e.global_position
        );
    }
}

/// Chinese text, emoji, escapes and a payload near the limit come back byte for byte.
pub fn unicode_and_large_payloads_round_trip<S: EventStore>(store: &S) {
    let s = StreamId::new("test", "客户-工单-🔒").unwrap();
    let texts = [
        "服务器在凌晨宕机，客户无法登录 🔥",
        "line\nbreak \"quoted\" \\ back\tslash \u{0}nul",
        "",
    ];
    let mut batch: Vec<NewEvent> = texts
        .iter()
        .map(|t| event("Unicode", serde_json::json!({ "text": t })))
        .collect();
    let big = "数".repeat((MAX_PAYLOAD_BYTES - 64) / 3);
    batch.push(event("Large", serde_json::json!({ "text": big })));
    batch[0].actor = "成员:张伟".into();
    let out = store
        .append(&s, ExpectedVersion::NoStream, batch.clone())
        .unwrap();
    let read = store.read_stream(&s, 0, 10).unwrap();
    assert_eq!(read, out.recorded);
    for (env, new) in read.iter().zip(&batch) {
        assert_eq!(env.payload.as_str(), new.payload.as_str());
        assert_eq!(env.actor, new.actor);
    }
    assert_eq!(read[0].stream_id.local_id(), "客户-工单-🔒");
}

/// Limits give typed errors and write nothing.
pub fn limits_are_typed_errors<S: EventStore>(store: &S) {
    let s = stream("limits");
    let err = store
        .append(
            &s,
            ExpectedVersion::NoStream,
            events(MAX_EVENTS_PER_APPEND + 1),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::LimitExceeded {
                what: Limit::EventsPerAppend,
                ..
            }
        ),
        "{err}"
    );
    store
        .append(&s, ExpectedVersion::NoStream, events(MAX_EVENTS_PER_APPEND))
        .unwrap();
    let mut long_actor = events(1);
    long_actor[0].actor = "a".repeat(10_000);
    let err = store
        .append(&s, ExpectedVersion::Any, long_actor)
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::LimitExceeded {
                what: Limit::FieldBytes,
                ..
            }
        ),
        "{err}"
    );
    let err = store.read_all(0, MAX_PAGE + 1).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::LimitExceeded {
                what: Limit::PageSize,
                ..
            }
        ),
        "{err}"
    );
    let err = store.read_stream(&s, 0, MAX_PAGE + 1).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::LimitExceeded {
                what: Limit::PageSize,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(store.head_position().unwrap(), MAX_EVENTS_PER_APPEND as u64);
}

/// Snapshots: newest kept, an older one ignored, all removable.
pub fn snapshots_are_kept_newest_first_and_can_be_cleared<S: EventStore>(store: &S) {
    let s = stream("snap");
    assert_eq!(store.load_snapshot(&s).unwrap(), None);
    let snap = |version| Snapshot {
        stream_id: s.clone(),
        version,
        schema_version: 1,
        state: Payload::encode(&serde_json::json!({ "v": version, "名": "快照" })).unwrap(),
    };
    store.save_snapshot(&snap(5)).unwrap();
    store.save_snapshot(&snap(9)).unwrap();
    store.save_snapshot(&snap(7)).unwrap();
    assert_eq!(store.load_snapshot(&s).unwrap(), Some(snap(9)));
    store.clear_snapshots().unwrap();
    assert_eq!(store.load_snapshot(&s).unwrap(), None);
}

/// Checkpoints keep position and state together and can be overwritten.
pub fn checkpoints_round_trip<S: EventStore>(store: &S) {
    assert_eq!(store.load_checkpoint("sla").unwrap(), None);
    let cp = |position| Checkpoint {
        name: "sla".into(),
        position,
        state: Payload::encode(&serde_json::json!({ "open": position })).unwrap(),
    };
    store.save_checkpoint(&cp(10)).unwrap();
    assert_eq!(store.load_checkpoint("sla").unwrap(), Some(cp(10)));
    store.save_checkpoint(&cp(42)).unwrap();
    assert_eq!(store.load_checkpoint("sla").unwrap(), Some(cp(42)));
    assert_eq!(store.load_checkpoint("kpi").unwrap(), None);
}
