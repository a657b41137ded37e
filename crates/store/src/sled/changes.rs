//! The per-mailbox change log (IMAP IDLE, CONDSTORE/QRESYNC, POP3): notices after durable
//! changes, reads after a modseq, and compaction below a floor.

use sled::transaction::abort;
use sled::Transactional;

use super::codec::*;
use super::SledStore;
use crate::types::*;

impl SledStore {
    /// Announces a durable change of a mailbox (up to `modseq`) and keeps its change log
    /// within [`Retention::change_log_entries`].
    pub(super) fn notify(&self, mailbox_id: MailboxId, modseq: ModSeq) {
        let _ = self.notices.send(ChangeNotice { mailbox_id, modseq });
        // The change is durable and announced; a failed compaction is retried by the next
        // change or prune, and must not turn the write into an error.
        if let Err(e) = self.compact_if_due(mailbox_id, modseq) {
            tracing::warn!(mailbox = mailbox_id, error = %e, "change-log compaction failed");
        }
    }

    /// Log entries beyond [`Retention::change_log_entries`] tolerated before a compaction, so
    /// that compactions are rare and each removes many entries.
    pub(super) fn compaction_slack(&self) -> u64 {
        self.retention.change_log_entries / 4 + 1
    }

    pub(super) fn change_floor(&self, mailbox_id: MailboxId) -> Result<ModSeq, StoreError> {
        match self
            .change_floors
            .get(id_key(mailbox_id))
            .map_err(sled_err)?
        {
            Some(v) => id_from(&v),
            None => Ok(0),
        }
    }

    pub(super) fn compact_if_due(
        &self,
        mailbox_id: MailboxId,
        modseq: ModSeq,
    ) -> Result<usize, StoreError> {
        let keep = self.retention.change_log_entries;
        if modseq.saturating_sub(self.change_floor(mailbox_id)?) <= keep + self.compaction_slack() {
            return Ok(0);
        }
        self.compact_changes(mailbox_id, modseq.saturating_sub(keep))
    }

    /// Removes the change-log entries of a mailbox up to `floor`. The floor is raised
    /// durably first (and only while the mailbox exists), so that a reader never misses an
    /// entry without also seeing the floor; then the entries below it go, in batches that
    /// never hold up other writers for long. Entries left by an interrupted compaction are
    /// taken by the next one. Returns how many entries went.
    pub(super) fn compact_changes(
        &self,
        mailbox_id: MailboxId,
        floor: ModSeq,
    ) -> Result<usize, StoreError> {
        const BATCH: usize = 1_000;
        let raised = self.commit(Vec::new(), move |s| {
            finish(
                (&s.mailboxes, &s.change_floors).transaction(|(mbx, floors)| {
                    if mbx.get(id_key(mailbox_id))?.is_none() {
                        return Ok(None);
                    }
                    let key = id_key(mailbox_id);
                    let current = match floors.get(key)? {
                        Some(v) => id_from(&v).or_else(abort)?,
                        None => 0,
                    };
                    if floor > current {
                        floors.insert(&key, &id_key(floor))?;
                    }
                    Ok(Some(floor.max(current)))
                }),
            )
        })?;
        let Some(floor) = raised else {
            return Ok(0);
        };
        let mut removed = 0;
        loop {
            let keys: Vec<sled::IVec> = self
                .changes
                .range(change_key(mailbox_id, 0)..=change_key(mailbox_id, floor))
                .keys()
                .take(BATCH)
                .collect::<Result<_, _>>()
                .map_err(sled_err)?;
            if keys.is_empty() {
                break;
            }
            let mut batch = sled::Batch::default();
            for k in &keys {
                batch.remove(k.clone());
            }
            self.changes.apply_batch(batch).map_err(sled_err)?;
            removed += keys.len();
        }
        if removed > 0 {
            tracing::debug!(mailbox = mailbox_id, floor, removed, "change log compacted");
        }
        Ok(removed)
    }

    /// Change-log entries of a mailbox with a modseq above `since`, oldest first, with
    /// whether they are all of them (see [`ChangeLog`]).
    pub fn changes_since(
        &self,
        mailbox: MailboxId,
        since: ModSeq,
    ) -> Result<ChangeLog, StoreError> {
        let changes = self
            .changes
            .range(change_key(mailbox, since.saturating_add(1))..=change_key(mailbox, u64::MAX))
            .values()
            .map(|v| dec(&v.map_err(sled_err)?))
            .collect::<Result<Vec<Change>, _>>()?;
        // Read after the entries: compaction raises the floor before removing any, so
        // entries missing from the read above imply a floor that says so.
        let floor = self.change_floor(mailbox)?;
        Ok(ChangeLog {
            floor,
            complete: since >= floor,
            changes,
        })
    }
}
