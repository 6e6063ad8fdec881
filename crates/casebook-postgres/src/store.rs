//! [`PgStore`]: the [`EventStore`] on PostgreSQL.

use std::time::{Duration, Instant};

use casebook_store::limits::{check_append, check_page};
use casebook_store::{
    AppendOutcome, Checkpoint, Envelope, EventStore, ExpectedVersion, NewEvent, Payload, Snapshot,
    StoreError, StreamId,
};
use chrono::{DateTime, Datelike, Utc};
use postgres::fallible_iterator::FallibleIterator;
use postgres::Row;
use uuid::Uuid;

use crate::error::{map, CONFLICT_SQLSTATE};
use crate::group::{Bounds, Gather, GroupCommit};
use crate::options::PgOptions;
use crate::pool::{Conn, Lease, Pool};

/// The PostgreSQL [`EventStore`].
///
/// Cheap to share: wrap it in an `Arc` and hand it to every thread. Each call leases a
/// connection from the store's own bounded pool (see [`PgOptions::max_connections`])
/// and returns it at the end; a connection that broke is replaced by a fresh one on a
/// later call.
///
/// Appends of threads sharing one store are group-committed: while one group of appends
/// runs, the appends that arrive queue up, and the next group carries them all in one
/// transaction with one commit, each with its own expected version and its own result
/// (see [`PgStore::group_commit_stats`] and [`crate::global_order`]). A lone append runs
/// at once.
///
/// Durability: an append is acknowledged after PostgreSQL commits it, so it is as
/// durable as the server's `synchronous_commit` and `fsync` settings make commits.
pub struct PgStore {
    pool: Pool,
    /// The appends of this process. The server serialises every append on the position
    /// counter, held through its commit's WAL flush (see [`crate::global_order`]), so
    /// concurrent appends cannot share flushes on the server as plain INSERTs do; this
    /// queue makes them share one transaction instead.
    appends: GroupCommit<Member, MemberResult>,
}

/// Most appends in one group. The server runs a group's members in subtransactions when
/// one of them fails, and PostgreSQL tracks up to 64 subtransactions per session in
/// shared memory before every snapshot in the database gets slower.
const GROUP_MEMBERS: usize = 32;

/// Most weight (see [`Member::weight`]) in one group: a statement of a few megabytes and
/// at most 8,192 events. (Should a row fail, the server redoes the group member by
/// member, each pass reading all the group's events.) A single append heavier than this
/// still runs, alone.
const GROUP_WEIGHT: usize = 2 << 20;

/// How long a group's leader may wait for as many appends as the last group carried:
/// a quarter of that group's running time, so gathering never costs more than a
/// quarter of a commit, and never more than 2 ms (a group slowed by a lock or a lost
/// connection must not hold up the next writers as long; see `group.rs`).
const GATHER: Gather = Gather {
    numerator: 1,
    denominator: 4,
    ceiling: std::time::Duration::from_millis(2),
};

/// How the appends of one [`PgStore`] were grouped into transactions since it opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GroupCommitStats {
    /// Groups run: one transaction and one commit each.
    pub groups: u64,
    /// Appends carried by those groups.
    pub appends: u64,
    /// The most appends one group carried.
    pub largest_group: usize,
    /// Appends waiting right now for the group in flight to finish.
    pub queued: usize,
}

/// One caller's append, as queued for a group.
struct Member {
    stream: StreamId,
    expected: ExpectedVersion,
    /// `expected` for `append_group`: -1 for any, else the exact version (0: no stream).
    expected_sql: i64,
    args: AppendArgs,
}

impl Member {
    /// A rough size of the member in the group's statement, in bytes.
    fn weight(&self) -> usize {
        let payloads: usize = self.args.payloads.iter().map(String::len).sum();
        payloads + 256 * self.args.event_ids.len()
    }
}

