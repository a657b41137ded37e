//! The holder's security archive as IMAP shows it (PROVISIONING.md §8): a folder like any
//! other in LIST, STATUS, FETCH and SEARCH, always selected read-only (SELECT answers
//! `[READ-ONLY]`, so FETCH of a body sets no `\Seen`), and refusing every change: STORE,
//! EXPUNGE, APPEND into it, COPY or MOVE into it, MOVE out of it (COPY out of it is a copy
//! like any other). DELETE and RENAME refuse it as a system folder. The store refuses the
//! same writes; these checks give the client a clear reply first.

use pecd_store::Folder;

use crate::error::{no, Refusal};

/// Whether `folder` is the security archive, read-only for every session.
pub(crate) fn read_only(folder: &Folder) -> bool {
    folder.is_security_archive()
}

/// The refusal of `command` on the security archive (RFC 5530 NOPERM).
pub(crate) fn refusal(command: &str) -> Refusal {
    no(
        Some("NOPERM"),
        format!("{command} refused: the security archive (Archivio di sicurezza) is read-only"),
    )
}
