//! The engine's own guarantees: retries, snapshots, decoding, clocks, failures.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use casebook::prelude::*;
use casebook::store::{ExpectedVersion, Hooked, Hooks, NewEvent, Payload, Snapshot, StoreError};
use casebook::{CommandMeta, EngineOptions, Upcasters};
use chrono::Duration;
use uuid::Uuid;

use crate::support::{start, Desk};

/// Hooks that make a store conflict on every append, or fail appends after a count.
struct Faults {
    conflict_always: bool,
    fail_appends_after: AtomicUsize,
}

/// A memory store that can be told to conflict or fail.
type Faulty = Hooked<MemoryStore, Faults>;

fn faulty(conflict_always: bool) -> Faulty {
    Hooked::new(
        MemoryStore::new(),
        Faults {
            conflict_always,
            fail_appends_after: AtomicUsize::new(usize::MAX),
        },
    )
}

impl Hooks for Faults {
    fn before_append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        _events: &[NewEvent],
    ) -> Result<(), StoreError> {
        if self.conflict_always {
            return Err(StoreError::Conflict {
                stream: stream.to_string(),
                expected,
                actual: 99,
            });
        }
        let left = self.fail_appends_after.load(Ordering::SeqCst);
        if left == 0 {
            return Err(StoreError::Unavailable("disk unplugged".into()));
        }
        self.fail_appends_after
            .store(left.saturating_sub(1), Ordering::SeqCst);
        Ok(())
    }
}

fn note(i: usize) -> TicketCommand {
    TicketCommand::AddNote {
        text: format!("note {i}"),
        customer_visible: false,
    }
}

fn sled_store() -> (Arc<dyn EventStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = casebook::SledStore::open(
        dir.path(),
        casebook::SledOptions {
            durability: casebook::Durability::Synced,
        },
    )
    .unwrap();
    (Arc::new(store), dir)
}

#[test]
fn racing_engines_on_one_ticket_all_succeed_by_retrying() {
    racing_engines(Arc::new(MemoryStore::new()));
}

#[test]
fn racing_engines_on_sled_all_succeed_by_retrying() {
    let (store, _dir) = sled_store();
    racing_engines(store);
}

fn racing_engines(store: Arc<dyn EventStore>) {
    let desk = Desk::on(store.clone());
    let t = desk.open();
    std::thread::scope(|scope| {
        for w in 0..4 {
            let store = store.clone();
            scope.spawn(move || {
                // Each thread has its own engine (its own cache), as separate processes would.
                // Every conflict means another writer's append landed, and the writers make
                // 100 appends in all, so no command can lose more than 100 times in a row:
                // with that retry budget the test cannot starve, however threads interleave.
                let engine = Engine::builder(store)
                    .options(EngineOptions {
                        max_conflict_retries: 100,
                        ..EngineOptions::standard()
                    })
                    .build();
                let sup = Actor::member("sup").unwrap();
                for i in 0..25 {
                    engine
                        .execute(&sup, (t, note(w * 100 + i)))
                        .expect("retries absorb conflicts");
                }
            });
        }
    });
    let history = desk
        .engine
        .history(&stream_of::<Ticket>(&t).unwrap())
        .unwrap();
    assert_eq!(history.len(), 101);
    assert!(history
        .iter()
        .enumerate()
        .all(|(i, e)| e.stream_version == i as u64 + 1));
}

#[test]
fn endless_conflicts_give_a_contention_error() {
    let store: Arc<Faulty> = Arc::new(faulty(true));
    let engine = Engine::builder(store.clone())
        .options(EngineOptions {
            max_conflict_retries: 3,
            ..EngineOptions::standard()
        })
        .build();
    let err = engine
        .execute(
            &Actor::system("t"),
            DirectoryCommand::RegisterCustomer {
                org: OrgId::new("a").unwrap(),
                name: "A".into(),
                tier: CustomerTier::Basic,
            },
        )
        .unwrap_err();
    assert!(
        matches!(err, EngineError::Contention { attempts: 4, .. }),
        "{err}"
    );
    assert_eq!(store.head_position().unwrap(), 0);
}

#[test]
fn a_storage_failure_is_a_typed_error_and_records_nothing() {
    let store: Arc<Faulty> = Arc::new(faulty(false));
    let desk = Desk::on(store.clone());
    let t = desk.open();
    let before = desk.engine.ticket(t).unwrap();
    let head = store.head_position().unwrap();
    store.hooks().fail_appends_after.store(0, Ordering::SeqCst);
    let err = desk
        .run(
            &desk.sup,
            t,
            crate::support::triage(Severity::High, Urgency::Normal),
        )
        .unwrap_err();
    assert!(
        matches!(err, EngineError::Store(StoreError::Unavailable(_))),
        "{err}"
    );
    assert!(
        err.rejection().is_none(),
        "a storage error is not a rejection"
    );
    assert_eq!(store.head_position().unwrap(), head);
    assert_eq!(
        desk.engine.ticket(t).unwrap(),
        before,
        "the cache did not move ahead of the store"
    );
    store
        .hooks()
        .fail_appends_after
        .store(usize::MAX, Ordering::SeqCst);
    desk.ok(
        &desk.sup,
        t,
        crate::support::triage(Severity::High, Urgency::Normal),
    );
}

