//! Removing messages: IMAP EXPUNGE and UID EXPUNGE (RFC 3501 §6.4.3, RFC 4315), and POP3's
//! deletions at QUIT.

use super::body_index::tx_body_unref;
use super::codec::*;
use super::security_archive::refuse_security_archive;
use super::tx::*;
use super::SledStore;
use crate::types::*;

impl SledStore {
    /// Removes messages flagged \Deleted (limited to `only` when given, as UID EXPUNGE does)
    /// and returns their UIDs in ascending order.
    pub fn expunge(
        &self,
        mailbox_id: MailboxId,
        folder_id: FolderId,
        only: Option<&[Uid]>,
    ) -> Result<Vec<Uid>, StoreError> {
        // Checked before the scan, so another mailbox's messages are not even read.
        self.owned_folder(mailbox_id, folder_id)?;
        let candidates: Vec<Uid> = self
            .messages(folder_id)?
            .into_iter()
            .filter(|m| m.flags.contains(Flags::DELETED))
            .filter(|m| only.is_none_or(|set| set.contains(&m.uid)))
            .map(|m| m.uid)
            .collect();
        self.remove(mailbox_id, folder_id, candidates, true)
    }

    /// Removes the given messages whatever their flags (POP3's deletions at QUIT), in one
    /// atomic, durable step; UIDs already gone are skipped. Returns the UIDs removed.
    pub fn delete_messages(
        &self,
        mailbox_id: MailboxId,
        folder_id: FolderId,
        uids: &[Uid],
    ) -> Result<Vec<Uid>, StoreError> {
        self.remove(mailbox_id, folder_id, uids.to_vec(), false)
    }

    /// Removes `candidates` (when `only_deleted`, those still flagged \Deleted at commit time).
    pub(super) fn remove(
        &self,
        mailbox_id: MailboxId,
        folder_id: FolderId,
        candidates: Vec<Uid>,
        only_deleted: bool,
    ) -> Result<Vec<Uid>, StoreError> {
        // Also for an empty list: a wrong owner is an error, never a silent success.
        refuse_security_archive(&self.owned_folder(mailbox_id, folder_id)?, "expunge")?;
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let removed = self.commit(Vec::new(), move |s| {
            s.message_transaction(|(mbx, fld, msgs, chg), (idx, segs)| {
                let mut m = tx_mailbox(mbx, mailbox_id)?;
                let mut f = tx_owned_folder(fld, mailbox_id, folder_id)?;
                let mut removed = Vec::new();
                for &uid in &candidates {
                    let key = msg_key(folder_id, uid);
                    let Some(meta) = tx_get::<MessageMeta>(msgs, &key)? else {
                        continue;
                    };
                    if only_deleted && !meta.flags.contains(Flags::DELETED) {
                        continue;
                    }
                    msgs.remove(key.as_ref())?;
                    tx_body_unref((idx, segs), &meta.blob)?;
                    m.modseq += 1;
                    // Saturating: a corrupt total must not panic the commit round.
                    m.used_bytes = m.used_bytes.saturating_sub(meta.size);
                    m.message_count = m.message_count.saturating_sub(1);
                    f.message_count = f.message_count.saturating_sub(1);
                    f.size_bytes = f.size_bytes.saturating_sub(meta.size);
                    tx_log_change(chg, &m, folder_id, uid, ChangeKind::Expunged)?;
                    removed.push(meta);
                }
                if !removed.is_empty() {
                    tx_save(fld, mbx, &mut f, &m)?;
                }
                Ok((removed, m.modseq))
            })
        });
        let (removed, modseq) = removed?;
        if removed.is_empty() {
            return Ok(Vec::new());
        }
        self.notify(mailbox_id, modseq);
        Ok(removed.iter().map(|m| m.uid).collect())
    }
}
