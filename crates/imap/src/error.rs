//! How a command fails, as its tagged reply says it (RFC 9051 §7.1: NO and BAD, with the
//! response codes of RFC 5530 where one applies). Store failures map to a code here; their
//! details go to the log, never to the client.

use imap_codec::imap_types::response::StatusKind;
use pecd_store::StoreError;

/// What went wrong with a command, as the tagged reply says it.
pub(crate) struct Refusal {
    pub kind: StatusKind,
    pub code: Option<&'static str>,
    pub text: String,
}

/// A command's result: the text of its tagged OK (a leading `[CODE ...]` becomes the
/// response code), or why it was refused.
pub(crate) type Outcome = Result<String, Refusal>;

pub(crate) fn no(code: Option<&'static str>, text: impl Into<String>) -> Refusal {
    Refusal {
        kind: StatusKind::No,
        code,
        text: text.into(),
    }
}

pub(crate) fn bad(text: impl Into<String>) -> Refusal {
    Refusal {
        kind: StatusKind::Bad,
        code: None,
        text: text.into(),
    }
}

/// The reply to a store failure: temporary ones say so (RFC 5530 UNAVAILABLE).
pub(crate) fn store_refusal(e: StoreError) -> Refusal {
    match e {
        StoreError::OverQuota { .. } => no(Some("OVERQUOTA"), "Mailbox quota exceeded"),
        StoreError::NoFolder(_) => no(Some("NONEXISTENT"), "No such mailbox"),
        StoreError::Exists(_) => no(Some("ALREADYEXISTS"), "Mailbox already exists"),
        StoreError::Invalid(text) => no(Some("CANNOT"), text),
        e if e.is_temporary() => {
            tracing::warn!(error = %e, "IMAP store operation failed");
            no(Some("UNAVAILABLE"), "Temporary storage failure, try again")
        }
        e => {
            tracing::error!(error = %e, "IMAP store operation failed");
            no(Some("SERVERBUG"), "Internal storage error")
        }
    }
}
