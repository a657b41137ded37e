//! Mailboxes: creation with the default folders, settings and state updates, deletion with
//! everything the mailbox holds.

use sled::transaction::abort;
use sled::Transactional;

use super::body_index::tx_body_unref;
use super::codec::*;
use super::tx::*;
use super::SledStore;
use crate::types::*;

impl SledStore {
    pub fn create_mailbox(
        &self,
        address: &str,
        password_hash: &str,
        quota_bytes: u64,
    ) -> Result<Mailbox, StoreError> {
        let id = self.db.generate_id().map_err(sled_err)? + 1;
        let folder_ids = DEFAULT_FOLDERS
            .iter()
            .map(|_| self.db.generate_id().map(|i| i + 1).map_err(sled_err))
            .collect::<Result<Vec<_>, _>>()?;
        let created = now();
        let (address, password_hash) = (address.to_string(), password_hash.to_string());
        let mailbox = self.commit(Vec::new(), move |s| {
            finish(
                (
                    &s.mailboxes,
                    &s.addresses,
                    &s.folders,
                    &s.folder_names,
                    &s.changes,
                    &s.meta,
                )
                    .transaction(|(mbx, addr, fld, names, chg, meta)| {
                        if addr.get(address.as_bytes())?.is_some() {
                            return abort(StoreError::Exists(address.to_string()));
                        }
                        let mut mailbox = Mailbox {
                            id,
                            address: address.to_string(),
                            password_hash: password_hash.to_string(),
                            password_changed_at: created,
                            quota_bytes,
                            used_bytes: 0,
                            message_count: 0,
                            state: MailboxState::Active,
                            settings: MailboxSettings::default(),
                            created_at: created,
                            modseq: 0,
                        };
                        for ((name, role), folder_id) in DEFAULT_FOLDERS.iter().zip(&folder_ids) {
                            Self::tx_create_folder(
                                fld,
                                names,
                                chg,
                                meta,
                                &mut mailbox,
                                *folder_id,
                                name,
                                Some(*role),
                            )?;
                        }
                        addr.insert(address.as_bytes(), &id_key(id))?;
                        mbx.insert(&id_key(id), enc(&mailbox))?;
                        Ok(mailbox)
                    }),
            )
        })?;
        self.notify(mailbox.id, mailbox.modseq);
        Ok(mailbox)
    }

    /// Applies `change` to the mailbox record atomically and durably.
    pub fn update_mailbox(
        &self,
        id: MailboxId,
        change: impl Fn(&mut Mailbox) + Send + 'static,
    ) -> Result<Mailbox, StoreError> {
        let updated = self.commit(Vec::new(), move |s| {
            finish(s.mailboxes.transaction(|mbx| {
                let mut m = tx_mailbox(mbx, id)?;
                change(&mut m);
                mbx.insert(&id_key(id), enc(&m))?;
                Ok(m)
            }))
        })?;
        Ok(updated)
    }

    /// Gives a mailbox a new address, atomically over the mailbox record and the address
    /// index; an address already in use is refused with [`StoreError::Exists`].
    pub fn rename_mailbox(&self, id: MailboxId, new_address: &str) -> Result<Mailbox, StoreError> {
        let new_address = new_address.to_string();
        let renamed = self.commit(Vec::new(), move |s| {
            finish((&s.mailboxes, &s.addresses).transaction(|(mbx, addr)| {
                let mut m = tx_mailbox(mbx, id)?;
                if m.address == new_address {
                    return Ok(m);
                }
                if addr.get(new_address.as_bytes())?.is_some() {
                    return abort(StoreError::Exists(new_address.clone()));
                }
                addr.remove(m.address.as_bytes())?;
                addr.insert(new_address.as_bytes(), &id_key(id))?;
                m.address = new_address.clone();
                mbx.insert(&id_key(id), enc(&m))?;
                Ok(m)
            }))
        })?;
        Ok(renamed)
    }

    /// Deletes a mailbox with its folders, messages and change log, and their body references.
    pub fn delete_mailbox(&self, id: MailboxId) -> Result<Mailbox, StoreError> {
        // The scans run inside the round, where no other write can interleave, so nothing
        // committed in the meantime is left behind.
        let removed = self.commit(Vec::new(), move |s| {
            let folders = s.folders(id)?;
            let mut message_keys = Vec::new();
            let mut blobs = Vec::new();
            for f in &folders {
                for m in s.messages(f.id)? {
                    message_keys.push(msg_key(f.id, m.uid));
                    blobs.push(m.blob);
                }
            }
            let change_keys: Vec<_> = s
                .changes
                .scan_prefix(id_key(id))
                .keys()
                .collect::<Result<_, _>>()
                .map_err(sled_err)?;
            let removed = finish(
                (
                    &s.mailboxes,
                    &s.addresses,
                    &s.folders,
                    &s.folder_names,
                    &s.messages,
                    &s.changes,
                    &s.change_floors,
                    &s.body_index,
                    &s.body_segments,
                )
                    .transaction(
                        |(mbx, addr, fld, names, msgs, chg, floors, idx, segs)| {
                            let m = tx_mailbox(mbx, id)?;
                            floors.remove(&id_key(id))?;
                            mbx.remove(&id_key(id))?;
                            addr.remove(m.address.as_bytes())?;
                            for f in &folders {
                                fld.remove(&id_key(f.id))?;
                                names.remove(name_key(id, &f.name))?;
                            }
                            for k in &message_keys {
                                msgs.remove(k.as_ref())?;
                            }
                            for b in &blobs {
                                tx_body_unref((idx, segs), b)?;
                            }
                            for k in &change_keys {
                                chg.remove(k)?;
                            }
                            Ok(m)
                        },
                    ),
            )?;
            Ok(removed)
        })?;
        // Sessions of the deleted mailbox learn of it from a notice past its last modseq.
        self.notify(id, removed.modseq + 1);
        Ok(removed)
    }
}
