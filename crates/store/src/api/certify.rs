//! PEC certification steps (PEC.md §6), the legal transaction log (PEC.md §10.5) and the
//! traces of transactions (PEC.md §6.6).

use super::blocking;
use crate::pec::*;
use crate::types::*;
use crate::{Backend, Store};

impl Store {
    /// Writes one PEC certification step atomically and durably (see [`Certification`]).
    pub async fn certify(&self, c: Certification) -> Result<Certified, StoreError> {
        Ok(self.certify_archiving(c).await?.0)
    }

    /// [`Store::certify`], also telling what became of each of the step's
    /// security-archive copies ([`Certification::archive`]), in order: kept, or not for
    /// want of room (a duplicate step keeps none and says nothing of them).
    pub async fn certify_archiving(
        &self,
        c: Certification,
    ) -> Result<(Certified, Vec<ArchiveOutcome>), StoreError> {
        match &self.backend {
            Backend::Sled(s) => blocking(s, move |s| s.certify(c)).await,
        }
    }

    /// The mailbox's security archive folder ([`crate::SECURITY_ARCHIVE_FOLDER`]), created
    /// when missing; its `size_bytes` is the archive's usage. `Invalid` when a folder of
    /// that name exists that is not the archive.
    pub async fn security_archive(&self, mailbox: MailboxId) -> Result<Folder, StoreError> {
        match &self.backend {
            Backend::Sled(s) => blocking(s, move |s| s.security_archive(mailbox)).await,
        }
    }

    pub async fn log_search(&self, q: LogQuery) -> Result<Vec<LogRecord>, StoreError> {
        match &self.backend {
            Backend::Sled(s) => blocking(s, move |s| s.log_search(&q)).await,
        }
    }

    /// Drops legal log records older than `before` (Unix seconds).
    pub async fn prune_log(&self, before: i64) -> Result<usize, StoreError> {
        match &self.backend {
            Backend::Sled(s) => blocking(s, move |s| s.prune_log(before)).await,
        }
    }

    pub async fn trace(&self, pec_id: &str) -> Result<Option<TraceRecord>, StoreError> {
        let id = pec_id.to_string();
        match &self.backend {
            Backend::Sled(s) => blocking(s, move |s| s.trace(&id)).await,
        }
    }

    /// PEC msgids whose trace waits for another provider's receipts (PEC.md §6.6).
    pub async fn pending(&self) -> Result<Vec<String>, StoreError> {
        match &self.backend {
            Backend::Sled(s) => blocking(s, |s| s.pending()).await,
        }
    }
}
