//! Folders (IMAP CREATE, DELETE, RENAME, SUBSCRIBE; RFC 3501 §6.3): names, creation,
//! deletion with their messages, renaming with the folders below, subscription.

use sled::transaction::{abort, TransactionalTree};
use sled::Transactional;

use super::body_index::tx_body_unref;
use super::codec::*;
use super::security_archive::check_reserved;
use super::tx::*;
use super::SledStore;
use crate::types::*;

pub(super) fn validate_folder_name(name: &str) -> Result<(), StoreError> {
    if name.is_empty() || name.len() > 255 || name.chars().any(|c| c.is_control()) {
        return Err(StoreError::Invalid(format!("folder name {name:?}")));
    }
    Ok(())
}

/// INBOX and the special-use folders every client expects (CLIENTS.md §1) stay in place.
pub(super) fn refuse_system_folder(folder: &Folder) -> Result<(), StoreError> {
    match folder.role {
        Some(_) => Err(StoreError::Invalid(format!(
            "{} is a system folder",
            folder.name
        ))),
        None => Ok(()),
    }
}

impl SledStore {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn tx_create_folder(
        fld: &TransactionalTree,
        names: &TransactionalTree,
        chg: &TransactionalTree,
        meta: &TransactionalTree,
        mailbox: &mut Mailbox,
        folder_id: FolderId,
        name: &str,
        role: Option<SpecialUse>,
    ) -> TxResult<Folder> {
        let key = name_key(mailbox.id, name);
        if names.get(&key)?.is_some() {
            return abort(StoreError::Exists(name.to_string()));
        }
        // UIDVALIDITY must change whenever a name is reused, so it is a store-wide counter
        // that starts at the current time (RFC 3501 §2.3.1.1).
        let last: u32 = tx_get(meta, b"uidvalidity")?.unwrap_or(0);
        let uidvalidity = last.saturating_add(1).max(now() as u32);
        meta.insert(b"uidvalidity".as_ref(), enc(&uidvalidity))?;
        mailbox.modseq += 1;
        let folder = Folder {
            id: folder_id,
            mailbox_id: mailbox.id,
            name: name.to_string(),
            uidvalidity,
            uidnext: 1,
            highestmodseq: mailbox.modseq,
            subscribed: true,
            role,
            message_count: 0,
            size_bytes: 0,
        };
        fld.insert(&id_key(folder_id), enc(&folder))?;
        names.insert(key, &id_key(folder_id))?;
        tx_log_change(chg, mailbox, folder_id, 0, ChangeKind::FolderCreated)?;
        Ok(folder)
    }

    pub fn create_folder(
        &self,
        mailbox_id: MailboxId,
        name: &str,
        role: Option<SpecialUse>,
    ) -> Result<Folder, StoreError> {
        let name = normalize_folder_name(name);
        validate_folder_name(&name)?;
        check_reserved(&name, role)?;
        let folder_id = self.db.generate_id().map_err(sled_err)? + 1;
        let folder = self.commit(Vec::new(), move |s| {
            finish(
                (
                    &s.mailboxes,
                    &s.folders,
                    &s.folder_names,
                    &s.changes,
                    &s.meta,
                )
                    .transaction(|(mbx, fld, names, chg, meta)| {
                        let mut m = tx_mailbox(mbx, mailbox_id)?;
                        let f = Self::tx_create_folder(
                            fld, names, chg, meta, &mut m, folder_id, &name, role,
                        )?;
                        mbx.insert(&id_key(mailbox_id), enc(&m))?;
                        Ok(f)
                    }),
            )
        })?;
        self.notify(mailbox_id, folder.highestmodseq);
        Ok(folder)
    }

    /// Deletes a folder and its messages, each logged as expunged, with their body references;
    /// returns
    /// the folder as it was. System folders are refused. Folders below it ("Old/Child" for
    /// "Old") stay: names are flat here, and RFC 3501 §6.3.4 lets inferior names outlive their
    /// parent.
    pub fn delete_folder(
        &self,
        mailbox_id: MailboxId,
        folder_id: FolderId,
    ) -> Result<Folder, StoreError> {
        refuse_system_folder(&self.owned_folder(mailbox_id, folder_id)?)?;
        // The scan runs inside the round, where no other write can interleave, so a message
        // appended meanwhile cannot be left behind without its folder.
        let (folder, modseq) = self.commit(Vec::new(), move |s| {
            let messages = s.messages(folder_id)?;
            let (folder, modseq) = finish(
                (
                    &s.mailboxes,
                    &s.folders,
                    &s.folder_names,
                    &s.messages,
                    &s.changes,
                    &s.body_index,
                    &s.body_segments,
                )
                    .transaction(|(mbx, fld, names, msgs, chg, idx, segs)| {
                        let mut m = tx_mailbox(mbx, mailbox_id)?;
                        let f = tx_owned_folder(fld, mailbox_id, folder_id)?;
                        for meta in &messages {
                            msgs.remove(msg_key(folder_id, meta.uid).as_ref())?;
                            tx_body_unref((idx, segs), &meta.blob)?;
                            m.modseq += 1;
                            m.used_bytes = m.used_bytes.saturating_sub(meta.size);
                            m.message_count = m.message_count.saturating_sub(1);
                            tx_log_change(chg, &m, folder_id, meta.uid, ChangeKind::Expunged)?;
                        }
                        fld.remove(&id_key(folder_id))?;
                        names.remove(name_key(mailbox_id, &f.name))?;
                        m.modseq += 1;
                        tx_log_change(chg, &m, folder_id, 0, ChangeKind::FolderDeleted)?;
                        mbx.insert(&id_key(mailbox_id), enc(&m))?;
                        Ok((f, m.modseq))
                    }),
            )?;
            Ok((folder, modseq))
        })?;
        self.notify(mailbox_id, modseq);
        Ok(folder)
    }

