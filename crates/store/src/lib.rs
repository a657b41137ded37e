//! pecd's message store: mailboxes, folders, messages, flags, quotas and the per-mailbox
//! change log that feeds IMAP IDLE, CONDSTORE/QRESYNC and POP3.
//!
//! This is the only crate that knows sled. Protocol crates see [`Store`] and the types of
//! [`types`]; a second backend (PostgreSQL wire protocol) goes behind the same facade.
//!
//! Durability contract: every write method returns only once its effect is on disk. Message
//! bodies live in their own files (write, fsync, rename, fsync the directory); metadata lives
//! in sled, and the store fsyncs sled's files itself through a group commit, because sled's
//! `flush()` does not fsync and its large values are never fsynced. Blocking work runs on
//! tokio's blocking pool; the async methods are safe to call from protocol sessions.
//!
//! Nothing grows without bound: each mailbox's change log is compacted as it is written (a
//! reader below the compaction floor is told so by [`ChangeLog::complete`]), and submission
//! idempotency keys expire through [`Store::prune`]; both bounds are a [`Retention`].
//!
//! Entry points: [`Store::open`], [`Store::create_mailbox`], [`Store::append`],
//! [`Store::changes_since`], [`Store::subscribe`], [`Store::prune`].

mod bodies;
mod commit;
pub mod pec;
mod sled;
pub mod types;

use std::path::Path;
use std::sync::Arc;

pub use pec::*;
use sled::SledStore;
use tokio::sync::broadcast;
pub use types::*;

#[derive(Clone)]
pub struct Store {
    inner: Arc<SledStore>,
}

