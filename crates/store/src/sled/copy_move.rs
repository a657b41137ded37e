//! IMAP COPY and MOVE (RFC 3501 §6.4.7, RFC 6851): copies get hard-linked bodies and new UIDs
//! in one transaction.

use sled::transaction::abort;
use sled::Transactional;

use super::codec::*;
use super::tx::*;
use super::SledStore;
use crate::bodies::{BlobId, PreparedBody};
use crate::types::*;

/// What a COPY or MOVE does, fixed before its transaction.
struct CopyPlan {
    mailbox_id: MailboxId,
    from: FolderId,
    to: FolderId,
    remove_source: bool,
    /// (source uid, blob of its copy), ascending by uid.
    links: Vec<(Uid, BlobId)>,
}

/// What the transaction did besides the [`Copied`] answer: links of sources that were gone
/// by then (unused), and bodies of the sources a MOVE removed.
struct CopyOutcome {
    copied: Copied,
    unused: Vec<BlobId>,
    moved: Vec<BlobId>,
}

/// The messages a COPY or MOVE takes, or its answer when there are none.
enum Sources {
    Found(Vec<MessageMeta>),
    Empty(Copied),
}

impl SledStore {
    /// IMAP COPY (`remove_source` false) and MOVE (true, RFC 6851) of `uids` from `from` to
    /// `to`, in one atomic, durable step. Copies get new UIDs in ascending order of their
    /// sources, keep flags, keywords and internal date, and each gets its own body file, a
    /// hard link to its source's ([`crate::bodies::Bodies::link`]). UIDs that do not exist
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
        let links = self.link_bodies(from, &sources)?;
        let plan = CopyPlan {
            mailbox_id,
            from,
            to,
            remove_source,
            links: links.iter().map(|(uid, b)| (*uid, b.id)).collect(),
        };
        let planned: Vec<BlobId> = plan.links.iter().map(|(_, blob)| *blob).collect();
        let links: Vec<PreparedBody> = links.into_iter().map(|(_, b)| b).collect();
        let result = self.commit(links, move |s| {
            finish(
                (&s.mailboxes, &s.folders, &s.messages, &s.changes)
                    .transaction(|(mbx, fld, msgs, chg)| tx_copy((mbx, fld, msgs, chg), &plan)),
            )
        });
        let outcome = match result {
            Ok(r) => r,
            // The transaction refused the copy: nothing refers to the new links.
            Err(e) if !e.is_temporary() => {
                for blob in &planned {
                    self.bodies.remove(blob);
                }
                return Err(e);
            }
            // As in `append`: the links stay for the sweep at the next open to judge.
            Err(e) => return Err(e),
        };
        // Sources removed between the lookup and the transaction: their links are unused.
        for blob in outcome.unused.iter().chain(&outcome.moved) {
            self.bodies.remove(blob);
        }
        if !outcome.copied.pairs.is_empty() {
            self.notify(mailbox_id, outcome.copied.modseq);
        }
        Ok(outcome.copied)
    }

    /// The checks of a COPY or MOVE before any body is linked (both folders the mailbox's, a
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
        self.owned_folder(mailbox_id, from)?;
        let dest = self.owned_folder(mailbox_id, to)?;
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

    /// New body files for copies of `sources`, hard links to theirs, paired with the source
    /// UIDs. A source whose body is gone because its message was removed meanwhile is left
    /// out; a body missing under a message that still exists is corruption.
    pub(super) fn link_bodies(
        &self,
        folder: FolderId,
        sources: &[MessageMeta],
    ) -> Result<Vec<(Uid, PreparedBody)>, StoreError> {
        let mut links = Vec::with_capacity(sources.len());
        for meta in sources {
            let error = match self.bodies.link(&meta.blob) {
                Ok(body) => {
                    links.push((meta.uid, body));
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    match self.message_metas(folder, &[meta.uid]) {
                        Ok(still) if still.is_empty() => continue,
                        Ok(_) => StoreError::Corrupt(format!(
                            "body of uid {} in folder {folder}: {e}",
                            meta.uid
                        )),
                        Err(lookup) => lookup,
                    }
                }
                Err(e) => StoreError::from(e),
            };
            for (_, body) in links {
                self.bodies.discard(body);
            }
            return Err(error);
        }
        Ok(links)
    }
}

/// The transaction of a COPY or MOVE: the copies inserted, then for a MOVE the sources
/// removed, for a COPY the quota counted (refused whole when it no longer fits).
fn tx_copy(trees: MessageTrees, plan: &CopyPlan) -> TxResult<CopyOutcome> {
    let (mbx, fld, msgs, chg) = trees;
    let mut m = tx_mailbox(mbx, plan.mailbox_id)?;
    let mut dst = tx_owned_folder(fld, plan.mailbox_id, plan.to)?;
    let mut src = if plan.remove_source {
        Some(tx_owned_folder(fld, plan.mailbox_id, plan.from)?)
    } else {
        None
    };
    let (pairs, copied, unused) = tx_insert_copies(trees, plan, &mut m, &mut dst)?;
    if copied.is_empty() {
        return Ok(CopyOutcome {
            copied: Copied {
                uidvalidity: dst.uidvalidity,
                pairs,
                modseq: m.modseq,
            },
            unused,
            moved: Vec::new(),
        });
    }
    let mut moved = Vec::new();
    if let Some(src) = &mut src {
        for source in &copied {
            msgs.remove(msg_key(plan.from, source.uid).as_ref())?;
            m.modseq += 1;
            src.message_count = src.message_count.saturating_sub(1);
            src.size_bytes = src.size_bytes.saturating_sub(source.size);
            tx_log_change(chg, &m, plan.from, source.uid, ChangeKind::Expunged)?;
            moved.push(source.blob);
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
    Ok(CopyOutcome {
        copied: Copied {
            uidvalidity: dst.uidvalidity,
            pairs,
            modseq: m.modseq,
        },
        unused,
        moved,
    })
}

/// (source uid, copy's uid) pairs, the sources copied, and the links whose source was gone.
type Inserted = (Vec<(Uid, Uid)>, Vec<MessageMeta>, Vec<BlobId>);

/// Inserts a copy of each planned source still present into the destination `dst`, each
/// with the next UID and modseq, logged as appended.
fn tx_insert_copies(
    (_, _, msgs, chg): MessageTrees,
    plan: &CopyPlan,
    m: &mut Mailbox,
    dst: &mut Folder,
) -> TxResult<Inserted> {
    let mut pairs = Vec::with_capacity(plan.links.len());
    let mut copied = Vec::with_capacity(plan.links.len());
    let mut unused = Vec::new();
    for &(uid, blob) in &plan.links {
        let key = msg_key(plan.from, uid);
        let Some(source) = tx_get::<MessageMeta>(msgs, &key)? else {
            unused.push(blob);
            continue;
        };
        m.modseq += 1;
        let copy = MessageMeta {
            uid: dst.uidnext,
            folder_id: plan.to,
            blob,
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
    Ok((pairs, copied, unused))
}
