//! Tests of the PostgreSQL adapter against a real server.
//!
//! They need `CASEBOOK_PG_URL` (for example `host=127.0.0.1 port=5432 user=postgres
//! dbname=test`); without it each test says `skipped: CASEBOOK_PG_URL not set` and
//! passes. Tests run in parallel in one database: each one works in a fresh schema of
//! its own and drops it at the end.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use casebook_postgres::{PgOptions, PgStore, SCHEMA_VERSION};
use casebook_store::conformance::{self, event};
use casebook_store::{
    read_stream_to_end_global, AppendOutcome, EventStore, ExpectedVersion, Hooked, Hooks, NewEvent,
    StoreError, StreamId,
};
use chrono::{TimeZone, Utc};
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, NoTls};

const URL_VAR: &str = "CASEBOOK_PG_URL";
const ROLE_VAR: &str = "CASEBOOK_PG_ROLE";

fn url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            eprintln!("skipped: CASEBOOK_PG_URL not set");
            None
        }
    }
}

fn admin(url: &str) -> Client {
    Client::connect(url, NoTls).expect("admin connection")
}

/// A uniquely named schema, dropped (with everything in it) when this goes away.
struct TestSchema {
    url: String,
    name: String,
}

impl TestSchema {
    fn new(url: &str, tag: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!("cbt_{tag}_{}_{n}_{nanos:x}", std::process::id());
        assert!(
            name.len() <= casebook_postgres::MAX_SCHEMA_NAME_BYTES,
            "{name}"
        );
        TestSchema {
            url: url.to_string(),
            name,
        }
    }

    fn options(&self) -> PgOptions {
        PgOptions::new(&self.url, &self.name).unwrap()
    }

    fn open(&self) -> PgStore {
        PgStore::open(self.options()).unwrap()
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        if let Ok(mut c) = Client::connect(&self.url, NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name));
        }
    }
}

/// The schema lives as long as the store that uses it: as the store's (no-op) hooks,
/// it is dropped with the store, for the conformance suite's factory.
impl Hooks for TestSchema {}

fn events(n: usize) -> Vec<NewEvent> {
    (0..n)
        .map(|i| event("Tested", serde_json::json!({ "i": i })))
        .collect()
}

fn stream(name: &str) -> StreamId {
    StreamId::new("test", name).unwrap()
}

/// Polls `check` until it yields a value. This waits for a condition in another session
/// (a backend to block on a lock); the bound only turns a hang into a failure.
fn wait_until<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let give_up = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < give_up, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn passes_the_conformance_suite() {
    let Some(url) = url() else { return };
    conformance::run_all(|| {
        let schema = TestSchema::new(&url, "conf");
        Hooked::new(schema.open(), schema)
    });
}

#[test]
fn a_refused_connection_is_unavailable() {
    // Nothing listens on port 1; no server is needed for this test.
    let options = PgOptions::new(
        "host=127.0.0.1 port=1 user=postgres dbname=test",
        "casebook",
    )
    .unwrap()
    .connect_timeout(Duration::from_secs(2));
    let err = PgStore::open(options).unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
}

#[test]
fn reopening_keeps_the_data_and_a_newer_schema_is_refused() {
    let Some(url) = url() else { return };
    let schema = TestSchema::new(&url, "ver");
    {
        let store = schema.open();
        store
            .append(&stream("a"), ExpectedVersion::NoStream, events(2))
            .unwrap();
    }
    // Reopening applies nothing and loses nothing.
    let store = schema.open();
    assert_eq!(store.head_position().unwrap(), 2);
    drop(store);
    let mut c = admin(&url);
    let applied: i64 = c
        .query_one(
            &format!("SELECT count(*) FROM \"{}\".schema_version", schema.name),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(applied, i64::from(SCHEMA_VERSION));

    c.execute(
        &format!(
            "INSERT INTO \"{}\".schema_version (version) VALUES ($1)",
            schema.name
        ),
        &[&(SCHEMA_VERSION + 1)],
    )
    .unwrap();
    let err = PgStore::open(schema.options()).unwrap_err();
    match err {
        StoreError::UnsupportedFormat { found, .. } => {
            assert!(found.contains(&(SCHEMA_VERSION + 1).to_string()), "{found}")
        }
        other => panic!("expected UnsupportedFormat, got {other}"),
    }
}

#[test]
fn stores_opened_at_once_on_a_fresh_schema_migrate_it_once() {
    let Some(url) = url() else { return };
    let schema = TestSchema::new(&url, "race");
    std::thread::scope(|scope| {
        for t in 0..4 {
            let schema = &schema;
            scope.spawn(move || {
                let store = schema.open();
                store
                    .append(
                        &stream(&format!("s{t}")),
                        ExpectedVersion::NoStream,
                        events(1),
                    )
                    .unwrap();
            });
        }
    });
    let store = schema.open();
    let positions: Vec<u64> = store
        .read_all(0, 10)
        .unwrap()
        .iter()
        .map(|e| e.global_position)
        .collect();
    assert_eq!(positions, vec![1, 2, 3, 4]);
}

#[test]
fn corrupt_rows_are_typed_errors() {
    let Some(url) = url() else { return };
    let schema = TestSchema::new(&url, "corrupt");
    let store = schema.open();
    let s = stream("c");
    store
        .append(&s, ExpectedVersion::NoStream, events(3))
        .unwrap();
    let mut c = admin(&url);
    let table = format!("\"{}\".events", schema.name);
    // Not JSON at all, checksum left as it was.
    c.execute(
        &format!("UPDATE {table} SET payload = '{{\"broken' WHERE global_position = 1"),
        &[],
    )
    .unwrap();
    for err in [
        store.read_all(0, 10).unwrap_err(),
        store.read_stream(&s, 0, 10).unwrap_err(),
    ] {
        match err {
            StoreError::Corrupt { location, .. } => {
                assert!(location.contains("global position 1"), "{location}")
            }
            other => panic!("expected Corrupt, got {other}"),
        }
    }
    // Still JSON but not what was written: the checksum catches it.
    c.execute(
        &format!("UPDATE {table} SET payload = '{{\"i\": 99}}' WHERE global_position = 2"),
        &[],
    )
    .unwrap();
    let err = store.read_all(1, 10).unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { detail, .. } if detail.contains("checksum")),
        "{err}"
    );
    // A stream id that does not parse, and personal data that is not a JSON array.
    c.execute(
        &format!("UPDATE {table} SET stream_id = 'NoColon', personal_data = '{{' WHERE global_position = 3"),
        &[],
    )
    .unwrap();
    let err = store.read_all(2, 10).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    // The store itself is fine: the head and new appends work.
    assert_eq!(store.head_position().unwrap(), 3);
    store
        .append(&stream("d"), ExpectedVersion::NoStream, events(1))
        .unwrap();
    assert_eq!(store.read_all(3, 10).unwrap().len(), 1);
}

