//! Steps shared by the transactions of several record families: reading a mailbox or folder
//! inside a transaction, logging a change, writing back counters, inserting a message record.

use serde::de::DeserializeOwned;
use sled::transaction::{abort, TransactionalTree};

use super::codec::*;
use crate::bodies::BlobId;
use crate::types::*;

pub(super) fn tx_get<T: DeserializeOwned>(
    tree: &TransactionalTree,
    key: &[u8],
) -> TxResult<Option<T>> {
    match tree.get(key)? {
        Some(v) => dec(&v).map(Some).or_else(abort),
        None => Ok(None),
    }
}

pub(super) fn tx_mailbox(tree: &TransactionalTree, id: MailboxId) -> TxResult<Mailbox> {
    tx_get(tree, &id_key(id))?.map_or_else(|| abort(StoreError::NoMailbox(id.to_string())), Ok)
}

pub(super) fn tx_folder(tree: &TransactionalTree, id: FolderId) -> TxResult<Folder> {
    tx_get(tree, &id_key(id))?.map_or_else(|| abort(StoreError::NoFolder(id.to_string())), Ok)
}

/// A folder of `mailbox`: a session naming another mailbox's folder id gets `NoFolder`.
pub(super) fn tx_owned_folder(
    tree: &TransactionalTree,
    mailbox: MailboxId,
    id: FolderId,
) -> TxResult<Folder> {
    let folder = tx_folder(tree, id)?;
    if folder.mailbox_id != mailbox {
        return abort(StoreError::NoFolder(id.to_string()));
    }
    Ok(folder)
}

/// Logs one change at the mailbox's current modseq (the caller has just advanced it).
pub(super) fn tx_log_change(
    chg: &TransactionalTree,
    mailbox: &Mailbox,
    folder_id: FolderId,
    uid: Uid,
    kind: ChangeKind,
) -> TxResult<()> {
    let change = Change {
        modseq: mailbox.modseq,
        folder_id,
        uid,
        kind,
    };
    chg.insert(&change_key(mailbox.id, mailbox.modseq), enc(&change))?;
    Ok(())
}

/// Writes back a folder and its mailbox after changes, the folder's HIGHESTMODSEQ set to the
/// mailbox's modseq.
pub(super) fn tx_save(
    fld: &TransactionalTree,
    mbx: &TransactionalTree,
    folder: &mut Folder,
    mailbox: &Mailbox,
) -> TxResult<()> {
    folder.highestmodseq = mailbox.modseq;
    fld.insert(&id_key(folder.id), enc(folder))?;
    mbx.insert(&id_key(mailbox.id), enc(mailbox))?;
    Ok(())
}

/// The message trees as a transaction sees them: mailboxes, folders, messages, changes.
pub(super) type MessageTrees<'a> = (
    &'a TransactionalTree,
    &'a TransactionalTree,
    &'a TransactionalTree,
    &'a TransactionalTree,
);

/// What a new message record holds besides its place.
pub(super) struct NewRecord {
    pub(super) blob: BlobId,
    pub(super) size: u64,
    pub(super) internal_date: i64,
    pub(super) flags: Flags,
    pub(super) keywords: Vec<String>,
}

/// Inserts one message record into `folder_id` of mailbox `m`: next UID, counters, modseq,
/// change log, folder and mailbox written back. The caller has checked the quota if any.
/// A message of the security archive counts in its folder's size, not in `used_bytes`.
pub(super) fn tx_insert_message(
    (mbx, fld, msgs, chg): MessageTrees,
    mut m: Mailbox,
    folder_id: FolderId,
    r: NewRecord,
) -> TxResult<Appended> {
    let mut f = tx_owned_folder(fld, m.id, folder_id)?;
    let uid = f.uidnext;
    m.modseq += 1;
    // The security archive has its own size (its folder's), outside the mailbox's quota.
    if !f.is_security_archive() {
        m.used_bytes += r.size;
    }
    m.message_count += 1;
    f.uidnext += 1;
    f.message_count += 1;
    f.size_bytes += r.size;
    let meta = MessageMeta {
        uid,
        folder_id: f.id,
        blob: r.blob,
        size: r.size,
        internal_date: r.internal_date,
        flags: r.flags,
        keywords: r.keywords,
        modseq: m.modseq,
    };
    msgs.insert(&msg_key(f.id, uid), enc(&meta))?;
    tx_log_change(chg, &m, f.id, uid, ChangeKind::Appended)?;
    tx_save(fld, mbx, &mut f, &m)?;
    Ok(Appended {
        uidvalidity: f.uidvalidity,
        uid,
        modseq: m.modseq,
        folder_id: f.id,
        size: r.size,
    })
}
