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
    /// Appends `msgs` in their order to one folder in one transaction: all or none are
    /// stored, with consecutive UIDs, behind one durable commit.
    pub fn append_batch(
        &self,
        mailbox_id: MailboxId,
        folder_name: &str,
        msgs: Vec<NewMessage>,
    ) -> Result<Vec<Appended>, StoreError> {
        for msg in &msgs {
            validate_keywords(&msg.keywords)?;
        }
        let folder = self
            .folder(mailbox_id, folder_name)?
            .ok_or_else(|| StoreError::NoFolder(folder_name.to_string()))?;
        let size: u64 = msgs.iter().map(|m| m.bytes.len() as u64).sum();
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
        let mut prepared = Vec::with_capacity(msgs.len());
        let mut records = Vec::with_capacity(msgs.len());
        for msg in msgs {
            let body = self.bodies.prepare(&msg.bytes)?;
            let internal_date = msg.internal_date.unwrap_or_else(now);
            let record = (
                body.id,
                body.loc,
                msg.bytes.len() as u64,
                internal_date,
                msg.flags,
            );
            records.push((record, msg.keywords));
            prepared.push(body);
        }
        let result = self.commit(prepared, move |s| {
            s.message_transaction(|(mbx, fld, msgs, chg), (idx, segs)| {
                let mut out = Vec::with_capacity(records.len());
                for ((blob, loc, size, internal_date, flags), keywords) in &records {
                    let m = tx_mailbox(mbx, mailbox_id)?;
                    if m.used_bytes + size > m.quota_bytes {
                        return abort(StoreError::OverQuota {
                            used: m.used_bytes,
                            quota: m.quota_bytes,
                            size: *size,
                        });
                    }
                    tx_body_new((idx, segs), blob, *loc, 1)?;
                    let meta = NewRecord {
                        blob: *blob,
                        size: *size,
                        internal_date: *internal_date,
                        flags: *flags,
                        keywords: keywords.clone(),
                    };
                    out.push(tx_insert_message(
                        (mbx, fld, msgs, chg),
                        m,
                        folder.id,
                        meta,
                    )?);
                }
                Ok(out)
            })
        });
        let appended = result?;
        if let Some(last) = appended.last() {
            self.notify(mailbox_id, last.modseq);
        }
        Ok(appended)
    }
}
