//! The relay queue: what the engine's queue policy hands to the relay, entry by entry.

use super::blocking;
use crate::pec::*;
use crate::types::*;
use crate::{Backend, Store};

impl Store {
    /// The relay queue, oldest first.
    pub async fn queue(&self) -> Result<Vec<QueueEntry>, StoreError> {
        match &self.backend {
            Backend::Sled(s) => blocking(s, |s| s.queue()).await,
        }
    }

    pub async fn queue_entry(&self, id: u64) -> Result<Option<QueueEntry>, StoreError> {
        match &self.backend {
            Backend::Sled(s) => blocking(s, move |s| s.queue_entry(id)).await,
        }
    }

    pub async fn queue_body(&self, entry: QueueEntry) -> Result<Vec<u8>, StoreError> {
        match &self.backend {
            Backend::Sled(s) => blocking(s, move |s| s.queue_body(&entry)).await,
        }
    }

    /// Rewrites a queue entry with the log lines of what the attempt delivered, durably;
    /// `false` (nothing written) when it is gone meanwhile.
    pub async fn queue_update(
        &self,
        entry: QueueEntry,
        log: Vec<LogRecord>,
    ) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sled(s) => blocking(s, move |s| s.queue_update(entry, log)).await,
        }
    }

    /// Makes a queue entry due at `when`, nothing else changed; `false` when it is gone.
    pub async fn queue_reschedule(&self, id: u64, when: i64) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sled(s) => blocking(s, move |s| s.queue_reschedule(id, when)).await,
        }
    }

    /// Removes a queue entry with the log lines saying why, durably; the entry as it was.
    pub async fn queue_remove(
        &self,
        id: u64,
        log: Vec<LogRecord>,
    ) -> Result<Option<QueueEntry>, StoreError> {
        match &self.backend {
            Backend::Sled(s) => blocking(s, move |s| s.queue_remove(id, log)).await,
        }
    }
}
