//! Point reads and scans of mailboxes, folders and messages outside any transaction: what
//! the facade's readers get, and what every family's writes look up before they commit.

use super::codec::*;
use super::SledStore;
use crate::types::*;

impl SledStore {
    pub fn mailbox(&self, id: MailboxId) -> Result<Option<Mailbox>, StoreError> {
        match self.mailboxes.get(id_key(id)).map_err(sled_err)? {
            Some(v) => dec(&v).map(Some),
            None => Ok(None),
        }
    }

    pub fn find_mailbox(&self, address: &str) -> Result<Option<Mailbox>, StoreError> {
        match self.addresses.get(address.as_bytes()).map_err(sled_err)? {
            Some(id) => self.mailbox(id_from(&id)?),
            None => Ok(None),
        }
    }

    pub fn list_mailboxes(&self) -> Result<Vec<Mailbox>, StoreError> {
        let mut out = Vec::new();
        for item in self.addresses.iter() {
            let (_, id) = item.map_err(sled_err)?;
            if let Some(m) = self.mailbox(id_from(&id)?)? {
                out.push(m);
            }
        }
        Ok(out)
    }

    pub fn folders(&self, mailbox: MailboxId) -> Result<Vec<Folder>, StoreError> {
        let mut out = Vec::new();
        for item in self.folder_names.scan_prefix(id_key(mailbox)) {
            let (_, fid) = item.map_err(sled_err)?;
            if let Some(v) = self.folders.get(fid).map_err(sled_err)? {
                out.push(dec(&v)?);
            }
        }
        Ok(out)
    }

    pub fn folder(&self, mailbox: MailboxId, name: &str) -> Result<Option<Folder>, StoreError> {
        let name = normalize_folder_name(name);
        match self
            .folder_names
            .get(name_key(mailbox, &name))
            .map_err(sled_err)?
        {
            Some(fid) => self.folder_by_id(id_from(&fid)?),
            None => Ok(None),
        }
    }

    pub fn folder_by_id(&self, id: FolderId) -> Result<Option<Folder>, StoreError> {
        match self.folders.get(id_key(id)).map_err(sled_err)? {
            Some(v) => dec(&v).map(Some),
            None => Ok(None),
        }
    }

    /// The folder `id` when it belongs to `mailbox`.
    pub(super) fn owned_folder(
        &self,
        mailbox: MailboxId,
        id: FolderId,
    ) -> Result<Folder, StoreError> {
        self.folder_by_id(id)?
            .filter(|f| f.mailbox_id == mailbox)
            .ok_or_else(|| StoreError::NoFolder(id.to_string()))
    }

    pub fn messages(&self, folder: FolderId) -> Result<Vec<MessageMeta>, StoreError> {
        self.messages
            .scan_prefix(id_key(folder))
            .values()
            .map(|v| dec(&v.map_err(sled_err)?))
            .collect()
    }

    pub fn read_body(&self, meta: &MessageMeta) -> Result<Vec<u8>, StoreError> {
        self.read_body_prefix(meta, u64::MAX)
    }

    /// The first `max` bytes of a message (all of it when shorter).
    pub fn read_body_prefix(&self, meta: &MessageMeta, max: u64) -> Result<Vec<u8>, StoreError> {
        self.read_blob_prefix(&meta.blob, max).map_err(|e| {
            StoreError::Corrupt(format!(
                "body of uid {} in folder {}: {e}",
                meta.uid, meta.folder_id
            ))
        })
    }

    /// The messages of `uids` in `folder` that exist, in the order given (point lookups).
    pub fn message_metas(
        &self,
        folder: FolderId,
        uids: &[Uid],
    ) -> Result<Vec<MessageMeta>, StoreError> {
        let mut out = Vec::with_capacity(uids.len());
        for &uid in uids {
            if let Some(v) = self.messages.get(msg_key(folder, uid)).map_err(sled_err)? {
                out.push(dec(&v)?);
            }
        }
        Ok(out)
    }
}