    /// Renames a folder and the folders below it ("Old/Child" becomes "New/Child"; the
    /// hierarchy separator is "/"), keeping ids, UIDVALIDITY and messages. System folders,
    /// INBOX among them, are refused, as is a rename when a system folder sits below the
    /// folder, or when the new name lies below the folder itself. Missing parents of the new
    /// name are not created. Returns the renamed folder.
    pub fn rename_folder(
        &self,
        mailbox_id: MailboxId,
        folder_id: FolderId,
        new_name: &str,
    ) -> Result<Folder, StoreError> {
        let new_name = normalize_folder_name(new_name);
        validate_folder_name(&new_name)?;
        check_reserved(&new_name, None)?;
        refuse_system_folder(&self.owned_folder(mailbox_id, folder_id)?)?;
        let (folder, modseq) = self.commit(Vec::new(), move |s| {
            // Names change only in commit rounds, so what is read here holds for the
            // transaction.
            let folder = s.owned_folder(mailbox_id, folder_id)?;
            if new_name == folder.name {
                return Err(StoreError::Exists(new_name));
            }
            let old_prefix = format!("{}/", folder.name);
            if new_name.starts_with(&old_prefix) {
                return Err(StoreError::Invalid(format!(
                    "cannot move {} below itself",
                    folder.name
                )));
            }
            let mut renames = vec![(folder.id, new_name.clone())];
            for child in s.folders(mailbox_id)? {
                if let Some(rest) = child.name.strip_prefix(&old_prefix) {
                    refuse_system_folder(&child)?;
                    let name = format!("{new_name}/{rest}");
                    validate_folder_name(&name)?;
                    check_reserved(&name, None)?;
                    renames.push((child.id, name));
                }
            }
            finish(
                (&s.mailboxes, &s.folders, &s.folder_names, &s.changes).transaction(
                    |(mbx, fld, names, chg)| {
                        let mut m = tx_mailbox(mbx, mailbox_id)?;
                        let mut folders = Vec::with_capacity(renames.len());
                        // Old names go first, so a new name may take one of them ("A/B/B"
                        // becoming "A/B" when "A/B" is renamed to "A").
                        for (id, _) in &renames {
                            let f = tx_owned_folder(fld, mailbox_id, *id)?;
                            names.remove(name_key(mailbox_id, &f.name))?;
                            folders.push(f);
                        }
                        for (f, (_, name)) in folders.iter_mut().zip(&renames) {
                            let key = name_key(mailbox_id, name);
                            if names.get(&key)?.is_some() {
                                return abort(StoreError::Exists(name.clone()));
                            }
                            names.insert(key, &id_key(f.id))?;
                            f.name = name.clone();
                            fld.insert(&id_key(f.id), enc(&*f))?;
                            m.modseq += 1;
                            tx_log_change(chg, &m, f.id, 0, ChangeKind::FolderRenamed)?;
                        }
                        mbx.insert(&id_key(mailbox_id), enc(&m))?;
                        // The folder itself is the first of `renames`.
                        Ok((folders.swap_remove(0), m.modseq))
                    },
                ),
            )
        })?;
        self.notify(mailbox_id, modseq);
        Ok(folder)
    }

    /// Sets the folder's subscription (IMAP SUBSCRIBE, UNSUBSCRIBE); not a change of its
    /// contents, so neither modseq nor change log moves.
    pub fn set_subscribed(
        &self,
        mailbox_id: MailboxId,
        folder_id: FolderId,
        subscribed: bool,
    ) -> Result<Folder, StoreError> {
        self.commit(Vec::new(), move |s| {
            finish(s.folders.transaction(|fld| {
                let mut f = tx_owned_folder(fld, mailbox_id, folder_id)?;
                f.subscribed = subscribed;
                fld.insert(&id_key(folder_id), enc(&f))?;
                Ok(f)
            }))
        })
    }
}
