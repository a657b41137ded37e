//! The relay queue: entries with their bodies, rewritten after attempts and removed with the
//! log lines that say why (and their body reference).

use sled::transaction::ConflictableTransactionError;
use sled::Transactional;

use super::body_index::tx_body_unref;
use super::codec::*;
use super::SledStore;
use crate::pec::*;
use crate::types::*;

impl SledStore {
    /// The relay queue, oldest first.
    pub fn queue(&self) -> Result<Vec<QueueEntry>, StoreError> {
        self.pec_queue
            .iter()
            .values()
            .map(|v| dec(&v.map_err(sled_err)?))
            .collect()
    }

    pub fn queue_entry(&self, id: u64) -> Result<Option<QueueEntry>, StoreError> {
        match self.pec_queue.get(id.to_be_bytes()).map_err(sled_err)? {
            Some(v) => dec(&v).map(Some),
            None => Ok(None),
        }
    }

    pub fn queue_body(&self, entry: &QueueEntry) -> Result<Vec<u8>, StoreError> {
        self.read_blob(&entry.blob)
    }

    /// Rewrites a queue entry (after an attempt, or to retry at once) with the log lines of
    /// what the attempt delivered, durably; `false` when it is gone meanwhile (delivered or
    /// deleted), and then nothing is written.
    pub fn queue_update(&self, entry: QueueEntry, log: Vec<LogRecord>) -> Result<bool, StoreError> {
        let lines = self.log_lines(&log)?;
        self.commit(Vec::new(), move |s| {
            let key = entry.id.to_be_bytes();
            finish((&s.pec_queue, &s.pec_log).transaction(|(q, lg)| {
                let Some(stored) = q.get(key)? else {
                    return Ok(false);
                };
                q.insert(&key[..], super::certify::keep_blob(&stored, &enc(&entry))?)?;
                for (k, value) in &lines {
                    lg.insert(&k[..], value.clone())?;
                }
                Ok(true)
            }))
        })
    }

    /// Makes a queue entry due at `when`, changing nothing else (an operator's retry must not
    /// bring back recipients a concurrent attempt delivered); `false` when it is gone.
    pub fn queue_reschedule(&self, id: u64, when: i64) -> Result<bool, StoreError> {
        self.commit(Vec::new(), move |s| {
            let key = id.to_be_bytes();
            finish(s.pec_queue.transaction(|q| {
                let Some(v) = q.get(key)? else {
                    return Ok(false);
                };
                let mut entry: QueueEntry = dec(&v).map_err(ConflictableTransactionError::Abort)?;
                entry.next_attempt = when;
                q.insert(&key[..], enc(&entry))?;
                Ok(true)
            }))
        })
    }

    /// Removes a queue entry (delivered, expired or deleted) with the log lines that record
    /// why and its body reference, in one durable commit. The entry as it was, if it existed.
    pub fn queue_remove(
        &self,
        id: u64,
        log: Vec<LogRecord>,
    ) -> Result<Option<QueueEntry>, StoreError> {
        let lines = self.log_lines(&log)?;
        let removed = self.commit(Vec::new(), move |s| {
            finish(
                (&s.pec_queue, &s.pec_log, &s.body_index, &s.body_segments).transaction(
                    |(q, lg, idx, segs)| {
                        let Some(v) = q.remove(&id.to_be_bytes()[..])? else {
                            return Ok(None);
                        };
                        let entry: QueueEntry =
                            dec(&v).map_err(ConflictableTransactionError::Abort)?;
                        tx_body_unref((idx, segs), &entry.blob)?;
                        for (key, value) in &lines {
                            lg.insert(&key[..], value.clone())?;
                        }
                        Ok(Some(entry))
                    },
                ),
            )
        })?;
        Ok(removed)
    }
}