#[test]
fn a_stored_payload_that_does_not_decode_is_a_typed_error() {
    let desk = Desk::new();
    let t = desk.open();
    let stream = stream_of::<Ticket>(&t).unwrap();
    let mut bad = casebook::store::conformance::event(
        "TicketTriaged",
        serde_json::json!({ "Triaged": { "severity": "apocalyptic" } }),
    );
    bad.recorded_at = start();
    desk.engine
        .store()
        .append(&stream, ExpectedVersion::Exact(1), vec![bad])
        .unwrap();
    desk.engine.clear_cache();
    let err = desk.engine.ticket(t).unwrap_err();
    match &err {
        EngineError::Decode {
            version,
            event_type,
            ..
        } => {
            assert_eq!((*version, event_type.as_str()), (2, "TicketTriaged"));
        }
        other => panic!("expected a decode error, got {other}"),
    }
    let head = desk.engine.store().head_position().unwrap();
    assert!(matches!(
        desk.run(&desk.sup, t, note(1)),
        Err(EngineError::Decode { .. })
    ));
    assert_eq!(desk.engine.store().head_position().unwrap(), head);
}

#[test]
fn old_schemas_are_upcast_on_read() {
    let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
    let desk = Desk::on(store.clone());
    let t = desk.open();
    // Schema 0 of a note had `body` instead of `text` and no visibility flags.
    let mut old = casebook::store::conformance::event(
        "TicketNoteAdded",
        serde_json::json!({ "NoteAdded": { "body": "legacy note" } }),
    );
    old.schema_version = 0;
    store
        .append(
            &stream_of::<Ticket>(&t).unwrap(),
            ExpectedVersion::Exact(1),
            vec![old],
        )
        .unwrap();
    let upcasters = Upcasters::new().register("TicketNoteAdded", 0, 1, |mut v| {
        let inner = v
            .get_mut("NoteAdded")
            .and_then(|n| n.as_object_mut())
            .ok_or("no NoteAdded object")?;
        let body = inner.remove("body").ok_or("no body")?;
        inner.insert("text".into(), body);
        inner.insert("customer_visible".into(), false.into());
        inner.insert("by_staff".into(), true.into());
        Ok(v)
    });
    let engine = Engine::builder(store.clone()).upcasters(upcasters).build();
    let history = engine.history(&stream_of::<Ticket>(&t).unwrap()).unwrap();
    let event: TicketEvent = engine.decode(&history[1]).unwrap();
    assert_eq!(
        event,
        TicketEvent::NoteAdded {
            text: "legacy note".into(),
            customer_visible: false,
            by_staff: true
        }
    );
    assert!(engine.ticket(t).is_ok());
    // Without the upcaster the same event is a typed decode error.
    let plain = Engine::builder(store).build();
    assert!(matches!(plain.ticket(t), Err(EngineError::Decode { .. })));
}

#[test]
fn snapshots_shorten_loads_and_are_only_a_cache() {
    snapshots_are_a_cache(Arc::new(MemoryStore::new()));
}

#[test]
fn snapshots_on_sled_shorten_loads_and_are_only_a_cache() {
    let (store, _dir) = sled_store();
    snapshots_are_a_cache(store);
}

fn snapshots_are_a_cache(store: Arc<dyn EventStore>) {
    let desk = Desk::on(store.clone());
    let t = desk.open();
    let engine = Engine::builder(store.clone())
        .options(EngineOptions {
            snapshot_every: 10,
            ..EngineOptions::standard()
        })
        .build();
    for i in 0..35 {
        engine.execute(&desk.sup, (t, note(i))).unwrap();
    }
    let stream = stream_of::<Ticket>(&t).unwrap();
    let snapshot = store
        .load_snapshot(&stream)
        .unwrap()
        .expect("a snapshot was written");
    assert!(snapshot.version >= 30, "snapshot at {}", snapshot.version);
    let history = engine.history(&stream).unwrap();
    let folded: Ticket = casebook::core::fold(
        history
            .iter()
            .map(|e| (engine.decode::<TicketEvent>(e).unwrap(), e.recorded_at))
            .collect::<Vec<_>>()
            .iter()
            .map(|(e, at)| (e, *at)),
    );
    let fresh = Engine::builder(store.clone()).build();
    assert_eq!(
        fresh.ticket(t).unwrap(),
        folded,
        "snapshot + tail equals the full fold"
    );
    store.clear_snapshots().unwrap();
    let fresh = Engine::builder(store.clone()).build();
    assert_eq!(
        fresh.ticket(t).unwrap(),
        folded,
        "deleting snapshots loses nothing"
    );
    // A snapshot of another state encoding is ignored, not trusted.
    store
        .save_snapshot(&Snapshot {
            stream_id: stream.clone(),
            version: 36,
            schema_version: 999,
            state: Payload::from_json("{\"junk\":true}").unwrap(),
        })
        .unwrap();
    let fresh = Engine::builder(store).build();
    assert_eq!(fresh.ticket(t).unwrap(), folded);
}

