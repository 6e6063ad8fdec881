//! Versioned schema migrations, applied on open.
//!
//! The schema's version is the highest row of its `schema_version` table. On open the
//! store takes a transaction-level advisory lock keyed by the schema name (so processes
//! opening the same store at once migrate it once), creates the schema and the
//! `schema_version` table if missing, refuses a schema newer than this build, and applies
//! the missing migrations in order, all in one transaction: a failed migration leaves
//! the schema as it was.

use casebook_store::StoreError;
use postgres::Client;

/// One migration: its version and its SQL.
struct Migration {
    version: i32,
    sql: &'static str,
}

/// Every migration this build knows, in order. Versions start at 1 with no gaps.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: include_str!("../sql/migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        sql: include_str!("../sql/migrations/0002_append_group.sql"),
    },
];

/// The schema version this build writes and the newest it reads.
pub const SCHEMA_VERSION: i32 = 2;

/// Brings the schema up to [`SCHEMA_VERSION`]; returns the version it found.
///
/// # Errors
///
/// [`StoreError::UnsupportedFormat`] if the schema is newer than this build; backend
/// errors (nothing applied).
pub(crate) fn migrate(client: &mut Client, schema: &str) -> Result<i32, StoreError> {
    let err = |e| crate::error::map(e, "migrating the schema");
    let mut tx = client.transaction().map_err(err)?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('casebook-migrate:' || $1::text))",
        &[&schema],
    )
    .map_err(err)?;
    // The schema name was checked to be a plain lowercase identifier.
    tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
        .map_err(err)?;
    tx.batch_execute(include_str!("../sql/schema_version.sql"))
        .map_err(err)?;
    let found: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM schema_version", &[])
        .and_then(|row| row.try_get(0))
        .map_err(err)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::UnsupportedFormat {
            found: format!("PostgreSQL schema {schema:?} at version {found}"),
            supported: format!("versions 0 to {SCHEMA_VERSION}"),
        });
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > found) {
        tx.batch_execute(m.sql)
            .map_err(|e| crate::error::map(e, &format!("applying migration {}", m.version)))?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&m.version],
        )
        .map_err(err)?;
    }
    tx.commit().map_err(err)?;
    Ok(found)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_from_one_without_gaps() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i32 + 1);
            assert!(!m.sql.trim().is_empty());
        }
        assert_eq!(MIGRATIONS.last().map(|m| m.version), Some(SCHEMA_VERSION));
    }
}
