//! Requests (richieste, PROVISIONING.md §3): an activation contract of a richiedente and a
//! titolare with its mailbox lines, its contract documents, its processing by the job runner,
//! and the incomplete mailboxes (made without a request, `codice attivazione: non definito`)
//! that a request completes.
//!
//! Layout: [`model`] (the records), [`file`] (the request file), [`validate`] (every check,
//! per line), [`ops`] (create, show, recent, search, modify, duplicate, cancel, complete),
//! [`contracts`] (documents: add, list, delete, confirm), [`process`] (the job step that
//! activates confirmed requests), [`incomplete`] (mailboxes without a request).

pub mod contracts;
pub mod file;
pub mod incomplete;
pub mod model;
pub mod ops;
pub mod process;
pub mod validate;

pub use incomplete::incomplete_refusal;

use crate::error::{ArchiveError, Result};

/// A codice attivazione as operators type it.
pub fn parse_code(text: &str) -> Result<u64> {
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|c| *c > 0)
        .ok_or_else(|| {
            ArchiveError::invalid(format!(
                "codice attivazione {text:?}: deve essere un numero (per esempio 12)"
            ))
        })
}