/// A member's first global position and new stream version, or its error.
type MemberResult = Result<(i64, i64), StoreError>;

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("schema", &self.pool.options().schema())
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects, creates the schema if it does not exist, and applies the migrations it
    /// is missing.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] if the server cannot be reached (refused connection,
    /// connect timeout); [`StoreError::UnsupportedFormat`] if the schema was migrated by a
    /// newer build; [`StoreError::Backend`] for other server errors.
    pub fn open(options: PgOptions) -> Result<Self, StoreError> {
        let mut client = crate::pool::connect(&options)?;
        crate::migrations::migrate(&mut client, options.schema())?;
        let first = Conn::prepare(client)?;
        Ok(PgStore {
            pool: Pool::new(options, first),
            appends: GroupCommit::new(Bounds {
                members: GROUP_MEMBERS,
                weight: GROUP_WEIGHT,
                gather: GATHER,
            }),
        })
    }

    /// How this store's appends were grouped so far: a mean group size
    /// (`appends / groups`) well above one means concurrent appends shared commits.
    pub fn group_commit_stats(&self) -> GroupCommitStats {
        let c = self.appends.counters();
        GroupCommitStats {
            groups: c.groups,
            appends: c.members,
            largest_group: c.largest,
            queued: c.queued,
        }
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &PgOptions {
        self.pool.options()
    }

    /// Blocks until the global log's head is past `after` or `timeout` elapses, and
    /// returns the head position (which is `<= after` only on timeout).
    ///
    /// Subscribers call it between reads: read with [`EventStore::read_all`] from their
    /// position, and when a read comes back empty, wait here. It LISTENs on the store's
    /// channel before checking the head, so a commit after the check always wakes it; it
    /// also re-checks the head at least every [`PgOptions::poll_interval`], so a lost
    /// notification delays a subscriber by at most that long. It holds one pooled
    /// connection while it waits.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] if the server cannot be reached or the connection
    /// dropped while waiting (the broken connection is replaced: calling again is the
    /// way to resume); backend errors.
    pub fn wait_for_events(&self, after: u64, timeout: Duration) -> Result<u64, StoreError> {
        let deadline = Instant::now() + timeout;
        let listen = format!("LISTEN \"{}\"", self.options().channel());
        let poll = self.options().poll_interval;
        let mut lease = self.pool.get()?;
        let conn = lease.conn()?;
        let result = (|| {
            conn.client.batch_execute(&listen)?;
            loop {
                // Anything already queued is covered by the head check that follows.
                {
                    let mut pending = conn.client.notifications();
                    while pending.iter().next()?.is_some() {}
                }
                let head = query_head(conn)?;
                let now = Instant::now();
                if head > after || now >= deadline {
                    return Ok(head);
                }
                let wait = (deadline - now).min(poll);
                conn.client.notifications().timeout_iter(wait).next()?;
            }
        })();
        let unlisten = conn.client.batch_execute("UNLISTEN *");
        match (result, unlisten) {
            (Ok(head), Ok(())) => Ok(head),
            (Ok(head), Err(e)) => {
                // The head is right, but the session may still be listening: drop it.
                lease.note(&e);
                lease.mark_broken();
                Ok(head)
            }
            (Err(e), _) => {
                lease.note(&e);
                Err(map(e, "waiting for events"))
            }
        }
    }

    /// Runs `f` on a pooled connection. `f` must be idempotent (a read or an upsert), so
    /// when the connection turns out to be dead (closed by the server while idle, for
    /// instance) it is retried once on a fresh connection. Appends never come here.
    fn idempotent<T>(
        &self,
        what: &str,
        f: impl Fn(&mut Conn) -> Result<T, ReadError>,
    ) -> Result<T, StoreError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut lease = self.pool.get()?;
            match f(lease.conn()?) {
                Ok(v) => return Ok(v),
                Err(ReadError::Store(e)) => return Err(e),
                Err(ReadError::Pg(e)) => {
                    lease.note(&e);
                    let broken = crate::error::connection_is_broken(&e);
                    if !(broken && attempt < 2) {
                        return Err(map(e, what));
                    }
                }
            }
        }
    }

    /// Runs one group of appends as one statement (one transaction) and returns each
    /// member's result, in member order.
    fn run_group(&self, mut members: Vec<Member>) -> Vec<MemberResult> {
        let mut lease = match self.pool.get() {
            Ok(lease) => lease,
            Err(e) => return members.iter().map(|_| Err(copy_error(&e))).collect(),
        };
        if members.len() == 1 {
            if let Some(member) = members.pop() {
                return vec![self.run_alone(&mut lease, member)];
            }
        }
        let events: usize = members.iter().map(|m| m.args.event_ids.len()).sum();
        // The server takes the members sorted by stream id, byte order (the order it
        // locks the streams in); a stable sort keeps the members of one stream in the
        // order their callers queued. The results go back in queue order at the end.
        let mut sorted: Vec<(usize, Member)> = members.into_iter().enumerate().collect();
        sorted.sort_by(|(_, a), (_, b)| a.stream.as_str().cmp(b.stream.as_str()));
        let mut streams = Vec::with_capacity(sorted.len());
        let mut expected = Vec::with_capacity(sorted.len());
        let mut counts = Vec::with_capacity(sorted.len());
        let mut ids = Vec::with_capacity(sorted.len());
        let mut all = AppendArgs::with_capacity(events);
        for (queued, m) in sorted {
            streams.push(m.stream.as_str().to_string());
            expected.push(m.expected_sql);
            // At most MAX_EVENTS_PER_APPEND (checked before queueing).
            counts.push(i32::try_from(m.args.event_ids.len()).unwrap_or(i32::MAX));
            all.extend(m.args);
            ids.push((queued, m.stream, m.expected));
        }
        let in_queue_order = |mut results: Vec<(usize, MemberResult)>| {
            results.sort_by_key(|(queued, _)| *queued);
            results.into_iter().map(|(_, r)| r).collect()
        };
        let channel = self.options().channel();
        let conn = match lease.conn() {
            Ok(conn) => conn,
            Err(e) => {
                return in_queue_order(
                    ids.iter()
                        .map(|(q, ..)| (*q, Err(copy_error(&e))))
                        .collect(),
                )
            }
        };
        let result = conn.client.query(
            &conn.stmts.append_group,
            &[
                &channel,
                &streams,
                &expected,
                &counts,
                &all.event_ids,
                &all.event_types,
                &all.schema_versions,
                &all.recorded_at,
                &all.recorded_at_ns,
                &all.actors,
                &all.tenants,
                &all.correlation_ids,
                &all.causation_ids,
                &all.payloads,
                &all.personal_data,
                &all.payload_crc32s,
            ],
        );
        let rows = match result {
            Ok(rows) => rows,
            Err(e) => {
                lease.note(&e);
                return in_queue_order(
                    ids.iter()
                        .map(|(q, stream, _)| (*q, Err(group_error(&e, stream))))
                        .collect(),
                );
            }
        };
        drop(lease);
        if rows.len() != ids.len() {
            return in_queue_order(
                ids.iter()
                    .map(|(q, stream, _)| {
                        let e = StoreError::Backend(format!(
                            "append to {stream}: the group of {} appends committed but \
                             returned {} results",
                            ids.len(),
                            rows.len()
                        ));
                        (*q, Err(e))
                    })
                    .collect(),
            );
        }
        in_queue_order(
            ids.iter()
                .zip(&rows)
                .enumerate()
                .map(|(i, ((q, stream, expected), row))| {
                    (*q, member_result(i, stream, *expected, row))
                })
                .collect(),
        )
    }

    /// A group of one: the same steps for one append, by `append_events`, which skips
    /// the bookkeeping of members and measured about a third cheaper on the server.
    /// A refused append fails the statement (so its transaction) and comes back as the
    /// statement's error.
    fn run_alone(&self, lease: &mut Lease<'_>, m: Member) -> MemberResult {
        let channel = self.options().channel();
        let conn = lease.conn()?;
        let a = &m.args;
        let result = conn.client.query_one(
            &conn.stmts.append,
            &[
                &m.stream.as_str(),
                &m.expected_sql,
                &channel,
                &a.event_ids,
                &a.event_types,
                &a.schema_versions,
                &a.recorded_at,
                &a.recorded_at_ns,
                &a.actors,
                &a.tenants,
                &a.correlation_ids,
                &a.causation_ids,
                &a.payloads,
                &a.personal_data,
                &a.payload_crc32s,
            ],
        );
        let err = match result {
            Ok(row) => {
                let read = |e| {
                    map(
                        e,
                        &format!("reading the result of an append to {}", m.stream),
                    )
                };
                return Ok((row.try_get(0).map_err(read)?, row.try_get(1).map_err(read)?));
            }
            Err(e) => e,
        };
        let db = match err.as_db_error() {
            Some(db) if !crate::error::connection_is_broken(&err) => db,
            _ => {
                lease.note(&err);
                return Err(group_error(&err, &m.stream));
            }
        };
        let code = db.code().code();
        let actual = match (code, db.constraint()) {
            (CONFLICT_SQLSTATE, _) => db.detail().and_then(|d| d.parse::<u64>().ok()),
            // The statement failed, but the session is fine: ask it.
            (UNIQUE_VIOLATION, Some("events_stream_version_key")) => conn
                .client
                .query_opt(&conn.stmts.stream_version, &[&m.stream.as_str()])
                .ok()
                .map(|row| row.and_then(|r| r.try_get::<_, i64>(0).ok()).unwrap_or(0))
                .and_then(|v| u64::try_from(v).ok()),
            _ => None,
        };
        Err(append_failure(
            &m.stream,
            m.expected,
            &Failure {
                code,
                message: db.message(),
                detail: db.detail(),
                constraint: db.constraint(),
                actual,
            },
        ))
    }
}