/// Holds the `log_head` row lock in an open transaction of another session, so that an
/// append blocks inside its transaction until this is released.
fn hold_position_counter<'a>(client: &'a mut Client, schema: &str) -> postgres::Transaction<'a> {
    let mut tx = client.transaction().unwrap();
    tx.query(
        &format!("SELECT position FROM \"{schema}\".log_head FOR UPDATE"),
        &[],
    )
    .unwrap();
    tx
}

#[test]
fn a_statement_timeout_is_a_typed_error_and_writes_nothing() {
    let Some(url) = url() else { return };
    let schema = TestSchema::new(&url, "timeout");
    let store = PgStore::open(
        schema
            .options()
            .statement_timeout(Some(Duration::from_millis(200))),
    )
    .unwrap();
    store
        .append(&stream("warm"), ExpectedVersion::NoStream, events(2))
        .unwrap();
    let mut blocker = admin(&url);
    let tx = hold_position_counter(&mut blocker, &schema.name);
    // The append waits for the counter inside its transaction until the server cancels it.
    let err = store
        .append(&stream("t"), ExpectedVersion::NoStream, events(3))
        .unwrap_err();
    tx.rollback().unwrap();
    assert!(
        matches!(&err, StoreError::Unavailable(m) if m.contains("57014")),
        "{err}"
    );
    assert_eq!(store.head_position().unwrap(), 2, "nothing half-written");
    assert_eq!(store.stream_version(&stream("t")).unwrap(), 0);
    let out = store
        .append(&stream("t"), ExpectedVersion::NoStream, events(1))
        .unwrap();
    assert_eq!(out.recorded[0].global_position, 3, "no position burnt");
}

/// The backend of application `app` (other than `not`) waiting on a lock, if any.
fn waiting_on_a_lock(admin: &mut Client, app: &str, not: Option<i32>) -> Option<i32> {
    admin
        .query_opt(
            "SELECT pid FROM pg_stat_activity \
             WHERE application_name = $1 AND wait_event_type = 'Lock' \
             AND pid IS DISTINCT FROM $2",
            &[&app, &not],
        )
        .unwrap()
        .map(|row| row.get(0))
}

/// Kills a backend as a lost connection would, and checks that it was.
fn terminate(admin: &mut Client, pid: i32) {
    let killed: bool = admin
        .query_one("SELECT pg_terminate_backend($1)", &[&pid])
        .unwrap()
        .get(0);
    assert!(killed, "backend {pid} was not terminated");
}

/// A store on a fresh schema whose connections carry an application name of their own
/// (so a test can find and kill them), at most two, with two events already appended.
fn warm_store_to_kill(url: &str, label: &str) -> (TestSchema, String, PgStore) {
    let schema = TestSchema::new(url, label);
    let app = format!("{}_app", schema.name);
    let store = PgStore::open(schema.options().application_name(&app).max_connections(2)).unwrap();
    store
        .append(&stream("warm"), ExpectedVersion::NoStream, events(2))
        .unwrap();
    (schema, app, store)
}

