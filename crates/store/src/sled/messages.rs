//! Appending a message (IMAP APPEND, local delivery): body first, then one transaction that
//! allocates the UID, indexes the body and counts the quota.

use sled::transaction::abort;

use super::body_index::tx_body_new;
use super::codec::*;
use super::security_archive::refuse_security_archive;
use super::tx::*;
use super::SledStore;
use crate::types::*;

pub(super) fn validate_keywords(keywords: &[String]) -> Result<(), StoreError> {
    if keywords.len() > MAX_KEYWORDS {
        return Err(StoreError::Invalid(format!(
            "more than {MAX_KEYWORDS} keywords"
        )));
    }
    if let Some(k) = keywords
        .iter()
        .find(|k| k.is_empty() || k.len() > MAX_KEYWORD_LEN)
    {
        return Err(StoreError::Invalid(format!("keyword {k:?}")));
    }
    Ok(())
}

impl SledStore {
    pub fn append(
        &self,
        mailbox_id: MailboxId,
        folder_name: &str,
        msg: NewMessage,
    ) -> Result<Appended, StoreError> {
        validate_keywords(&msg.keywords)?;
        let folder = self
            .folder(mailbox_id, folder_name)?
            .ok_or_else(|| StoreError::NoFolder(folder_name.to_string()))?;
        refuse_security_archive(&folder, "append")?;
        let size = msg.bytes.len() as u64;
        let pre = self
            .mailbox(mailbox_id)?
            .ok_or_else(|| StoreError::NoMailbox(mailbox_id.to_string()))?;
        if pre.used_bytes + size > pre.quota_bytes {
            return Err(StoreError::OverQuota {
                used: pre.used_bytes,
                quota: pre.quota_bytes,
                size,
            });
        }
        let prepared = self.bodies.prepare(&msg.bytes)?;
        let (blob, loc) = (prepared.id, prepared.loc);
        let internal_date = msg.internal_date.unwrap_or_else(now);
        let result = self.commit(vec![prepared], move |s| {
            s.message_transaction(|(mbx, fld, msgs, chg), (idx, segs)| {
                let m = tx_mailbox(mbx, mailbox_id)?;
                if m.used_bytes + size > m.quota_bytes {
                    return abort(StoreError::OverQuota {
                        used: m.used_bytes,
                        quota: m.quota_bytes,
                        size,
                    });
                }
                tx_body_new((idx, segs), &blob, loc, 1)?;
                let trees = (mbx, fld, msgs, chg);
                let meta = NewRecord {
                    blob,
                    size,
                    internal_date,
                    flags: msg.flags,
                    keywords: msg.keywords.clone(),
                };
                tx_insert_message(trees, m, folder.id, meta)
            })
        });
        // A refused message leaves its body's bytes dead (no index entry), for compaction.
        let appended = result?;
        self.notify(mailbox_id, appended.modseq);
        Ok(appended)
    }
}