/// One member's row of `append_group` as its result.
fn member_result(
    index: usize,
    stream: &StreamId,
    expected: ExpectedVersion,
    row: &Row,
) -> MemberResult {
    let bad = |e: postgres::Error| {
        StoreError::Backend(format!(
            "append to {stream}: unreadable result of its group, which committed: {e}"
        ))
    };
    let member: i32 = row.try_get(0).map_err(bad)?;
    if usize::try_from(member).ok() != Some(index + 1) {
        return Err(StoreError::Backend(format!(
            "append to {stream}: its group, which committed, answered for member {member} \
             in place of {}",
            index + 1
        )));
    }
    let first: Option<i64> = row.try_get(1).map_err(bad)?;
    let version: Option<i64> = row.try_get(2).map_err(bad)?;
    if let (Some(first), Some(version)) = (first, version) {
        return Ok((first, version));
    }
    let actual: Option<i64> = row.try_get(3).map_err(bad)?;
    let code: Option<String> = row.try_get(4).map_err(bad)?;
    let message: Option<String> = row.try_get(5).map_err(bad)?;
    let detail: Option<String> = row.try_get(6).map_err(bad)?;
    let constraint: Option<String> = row.try_get(7).map_err(bad)?;
    Err(append_failure(
        stream,
        expected,
        &Failure {
            code: code.as_deref().unwrap_or_default(),
            message: message.as_deref().unwrap_or_default(),
            detail: detail.as_deref(),
            constraint: constraint.as_deref(),
            actual: actual.and_then(|a| u64::try_from(a).ok()),
        },
    ))
}

