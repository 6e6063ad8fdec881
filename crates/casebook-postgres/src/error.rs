//! Mapping PostgreSQL errors to typed [`StoreError`]s.

use casebook_store::StoreError;
use postgres::error::SqlState;

/// The SQLSTATE `append_events` raises on a version conflict (DETAIL: the actual version).
pub(crate) const CONFLICT_SQLSTATE: &str = "CB409";

/// Whether the connection an error came from can still be used.
pub(crate) fn connection_is_broken(err: &postgres::Error) -> bool {
    if err.is_closed() {
        return true;
    }
    match err.code() {
        // No SQLSTATE: the error came from the socket or the protocol, not the server.
        None => true,
        Some(code) => {
            let code = code.code();
            // 08: connection exceptions; 57P01..57P03: administrator or crash shutdown.
            code.starts_with("08") || code.starts_with("57P")
        }
    }
}

/// Maps an error from a statement to a [`StoreError`]; `what` names the operation.
pub(crate) fn map(err: postgres::Error, what: &str) -> StoreError {
    map_ref(&err, what)
}

/// [`map`] for an error that is only borrowed.
pub(crate) fn map_ref(err: &postgres::Error, what: &str) -> StoreError {
    let Some(db) = err.as_db_error() else {
        // No server message: refused, dropped or timed-out connection.
        return StoreError::Unavailable(format!("{what}: {err}"));
    };
    let code = db.code().code();
    from_sqlstate(code, format!("{what}: {} (SQLSTATE {code})", db.message()))
}

/// A server error by its SQLSTATE; `detail` says what failed and how.
pub(crate) fn from_sqlstate(code: &str, detail: String) -> StoreError {
    if code == SqlState::QUERY_CANCELED.code() {
        return StoreError::Unavailable(format!(
            "{detail}: statement timeout or cancel; nothing was written"
        ));
    }
    if code == SqlState::LOCK_NOT_AVAILABLE.code()
        || code.starts_with("08")
        || code.starts_with("57P")
        || code.starts_with("53")
    {
        return StoreError::Unavailable(detail);
    }
    StoreError::Backend(detail)
}