impl Store {
    /// Opens (creating) the store at `path`, taking an exclusive lock on the directory: a
    /// second process gets [`StoreError::Locked`]. Sweeps bodies left by interrupted writes.
    /// Keeps the default [`Retention`].
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with(path, Retention::default())
    }

    /// [`Store::open`] with how much to keep of the records that would otherwise only grow.
    pub fn open_with(path: &Path, retention: Retention) -> Result<Store, StoreError> {
        Ok(Store {
            inner: Arc::new(SledStore::open(path, retention)?),
        })
    }

    pub fn path(&self) -> &Path {
        self.inner.root()
    }

    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&SledStore) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| StoreError::Io(format!("store task failed: {e}")))?
    }

    /// Creates a mailbox with its default folders (INBOX, Sent, Drafts, Trash, Junk,
    /// Archive). `address` must already be normalised (lower case).
    pub async fn create_mailbox(
        &self,
        address: &str,
        password_hash: &str,
        quota_bytes: u64,
    ) -> Result<Mailbox, StoreError> {
        let (address, hash) = (address.to_string(), password_hash.to_string());
        self.run(move |s| s.create_mailbox(&address, &hash, quota_bytes))
            .await
    }

    pub async fn mailbox(&self, id: MailboxId) -> Result<Option<Mailbox>, StoreError> {
        self.run(move |s| s.mailbox(id)).await
    }

    pub async fn find_mailbox(&self, address: &str) -> Result<Option<Mailbox>, StoreError> {
        let address = address.to_ascii_lowercase();
        self.run(move |s| s.find_mailbox(&address)).await
    }

    pub async fn list_mailboxes(&self) -> Result<Vec<Mailbox>, StoreError> {
        self.run(|s| s.list_mailboxes()).await
    }

    pub async fn set_password(
        &self,
        id: MailboxId,
        password_hash: &str,
    ) -> Result<Mailbox, StoreError> {
        let hash = password_hash.to_string();
        let at = chrono::Utc::now().timestamp();
        self.run(move |s| {
            s.update_mailbox(id, move |m| {
                m.password_hash = hash.clone();
                m.password_changed_at = at;
            })
        })
        .await
    }

    /// Changes per-mailbox settings inside the store's transaction, so that concurrent
    /// updates of different settings do not overwrite each other.
    pub async fn update_settings(
        &self,
        id: MailboxId,
        change: impl Fn(&mut MailboxSettings) + Send + Sync + 'static,
    ) -> Result<Mailbox, StoreError> {
        self.run(move |s| s.update_mailbox(id, move |m| change(&mut m.settings)))
            .await
    }

    pub async fn set_state(
        &self,
        id: MailboxId,
        state: MailboxState,
    ) -> Result<Mailbox, StoreError> {
        self.run(move |s| s.update_mailbox(id, move |m| m.state = state))
            .await
    }

    pub async fn delete_mailbox(&self, id: MailboxId) -> Result<Mailbox, StoreError> {
        self.run(move |s| s.delete_mailbox(id)).await
    }

    pub async fn folders(&self, mailbox: MailboxId) -> Result<Vec<Folder>, StoreError> {
        self.run(move |s| s.folders(mailbox)).await
    }

    pub async fn folder(
        &self,
        mailbox: MailboxId,
        name: &str,
    ) -> Result<Option<Folder>, StoreError> {
        let name = name.to_string();
        self.run(move |s| s.folder(mailbox, &name)).await
    }

    pub async fn folder_by_id(&self, id: FolderId) -> Result<Option<Folder>, StoreError> {
        self.run(move |s| s.folder_by_id(id)).await
    }

    pub async fn create_folder(
        &self,
        mailbox: MailboxId,
        name: &str,
        role: Option<SpecialUse>,
    ) -> Result<Folder, StoreError> {
        let name = name.to_string();
        self.run(move |s| s.create_folder(mailbox, &name, role))
            .await
    }

    /// Deletes a folder with its messages (each logged as expunged) and returns it as it was.
    /// System folders (those with a role, INBOX among them) are refused with `Invalid`; folders
    /// below it in the hierarchy are kept.
    pub async fn delete_folder(
        &self,
        mailbox: MailboxId,
        folder: FolderId,
    ) -> Result<Folder, StoreError> {
        self.run(move |s| s.delete_folder(mailbox, folder)).await
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
        self.run(move |s| s.rename_folder(mailbox, folder, &new_name))
            .await
    }

    pub async fn set_subscribed(
        &self,
        mailbox: MailboxId,
        folder: FolderId,
        subscribed: bool,
    ) -> Result<Folder, StoreError> {
        self.run(move |s| s.set_subscribed(mailbox, folder, subscribed))
            .await
    }

    /// Appends a message; the UID is allocated in the same atomic step as the insert, and the
    /// call returns once the message is durable.
    pub async fn append(
        &self,
        mailbox: MailboxId,
        folder: &str,
        message: NewMessage,
    ) -> Result<Appended, StoreError> {
        let folder = folder.to_string();
        self.run(move |s| s.append(mailbox, &folder, message)).await
    }

    /// Writes one PEC certification step atomically and durably (see [`pec::Certification`]).
    pub async fn certify(&self, c: Certification) -> Result<Certified, StoreError> {
        self.run(move |s| s.certify(c)).await
    }

    pub async fn log_search(&self, q: LogQuery) -> Result<Vec<LogRecord>, StoreError> {
        self.run(move |s| s.log_search(&q)).await
    }

    pub async fn trace(&self, pec_id: &str) -> Result<Option<TraceRecord>, StoreError> {
        let id = pec_id.to_string();
        self.run(move |s| s.trace(&id)).await
    }

    /// PEC msgids whose trace waits for another provider's receipts (PEC.md §6.6).
    pub async fn pending(&self) -> Result<Vec<String>, StoreError> {
        self.run(|s| s.pending()).await
    }

    /// The relay queue, oldest first.
    pub async fn queue(&self) -> Result<Vec<QueueEntry>, StoreError> {
        self.run(|s| s.queue()).await
    }

    pub async fn queue_entry(&self, id: u64) -> Result<Option<QueueEntry>, StoreError> {
        self.run(move |s| s.queue_entry(id)).await
    }

    pub async fn queue_body(&self, entry: QueueEntry) -> Result<Vec<u8>, StoreError> {
        self.run(move |s| s.queue_body(&entry)).await
    }

    /// Rewrites a queue entry with the log lines of what the attempt delivered, durably;
    /// `false` (nothing written) when it is gone meanwhile.
    pub async fn queue_update(
        &self,
        entry: QueueEntry,
        log: Vec<LogRecord>,
    ) -> Result<bool, StoreError> {
        self.run(move |s| s.queue_update(entry, log)).await
    }

    /// Makes a queue entry due at `when`, nothing else changed; `false` when it is gone.
    pub async fn queue_reschedule(&self, id: u64, when: i64) -> Result<bool, StoreError> {
        self.run(move |s| s.queue_reschedule(id, when)).await
    }

    /// Removes a queue entry with the log lines saying why, durably; the entry as it was.
    pub async fn queue_remove(
        &self,
        id: u64,
        log: Vec<LogRecord>,
    ) -> Result<Option<QueueEntry>, StoreError> {
        self.run(move |s| s.queue_remove(id, log)).await
    }

    /// Drops legal log records older than `before` (Unix seconds).
    pub async fn prune_log(&self, before: i64) -> Result<usize, StoreError> {
        self.run(move |s| s.prune_log(before)).await
    }

    /// Removes what is no longer kept: idempotency keys whose keep ended before `now` (Unix
    /// seconds, the engine's clock; see `Certification::dedup_keep_seconds`), and change-log
    /// entries of
    /// mailboxes whose log is past its bound (writes compact their own mailbox's log as they
    /// go; this catches the rest). Idempotent; meant for startup and a periodic timer.
    pub async fn prune(&self, now: i64) -> Result<Pruned, StoreError> {
        self.run(move |s| s.prune(now)).await
    }

    pub async fn messages(&self, folder: FolderId) -> Result<Vec<MessageMeta>, StoreError> {
        self.run(move |s| s.messages(folder)).await
    }

    /// The messages of `uids` that exist, in the order given, by point lookups.
    pub async fn message_metas(
        &self,
        folder: FolderId,
        uids: Vec<Uid>,
    ) -> Result<Vec<MessageMeta>, StoreError> {
        self.run(move |s| s.message_metas(folder, &uids)).await
    }

    /// IMAP COPY (`remove_source` false) or MOVE (true, RFC 6851) in one atomic, durable
    /// step. Copies get new UIDs in the destination in ascending order of their sources and
    /// keep flags, keywords and internal date; UIDs that do not exist are skipped. A COPY that
    /// does not fit the quota is refused whole (`OverQuota`); a MOVE leaves the used bytes
    /// alone. COPY into the source folder duplicates; MOVE into it is `Invalid`.
    pub async fn copy_messages(
        &self,
        mailbox: MailboxId,
        from: FolderId,
        uids: Vec<Uid>,
        to: FolderId,
        remove_source: bool,
    ) -> Result<Copied, StoreError> {
        self.run(move |s| s.copy_messages(mailbox, from, &uids, to, remove_source))
            .await
    }

    pub async fn read_body(&self, meta: MessageMeta) -> Result<Vec<u8>, StoreError> {
        self.run(move |s| s.read_body(&meta)).await
    }

    /// Bodies of several messages in one blocking task (IMAP FETCH and SEARCH read many);
    /// each entry fails on its own when that body is gone (expunged meanwhile).
    pub async fn read_bodies(
        &self,
        metas: Vec<MessageMeta>,
    ) -> Result<Vec<Result<Vec<u8>, StoreError>>, StoreError> {
        self.run(move |s| Ok(metas.iter().map(|m| s.read_body(m)).collect()))
            .await
    }

    pub async fn set_flags(
        &self,
        mailbox: MailboxId,
        folder: FolderId,
        uids: Vec<Uid>,
        op: FlagOp,
    ) -> Result<Vec<MessageMeta>, StoreError> {
        self.run(move |s| s.set_flags(mailbox, folder, &uids, &op))
            .await
    }

    pub async fn expunge(
        &self,
        mailbox: MailboxId,
        folder: FolderId,
        only: Option<Vec<Uid>>,
    ) -> Result<Vec<Uid>, StoreError> {
        self.run(move |s| s.expunge(mailbox, folder, only.as_deref()))
            .await
    }

    /// Removes the given messages whatever their flags, atomically and durably (POP3 QUIT).
    pub async fn delete_messages(
        &self,
        mailbox: MailboxId,
        folder: FolderId,
        uids: Vec<Uid>,
    ) -> Result<Vec<Uid>, StoreError> {
        self.run(move |s| s.delete_messages(mailbox, folder, &uids))
            .await
    }

    /// The mailbox's change log after `since`. The log is compacted to its last
    /// [`Retention::change_log_entries`] entries: when `since` is older than that, the result
    /// says it is not [`ChangeLog::complete`] and the caller compares with the folders.
    pub async fn changes_since(
        &self,
        mailbox: MailboxId,
        since: ModSeq,
    ) -> Result<ChangeLog, StoreError> {
        self.run(move |s| s.changes_since(mailbox, since)).await
    }

    /// Notices of durable changes, for sessions waiting in IDLE. A lagging receiver should
    /// re-read [`Store::changes_since`].
    pub fn subscribe(&self) -> broadcast::Receiver<ChangeNotice> {
        self.inner.subscribe()
    }

    pub async fn stats(&self) -> Result<StoreStats, StoreError> {
        self.run(|s| s.stats()).await
    }

    pub async fn disk_usage(&self) -> Result<u64, StoreError> {
        self.run(|s| s.disk_usage()).await
    }

    /// Makes everything written so far durable (used at shutdown).
    pub async fn sync(&self) -> Result<(), StoreError> {
        self.run(|s| s.sync()).await
    }
}
