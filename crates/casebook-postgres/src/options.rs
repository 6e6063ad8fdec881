//! How to reach the server and how the adapter behaves: every knob is explicit.

use std::str::FromStr;
use std::time::Duration;

use casebook_store::StoreError;

/// Longest schema name accepted. The notification channel is `casebook_<schema>` and
/// PostgreSQL identifiers stop at 63 bytes.
pub const MAX_SCHEMA_NAME_BYTES: usize = 48;

/// Options for [`crate::PgStore::open`].
///
/// Built from a libpq-style connection string (`host=127.0.0.1 port=5432 user=postgres
/// dbname=test`, or a `postgresql://` URL) and the name of the schema the store lives in,
/// then adjusted with the builder methods. Several stores (or tenants, or test cases) can
/// share one database by using different schemas.
#[derive(Debug, Clone)]
pub struct PgOptions {
    pub(crate) config: postgres::Config,
    pub(crate) schema: String,
    pub(crate) max_connections: usize,
    pub(crate) checkout_timeout: Duration,
    pub(crate) statement_timeout: Option<Duration>,
    pub(crate) poll_interval: Duration,
}

impl PgOptions {
    /// Connection string and schema name, with these defaults: at most 8 pooled
    /// connections, 5 s connect timeout (unless the string sets one), 30 s to wait for a
    /// free pooled connection, no statement timeout, and a 1 s polling bound for
    /// [`crate::PgStore::wait_for_events`].
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the connection string does not parse;
    /// [`StoreError::Backend`] if the schema name is empty, longer than
    /// [`MAX_SCHEMA_NAME_BYTES`], or not made of lowercase ASCII letters, digits and `_`
    /// starting with a letter or `_` (it is spliced into DDL, so it is kept strictly safe).
    pub fn new(connection: &str, schema: &str) -> Result<Self, StoreError> {
        let mut config = postgres::Config::from_str(connection).map_err(|e| {
            StoreError::Backend(format!("invalid PostgreSQL connection string: {e}"))
        })?;
        check_schema_name(schema)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        if config.get_application_name().is_none() {
            config.application_name("casebook");
        }
        Ok(PgOptions {
            config,
            schema: schema.to_string(),
            max_connections: 8,
            checkout_timeout: Duration::from_secs(30),
            statement_timeout: None,
            poll_interval: Duration::from_secs(1),
        })
    }

    /// Most connections the store's pool opens (at least 1). Callers beyond that wait up
    /// to the checkout timeout for one to come back.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// How long to wait for the server to accept a new connection.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout(timeout);
        self
    }

    /// How long a caller waits for a free pooled connection before
    /// [`StoreError::Unavailable`].
    pub fn checkout_timeout(mut self, timeout: Duration) -> Self {
        self.checkout_timeout = timeout;
        self
    }

    /// Server-side `statement_timeout` for every statement of the store (`None`: the
    /// server's default). A statement past it fails with [`StoreError::Unavailable`] and,
    /// for an append, writes nothing.
    pub fn statement_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// Upper bound between two checks of the head in
    /// [`crate::PgStore::wait_for_events`], should a notification be lost.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// The `application_name` the store's sessions show in `pg_stat_activity`.
    pub fn application_name(mut self, name: &str) -> Self {
        self.config.application_name(name);
        self
    }

    /// The schema the store lives in.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The LISTEN/NOTIFY channel appends notify on: `casebook_<schema>`.
    pub fn channel(&self) -> String {
        format!("casebook_{}", self.schema)
    }
}

fn check_schema_name(schema: &str) -> Result<(), StoreError> {
    let bad = |why: &str| {
        Err(StoreError::Backend(format!(
            "invalid schema name {:?}: {why}",
            schema.chars().take(80).collect::<String>()
        )))
    };
    if schema.is_empty() || schema.len() > MAX_SCHEMA_NAME_BYTES {
        return bad("it must be 1 to 48 bytes long");
    }
    if !schema
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return bad("only lowercase ASCII letters, digits and '_' are allowed");
    }
    if schema.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        return bad("it must not start with a digit");
    }
    if schema.starts_with("pg_") {
        return bad("names starting with 'pg_' are reserved by PostgreSQL");
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_checked() {
        let url = "host=127.0.0.1 user=postgres dbname=test";
        assert!(PgOptions::new(url, "casebook").is_ok());
        assert!(PgOptions::new(url, "_t_1").is_ok());
        for bad in [
            "",
            "Casebook",
            "1abc",
            "a-b",
            "a\"; drop table x; --",
            "pg_temp",
            &"a".repeat(49),
        ] {
            assert!(PgOptions::new(url, bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_bad_connection_string_is_a_typed_error() {
        let err = PgOptions::new("host=x port=notaport", "s").unwrap_err();
        assert!(matches!(err, StoreError::Backend(_)), "{err}");
    }

    #[test]
    fn defaults_fill_in_connect_timeout_but_keep_the_callers() {
        let o = PgOptions::new("host=h connect_timeout=2", "s").unwrap();
        assert_eq!(
            o.config.get_connect_timeout(),
            Some(&Duration::from_secs(2))
        );
        let o = PgOptions::new("host=h", "s").unwrap();
        assert_eq!(
            o.config.get_connect_timeout(),
            Some(&Duration::from_secs(5))
        );
        assert_eq!(o.channel(), "casebook_s");
    }
}
