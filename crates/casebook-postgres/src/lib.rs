//! The PostgreSQL storage adapter of Casebook, for several application instances that
//! share one desk.
//!
//! [`PgStore`] implements [`casebook_store::EventStore`] with the synchronous `postgres`
//! client and passes the contract's conformance suite against a real server. What it
//! adds to the trait:
//!
//! - [`PgOptions`]: the connection string, the schema the store lives in (several
//!   stores can share one database), the pool bound and the timeouts, all explicit.
//! - [`PgStore::wait_for_events`]: a blocking wait for new events for subscribers, woken
//!   by LISTEN/NOTIFY and falling back to polling with a bound.
//! - Group commit: appends from threads sharing one store, arriving while another group
//!   of appends runs, share one transaction and one commit, each with its own expected
//!   version and its own result ([`PgStore::group_commit_stats`]).
//! - Versioned migrations applied on open; a schema written by a newer build is refused
//!   with [`casebook_store::StoreError::UnsupportedFormat`] ([`SCHEMA_VERSION`]).
//!
//! How global positions stay gap-free and in commit order, so that no reader skips an
//! event, is argued in [`global_order`]. The SQL lives in the crate's `sql/` directory.
//!
//! # Quickstart
//!
//! ```
//! use casebook_postgres::{PgOptions, PgStore};
//! use casebook_store::conformance::event;
//! use casebook_store::{EventStore, ExpectedVersion, StreamId};
//! use std::time::Duration;
//!
//! // e.g. CASEBOOK_PG_URL="host=127.0.0.1 port=5432 user=postgres dbname=test"
//! let Ok(url) = std::env::var("CASEBOOK_PG_URL") else {
//!     eprintln!("skipped: CASEBOOK_PG_URL not set");
//!     return Ok(());
//! };
//! let schema = format!("doc_quickstart_{}", std::process::id());
//! let store = PgStore::open(PgOptions::new(&url, &schema)?.max_connections(4))?;
//!
//! let ticket = StreamId::new("ticket", "T-1")?;
//! let out = store.append(
//!     &ticket,
//!     ExpectedVersion::NoStream,
//!     vec![event("TicketOpened", serde_json::json!({ "title": "VPN down" }))],
//! )?;
//! assert_eq!(out.stream_version, 1);
//!
//! // A subscriber: read from its position, wait when there is nothing new.
//! let page = store.read_all(0, 100)?;
//! assert_eq!(page.len(), 1);
//! let head = store.wait_for_events(0, Duration::from_secs(1))?;
//! assert_eq!(head, 1);
//!
//! # drop(store);
//! # let mut admin = postgres::Client::connect(&url, postgres::NoTls)
//! #     .map_err(|e| casebook_store::StoreError::Backend(e.to_string()))?;
//! # admin.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
//! #     .map_err(|e| casebook_store::StoreError::Backend(e.to_string()))?;
//! # Ok::<(), casebook_store::StoreError>(())
//! ```

mod error;
mod group;
mod migrations;
mod options;
mod pool;
mod store;

pub use migrations::SCHEMA_VERSION;
pub use options::{PgOptions, MAX_SCHEMA_NAME_BYTES};
pub use store::{GroupCommitStats, PgStore};