#[test]
fn a_connection_killed_mid_append_is_unavailable_and_the_store_recovers() {
    let Some(url) = url() else { return };
    let (schema, app, store) = warm_store_to_kill(&url, "kill");
    let mut blocker = admin(&url);
    let tx = hold_position_counter(&mut blocker, &schema.name);
    let mut killer = admin(&url);
    let result = std::thread::scope(|scope| {
        let appender =
            scope.spawn(|| store.append(&stream("k"), ExpectedVersion::NoStream, events(3)));
        // Find the appender's backend once it waits for the counter, inside its
        // transaction with the stream row already written, and terminate it.
        let pid: i32 = wait_until("the append to block on the counter", || {
            assert!(!appender.is_finished(), "the append did not block");
            waiting_on_a_lock(&mut killer, &app, None)
        });
        terminate(&mut killer, pid);
        appender.join().unwrap()
    });
    tx.rollback().unwrap();
    let err = result.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    // Not at all: no event, no stream row, no position.
    assert_eq!(store.head_position().unwrap(), 2);
    assert_eq!(store.stream_version(&stream("k")).unwrap(), 0);
    assert_eq!(store.read_all(0, 10).unwrap().len(), 2);
    // The broken connection was replaced; everything keeps working, gap-free.
    let out = store
        .append(&stream("k"), ExpectedVersion::NoStream, events(3))
        .unwrap();
    let positions: Vec<u64> = out.recorded.iter().map(|e| e.global_position).collect();
    assert_eq!(positions, vec![3, 4, 5]);
}

#[test]
fn idle_connections_killed_by_the_server_are_replaced() {
    let Some(url) = url() else { return };
    let schema = TestSchema::new(&url, "idle");
    let app = format!("{}_app", schema.name);
    let store = PgStore::open(schema.options().application_name(&app)).unwrap();
    store
        .append(&stream("a"), ExpectedVersion::NoStream, events(1))
        .unwrap();
    let mut killer = admin(&url);
    let killed = killer
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            &[&app],
        )
        .unwrap();
    assert!(!killed.is_empty());
    // A read on the dead connection is retried on a fresh one.
    assert_eq!(store.read_all(0, 10).unwrap().len(), 1);
    store
        .append(&stream("a"), ExpectedVersion::Exact(1), events(1))
        .unwrap();
    assert_eq!(store.head_position().unwrap(), 2);
}

#[test]
fn wait_for_events_wakes_on_append_and_times_out_quietly() {
    let Some(url) = url() else { return };
    let schema = TestSchema::new(&url, "wait");
    let store = schema.open();
    assert_eq!(
        store.wait_for_events(0, Duration::from_millis(20)).unwrap(),
        0,
        "nothing to wait for: returns the head after the timeout"
    );
    std::thread::scope(|scope| {
        let waiter = scope.spawn(|| store.wait_for_events(0, Duration::from_secs(60)));
        store
            .append(&stream("w"), ExpectedVersion::NoStream, events(2))
            .unwrap();
        assert_eq!(waiter.join().unwrap().unwrap(), 2);
    });
    // Already past `after`: returns at once.
    assert_eq!(
        store.wait_for_events(1, Duration::from_secs(60)).unwrap(),
        2
    );
}

#[test]
fn wait_for_events_falls_back_to_polling_when_no_notification_comes() {
    let Some(url) = url() else { return };
    let schema = TestSchema::new(&url, "poll");
    let store = PgStore::open(schema.options().poll_interval(Duration::from_millis(20))).unwrap();
    let mut other = admin(&url);
    other
        .batch_execute(&format!("SET search_path TO \"{}\"", schema.name))
        .unwrap();
    std::thread::scope(|scope| {
        let waiter = scope.spawn(|| store.wait_for_events(0, Duration::from_secs(60)));
        // An append that notifies another channel: only polling can see it.
        other
            .execute(
                "SELECT * FROM append_events('test:silent', -1, 'elsewhere',
                    ARRAY[gen_random_uuid()], ARRAY['Silent'], ARRAY[1::bigint],
                    ARRAY[now()], ARRAY[0], ARRAY['member:x'], ARRAY[NULL::text],
                    ARRAY[gen_random_uuid()], ARRAY[NULL::uuid], ARRAY['{}'], ARRAY['[]'],
                    ARRAY[$1::bigint])",
                &[&i64::from(crc32fast::hash(b"{}"))],
            )
            .unwrap();
        assert_eq!(waiter.join().unwrap().unwrap(), 1);
    });
    assert_eq!(store.read_all(0, 10).unwrap()[0].event_type, "Silent");
}

#[test]
fn more_threads_than_connections_share_the_pool() {
    let Some(url) = url() else { return };
    let schema = TestSchema::new(&url, "pool");
    let store = PgStore::open(schema.options().max_connections(2)).unwrap();
    std::thread::scope(|scope| {
        for t in 0..8 {
            let store = &store;
            scope.spawn(move || {
                let s = stream(&format!("p{t}"));
                for i in 0..10 {
                    store
                        .append(&s, ExpectedVersion::Exact(i), events(1))
                        .unwrap();
                    store.read_stream(&s, 0, 100).unwrap();
                }
            });
        }
    });
    assert_eq!(store.head_position().unwrap(), 80);
}