/// Why the server refused one append, whether as a member's row of `append_group` or as
/// the error of `append_events`.
struct Failure<'a> {
    code: &'a str,
    message: &'a str,
    detail: Option<&'a str>,
    constraint: Option<&'a str>,
    /// The stream's version when the append was refused, where known.
    actual: Option<u64>,
}

/// The typed error of an append the server refused; nothing of it was written.
fn append_failure(stream: &StreamId, expected: ExpectedVersion, f: &Failure<'_>) -> StoreError {
    let conflict = |actual| StoreError::Conflict {
        stream: stream.to_string(),
        expected,
        actual,
    };
    match (f.code, f.constraint, f.actual) {
        (CONFLICT_SQLSTATE, _, Some(actual)) => conflict(actual),
        (UNIQUE_VIOLATION, Some("events_event_id_key"), _) => StoreError::InvalidAppend {
            stream: stream.to_string(),
            reason: format!(
                "an event id of the batch is already recorded: {}",
                f.detail.unwrap_or_default()
            ),
        },
        // Only if the head table was bypassed: the log already has that version.
        (UNIQUE_VIOLATION, Some("events_stream_version_key"), Some(actual)) => conflict(actual),
        (code, _, _) => crate::error::from_sqlstate(
            code,
            format!(
                "append to {stream}: {} (SQLSTATE {code}{})",
                f.message,
                f.detail.map(|d| format!(", {d}")).unwrap_or_default()
            ),
        ),
    }
}