#[test]
fn correlation_and_causation_are_on_every_event() {
    let desk = Desk::new();
    let t = desk.open();
    let cause = Uuid::now_v7();
    let corr = Uuid::now_v7();
    let out = desk
        .engine
        .execute_with(
            &desk.sup,
            (t, crate::support::triage(Severity::High, Urgency::Urgent)),
            CommandMeta {
                correlation_id: Some(corr),
                causation_id: Some(cause),
            },
        )
        .unwrap();
    assert_eq!(out.len(), 2);
    assert!(out
        .iter()
        .all(|e| e.correlation_id == corr && e.causation_id == Some(cause)));
    let plain = desk.run(&desk.sup, t, note(1)).unwrap();
    assert!(plain[0].causation_id.is_some());
    assert_ne!(plain[0].correlation_id, corr);
}

#[test]
fn the_manual_clock_never_goes_backwards() {
    let desk = Desk::new();
    let now = desk.clock.now();
    assert!(desk.clock.set(now - Duration::seconds(1)).is_err());
    assert!(desk.clock.advance(Duration::minutes(-5)).is_err());
    assert_eq!(
        desk.clock.now(),
        now,
        "a refused move leaves the clock as it was"
    );
    desk.advance(Duration::hours(2));
    let t = desk.open();
    let history = desk
        .engine
        .history(&stream_of::<Ticket>(&t).unwrap())
        .unwrap();
    assert_eq!(
        history[0].recorded_at,
        now + Duration::hours(2),
        "events carry the engine clock's time"
    );
}

#[test]
fn the_state_equals_the_fold_of_the_stored_events() {
    let desk = Desk::new();
    let t = desk.ticket_at(Stage::Closed);
    let history = desk
        .engine
        .history(&stream_of::<Ticket>(&t).unwrap())
        .unwrap();
    let events: Vec<(TicketEvent, _)> = history
        .iter()
        .map(|e| (desk.engine.decode(e).unwrap(), e.recorded_at))
        .collect();
    let folded: Ticket = casebook::core::fold(events.iter().map(|(e, at)| (e, *at)));
    assert_eq!(desk.engine.ticket(t).unwrap(), folded);
}

/// Two engines on one store: each decides on its cached state without reading the
/// store first, so a refusal or a no-op on a state another engine has since changed
/// must be checked against the store before it is answered.
#[test]
fn a_stale_cache_never_refuses_or_drops_a_command_another_engine_made_valid() {
    let desk = Desk::new();
    let other = Engine::builder(desk.engine.store().clone())
        .clock(desk.clock.clone())
        .build();
    let t = desk.open();
    // Both engines have the ticket cached, untriaged.
    desk.engine.ticket(t).unwrap();
    other.ticket(t).unwrap();
    other
        .execute(
            &desk.sup,
            (t, crate::support::triage(Severity::High, Urgency::Normal)),
        )
        .unwrap();
    // On desk.engine's cached (untriaged) state a diagnosis is refused; on the
    // store's it is accepted.
    let recorded = desk
        .engine
        .execute(&desk.sup, (t, crate::support::diagnose()))
        .unwrap();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].stream_version, 3);

    // An assignment that is a no-op on the stale state but not on the store's.
    let assign = |owner: &str| TicketCommand::Assign {
        owner: crate::support::member(owner),
        team: "network".into(),
    };
    desk.engine.execute(&desk.sup, (t, assign("sup"))).unwrap();
    other.ticket(t).unwrap();
    other.execute(&desk.pm, (t, assign("sec"))).unwrap();
    let again = desk.engine.execute(&desk.sup, (t, assign("sup"))).unwrap();
    assert_eq!(again.len(), 1, "the reassignment back was recorded");
    let ticket = Engine::builder(desk.engine.store().clone())
        .build()
        .ticket(t)
        .unwrap();
    assert_eq!(ticket.owner, Some(crate::support::member("sup")));
    // A real refusal is still a refusal after the check.
    let err = desk
        .engine
        .execute(
            &desk.sup,
            (t, crate::support::triage(Severity::Low, Urgency::Normal)),
        )
        .unwrap_err();
    assert!(err.rejection().is_some(), "{err}");
}
