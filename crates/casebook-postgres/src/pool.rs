//! A small bounded connection pool of the store's own.
//!
//! `postgres::Client` is synchronous and used by one caller at a time, while
//! [`casebook_store::EventStore`] is `Send + Sync` and shared across threads. The pool
//! keeps idle connections in a `Mutex<Vec<_>>` and opens new ones on demand up to
//! [`crate::PgOptions::max_connections`]; a caller beyond that waits on a condition
//! variable up to the checkout timeout. A lease hands its connection back when dropped,
//! unless the connection broke while leased (dropped by the server, terminated by an
//! administrator, a socket error): then it is closed and forgotten together with every
//! idle connection (a dead session usually means a restarted server, so the idle ones are
//! probably dead too), and later callers open fresh ones. That is how the store keeps
//! working after connections die.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use casebook_store::StoreError;
use postgres::{Client, NoTls, Statement};

use crate::options::PgOptions;

/// The statements of the store, prepared once per connection.
pub(crate) struct Statements {
    pub(crate) append: Statement,
    pub(crate) append_group: Statement,
    pub(crate) read_all: Statement,
    pub(crate) read_stream: Statement,
    pub(crate) stream_version: Statement,
    pub(crate) head_position: Statement,
    pub(crate) load_snapshot: Statement,
    pub(crate) save_snapshot: Statement,
    pub(crate) clear_snapshots: Statement,
    pub(crate) load_checkpoint: Statement,
    pub(crate) save_checkpoint: Statement,
}

/// One session of the store: its client and its prepared statements.
pub(crate) struct Conn {
    pub(crate) client: Client,
    pub(crate) stmts: Statements,
}

impl Conn {
    /// Prepares the store's statements on a connected session whose schema exists.
    pub(crate) fn prepare(mut client: Client) -> Result<Self, StoreError> {
        let mut p = |sql: &str| {
            client
                .prepare(sql)
                .map_err(|e| crate::error::map(e, "preparing statements"))
        };
        let stmts = Statements {
            append: p(include_str!("../sql/append.sql"))?,
            append_group: p(include_str!("../sql/append_group.sql"))?,
            read_all: p(include_str!("../sql/read_all.sql"))?,
            read_stream: p(include_str!("../sql/read_stream.sql"))?,
            stream_version: p(include_str!("../sql/stream_version.sql"))?,
            head_position: p(include_str!("../sql/head_position.sql"))?,
            load_snapshot: p(include_str!("../sql/load_snapshot.sql"))?,
            save_snapshot: p(include_str!("../sql/save_snapshot.sql"))?,
            clear_snapshots: p(include_str!("../sql/clear_snapshots.sql"))?,
            load_checkpoint: p(include_str!("../sql/load_checkpoint.sql"))?,
            save_checkpoint: p(include_str!("../sql/save_checkpoint.sql"))?,
        };
        Ok(Conn { client, stmts })
    }
}

/// Opens one session: connect, then pin the search path and the statement timeout.
///
/// # Errors
///
/// [`StoreError::Unavailable`] if the server cannot be reached or refuses the session.
pub(crate) fn connect(options: &PgOptions) -> Result<Client, StoreError> {
    let mut client = options
        .config
        .connect(NoTls)
        .map_err(|e| StoreError::Unavailable(format!("cannot connect to PostgreSQL: {e}")))?;
    // The schema name was checked to be a plain lowercase identifier.
    let mut setup = format!("SET search_path TO \"{}\";", options.schema);
    if let Some(timeout) = options.statement_timeout {
        setup.push_str(&format!(
            "SET statement_timeout = {};",
            timeout.as_millis().max(1)
        ));
    }
    client
        .batch_execute(&setup)
        .map_err(|e| crate::error::map(e, "setting up the session"))?;
    Ok(client)
}

struct State {
    idle: Vec<Conn>,
    /// Connections in existence: idle plus leased plus being opened.
    open: usize,
}

/// The pool. See the module documentation.
pub(crate) struct Pool {
    options: PgOptions,
    state: Mutex<State>,
    returned: Condvar,
}

impl Pool {
    /// A pool that starts with one already prepared connection.
    pub(crate) fn new(options: PgOptions, first: Conn) -> Self {
        Pool {
            options,
            state: Mutex::new(State {
                idle: vec![first],
                open: 1,
            }),
            returned: Condvar::new(),
        }
    }

    pub(crate) fn options(&self) -> &PgOptions {
        &self.options
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is two plain fields updated in single steps: a panic elsewhere
        // cannot leave it inconsistent, so a poisoned lock is still good.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes an idle connection, opens a new one if under the bound, or waits.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] if no connection frees up within the checkout timeout
    /// or a new one cannot be opened.
    pub(crate) fn get(&self) -> Result<Lease<'_>, StoreError> {
        let deadline = Instant::now() + self.options.checkout_timeout;
        let mut state = self.lock();
        loop {
            if let Some(conn) = state.idle.pop() {
                return Ok(Lease {
                    pool: self,
                    conn: Some(conn),
                    broken: false,
                });
            }
            if state.open < self.options.max_connections {
                state.open += 1;
                drop(state);
                return match connect(&self.options).and_then(Conn::prepare) {
                    Ok(conn) => Ok(Lease {
                        pool: self,
                        conn: Some(conn),
                        broken: false,
                    }),
                    Err(e) => {
                        self.lock().open -= 1;
                        self.returned.notify_one();
                        Err(e)
                    }
                };
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(StoreError::Unavailable(format!(
                    "all {} pooled connections stayed busy for {:?}",
                    self.options.max_connections, self.options.checkout_timeout
                )));
            }
            state = self
                .returned
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// A leased connection; goes back to the pool on drop unless it broke.
pub(crate) struct Lease<'a> {
    pool: &'a Pool,
    conn: Option<Conn>,
    broken: bool,
}

impl Lease<'_> {
    /// The connection. Always present while the lease lives.
    pub(crate) fn conn(&mut self) -> Result<&mut Conn, StoreError> {
        self.conn
            .as_mut()
            .ok_or_else(|| StoreError::Backend("pool lease used after release".into()))
    }

    /// Marks the connection unusable: it will be closed instead of returned.
    pub(crate) fn mark_broken(&mut self) {
        self.broken = true;
    }

    /// Looks at an error from this connection and marks it broken if it is.
    pub(crate) fn note(&mut self, err: &postgres::Error) {
        if crate::error::connection_is_broken(err) {
            self.broken = true;
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        let usable = !self.broken && !conn.client.is_closed();
        let mut state = self.pool.lock();
        let stale = if usable {
            state.idle.push(conn);
            Vec::new()
        } else {
            // A dead connection usually means the server restarted or an administrator
            // terminated sessions: the idle ones are likely dead too, and handing them
            // out would fail the next callers one by one. Close them all; fresh ones are
            // opened on demand.
            let mut stale = std::mem::take(&mut state.idle);
            state.open = state.open.saturating_sub(1 + stale.len());
            stale.push(conn);
            stale
        };
        drop(state);
        // Closing sends a goodbye on each socket; do it outside the lock.
        drop(stale);
        self.pool.returned.notify_all();
    }
}