/// The error of every member of a group whose statement failed as a whole.
fn group_error(err: &postgres::Error, stream: &StreamId) -> StoreError {
    if crate::error::connection_is_broken(err) {
        // The session is gone: the reply, not necessarily the commit, was lost.
        return StoreError::Unavailable(format!(
            "append to {stream}: {err}; the append either committed whole or not at all"
        ));
    }
    // The statement failed, so its transaction rolled back.
    crate::error::map_ref(err, &format!("append to {stream}"))
}

/// The same error again, for each member of a group that failed before it ran.
fn copy_error(err: &StoreError) -> StoreError {
    match err {
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        other => StoreError::Backend(other.to_string()),
    }
}

const UNIQUE_VIOLATION: &str = "23505";

/// A failure inside a read: from the server (maybe retried) or already typed.
enum ReadError {
    Pg(postgres::Error),
    Store(StoreError),
}

impl From<postgres::Error> for ReadError {
    fn from(e: postgres::Error) -> Self {
        ReadError::Pg(e)
    }
}

impl From<StoreError> for ReadError {
    fn from(e: StoreError) -> Self {
        ReadError::Store(e)
    }
}

fn query_head(conn: &mut Conn) -> Result<u64, postgres::Error> {
    let row = conn.client.query_one(&conn.stmts.head_position, &[])?;
    let head: i64 = row.try_get(0)?;
    // The column has CHECK (position >= 0).
    Ok(u64::try_from(head).unwrap_or(0))
}

/// The columns of one append, one array per column, in the order of `append_events`.
struct AppendArgs {
    event_ids: Vec<Uuid>,
    event_types: Vec<String>,
    schema_versions: Vec<i64>,
    recorded_at: Vec<DateTime<Utc>>,
    recorded_at_ns: Vec<i32>,
    actors: Vec<String>,
    tenants: Vec<Option<String>>,
    correlation_ids: Vec<Uuid>,
    causation_ids: Vec<Option<Uuid>>,
    payloads: Vec<String>,
    personal_data: Vec<String>,
    payload_crc32s: Vec<i64>,
}

/// Earliest year PostgreSQL's `timestamptz` holds (4713 BC).
const MIN_TIMESTAMPTZ_YEAR: i32 = -4712;

impl AppendArgs {
    fn with_capacity(n: usize) -> Self {
        AppendArgs {
            event_ids: Vec::with_capacity(n),
            event_types: Vec::with_capacity(n),
            schema_versions: Vec::with_capacity(n),
            recorded_at: Vec::with_capacity(n),
            recorded_at_ns: Vec::with_capacity(n),
            actors: Vec::with_capacity(n),
            tenants: Vec::with_capacity(n),
            correlation_ids: Vec::with_capacity(n),
            causation_ids: Vec::with_capacity(n),
            payloads: Vec::with_capacity(n),
            personal_data: Vec::with_capacity(n),
            payload_crc32s: Vec::with_capacity(n),
        }
    }

    /// Appends `other`'s columns after these.
    fn extend(&mut self, other: AppendArgs) {
        self.event_ids.extend(other.event_ids);
        self.event_types.extend(other.event_types);
        self.schema_versions.extend(other.schema_versions);
        self.recorded_at.extend(other.recorded_at);
        self.recorded_at_ns.extend(other.recorded_at_ns);
        self.actors.extend(other.actors);
        self.tenants.extend(other.tenants);
        self.correlation_ids.extend(other.correlation_ids);
        self.causation_ids.extend(other.causation_ids);
        self.payloads.extend(other.payloads);
        self.personal_data.extend(other.personal_data);
        self.payload_crc32s.extend(other.payload_crc32s);
    }