#[test]
fn bad_appends_are_typed_errors_and_timestamps_round_trip() {
    let Some(url) = url() else { return };
    let schema = TestSchema::new(&url, "bad");
    let store = schema.open();
    let s = stream("b");
    let mut first = events(1);
    first[0].recorded_at = Utc.timestamp_opt(1_767_225_600, 123_456_789).unwrap();
    let out = store
        .append(&s, ExpectedVersion::NoStream, first.clone())
        .unwrap();
    let read = store.read_stream(&s, 0, 10).unwrap();
    assert_eq!(read, out.recorded);
    assert_eq!(
        read[0].recorded_at, first[0].recorded_at,
        "nanoseconds kept"
    );

    // An event id already recorded.
    let mut again = events(2);
    again[1].event_id = first[0].event_id;
    let err = store
        .append(&s, ExpectedVersion::Exact(1), again)
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidAppend { .. }), "{err}");

    // A NUL in the actor, which PostgreSQL text cannot hold.
    let mut nul = events(1);
    nul[0].actor = "member:\u{0}".into();
    let err = store
        .append(&s, ExpectedVersion::Exact(1), nul)
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidAppend { .. }), "{err}");

    // An expected version no stream can have.
    let err = store
        .append(&s, ExpectedVersion::Exact(u64::MAX), events(1))
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");

    assert_eq!(store.head_position().unwrap(), 1, "nothing written");
    let out = store
        .append(&s, ExpectedVersion::Exact(1), events(1))
        .unwrap();
    assert_eq!(out.recorded[0].global_position, 2);
}

// ---------------------------------------------------------------------------------------
// Group commit: appends of threads sharing one store, run in one transaction.

/// Runs `appends` from threads of their own while a first append holds the store's group
/// commit: the blocker holds the position counter, so the first append (the leader of
/// the first group) waits on the server and every later one queues, in the order given
/// (each thread is started once the one before it is queued). Releasing the counter then
/// lets the first group commit and the queued appends run as the next group.
///
/// Returns the first append's result and the others', in order. `listen` (if given) is
/// subscribed to the store's channel before the counter is released.
fn run_queued_group(
    store: &PgStore,
    url: &str,
    schema: &str,
    appends: Vec<(StreamId, ExpectedVersion, Vec<NewEvent>)>,
    between: impl FnOnce(),
) -> (
    Result<AppendOutcome, StoreError>,
    Vec<Result<AppendOutcome, StoreError>>,
) {
    let before = store.group_commit_stats();
    let mut blocker = admin(url);
    let tx = hold_position_counter(&mut blocker, schema);
    std::thread::scope(|scope| {
        let first = scope.spawn(|| store.append(&stream("lead"), ExpectedVersion::Any, events(1)));
        wait_until("the first append to lead a group", || {
            (store.group_commit_stats().groups > before.groups).then_some(())
        });
        let mut queued = Vec::new();
        for (i, (s, expected, batch)) in appends.into_iter().enumerate() {
            queued.push(scope.spawn(move || store.append(&s, expected, batch)));
            wait_until("the append to queue", || {
                assert!(!first.is_finished(), "the first append did not wait");
                (store.group_commit_stats().queued == i + 1).then_some(())
            });
        }
        between();
        tx.rollback().unwrap();
        let first = first.join().unwrap();
        let rest = queued.into_iter().map(|h| h.join().unwrap()).collect();
        (first, rest)
    })
}

fn positions(out: &AppendOutcome) -> Vec<u64> {
    out.recorded.iter().map(|e| e.global_position).collect()
}

