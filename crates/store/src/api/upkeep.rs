//! Upkeep: pruning what would otherwise only grow, figures for `pecctl status`, shutdown sync.

use super::blocking;
use crate::types::*;
use crate::{Backend, Store};

impl Store {
    /// Removes what is no longer kept: idempotency keys whose keep ended before `now` (Unix
    /// seconds, the engine's clock; see `Certification::dedup_keep_seconds`), and change-log
    /// entries of
    /// mailboxes whose log is past its bound (writes compact their own mailbox's log as they
    /// go; this catches the rest), and body segments mostly dead. Idempotent; meant for
    /// startup and a periodic timer.
    pub async fn prune(&self, now: i64) -> Result<Pruned, StoreError> {
        match &self.backend {
            Backend::Sled(s) => blocking(s, move |s| s.prune(now)).await,
        }
    }

    /// Compacts body segments that are mostly dead bytes (also part of [`Store::prune`]);
    /// returns how many segments were compacted.
    pub async fn compact_bodies(&self) -> Result<usize, StoreError> {
        match &self.backend {
            Backend::Sled(s) => blocking(s, |s| s.compact_bodies()).await,
        }
    }

    /// Bodies referred to and bytes in segment files (a scan of the body index).
    pub async fn body_stats(&self) -> Result<BodyStats, StoreError> {
        match &self.backend {
            Backend::Sled(s) => blocking(s, |s| s.body_stats()).await,
        }
    }

    pub async fn stats(&self) -> Result<StoreStats, StoreError> {
        match &self.backend {
            Backend::Sled(s) => blocking(s, |s| s.stats()).await,
        }
    }

    pub async fn disk_usage(&self) -> Result<u64, StoreError> {
        match &self.backend {
            Backend::Sled(s) => blocking(s, |s| s.disk_usage()).await,
        }
    }

    /// Commit rounds run since the store was opened: a cheap reading (no scan) that tells a
    /// caller whether anything was written between two readings.
    pub fn commit_rounds(&self) -> u64 {
        match &self.backend {
            Backend::Sled(s) => s.commit_rounds(),
        }
    }

    /// Makes everything written so far durable (used at shutdown).
    pub async fn sync(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sled(s) => blocking(s, |s| s.sync()).await,
        }
    }
}