    fn new(stream: &StreamId, events: &[NewEvent]) -> Result<Self, StoreError> {
        let mut a = AppendArgs::with_capacity(events.len());
        for e in events {
            let text_fields = [Some(&e.event_type), Some(&e.actor), e.tenant.as_ref()];
            if text_fields.into_iter().flatten().any(|f| f.contains('\0')) {
                return Err(StoreError::InvalidAppend {
                    stream: stream.to_string(),
                    reason: format!(
                        "event {} has a NUL character in its type, actor or tenant, which \
                         PostgreSQL text cannot store",
                        e.event_id
                    ),
                });
            }
            if e.recorded_at.year() < MIN_TIMESTAMPTZ_YEAR {
                return Err(StoreError::Encode(format!(
                    "recorded_at {} of event {} is before 4713 BC, which PostgreSQL cannot store",
                    e.recorded_at, e.event_id
                )));
            }
            // timestamptz keeps microseconds; the nanoseconds below them go beside it.
            let sub_micro = e.recorded_at.timestamp_subsec_nanos() % 1_000;
            let truncated = e.recorded_at - chrono::Duration::nanoseconds(i64::from(sub_micro));
            a.event_ids.push(e.event_id);
            a.event_types.push(e.event_type.clone());
            a.schema_versions.push(i64::from(e.schema_version));
            a.recorded_at.push(truncated);
            a.recorded_at_ns.push(i32::try_from(sub_micro).unwrap_or(0));
            a.actors.push(e.actor.clone());
            a.tenants.push(e.tenant.clone());
            a.correlation_ids.push(e.correlation_id);
            a.causation_ids.push(e.causation_id);
            a.payloads.push(e.payload.as_str().to_string());
            a.personal_data.push(
                serde_json::to_string(&e.personal_data)
                    .map_err(|err| StoreError::Encode(format!("personal data pointers: {err}")))?,
            );
            a.payload_crc32s
                .push(i64::from(crc32fast::hash(e.payload.as_str().as_bytes())));
        }
        Ok(a)
    }
}

/// Decodes one `events` row (columns as in `read_all.sql`), checking everything.
fn decode_event(row: &Row) -> Result<Envelope, StoreError> {
    let position: i64 = row
        .try_get(0)
        .map_err(|e| corrupt("events", "global_position", &e))?;
    let at = format!("events at global position {position}");
    let col = |e: postgres::Error, name: &str| corrupt(&at, name, &e);
    let stream_text: String = row.try_get(1).map_err(|e| col(e, "stream_id"))?;
    let stream_id = StreamId::parse(stream_text).map_err(|e| StoreError::Corrupt {
        location: at.clone(),
        detail: format!("stream_id does not parse: {e}"),
    })?;
    let stream_version: i64 = row.try_get(2).map_err(|e| col(e, "stream_version"))?;
    let event_id: Uuid = row.try_get(3).map_err(|e| col(e, "event_id"))?;
    let event_type: String = row.try_get(4).map_err(|e| col(e, "event_type"))?;
    let schema_version: i64 = row.try_get(5).map_err(|e| col(e, "schema_version"))?;
    let recorded_at: DateTime<Utc> = row.try_get(6).map_err(|e| col(e, "recorded_at"))?;
    let recorded_at_ns: i32 = row.try_get(7).map_err(|e| col(e, "recorded_at_ns"))?;
    let actor: String = row.try_get(8).map_err(|e| col(e, "actor"))?;
    let tenant: Option<String> = row.try_get(9).map_err(|e| col(e, "tenant"))?;
    let correlation_id: Uuid = row.try_get(10).map_err(|e| col(e, "correlation_id"))?;
    let causation_id: Option<Uuid> = row.try_get(11).map_err(|e| col(e, "causation_id"))?;
    let payload_text: String = row.try_get(12).map_err(|e| col(e, "payload"))?;
    let personal_text: String = row.try_get(13).map_err(|e| col(e, "personal_data"))?;
    let crc: i64 = row.try_get(14).map_err(|e| col(e, "payload_crc32"))?;

    let bad = |detail: String| StoreError::Corrupt {
        location: at.clone(),
        detail,
    };
    let actual_crc = i64::from(crc32fast::hash(payload_text.as_bytes()));
    if actual_crc != crc {
        return Err(bad(format!(
            "payload checksum mismatch: stored {crc}, computed {actual_crc}"
        )));
    }
    let payload = Payload::from_json(payload_text).map_err(|e| bad(format!("payload: {e}")))?;
    let personal_data: Vec<String> = serde_json::from_str(&personal_text)
        .map_err(|e| bad(format!("personal_data is not a JSON array of strings: {e}")))?;
    let global_position =
        u64::try_from(position).map_err(|_| bad("negative global position".into()))?;
    let stream_version =
        u64::try_from(stream_version).map_err(|_| bad("negative stream version".into()))?;
    let schema_version = u32::try_from(schema_version)
        .map_err(|_| bad(format!("schema_version {schema_version} out of range")))?;
    if !(0..1_000).contains(&recorded_at_ns) {
        return Err(bad(format!("recorded_at_ns {recorded_at_ns} out of range")));
    }
    let recorded_at = recorded_at + chrono::Duration::nanoseconds(i64::from(recorded_at_ns));
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
        integrity: None,
    })
}

