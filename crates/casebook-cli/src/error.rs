//! The tool's errors and their exit codes.

use casebook::EngineError;
use casebook_core::Rejection;
use casebook_store::StoreError;

/// Why a command failed. Each kind has its own exit code so scripts can tell a refused
/// command from a broken store.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// An argument that clap accepted but that does not mean anything (a bad id, an
    /// unknown role, a malformed time).
    #[error("{0}")]
    Usage(String),
    /// A business rule refused the command, or it names something that does not exist.
    #[error("rejected: {0}")]
    Rejected(Rejection),
    /// The store failed: locked, corrupt, unreadable.
    #[error("storage: {0}")]
    Storage(String),
    /// `verify` found problems in the log.
    #[error("integrity: {0}")]
    Integrity(String),
    /// The simulation hit a refusal or an impossible state: a bug in the simulation or
    /// the engine, reported loudly rather than skipped.
    #[error("simulation: {0}")]
    Simulation(String),
}

impl CliError {
    /// The process exit code: 2 usage, 3 rejected, 4 storage, 5 integrity, 6 simulation.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Rejected(_) => 3,
            CliError::Storage(_) => 4,
            CliError::Integrity(_) => 5,
            CliError::Simulation(_) => 6,
        }
    }
}

impl From<EngineError> for CliError {
    fn from(value: EngineError) -> Self {
        match value {
            EngineError::Rejected(r) => CliError::Rejected(r),
            other => CliError::Storage(other.to_string()),
        }
    }
}

impl From<Rejection> for CliError {
    fn from(value: Rejection) -> Self {
        CliError::Rejected(value)
    }
}

impl From<StoreError> for CliError {
    fn from(value: StoreError) -> Self {
        CliError::Storage(value.to_string())
    }
}

impl From<std::io::Error> for CliError {
    fn from(value: std::io::Error) -> Self {
        CliError::Storage(format!("I/O error: {value}"))
    }
}

/// Input given on the command line that does not parse: a usage error, not a rejection
/// by the desk (nothing was asked of the engine).
pub fn usage(e: impl std::fmt::Display) -> CliError {
    CliError::Usage(e.to_string())
}
