//! Messages: append, read, flags (IMAP STORE), expunge and POP3 deletion, and the change log
//! that feeds IDLE, CONDSTORE/QRESYNC (RFC 7162) and POP3.

use super::blocking;
use crate::types::*;
use crate::{Backend, Store};

impl Store {
    /// Appends a message; the UID is allocated in the same atomic step as the insert, and the
    /// call returns once the message is durable.
    pub async fn append(
        &self,
        mailbox: MailboxId,
        folder: &str,
        message: NewMessage,
    ) -> Result<Appended, StoreError> {
        let folder = folder.to_string();
        match &self.backend {
            Backend::Sled(s) => blocking(s, move |s| s.append(mailbox, &folder, message)).await,
        }
    }

    /// Appends several messages to one folder, in their order, all or none, durable when the
    /// call returns (one commit for all: the bulk import of a migration).
    pub async fn append_batch(
        &self,
        mailbox: MailboxId,
        folder: &str,
        messages: Vec<NewMessage>,
    ) -> Result<Vec<Appended>, StoreError> {
        let folder = folder.to_string();
        match &self.backend {
            Backend::Sled(s) => {
                blocking(s, move |s| s.append_batch(mailbox, &folder, messages)).await
            }
        }
    }

    pub async fn messages(&self, folder: FolderId) -> Result<Vec<MessageMeta>, StoreError> {
        match &self.backend {
            Backend::Sled(s) => blocking(s, move |s| s.messages(folder)).await,
        }
    }

    /// The messages of `uids` that exist, in the order given, by point lookups.
    pub async fn message_metas(
        &self,
        folder: FolderId,
        uids: Vec<Uid>,
    ) -> Result<Vec<MessageMeta>, StoreError> {
        match &self.backend {
            Backend::Sled(s) => blocking(s, move |s| s.message_metas(folder, &uids)).await,
        }
    }

    pub async fn read_body(&self, meta: MessageMeta) -> Result<Vec<u8>, StoreError> {
        match &self.backend {
            Backend::Sled(s) => blocking(s, move |s| s.read_body(&meta)).await,
        }
    }

    /// Bodies of several messages in one blocking task (IMAP FETCH and SEARCH read many);
    /// each entry fails on its own when that body is gone (expunged meanwhile).
    pub async fn read_bodies(
        &self,
        metas: Vec<MessageMeta>,
    ) -> Result<Vec<Result<Vec<u8>, StoreError>>, StoreError> {
        self.read_body_prefixes(metas, u64::MAX).await
    }

    /// The first `max` bytes of each message's body (all of it when shorter), in one
    /// blocking task: IMAP reads only the header block where a FETCH or SEARCH needs no more.
    /// Each entry fails on its own, as in [`Store::read_bodies`].
    pub async fn read_body_prefixes(
        &self,
        metas: Vec<MessageMeta>,
        max: u64,
    ) -> Result<Vec<Result<Vec<u8>, StoreError>>, StoreError> {
        match &self.backend {
            Backend::Sled(s) => {
                blocking(s, move |s| {
                    Ok(metas.iter().map(|m| s.read_body_prefix(m, max)).collect())
                })
                .await
            }
        }
    }

    pub async fn set_flags(
        &self,
        mailbox: MailboxId,
        folder: FolderId,
        uids: Vec<Uid>,
        op: FlagOp,
    ) -> Result<Vec<MessageMeta>, StoreError> {
        match &self.backend {
            Backend::Sled(s) => {
                blocking(s, move |s| s.set_flags(mailbox, folder, &uids, &op)).await
            }
        }
    }

    pub async fn expunge(
        &self,
        mailbox: MailboxId,
        folder: FolderId,
        only: Option<Vec<Uid>>,
    ) -> Result<Vec<Uid>, StoreError> {
        match &self.backend {
            Backend::Sled(s) => {
                blocking(s, move |s| s.expunge(mailbox, folder, only.as_deref())).await
            }
        }
    }

    /// Removes the given messages whatever their flags, atomically and durably (POP3 QUIT).
    pub async fn delete_messages(
        &self,
        mailbox: MailboxId,
        folder: FolderId,
        uids: Vec<Uid>,
    ) -> Result<Vec<Uid>, StoreError> {
        match &self.backend {
            Backend::Sled(s) => {
                blocking(s, move |s| s.delete_messages(mailbox, folder, &uids)).await
            }
        }
    }

    /// The mailbox's change log after `since`. The log is compacted to its last
    /// [`Retention::change_log_entries`] entries: when `since` is older than that, the result
    /// says it is not [`ChangeLog::complete`] and the caller compares with the folders.
    pub async fn changes_since(
        &self,
        mailbox: MailboxId,
        since: ModSeq,
    ) -> Result<ChangeLog, StoreError> {
        match &self.backend {
            Backend::Sled(s) => blocking(s, move |s| s.changes_since(mailbox, since)).await,
        }
    }
}