fn corrupt(location: &str, column: &str, err: &postgres::Error) -> StoreError {
    StoreError::Corrupt {
        location: location.to_string(),
        detail: format!("column {column}: {err}"),
    }
}

/// `after` as a SQL bigint; `None` when nothing can lie beyond it.
fn after_sql(after: u64) -> Option<i64> {
    i64::try_from(after).ok()
}

impl EventStore for PgStore {
    fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, StoreError> {
        check_append(stream.as_str(), &events)?;
        let args = AppendArgs::new(stream, &events)?;
        let expected_sql: i64 = match expected {
            ExpectedVersion::Any => -1,
            ExpectedVersion::NoStream => 0,
            ExpectedVersion::Exact(v) => match i64::try_from(v) {
                Ok(v) => v,
                Err(_) => {
                    // No stream can be at such a version.
                    return Err(StoreError::Conflict {
                        stream: stream.to_string(),
                        expected,
                        actual: self.stream_version(stream)?,
                    });
                }
            },
        };
        let member = Member {
            stream: stream.clone(),
            expected,
            expected_sql,
            args,
        };
        let weight = member.weight();
        // The group's statement runs in one transaction: each member commits whole or
        // not at all, together with the group.
        let (first, version) = self.appends.submit(
            member,
            weight,
            |group| self.run_group(group),
            || {
                Err(StoreError::Unavailable(
                    "append: the thread running its group commit failed; the append either \
                     committed whole or not at all"
                        .into(),
                ))
            },
        )?;
        let count = events.len() as u64;
        let (Ok(first), Ok(version)) = (u64::try_from(first), u64::try_from(version)) else {
            return Err(StoreError::Backend(format!(
                "append to {stream} returned negative positions ({first}, {version})"
            )));
        };
        let base_version = version.saturating_sub(count);
        let recorded = events
            .into_iter()
            .enumerate()
            .map(|(i, new)| {
                Envelope::from_new(
                    stream.clone(),
                    base_version + 1 + i as u64,
                    first + i as u64,
                    new,
                )
            })
            .collect();
        Ok(AppendOutcome {
            recorded,
            stream_version: version,
        })
    }

