//! Flags and keywords of messages (IMAP STORE; RFC 3501 §6.4.6).

use sled::transaction::abort;
use sled::Transactional;

use super::codec::*;
use super::messages::validate_keywords;
use super::security_archive::refuse_security_archive;
use super::tx::*;
use super::SledStore;
use crate::types::*;

pub(super) fn apply_flags(meta: &mut MessageMeta, op: &FlagOp) {
    match op {
        FlagOp::Set(flags, keywords) => {
            meta.flags = *flags;
            meta.keywords = dedup(keywords.iter());
        }
        FlagOp::Add(flags, keywords) => {
            meta.flags = meta.flags.union(*flags);
            meta.keywords = dedup(meta.keywords.iter().chain(keywords));
        }
        FlagOp::Remove(flags, keywords) => {
            meta.flags = meta.flags.without(*flags);
            meta.keywords
                .retain(|k| !keywords.iter().any(|r| r.eq_ignore_ascii_case(k)));
        }
    }
}

/// Keywords compare case-insensitively (RFC 3501 §2.3.2); the first spelling wins.
pub(super) fn dedup<'a>(keywords: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for k in keywords {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(k)) {
            out.push(k.clone());
        }
    }
    out
}

impl SledStore {
    /// Updates flags of the given UIDs; UIDs that do not exist are skipped (CLIENTS.md §5
    /// bug 7: STORE on a missing UID is OK with no effect). Returns the messages changed.
    pub fn set_flags(
        &self,
        mailbox_id: MailboxId,
        folder_id: FolderId,
        uids: &[Uid],
        op: &FlagOp,
    ) -> Result<Vec<MessageMeta>, StoreError> {
        let keywords = match op {
            FlagOp::Set(_, k) | FlagOp::Add(_, k) | FlagOp::Remove(_, k) => k,
        };
        validate_keywords(keywords)?;
        refuse_security_archive(&self.owned_folder(mailbox_id, folder_id)?, "flag change")?;
        let (uids, op) = (uids.to_vec(), op.clone());
        let changed = self.commit(Vec::new(), move |s| {
            finish(
                (&s.mailboxes, &s.folders, &s.messages, &s.changes).transaction(
                    |(mbx, fld, msgs, chg)| {
                        let mut m = tx_mailbox(mbx, mailbox_id)?;
                        let mut f = tx_owned_folder(fld, mailbox_id, folder_id)?;
                        let mut changed = Vec::new();
                        for &uid in &uids {
                            let key = msg_key(folder_id, uid);
                            let Some(mut meta) = tx_get::<MessageMeta>(msgs, &key)? else {
                                continue;
                            };
                            let before = (meta.flags, meta.keywords.clone());
                            apply_flags(&mut meta, &op);
                            if (meta.flags, &meta.keywords) == (before.0, &before.1) {
                                continue;
                            }
                            if meta.keywords.len() > MAX_KEYWORDS {
                                return abort(StoreError::Invalid(format!(
                                    "more than {MAX_KEYWORDS} keywords"
                                )));
                            }
                            m.modseq += 1;
                            meta.modseq = m.modseq;
                            msgs.insert(&key, enc(&meta))?;
                            tx_log_change(chg, &m, folder_id, uid, ChangeKind::FlagsChanged)?;
                            changed.push(meta);
                        }
                        if !changed.is_empty() {
                            tx_save(fld, mbx, &mut f, &m)?;
                        }
                        Ok((changed, m.modseq))
                    },
                ),
            )
        });
        let (changed, modseq) = changed?;
        if !changed.is_empty() {
            self.notify(mailbox_id, modseq);
        }
        Ok(changed)
    }
}
