//! The periodic clean-up: idempotency keys past their keep, change logs past their bound, and
//! body segments mostly dead ([`super::compact`]).

use sled::Transactional;

use super::codec::*;
use super::SledStore;
use crate::pec::*;
use crate::types::*;

impl SledStore {
    /// The periodic clean-up of records that would otherwise only grow: idempotency keys
    /// whose keep (7 days for submissions, the legal log's for replay keys) ended before
    /// `now` (Unix seconds), and change logs past their bound that no write has compacted
    /// yet (logs written before compaction existed); then compacts body segments that are
    /// mostly dead bytes. Idempotent; safe at any time.
    pub fn prune(&self, now: i64) -> Result<Pruned, StoreError> {
        let dedup_keys = self.prune_dedup(now)?;
        let mut changes = 0;
        for item in self.mailboxes.iter() {
            let (_, v) = item.map_err(sled_err)?;
            let m: Mailbox = dec(&v)?;
            changes += self.compact_if_due(m.id, m.modseq)?;
        }
        if changes > 0 {
            self.sync()?;
        }
        let segments = self.compact_bodies()?;
        Ok(Pruned {
            dedup_keys,
            changes,
            segments,
        })
    }

    /// Removes idempotency keys that expire before `before` (Unix seconds), with their place
    /// in the expiry order, a batch per transaction. Returns how many went.
    pub(super) fn prune_dedup(&self, before: i64) -> Result<usize, StoreError> {
        const BATCH: usize = 500;
        let end = log_time_key(before);
        let mut removed = 0;
        loop {
            let aged: Vec<sled::IVec> = self
                .pec_dedup_age
                .range(..end.to_vec())
                .keys()
                .take(BATCH)
                .collect::<Result<_, _>>()
                .map_err(sled_err)?;
            if aged.is_empty() {
                break;
            }
            finish(
                (&self.pec_dedup, &self.pec_dedup_age).transaction(|(dd, age)| {
                    for k in &aged {
                        dd.remove(&k[8..])?;
                        age.remove(k)?;
                    }
                    Ok(())
                }),
            )?;
            removed += aged.len();
        }
        if removed > 0 {
            self.sync()?;
        }
        Ok(removed)
    }

    /// Submission keys written before keys expired have no place in the expiry order: they
    /// get one as of now, once (marked in `meta`), so that they expire a window from now.
    pub(super) fn age_unaged_dedup_keys(&self) -> Result<(), StoreError> {
        const MARK: &[u8] = b"dedup_aged";
        const BATCH: usize = 1000;
        if self.meta.get(MARK).map_err(sled_err)?.is_some() {
            return Ok(());
        }
        // Submission keys and the keys that stop replays of peers' signed documents cannot
        // be told apart: all get the longer keep, that of the legal log.
        let expires = now() + LOG_RETENTION_SECONDS;
        let mut aged = 0;
        let mut batch: Vec<sled::IVec> = Vec::with_capacity(BATCH);
        let mut keys = self.pec_dedup.iter().keys();
        loop {
            batch.clear();
            for k in keys.by_ref().take(BATCH) {
                batch.push(k.map_err(sled_err)?);
            }
            if batch.is_empty() {
                break;
            }
            // A run cut short ages some keys twice: the earlier expiry removes the key, the
            // later one finds nothing left to remove.
            finish(self.pec_dedup_age.transaction(|age| {
                for k in &batch {
                    age.insert(dedup_age_key(expires, k), &[][..])?;
                }
                Ok(())
            }))?;
            aged += batch.len();
        }
        self.meta.insert(MARK, &[1u8][..]).map_err(sled_err)?;
        self.sync()?;
        if aged > 0 {
            tracing::info!(keys = aged, "idempotency keys given an expiry");
        }
        Ok(())
    }
}
