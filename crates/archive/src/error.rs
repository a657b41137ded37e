//! The archive's refusals: a kind that the control socket and the HTTPS API map to their own
//! codes, a message safe to show (Italian where PROVISIONING.md gives the text), and details
//! such as every invalid line of a request.

use pecd_store::StoreError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input: a value, a date, a request file.
    Invalid,
    /// No such record (or none the operator may see: see [`ErrorKind::Forbidden`]).
    NotFound,
    /// Out of the operator's scope or entitlements.
    Forbidden,
    /// The record's state does not allow it, or it exists already.
    Conflict,
    /// The store failed for now; retrying later may work.
    Unavailable,
    Internal,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ArchiveError {
    pub kind: ErrorKind,
    pub message: String,
    pub details: Vec<String>,
}

impl ArchiveError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ArchiveError {
        ArchiveError {
            kind,
            message: message.into(),
            details: Vec::new(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> ArchiveError {
        ArchiveError::new(ErrorKind::Invalid, message)
    }

    pub fn not_found(message: impl Into<String>) -> ArchiveError {
        ArchiveError::new(ErrorKind::NotFound, message)
    }

    pub fn forbidden(message: impl Into<String>) -> ArchiveError {
        ArchiveError::new(ErrorKind::Forbidden, message)
    }

    pub fn conflict(message: impl Into<String>) -> ArchiveError {
        ArchiveError::new(ErrorKind::Conflict, message)
    }

    pub fn with_details(mut self, details: Vec<String>) -> ArchiveError {
        self.details = details;
        self
    }
}

impl From<StoreError> for ArchiveError {
    fn from(e: StoreError) -> ArchiveError {
        match e {
            StoreError::NoMailbox(m) => {
                ArchiveError::not_found(format!("casella inesistente: {m}"))
            }
            StoreError::Exists(what) => ArchiveError::conflict(format!("esiste già: {what}")),
            StoreError::Invalid(what) => {
                ArchiveError::invalid(format!("valore non valido: {what}"))
            }
            e if e.is_temporary() => {
                tracing::error!(error = %e, "store failure in an archive operation");
                ArchiveError::new(
                    ErrorKind::Unavailable,
                    "the store is unavailable; try again later",
                )
            }
            e => {
                tracing::error!(error = %e, "store failure in an archive operation");
                ArchiveError::new(ErrorKind::Internal, "internal error; see the server log")
            }
        }
    }
}

pub type Result<T, E = ArchiveError> = std::result::Result<T, E>;
