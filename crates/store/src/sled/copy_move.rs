//! IMAP COPY and MOVE (RFC 3501 §6.4.7, RFC 6851): copies refer to their sources' bodies
//! (one more reference each) and get new UIDs, in one transaction.

use sled::transaction::abort;

use super::body_index::{tx_body_ref, tx_body_unref, BodyTrees};
use super::codec::*;
use super::security_archive::refuse_security_archive;
use super::tx::*;
use super::SledStore;
use crate::types::*;

/// What a COPY or MOVE does, fixed before its transaction.
struct CopyPlan {
    mailbox_id: MailboxId,
    from: FolderId,
    to: FolderId,
    remove_source: bool,
    /// Source uids, ascending.
    sources: Vec<Uid>,
}

/// The messages a COPY or MOVE takes, or its answer when there are none.
enum Sources {
    Found(Vec<MessageMeta>),
    Empty(Copied),
}

impl SledStore {
    /// IMAP COPY (`remove_source` false) and MOVE (true, RFC 6851) of `uids` from `from` to
    /// `to`, in one atomic, durable step. Copies get new UIDs in ascending order of their
    /// sources, keep flags, keywords and internal date, and refer to their source's body (no
    /// byte is copied: the body gains a reference). UIDs that do not exist
    /// are skipped (a COPY of a missing UID is OK with no effect). A COPY counts against the
    /// quota and is refused whole when it does not fit; a MOVE stays in the mailbox and
    /// leaves its used bytes alone. COPY into the same folder duplicates; MOVE into it is
    /// refused.
    pub fn copy_messages(
        &self,
        mailbox_id: MailboxId,
        from: FolderId,
        uids: &[Uid],
        to: FolderId,
        remove_source: bool,
    ) -> Result<Copied, StoreError> {
        let sources = match self.copy_sources(mailbox_id, from, uids, to, remove_source)? {
            Sources::Found(sources) => sources,
            Sources::Empty(copied) => return Ok(copied),
        };
        let plan = CopyPlan {
            mailbox_id,
            from,
            to,
            remove_source,
            sources: sources.iter().map(|m| m.uid).collect(),
        };
        let copied = self.commit(Vec::new(), move |s| {
            s.message_transaction(|(mbx, fld, msgs, chg), (idx, segs)| {
                tx_copy((mbx, fld, msgs, chg), (idx, segs), &plan)
            })
        })?;
        if !copied.pairs.is_empty() {
            self.notify(mailbox_id, copied.modseq);
        }
        Ok(copied)
    }

    /// The checks of a COPY or MOVE before its transaction (both folders the mailbox's, a
    /// COPY within the quota), and the existing messages of `uids`, ascending by UID.
    fn copy_sources(
        &self,
        mailbox_id: MailboxId,
        from: FolderId,
        uids: &[Uid],
        to: FolderId,
        remove_source: bool,
    ) -> Result<Sources, StoreError> {
        if remove_source && from == to {
            return Err(StoreError::Invalid(
                "cannot move messages to the folder they are in".into(),
            ));
        }
        let source = self.owned_folder(mailbox_id, from)?;
        let dest = self.owned_folder(mailbox_id, to)?;
        refuse_security_archive(&dest, "copy")?;
        if remove_source {
            refuse_security_archive(&source, "move")?;
        }
        let pre = self
            .mailbox(mailbox_id)?
            .ok_or_else(|| StoreError::NoMailbox(mailbox_id.to_string()))?;
        let mut uids = uids.to_vec();
        uids.sort_unstable();
        uids.dedup();
        let sources = self.message_metas(from, &uids)?;
        if sources.is_empty() {
            return Ok(Sources::Empty(Copied {
                uidvalidity: dest.uidvalidity,
                pairs: Vec::new(),
                modseq: pre.modseq,
            }));
        }
        let size: u64 = sources.iter().map(|m| m.size).sum();
        if !remove_source && pre.used_bytes + size > pre.quota_bytes {
            return Err(StoreError::OverQuota {
                used: pre.used_bytes,
                quota: pre.quota_bytes,
                size,
            });
        }
        Ok(Sources::Found(sources))
    }
}

/// The transaction of a COPY or MOVE: the copies inserted, then for a MOVE the sources
/// removed, for a COPY the quota counted (refused whole when it no longer fits).
fn tx_copy(trees: MessageTrees, bodies: BodyTrees, plan: &CopyPlan) -> TxResult<Copied> {
    let (mbx, fld, msgs, chg) = trees;
    let mut m = tx_mailbox(mbx, plan.mailbox_id)?;
    let mut dst = tx_owned_folder(fld, plan.mailbox_id, plan.to)?;
    let mut src = if plan.remove_source {
        Some(tx_owned_folder(fld, plan.mailbox_id, plan.from)?)
    } else {
        None
    };
    let (pairs, copied) = tx_insert_copies(trees, bodies, plan, &mut m, &mut dst)?;
    if copied.is_empty() {
        return Ok(Copied {
            uidvalidity: dst.uidvalidity,
            pairs,
            modseq: m.modseq,
        });
    }
    if let Some(src) = &mut src {
        for source in &copied {
            msgs.remove(msg_key(plan.from, source.uid).as_ref())?;
            m.modseq += 1;
            src.message_count = src.message_count.saturating_sub(1);
            src.size_bytes = src.size_bytes.saturating_sub(source.size);
            tx_log_change(chg, &m, plan.from, source.uid, ChangeKind::Expunged)?;
            tx_body_unref(bodies, &source.blob)?;
        }
        src.highestmodseq = m.modseq;
        fld.insert(&id_key(plan.from), enc(&*src))?;
    } else {
        let size: u64 = copied.iter().map(|c| c.size).sum();
        if m.used_bytes + size > m.quota_bytes {
            return abort(StoreError::OverQuota {
                used: m.used_bytes,
                quota: m.quota_bytes,
                size,
            });
        }
        m.used_bytes += size;
        m.message_count += copied.len() as u64;
    }
    tx_save(fld, mbx, &mut dst, &m)?;
    Ok(Copied {
        uidvalidity: dst.uidvalidity,
        pairs,
        modseq: m.modseq,
    })
}

/// (source uid, copy's uid) pairs, and the sources copied.
type Inserted = (Vec<(Uid, Uid)>, Vec<MessageMeta>);

/// Inserts a copy of each planned source still present into the destination `dst`, each
/// with the next UID and modseq and one more reference to the source's body, logged as
/// appended.
fn tx_insert_copies(
    (_, _, msgs, chg): MessageTrees,
    bodies: BodyTrees,
    plan: &CopyPlan,
    m: &mut Mailbox,
    dst: &mut Folder,
) -> TxResult<Inserted> {
    let mut pairs = Vec::with_capacity(plan.sources.len());
    let mut copied = Vec::with_capacity(plan.sources.len());
    for &uid in &plan.sources {
        let key = msg_key(plan.from, uid);
        let Some(source) = tx_get::<MessageMeta>(msgs, &key)? else {
            continue;
        };
        tx_body_ref(bodies, &source.blob)?;
        m.modseq += 1;
        let copy = MessageMeta {
            uid: dst.uidnext,
            folder_id: plan.to,
            modseq: m.modseq,
            ..source.clone()
        };
        dst.uidnext += 1;
        dst.message_count += 1;
        dst.size_bytes += copy.size;
        msgs.insert(&msg_key(plan.to, copy.uid), enc(&copy))?;
        tx_log_change(chg, m, plan.to, copy.uid, ChangeKind::Appended)?;
        pairs.push((uid, copy.uid));
        copied.push(source);
    }
    Ok((pairs, copied))
}