#[test]
fn a_group_gives_each_member_its_own_result_and_a_bad_member_harms_no_other() {
    let Some(url) = url() else { return };
    let schema = TestSchema::new(&url, "group");
    let store = schema.open();
    let seed = events(1);
    let stored_id = seed[0].event_id;
    store
        .append(&stream("seed"), ExpectedVersion::NoStream, seed)
        .unwrap();

    let x_first = events(2);
    let x_first_id = x_first[0].event_id;
    let mut y_bad = events(2);
    y_bad[1].event_id = stored_id;
    let mut xx_bad = events(1);
    xx_bad[0].event_id = x_first_id;
    let appends = vec![
        (stream("x"), ExpectedVersion::NoStream, x_first),
        // x is at 2 once the member before has run.
        (stream("x"), ExpectedVersion::NoStream, events(1)),
        (stream("x"), ExpectedVersion::Exact(2), events(1)),
        // An event id already in the log: this member fails alone...
        (stream("y"), ExpectedVersion::NoStream, y_bad),
        // ...so y is still new for the next one.
        (stream("y"), ExpectedVersion::NoStream, events(1)),
        (stream("z"), ExpectedVersion::Exact(5), events(1)),
        // An event id an earlier member of the same group wrote ("xx" sorts after "x").
        (stream("xx"), ExpectedVersion::NoStream, xx_bad),
        (stream("x"), ExpectedVersion::Exact(3), events(1)),
        (stream("v"), ExpectedVersion::Any, events(1)),
    ];
    let ids: Vec<Vec<uuid::Uuid>> = appends
        .iter()
        .map(|(_, _, b)| b.iter().map(|e| e.event_id).collect())
        .collect();
    let mut listener = admin(&url);
    let groups_before = store.group_commit_stats().groups;
    let (first, results) = run_queued_group(&store, &url, &schema.name, appends, || {
        listener
            .batch_execute(&format!("LISTEN \"{}\"", store.options().channel()))
            .unwrap();
    });

    // One transaction: the members that succeed get consecutive positions after the
    // first group's, in the order the group takes its streams (byte order of the ids:
    // v, x, xx, y, z), the members of one stream in queue order; the others get none.
    assert_eq!(positions(&first.unwrap()), vec![2]);
    let ok = |i: usize| -> AppendOutcome {
        match &results[i] {
            Ok(out) => out.clone(),
            Err(e) => panic!("member {i} failed: {e}"),
        }
    };
    assert_eq!(positions(&ok(0)), vec![4, 5]);
    assert_eq!(ok(0).stream_version, 2);
    match &results[1] {
        Err(StoreError::Conflict {
            stream,
            expected,
            actual,
        }) => {
            assert_eq!(stream, "test:x");
            assert_eq!(*expected, ExpectedVersion::NoStream);
            assert_eq!(*actual, 2);
        }
        other => panic!("member 1: expected a conflict, got {other:?}"),
    }
    assert_eq!(positions(&ok(2)), vec![6]);
    assert_eq!(ok(2).stream_version, 3);
    assert!(
        matches!(&results[3], Err(StoreError::InvalidAppend { stream, .. }) if stream == "test:y"),
        "member 3: {:?}",
        results[3]
    );
    assert_eq!(positions(&ok(4)), vec![8]);
    assert_eq!(ok(4).stream_version, 1);
    assert!(
        matches!(
            &results[5],
            Err(StoreError::Conflict {
                actual: 0,
                expected: ExpectedVersion::Exact(5),
                ..
            })
        ),
        "member 5: {:?}",
        results[5]
    );
    assert!(
        matches!(&results[6], Err(StoreError::InvalidAppend { stream, .. }) if stream == "test:xx"),
        "member 6: {:?}",
        results[6]
    );
    assert_eq!(positions(&ok(7)), vec![7]);
    assert_eq!(ok(7).stream_version, 4);
    assert_eq!(positions(&ok(8)), vec![3]);

    // The log holds exactly the successful members, as they were told.
    let log = store.read_all(0, 100).unwrap();
    assert_eq!(
        log.iter().map(|e| e.global_position).collect::<Vec<_>>(),
        (1..=8).collect::<Vec<_>>()
    );
    for i in [0, 2, 4, 7, 8] {
        for e in &ok(i).recorded {
            assert_eq!(&log[e.global_position as usize - 1], e, "member {i}");
        }
    }
    let logged: BTreeSet<uuid::Uuid> = log.iter().map(|e| e.event_id).collect();
    for i in [1, 3, 5, 6] {
        for id in &ids[i] {
            if *id != stored_id && *id != x_first_id {
                assert!(!logged.contains(id), "failed member {i} left event {id}");
            }
        }
    }
    // Stream heads: no head row for streams that only failed.
    let mut c = admin(&url);
    let heads: Vec<(String, i64)> = c
        .query(
            &format!(
                "SELECT stream_id, version FROM \"{}\".streams ORDER BY stream_id",
                schema.name
            ),
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let want: Vec<(String, i64)> = [
        ("test:lead", 1),
        ("test:seed", 1),
        ("test:v", 1),
        ("test:x", 4),
        ("test:y", 1),
    ]
    .iter()
    .map(|(s, v)| (s.to_string(), *v))
    .collect();
    assert_eq!(heads, want);
    // One statement, so one transaction, for the queued members; one for the first.
    let stats = store.group_commit_stats();
    assert_eq!(stats.groups, groups_before + 2);
    assert_eq!(stats.largest_group, 9);
    // One notification per commit, with the head after it.
    let mut heads_notified = Vec::new();
    let mut notes = listener.notifications();
    let mut it = notes.timeout_iter(Duration::from_secs(60));
    while heads_notified.last().map(String::as_str) != Some("8") {
        let n = it.next().unwrap().expect("a notification");
        heads_notified.push(n.payload().to_string());
    }
    assert_eq!(heads_notified, vec!["2", "8"]);
}

#[test]
fn a_group_that_loses_its_connection_fails_every_member_as_unavailable() {
    let Some(url) = url() else { return };
    let (schema, app, store) = warm_store_to_kill(&url, "gkill");
    let mut killer = admin(&url);
    let mut kill_the_waiting_append = |not: Option<i32>| -> i32 {
        let pid: i32 = wait_until("an append to wait for the counter", || {
            waiting_on_a_lock(&mut killer, &app, not)
        });
        terminate(&mut killer, pid);
        pid
    };
    let appends = vec![
        (stream("a"), ExpectedVersion::NoStream, events(2)),
        (stream("b"), ExpectedVersion::NoStream, events(1)),
        (stream("a"), ExpectedVersion::Exact(2), events(1)),
    ];
    // The first group (one append) and then the queued group each wait for the counter
    // on the server, and each loses its connection there.
    let mut blocker = admin(&url);
    let tx = hold_position_counter(&mut blocker, &schema.name);
    let (first, results) = std::thread::scope(|scope| {
        let first = scope.spawn(|| store.append(&stream("lead"), ExpectedVersion::Any, events(1)));
        wait_until("the first append to lead a group", || {
            (store.group_commit_stats().groups == 2).then_some(())
        });
        let mut queued = Vec::new();
        for (i, (s, expected, batch)) in appends.into_iter().enumerate() {
            let store = &store;
            queued.push(scope.spawn(move || store.append(&s, expected, batch)));
            wait_until("the append to queue", || {
                (store.group_commit_stats().queued == i + 1).then_some(())
            });
        }
        let pid = kill_the_waiting_append(None);
        let first = first.join().unwrap();
        kill_the_waiting_append(Some(pid));
        let rest: Vec<_> = queued.into_iter().map(|h| h.join().unwrap()).collect();
        (first, rest)
    });
    tx.rollback().unwrap();
    assert!(
        matches!(first, Err(StoreError::Unavailable(_))),
        "{first:?}"
    );
    assert_eq!(store.group_commit_stats().largest_group, 3);
    for r in &results {
        match r {
            Err(StoreError::Unavailable(m)) => {
                assert!(m.contains("whole or not at all"), "{m}")
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }
    // Not at all: the log, the counter and the stream heads are as before.
    assert_eq!(store.head_position().unwrap(), 2);
    assert_eq!(store.read_all(0, 10).unwrap().len(), 2);
    for s in ["lead", "a", "b"] {
        assert_eq!(store.stream_version(&stream(s)).unwrap(), 0);
    }
    let out = store
        .append(&stream("a"), ExpectedVersion::NoStream, events(2))
        .unwrap();
    assert_eq!(positions(&out), vec![3, 4]);
}

#[test]
fn threads_appending_at_once_to_shared_streams_get_exact_results_in_one_order() {
    let Some(url) = url() else { return };
    let schema = TestSchema::new(&url, "gmany");
    let store = schema.open();
    const THREADS: usize = 12;
    const APPENDS: usize = 40;
    let shared = [stream("s0"), stream("s1"), stream("s2")];

    /// One call: what was asked and what came back.
    struct Call {
        stream: StreamId,
        expected: ExpectedVersion,
        ids: Vec<uuid::Uuid>,
        result: Result<AppendOutcome, StoreError>,
    }
    let calls: Vec<Call> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (store, shared) = (&store, &shared);
                scope.spawn(move || {
                    let own = stream(&format!("own{t}"));
                    let mut own_version = 0u64;
                    let mut calls = Vec::new();
                    for i in 0..APPENDS {
                        let mut batch = events(1 + (t + i) % 3);
                        for e in &mut batch {
                            e.event_id = uuid::Uuid::now_v7();
                        }
                        let ids = batch.iter().map(|e| e.event_id).collect();
                        let (s, expected) = if i % 2 == 0 {
                            let s = shared[(t + i) % 3].clone();
                            let v = store.stream_version(&s).unwrap();
                            (s, ExpectedVersion::Exact(v))
                        } else {
                            (own.clone(), ExpectedVersion::Exact(own_version))
                        };
                        let result = store.append(&s, expected, batch);
                        if s == own {
                            // Nobody else writes this stream: never a conflict.
                            own_version = result.as_ref().unwrap().stream_version;
                        }
                        calls.push(Call {
                            stream: s,
                            expected,
                            ids,
                            result,
                        });
                    }
                    calls
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });

    let stats = store.group_commit_stats();
    eprintln!(
        "{} appends in {} groups, largest {}",
        stats.appends, stats.groups, stats.largest_group
    );
    assert_eq!(stats.appends, (THREADS * APPENDS) as u64);
    let log = read_stream_to_end_global(&store).unwrap();
    assert_eq!(
        log.iter().map(|e| e.global_position).collect::<Vec<_>>(),
        (1..=log.len() as u64).collect::<Vec<_>>(),
        "positions are gap-free"
    );
    // Every success is in the log exactly as it was told, and nothing else is.
    let mut expected_ids = BTreeSet::new();
    let mut ends: std::collections::BTreeMap<String, BTreeSet<u64>> = Default::default();
    for call in &calls {
        match &call.result {
            Ok(out) => {
                assert_eq!(
                    out.recorded.iter().map(|e| e.event_id).collect::<Vec<_>>(),
                    call.ids
                );
                for e in &out.recorded {
                    assert_eq!(&log[e.global_position as usize - 1], e);
                    expected_ids.insert(e.event_id);
                }
                let ExpectedVersion::Exact(v) = call.expected else {
                    unreachable!()
                };
                assert_eq!(out.recorded[0].stream_version, v + 1);
                ends.entry(call.stream.to_string())
                    .or_default()
                    .insert(out.stream_version);
            }
            Err(StoreError::Conflict { .. }) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    let logged: BTreeSet<uuid::Uuid> = log.iter().map(|e| e.event_id).collect();
    assert_eq!(logged.len(), log.len(), "each event once");
    assert_eq!(
        logged, expected_ids,
        "the log holds exactly the successful appends"
    );
    // Each conflict went to its own caller, with a version its stream really had.
    let mut conflicts = 0;
    for call in &calls {
        if let Err(StoreError::Conflict {
            stream,
            expected,
            actual,
        }) = &call.result
        {
            conflicts += 1;
            assert_eq!(stream, &call.stream.to_string());
            assert_eq!(*expected, call.expected);
            let ExpectedVersion::Exact(v) = call.expected else {
                unreachable!()
            };
            assert!(*actual > v, "{actual} after expecting {v}");
            assert!(
                ends.get(stream).is_some_and(|e| e.contains(actual)),
                "{stream} was never at version {actual}"
            );
        }
    }
    eprintln!("{conflicts} conflicts");
    // Stream versions are contiguous and follow the global order.
    let mut versions: std::collections::BTreeMap<String, u64> = Default::default();
    for e in &log {
        let v = versions.entry(e.stream_id.to_string()).or_default();
        assert_eq!(
            e.stream_version,
            *v + 1,
            "{} at {}",
            e.stream_id,
            e.global_position
        );
        *v = e.stream_version;
    }
    for (s, v) in &versions {
        assert_eq!(
            store
                .stream_version(&StreamId::parse(s.clone()).unwrap())
                .unwrap(),
            *v
        );
    }
}

#[test]
fn append_group_checks_its_arguments_and_a_group_of_conflicts_touches_nothing() {
    let Some(url) = url() else { return };
    let schema = TestSchema::new(&url, "gsql");
    let store = schema.open();
    store
        .append(&stream("a"), ExpectedVersion::NoStream, events(1))
        .unwrap();
    let mut c = admin(&url);
    c.batch_execute(&format!("SET search_path TO \"{}\"", schema.name))
        .unwrap();
    let crc = i64::from(crc32fast::hash(b"{}"));
    // Two members, one event each, expecting versions their streams do not have.
    let call = |c: &mut Client, streams: &str, counts: &str| {
        c.query(
            &format!(
                "SELECT member_index, first_position, actual_version, error_code
                 FROM append_group('elsewhere', {streams},
                    ARRAY[0, 3]::bigint[], {counts},
                    ARRAY[gen_random_uuid(), gen_random_uuid()], ARRAY['T', 'T'],
                    ARRAY[1, 1]::bigint[], ARRAY[now(), now()], ARRAY[0, 0],
                    ARRAY['member:x', 'member:x'], ARRAY[NULL, NULL]::text[],
                    ARRAY[gen_random_uuid(), gen_random_uuid()], ARRAY[NULL, NULL]::uuid[],
                    ARRAY['{{}}', '{{}}'], ARRAY['[]', '[]'], ARRAY[$1, $1]::bigint[])"
            ),
            &[&crc],
        )
    };
    let sorted = "ARRAY['test:a', 'test:new']";
    let rows = call(&mut c, sorted, "ARRAY[1, 1]").unwrap();
    // (member, first position, actual version, error code) of each member.
    type Answer = (i32, Option<i64>, Option<i64>, Option<String>);
    let got: Vec<Answer> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, None, Some(1), Some("CB409".to_string())),
            (2, None, Some(0), Some("CB409".to_string())),
        ]
    );
    // Counts that do not match the event arrays, a member without events, members not
    // sorted by stream.
    for (streams, counts) in [
        (sorted, "ARRAY[2, 1]"),
        (sorted, "ARRAY[1]"),
        (sorted, "ARRAY[2, 0]"),
        (sorted, "ARRAY[1, NULL]"),
        ("ARRAY['test:new', 'test:a']", "ARRAY[1, 1]"),
    ] {
        let err = call(&mut c, streams, counts).unwrap_err();
        assert_eq!(
            err.code(),
            Some(&postgres::error::SqlState::INVALID_PARAMETER_VALUE),
            "{streams} {counts}: {err}"
        );
    }
    // Nothing moved: no position, no head row for the new stream.
    assert_eq!(store.head_position().unwrap(), 1);
    let streams: i64 = c
        .query_one("SELECT count(*) FROM streams", &[])
        .unwrap()
        .get(0);
    assert_eq!(streams, 1);
}

#[test]
fn a_version_1_schema_is_upgraded_in_place() {
    let Some(url) = url() else { return };
    let schema = TestSchema::new(&url, "v1");
    let mut c = admin(&url);
    // What a build of schema version 1 left behind, with two appends in it.
    c.batch_execute(&format!(
        "CREATE SCHEMA \"{0}\"; SET search_path TO \"{0}\"; {1}; {2}; \
         INSERT INTO schema_version (version) VALUES (1);",
        schema.name,
        include_str!("../sql/schema_version.sql"),
        include_str!("../sql/migrations/0001_initial.sql"),
    ))
    .unwrap();
    for (s, expected) in [("test:a", 0i64), ("test:a", 1)] {
        c.execute(
            "SELECT * FROM append_events($1, $2, 'elsewhere',
                ARRAY[gen_random_uuid()], ARRAY['Old'], ARRAY[1::bigint],
                ARRAY[now()], ARRAY[0], ARRAY['member:x'], ARRAY[NULL::text],
                ARRAY[gen_random_uuid()], ARRAY[NULL::uuid], ARRAY['{}'], ARRAY['[]'],
                ARRAY[$3::bigint])",
            &[&s, &expected, &i64::from(crc32fast::hash(b"{}"))],
        )
        .unwrap();
    }
    let store = schema.open();
    let version: i32 = c
        .query_one("SELECT max(version) FROM schema_version", &[])
        .unwrap()
        .get(0);
    assert_eq!(version, SCHEMA_VERSION);
    let out = store
        .append(&stream("a"), ExpectedVersion::Exact(2), events(1))
        .unwrap();
    assert_eq!(positions(&out), vec![3]);
    assert_eq!(out.stream_version, 3);
    assert_eq!(store.read_all(0, 10).unwrap().len(), 3);
}

// ---------------------------------------------------------------------------------------
// Several processes: 4 writers and 2 subscribers on one store.

const MULTI_TEST: &str = "four_writer_and_two_subscriber_processes_agree_on_one_gap_free_order";
const WRITERS: usize = 4;
const APPENDS_PER_WRITER: usize = 60;

fn batch_size(i: usize) -> usize {
    1 + i % 3
}

fn events_per_writer() -> usize {
    (0..APPENDS_PER_WRITER).map(batch_size).sum()
}

#[test]
fn four_writer_and_two_subscriber_processes_agree_on_one_gap_free_order() {
    if let Ok(role) = std::env::var(ROLE_VAR) {
        return run_child(&role);
    }
    let Some(url) = url() else { return };
    let schema = TestSchema::new(&url, "multi");
    let store = schema.open();
    let dir = tempfile::tempdir().unwrap();
    let total = WRITERS * events_per_writer();
    let exe = std::env::current_exe().unwrap();
    let spawn = |role: &str, id: usize| {
        Command::new(&exe)
            .args([MULTI_TEST, "--exact", "--nocapture", "--test-threads=1"])
            .env(ROLE_VAR, role)
            .env("CASEBOOK_PG_SCHEMA", &schema.name)
            .env("CASEBOOK_PG_ID", id.to_string())
            .env("CASEBOOK_PG_TOTAL", total.to_string())
            .env("CASEBOOK_PG_OUT", dir.path().join(format!("{role}-{id}")))
            // The harness's chatter; a failing child still reports on stderr.
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut children: Vec<_> = (0..2).map(|id| spawn("subscriber", id)).collect();
    children.extend((0..WRITERS).map(|id| spawn("writer", id)));
    for mut child in children {
        let status = child.wait().unwrap();
        assert!(status.success(), "a child process failed: {status}");
    }

    let log = read_stream_to_end_global(&store).unwrap();
    let order: Vec<String> = log
        .iter()
        .map(|e| format!("{} {}", e.global_position, e.event_id))
        .collect();
    assert_eq!(
        log.iter().map(|e| e.global_position).collect::<Vec<_>>(),
        (1..=total as u64).collect::<Vec<_>>(),
        "positions are gap-free"
    );
    let mut written = Vec::new();
    for id in 0..WRITERS {
        let text = std::fs::read_to_string(dir.path().join(format!("writer-{id}"))).unwrap();
        written.extend(text.lines().map(str::to_string));
    }
    let written_set: BTreeSet<&String> = written.iter().collect();
    assert_eq!(written.len(), total);
    assert_eq!(written_set.len(), total, "every written id is distinct");
    let logged: BTreeSet<String> = log.iter().map(|e| e.event_id.to_string()).collect();
    assert_eq!(
        logged,
        written.iter().cloned().collect::<BTreeSet<_>>(),
        "the log holds exactly the written events"
    );
    for id in 0..2 {
        let text = std::fs::read_to_string(dir.path().join(format!("subscriber-{id}"))).unwrap();
        let seen: Vec<String> = text.lines().map(str::to_string).collect();
        assert_eq!(
            seen, order,
            "subscriber {id} saw every event once, in the global order"
        );
    }
}

fn child_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("child process needs {name}"))
}

