//! Mailboxes: creation with the default folders, lookups, password, settings, state, quota and
//! address, deletion.

use super::blocking;
use crate::types::*;
use crate::{Backend, Store};

impl Store {
    /// Creates a mailbox with its default folders (INBOX, Sent, Drafts, Trash, Junk,
    /// Archive). `address` must already be normalised (lower case).
    pub async fn create_mailbox(
        &self,
        address: &str,
        password_hash: &str,
        quota_bytes: u64,
    ) -> Result<Mailbox, StoreError> {
        let (address, hash) = (address.to_string(), password_hash.to_string());
        match &self.backend {
            Backend::Sled(s) => {
                blocking(s, move |s| s.create_mailbox(&address, &hash, quota_bytes)).await
            }
        }
    }

    pub async fn mailbox(&self, id: MailboxId) -> Result<Option<Mailbox>, StoreError> {
        match &self.backend {
            Backend::Sled(s) => blocking(s, move |s| s.mailbox(id)).await,
        }
    }

    pub async fn find_mailbox(&self, address: &str) -> Result<Option<Mailbox>, StoreError> {
        let address = address.to_ascii_lowercase();
        match &self.backend {
            Backend::Sled(s) => blocking(s, move |s| s.find_mailbox(&address)).await,
        }
    }

    pub async fn list_mailboxes(&self) -> Result<Vec<Mailbox>, StoreError> {
        match &self.backend {
            Backend::Sled(s) => blocking(s, |s| s.list_mailboxes()).await,
        }
    }

    pub async fn set_password(
        &self,
        id: MailboxId,
        password_hash: &str,
    ) -> Result<Mailbox, StoreError> {
        self.set_password_at(id, password_hash, chrono::Utc::now().timestamp())
            .await
    }

    /// Sets the password as changed at `at` (Unix seconds on the engine's clock, which
    /// `pec.clock_offset_seconds` moves; 0 = a first password the holder must change).
    pub async fn set_password_at(
        &self,
        id: MailboxId,
        password_hash: &str,
        at: i64,
    ) -> Result<Mailbox, StoreError> {
        let hash = password_hash.to_string();
        match &self.backend {
            Backend::Sled(s) => {
                blocking(s, move |s| {
                    s.update_mailbox(id, move |m| {
                        m.password_hash = hash.clone();
                        m.password_changed_at = at;
                    })
                })
                .await
            }
        }
    }

    /// Sets a password that is expired from the start (PROVISIONING.md §7: a first password
    /// set by the system, or one an administrator gives with `--must-change`): the login
    /// answers "expired" until the holder changes it.
    pub async fn set_expired_password(
        &self,
        id: MailboxId,
        password_hash: &str,
    ) -> Result<Mailbox, StoreError> {
        let hash = password_hash.to_string();
        match &self.backend {
            Backend::Sled(s) => {
                blocking(s, move |s| {
                    s.update_mailbox(id, move |m| {
                        m.password_hash = hash.clone();
                        m.password_changed_at = 0;
                    })
                })
                .await
            }
        }
    }

    /// Changes per-mailbox settings inside the store's transaction, so that concurrent
    /// updates of different settings do not overwrite each other.
    pub async fn update_settings(
        &self,
        id: MailboxId,
        change: impl Fn(&mut MailboxSettings) + Send + Sync + 'static,
    ) -> Result<Mailbox, StoreError> {
        match &self.backend {
            Backend::Sled(s) => {
                blocking(s, move |s| {
                    s.update_mailbox(id, move |m| change(&mut m.settings))
                })
                .await
            }
        }
    }

    pub async fn set_state(
        &self,
        id: MailboxId,
        state: MailboxState,
    ) -> Result<Mailbox, StoreError> {
        match &self.backend {
            Backend::Sled(s) => {
                blocking(s, move |s| s.update_mailbox(id, move |m| m.state = state)).await
            }
        }
    }

    /// Gives a mailbox a new address (lower case), atomically over the mailbox and its
    /// address index; an address in use is refused with [`StoreError::Exists`].
    pub async fn rename_mailbox(
        &self,
        id: MailboxId,
        new_address: &str,
    ) -> Result<Mailbox, StoreError> {
        let address = new_address.to_ascii_lowercase();
        match &self.backend {
            Backend::Sled(s) => blocking(s, move |s| s.rename_mailbox(id, &address)).await,
        }
    }

    /// Sets the disk quota of a mailbox (what is already stored stays, even above it).
    pub async fn set_quota(&self, id: MailboxId, quota_bytes: u64) -> Result<Mailbox, StoreError> {
        match &self.backend {
            Backend::Sled(s) => {
                blocking(s, move |s| {
                    s.update_mailbox(id, move |m| m.quota_bytes = quota_bytes)
                })
                .await
            }
        }
    }

    pub async fn delete_mailbox(&self, id: MailboxId) -> Result<Mailbox, StoreError> {
        match &self.backend {
            Backend::Sled(s) => blocking(s, move |s| s.delete_mailbox(id)).await,
        }
    }
}
