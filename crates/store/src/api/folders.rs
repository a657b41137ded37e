//! Folders (IMAP CREATE, DELETE, RENAME, SUBSCRIBE, LIST; RFC 3501 §6.3).

use super::blocking;
use crate::types::*;
use crate::{Backend, Store};

impl Store {
    pub async fn folders(&self, mailbox: MailboxId) -> Result<Vec<Folder>, StoreError> {
        match &self.backend {
            Backend::Sled(s) => blocking(s, move |s| s.folders(mailbox)).await,
        }
    }

    pub async fn folder(
        &self,
        mailbox: MailboxId,
        name: &str,
    ) -> Result<Option<Folder>, StoreError> {
        let name = name.to_string();
        match &self.backend {
            Backend::Sled(s) => blocking(s, move |s| s.folder(mailbox, &name)).await,
        }
    }

    pub async fn folder_by_id(&self, id: FolderId) -> Result<Option<Folder>, StoreError> {
        match &self.backend {
            Backend::Sled(s) => blocking(s, move |s| s.folder_by_id(id)).await,
        }
    }

    pub async fn create_folder(
        &self,
        mailbox: MailboxId,
        name: &str,
        role: Option<SpecialUse>,
    ) -> Result<Folder, StoreError> {
        let name = name.to_string();
        match &self.backend {
            Backend::Sled(s) => blocking(s, move |s| s.create_folder(mailbox, &name, role)).await,
        }
    }

    /// Deletes a folder with its messages (each logged as expunged) and returns it as it was.
    /// System folders (those with a role, INBOX among them) are refused with `Invalid`; folders
    /// below it in the hierarchy are kept.
    pub async fn delete_folder(
        &self,
        mailbox: MailboxId,
        folder: FolderId,
    ) -> Result<Folder, StoreError> {
        match &self.backend {
            Backend::Sled(s) => blocking(s, move |s| s.delete_folder(mailbox, folder)).await,
        }
    }

    /// Renames a folder and the folders below it ("Old/Child" becomes "New/Child"), keeping
    /// its id, UIDVALIDITY and messages. To keep things simple, system folders cannot be
    /// renamed, INBOX included (RFC 3501's move-INBOX's-messages rename is not offered);
    /// `Exists` when a new name is taken.
    pub async fn rename_folder(
        &self,
        mailbox: MailboxId,
        folder: FolderId,
        new_name: &str,
    ) -> Result<Folder, StoreError> {
        let new_name = new_name.to_string();
        match &self.backend {
            Backend::Sled(s) => {
                blocking(s, move |s| s.rename_folder(mailbox, folder, &new_name)).await
            }
        }
    }

    pub async fn set_subscribed(
        &self,
        mailbox: MailboxId,
        folder: FolderId,
        subscribed: bool,
    ) -> Result<Folder, StoreError> {
        match &self.backend {
            Backend::Sled(s) => {
                blocking(s, move |s| s.set_subscribed(mailbox, folder, subscribed)).await
            }
        }
    }
}
