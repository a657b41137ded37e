//! The group-commit glue: metadata transactions run in rounds, each round ending with one
//! flush and fsync of sled's files (which sled itself never fsyncs).

use std::collections::HashSet;
use std::fs::File;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use super::SledStore;
use crate::bodies::{fsync_dir, PreparedBody};
use crate::types::*;

/// A metadata write handed to the group commit: the round's leader runs every job of the round
/// one after another, then flushes and fsyncs sled once for all of them. Running the
/// transactions in the leader matters with sled 0.34: its `flush()` holds a process-wide lock
/// that transactions also need, so writers running their own transactions would queue behind
/// each flush and reach the barrier one or two at a time.
pub(super) struct Job {
    /// Message bodies the transaction refers to, made durable before any transaction runs.
    pub(super) bodies: Vec<PreparedBody>,
    pub(super) op: Box<dyn FnOnce(&SledStore) + Send>,
}

impl SledStore {
    /// Makes every change made so far durable: sled writes its buffers, then we fsync.
    pub(super) fn sync_files(&self) -> std::io::Result<()> {
        self.db.flush().map_err(std::io::Error::other)?;
        // fdatasync: the log's contents and its size, which is all a reader needs.
        self.log_file.sync_data()?;
        let blobs = self.sled_dir.join("blobs");
        let mut synced = self
            .synced_sled_blobs
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut new = false;
        if let Ok(entries) = std::fs::read_dir(&blobs) {
            let mut live = HashSet::with_capacity(synced.len());
            for entry in entries {
                let entry = entry?;
                let name = entry.file_name();
                if !synced.contains(&name) {
                    match File::open(entry.path()) {
                        Ok(f) => f.sync_all()?,
                        // sled removed it between the listing and the open: nothing to sync.
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(e),
                    }
                    new = true;
                }
                live.insert(name);
            }
            // Names sled has removed go: its blob names are never reused, and a set that
            // remembered them all would grow for as long as pecd runs.
            *synced = live;
        }
        if new {
            fsync_dir(&blobs)?;
        }
        Ok(())
    }

    /// Waits until every write made before the call is on disk (shared fsync).
    pub fn sync(&self) -> Result<(), StoreError> {
        self.group
            .barrier_with(None, |jobs| self.run_round(jobs))
            .map_err(StoreError::Io)
    }

    /// One commit round, in the order durability needs: bodies (one fdatasync per segment
    /// the round wrote to, the segment directory's fsync when a segment was created), then
    /// the metadata transactions (which add the bodies to the index), then sled's flush and
    /// fsync. The prepared bodies live until the round ends, so compaction never takes their
    /// segment while their transaction is still to run.
    pub(super) fn run_round(&self, jobs: Vec<Job>) -> std::io::Result<()> {
        let started = std::time::Instant::now();
        let result = self.run_round_timed(jobs);
        let m = pecd_common::metrics::metrics();
        m.commit_seconds.observe(started.elapsed().as_secs_f64());
        result
    }

    fn run_round_timed(&self, jobs: Vec<Job>) -> std::io::Result<()> {
        let (bodies, ops): (Vec<_>, Vec<_>) = jobs.into_iter().map(|j| (j.bodies, j.op)).unzip();
        let bodies: Vec<&PreparedBody> = bodies.iter().flatten().collect();
        self.bodies.make_durable(&bodies)?;
        for op in ops {
            // A panicking transaction must not take the round down with it: its caller finds
            // its result slot empty and gets an error; the others proceed.
            if std::panic::catch_unwind(AssertUnwindSafe(|| op(self))).is_err() {
                tracing::error!("a store transaction panicked; its write was refused");
            }
        }
        self.sync_files()
    }

    /// Runs `op` (a metadata transaction) in the next group-commit round and returns its
    /// result once the round's fsync is done, so a successful result is durable.
    pub(super) fn commit<R: Send + 'static>(
        &self,
        bodies: Vec<PreparedBody>,
        op: impl FnOnce(&SledStore) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let slot = Arc::new(Mutex::new(None));
        let out = slot.clone();
        let op = Box::new(move |s: &SledStore| {
            *out.lock().unwrap_or_else(|p| p.into_inner()) = Some(op(s));
        });
        let job = Job { bodies, op };
        self.group
            .barrier_with(Some(job), |jobs| self.run_round(jobs))
            .map_err(StoreError::Io)?;
        let result = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
        result.unwrap_or_else(|| {
            Err(StoreError::Corrupt(
                "internal error in a store transaction".into(),
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::*;

    #[test]
    fn the_synced_blob_set_forgets_files_sled_has_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            SledStore::open(dir.path(), Retention::default(), crate::DEFAULT_CACHE_BYTES).unwrap();
        let blobs = store.sled_dir.join("blobs");
        std::fs::create_dir_all(&blobs).unwrap();
        let synced = || store.synced_sled_blobs.lock().unwrap().clone();
        for round in 0..5u32 {
            // sled writes large values once under names never reused, and removes them
            // when they are overwritten; here ten new ones replace the last ten each round.
            for i in 0..10 {
                std::fs::write(blobs.join(format!("{}", round * 10 + i)), b"v").unwrap();
            }
            if round > 0 {
                for i in 0..10 {
                    std::fs::remove_file(blobs.join(format!("{}", (round - 1) * 10 + i))).unwrap();
                }
            }
            store.sync().unwrap();
            let expected: HashSet<OsString> = (0..10)
                .map(|i| OsString::from(format!("{}", round * 10 + i)))
                .collect();
            assert!(
                synced().is_superset(&expected),
                "round {round}: new blobs are synced"
            );
            assert_eq!(
                synced().len(),
                expected.len(),
                "round {round}: {:?}",
                synced()
            );
        }
    }
}
