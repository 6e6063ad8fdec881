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
use crate::options::PgOptions;
use crate::pool::{Conn, Lease, Pool};

/// The PostgreSQL [`EventStore`].
///
/// Cheap to share: wrap it in an `Arc` and hand it to every thread. Each call leases a
/// connection from the store's own bounded pool (see [`PgOptions::max_connections`])
/// and returns it at the end; a connection that broke is replaced by a fresh one on a
/// later call.
///
/// Durability: an append is acknowledged after PostgreSQL commits it, so it is as
/// durable as the server's `synchronous_commit` and `fsync` settings make commits.
pub struct PgStore {
    pool: Pool,
    /// Appends of this process go to the server one at a time. The server serialises
    /// every append on the position counter anyway (see [`crate::global_order`]);
    /// queueing on an in-process mutex is cheaper than queueing on a row lock, where
    /// each hand-over costs a lock wait and a wake-up of a backend, and it measured
    /// faster with 4 and 16 writer threads (`examples/pg_append_bench.rs`).
    append_gate: std::sync::Mutex<()>,
}

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
            append_gate: std::sync::Mutex::new(()),
        })
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

    fn append_once(
        &self,
        lease: &mut Lease<'_>,
        stream: &StreamId,
        expected: ExpectedVersion,
        args: &AppendArgs,
    ) -> Result<(i64, i64), StoreError> {
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
        let channel = self.options().channel();
        let conn = lease.conn()?;
        let result = conn.client.query_one(
            &conn.stmts.append,
            &[
                &stream.as_str(),
                &expected_sql,
                &channel,
                &args.event_ids,
                &args.event_types,
                &args.schema_versions,
                &args.recorded_at,
                &args.recorded_at_ns,
                &args.actors,
                &args.tenants,
                &args.correlation_ids,
                &args.causation_ids,
                &args.payloads,
                &args.personal_data,
                &args.payload_crc32s,
            ],
        );
        let row = match result {
            Ok(row) => row,
            Err(e) => {
                lease.note(&e);
                return Err(self.append_error(e, stream, expected));
            }
        };
        let first: i64 = row
            .try_get(0)
            .map_err(|e| map(e, "reading the append result"))?;
        let version: i64 = row
            .try_get(1)
            .map_err(|e| map(e, "reading the append result"))?;
        Ok((first, version))
    }

    fn append_error(
        &self,
        err: postgres::Error,
        stream: &StreamId,
        expected: ExpectedVersion,
    ) -> StoreError {
        let Some(db) = err.as_db_error() else {
            return StoreError::Unavailable(format!(
                "append to {stream}: {err}; the append either committed whole or not at all"
            ));
        };
        if db.code().code() == CONFLICT_SQLSTATE {
            return match db.detail().and_then(|d| d.parse::<u64>().ok()) {
                Some(actual) => StoreError::Conflict {
                    stream: stream.to_string(),
                    expected,
                    actual,
                },
                None => StoreError::Backend(format!(
                    "append to {stream}: version conflict without a readable version: {:?}",
                    db.detail()
                )),
            };
        }
        if *db.code() == postgres::error::SqlState::UNIQUE_VIOLATION {
            if db.constraint() == Some("events_event_id_key") {
                return StoreError::InvalidAppend {
                    stream: stream.to_string(),
                    reason: format!(
                        "an event id of the batch is already recorded: {}",
                        db.detail().unwrap_or("")
                    ),
                };
            }
            if db.constraint() == Some("events_stream_version_key") {
                if let Ok(actual) = self.stream_version(stream) {
                    return StoreError::Conflict {
                        stream: stream.to_string(),
                        expected,
                        actual,
                    };
                }
            }
        }
        map(err, &format!("append to {stream}"))
    }
}

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
    fn new(stream: &StreamId, events: &[NewEvent]) -> Result<Self, StoreError> {
        let n = events.len();
        let mut a = AppendArgs {
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
        };
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
        // Poisoning is harmless: the mutex guards no data.
        let _gate = self
            .append_gate
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut lease = self.pool.get()?;
        // One statement: the function runs in the statement's own transaction, so the
        // batch commits whole or not at all.
        let (first, version) = self.append_once(&mut lease, stream, expected, &args)?;
        drop(lease);
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