pub mod global_order {
    //! Why the global order is gap-free and why no reader can skip an event.
    //!
    //! # The problem
    //!
    //! A PostgreSQL sequence hands out numbers when a transaction asks, not when it
    //! commits. Writer A takes 7, writer B takes 8, B commits first; a subscriber polling
    //! `global_position > 6` reads 8 and moves its checkpoint to 8; then A commits 7,
    //! which the subscriber never reads. A rolled-back transaction also burns its
    //! sequence numbers, leaving gaps (the contract wants 1, 2, 3, ... without gaps).
    //!
    //! # The design
    //!
    //! The store keeps a single-row counter, `log_head(position)`. Every append runs in
    //! a group: one statement (the `append_group` function, so one transaction) carrying
    //! one or more appends, its *members*, sorted by stream id (byte order), the members
    //! of one stream in the order their callers queued them (see
    //! [Group commit](#group-commit)). A group of one runs `append_events` instead, which
    //! takes the same steps for a single append without the bookkeeping of members (and
    //! raises its error rather than returning it). The statement:
    //!
    //! 1. locks the head row in `streams` of every stream of the group: first it inserts
    //!    a row at version 0 for each stream that has none (`ON CONFLICT DO NOTHING`; the
    //!    insert is the lock, and it waits for another transaction inserting the same
    //!    stream), then it locks all the group's head rows (`SELECT ... FOR UPDATE`),
    //!    each step in byte order of the ids: writers on one stream queue here, writers
    //!    on different streams pass in parallel;
    //! 2. checks each member's expected version, in member order, against its stream as
    //!    the members before it left it; a member that fails is answered with its
    //!    stream's version then and takes no part in what follows. It writes the
    //!    streams' new versions (they do not depend on positions);
    //! 3. `UPDATE log_head SET position = position + n RETURNING ...`, `n` being the
    //!    events of the members that passed: this takes the counter row's lock, held
    //!    until the transaction commits or rolls back, and yields the positions
    //!    `old + 1 ..= old + n`, handed out to those members in member order;
    //! 4. inserts their events in one multi-row insert, inside a subtransaction. If a row
    //!    fails (a duplicate event id), that subtransaction rolls back and the members
    //!    are redone one by one, each in a subtransaction of its own: a failing member is
    //!    rolled back alone and reported with its error, the members after it are checked
    //!    again and numbered on from the last position actually used, and the counter
    //!    (still locked) and the stream versions are set to what was used;
    //! 5. deletes the head rows it created and did not use, sends one `pg_notify` with
    //!    the new head, and commits.
    //!
    //! # Why it is sound
    //!
    //! - **Gap-free.** The counter is an ordinary row. If the group rolls back (error,
    //!   dropped connection, statement timeout), its update of the counter rolls back
    //!   with it, and the next writer, which was waiting for the row lock, reads the old
    //!   value again. Within a committed group, positions go only to members whose rows
    //!   are inserted, contiguously, and the counter ends at the last of them (step 4).
    //!   No number is handed out except to an event that commits.
    //! - **Positions in commit order.** A transaction gets its positions only once it
    //!   holds the counter's row lock, and the lock is released only when the previous
    //!   holder's transaction has ended. Under READ COMMITTED the waiting `UPDATE` then
    //!   re-reads the newest committed row version, so it continues exactly after the
    //!   previous transaction's last position. Hence if T1 got lower positions than T2,
    //!   T1 committed (or aborted) before T2 even got its positions, so before T2
    //!   committed. All members of a group commit together, at once.
    //! - **No reader skips an event.** PostgreSQL makes a transaction visible to new
    //!   snapshots before it releases its locks at commit. So when a reader's snapshot
    //!   sees T2's events, T2 committed before the snapshot was taken; T1 (lower
    //!   positions) committed before T2 got the lock, so the snapshot sees T1 too. Every
    //!   snapshot therefore sees a prefix `1..=h` of the log, never a set with a hole.
    //!   A subscriber that has read up to `last` and asks for `global_position > last`
    //!   can never later find an event at or below `last` that it has not seen.
    //! - **Agrees with stream order.** Within a stream, versions are assigned under the
    //!   stream's row lock, which is taken before the counter's and held to commit, so a
    //!   later version of a stream in another transaction always gets a later position;
    //!   within a group, the members of one stream are applied in member order and get
    //!   increasing positions in that same order.
    //! - **No deadlock.** Every transaction takes its stream rows before the counter, so
    //!   no one waits for a stream row while holding the counter. Among stream rows: a
    //!   group inserts the missing ones in byte order, then locks them all in byte order;
    //!   it waits in the first step only for rows another transaction inserted and has
    //!   not committed (a `FOR UPDATE` cannot see those, and whoever inserted them first
    //!   made every later inserter of the same ids wait), and in the second only for rows
    //!   locked in another's second step, so waits within each step follow byte order
    //!   and cannot close a cycle. `append_events`, the single-append function of schema
    //!   version 1 that is still in the schema, takes one stream row and then the
    //!   counter.
    //!
    //! The price is that commits of all writers are serialised on one row: the lock is
    //! held from step 3 through the commit's WAL flush. Throughput is therefore bounded
    //! by about one commit latency per *group* (batches amortise it too: one append
    //! carries up to a thousand events). The alternative, a sequence plus readers that
    //! only read below `pg_snapshot_xmin` of the oldest open transaction, allows parallel
    //! commits but makes readers wait behind any long transaction in the database and
    //! still leaves gaps; the counter was chosen for being simple and gap-free.
    //!
    //! # Group commit
    //!
    //! Raw INSERTs from many sessions share WAL flushes (PostgreSQL's own group commit);
    //! appends holding the counter through their flush cannot. So a
    //! [`crate::PgStore`] groups the appends of the threads sharing it: an append that
    //! finds no group running runs at once, as a group of one (no timer, no waiting for
    //! company); appends that arrive while a group runs queue, and when every caller of
    //! the running group has its result, the next group carries all of them (at most
    //! 32 appends and a few megabytes), in the order they queued. Each caller gets its
    //! own result back: its positions and version, or its own typed error (a conflict
    //! with its stream's actual version, a duplicate event id), which no other member
    //! shares. An error that fails the whole statement (a dropped connection, a
    //! statement timeout) fails every member of the group alike, and each of them
    //! either committed whole or not at all, with the group.
    //! [`crate::PgStore::group_commit_stats`] tells how big the groups were. Appends of
    //! different processes, or of different `PgStore`s, are not grouped with each
    //! other: they take turns on the counter, one commit each.
    //!
    //! # Notification
    //!
    //! `pg_notify` runs inside the group's transaction, once, so one notification is
    //! sent per commit if and only if the group commits, after it is visible.
    //! [`crate::PgStore::wait_for_events`] LISTENs before it reads the head, so it cannot
    //! miss a commit that happens after its check; a lost notification (the listener's
    //! connection dropped, say) costs at most one poll interval.
    //!
    //! # Caveat
    //!
    //! The argument holds for reads from the primary. A hot standby replays commits in
    //! WAL order and is fine too, but an asynchronous replica may lag: a subscriber
    //! reading a replica sees an older prefix, still without holes.
}