fn run_child(role: &str) {
    let url = child_env(URL_VAR);
    let schema = child_env("CASEBOOK_PG_SCHEMA");
    let id: usize = child_env("CASEBOOK_PG_ID").parse().unwrap();
    let total: u64 = child_env("CASEBOOK_PG_TOTAL").parse().unwrap();
    let out = child_env("CASEBOOK_PG_OUT");
    let store = PgStore::open(
        PgOptions::new(&url, &schema)
            .unwrap()
            .max_connections(2)
            .poll_interval(Duration::from_millis(200)),
    )
    .unwrap();
    let mut lines = String::new();
    match role {
        "writer" => {
            let mut versions = [0u64; 4];
            for i in 0..APPENDS_PER_WRITER {
                // `event` numbers ids per process; other processes write too.
                let mut batch = events(batch_size(i));
                for e in &mut batch {
                    e.event_id = uuid::Uuid::now_v7();
                }
                let ids: Vec<String> = batch.iter().map(|e| e.event_id.to_string()).collect();
                if i % 5 == 0 {
                    // A stream every writer appends to: conflicts, retried.
                    let shared = stream("shared");
                    loop {
                        let v = store.stream_version(&shared).unwrap();
                        match store.append(&shared, ExpectedVersion::Exact(v), batch.clone()) {
                            Ok(_) => break,
                            Err(e) if e.is_conflict() => continue,
                            Err(e) => panic!("writer {id}: {e}"),
                        }
                    }
                } else {
                    let k = i % 4;
                    let s = stream(&format!("w{id}-{k}"));
                    let outcome = store
                        .append(&s, ExpectedVersion::Exact(versions[k]), batch)
                        .unwrap();
                    versions[k] = outcome.stream_version;
                }
                for line in ids {
                    lines.push_str(&line);
                    lines.push('\n');
                }
            }
        }
        "subscriber" => {
            let give_up = Instant::now() + Duration::from_secs(120);
            let mut last = 0u64;
            while last < total {
                let page = store.read_all(last, 7).unwrap();
                if page.is_empty() {
                    assert!(Instant::now() < give_up, "subscriber {id} stuck at {last}");
                    store.wait_for_events(last, Duration::from_secs(5)).unwrap();
                    continue;
                }
                for e in page {
                    assert_eq!(
                        e.global_position,
                        last + 1,
                        "subscriber {id} found a gap after {last}"
                    );
                    last = e.global_position;
                    lines.push_str(&format!("{} {}\n", e.global_position, e.event_id));
                }
            }
        }
        other => panic!("unknown role {other}"),
    }
    std::fs::write(out, lines).unwrap();
}