    fn read_stream(
        &self,
        stream: &StreamId,
        after: u64,
        max_count: usize,
    ) -> Result<Vec<Envelope>, StoreError> {
        check_page(max_count)?;
        let Some(after) = after_sql(after) else {
            return Ok(Vec::new());
        };
        if max_count == 0 {
            return Ok(Vec::new());
        }
        let limit = max_count as i64;
        self.idempotent("reading a stream", |conn| {
            let rows = conn
                .client
                .query(&conn.stmts.read_stream, &[&stream.as_str(), &after, &limit])?;
            Ok(rows
                .iter()
                .map(decode_event)
                .collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn read_all(&self, after: u64, max_count: usize) -> Result<Vec<Envelope>, StoreError> {
        check_page(max_count)?;
        let Some(after) = after_sql(after) else {
            return Ok(Vec::new());
        };
        if max_count == 0 {
            return Ok(Vec::new());
        }
        let limit = max_count as i64;
        self.idempotent("reading the global log", |conn| {
            let rows = conn.client.query(&conn.stmts.read_all, &[&after, &limit])?;
            Ok(rows
                .iter()
                .map(decode_event)
                .collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn stream_version(&self, stream: &StreamId) -> Result<u64, StoreError> {
        self.idempotent("reading a stream version", |conn| {
            let row = conn
                .client
                .query_opt(&conn.stmts.stream_version, &[&stream.as_str()])?;
            let Some(row) = row else { return Ok(0) };
            let v: i64 = row.try_get(0)?;
            Ok(u64::try_from(v).map_err(|_| StoreError::Corrupt {
                location: format!("streams row of {stream}"),
                detail: format!("negative version {v}"),
            })?)
        })
    }

    fn head_position(&self) -> Result<u64, StoreError> {
        self.idempotent("reading the head position", |conn| Ok(query_head(conn)?))
    }

    fn load_snapshot(&self, stream: &StreamId) -> Result<Option<Snapshot>, StoreError> {
        self.idempotent("loading a snapshot", |conn| {
            let Some(row) = conn
                .client
                .query_opt(&conn.stmts.load_snapshot, &[&stream.as_str()])?
            else {
                return Ok(None);
            };
            let at = format!("snapshot of {stream}");
            let version: i64 = row.try_get(1)?;
            let schema_version: i64 = row.try_get(2)?;
            let state: String = row.try_get(3)?;
            let bad = |detail: String| StoreError::Corrupt {
                location: at.clone(),
                detail,
            };
            Ok(Some(Snapshot {
                stream_id: stream.clone(),
                version: u64::try_from(version)
                    .map_err(|_| bad(format!("negative version {version}")))?,
                schema_version: u32::try_from(schema_version)
                    .map_err(|_| bad(format!("schema_version {schema_version} out of range")))?,
                state: Payload::from_json(state).map_err(|e| bad(format!("state: {e}")))?,
            }))
        })
    }

    fn save_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        let version = i64::try_from(snapshot.version).map_err(|_| {
            StoreError::Encode(format!("snapshot version {} too large", snapshot.version))
        })?;
        let schema_version = i64::from(snapshot.schema_version);
        self.idempotent("saving a snapshot", |conn| {
            conn.client.execute(
                &conn.stmts.save_snapshot,
                &[
                    &snapshot.stream_id.as_str(),
                    &version,
                    &schema_version,
                    &snapshot.state.as_str(),
                ],
            )?;
            Ok(())
        })
    }

    fn clear_snapshots(&self) -> Result<(), StoreError> {
        self.idempotent("clearing snapshots", |conn| {
            conn.client.execute(&conn.stmts.clear_snapshots, &[])?;
            Ok(())
        })
    }

    fn load_checkpoint(&self, name: &str) -> Result<Option<Checkpoint>, StoreError> {
        self.idempotent("loading a checkpoint", |conn| {
            let Some(row) = conn
                .client
                .query_opt(&conn.stmts.load_checkpoint, &[&name])?
            else {
                return Ok(None);
            };
            let at = format!("checkpoint {name:?}");
            let position: i64 = row.try_get(1)?;
            let state: String = row.try_get(2)?;
            let bad = |detail: String| StoreError::Corrupt {
                location: at.clone(),
                detail,
            };
            Ok(Some(Checkpoint {
                name: name.to_string(),
                position: u64::try_from(position)
                    .map_err(|_| bad(format!("negative position {position}")))?,
                state: Payload::from_json(state).map_err(|e| bad(format!("state: {e}")))?,
            }))
        })
    }

    fn save_checkpoint(&self, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        let position = i64::try_from(checkpoint.position).map_err(|_| {
            StoreError::Encode(format!(
                "checkpoint position {} too large",
                checkpoint.position
            ))
        })?;
        self.idempotent("saving a checkpoint", |conn| {
            conn.client.execute(
                &conn.stmts.save_checkpoint,
                &[
                    &checkpoint.name.as_str(),
                    &position,
                    &checkpoint.state.as_str(),
                ],
            )?;
            Ok(())
        })
    }
}
