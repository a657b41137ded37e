//! The sled backend: synchronous, called from blocking threads by [`crate::Store`].
//!
//! Trees (keys big-endian so that prefix scans return them in order):
//! - `mailboxes`: mailbox id -> [`Mailbox`];  `addresses`: address -> mailbox id
//! - `folders`: folder id -> [`Folder`];  `folder_names`: mailbox id ‖ name -> folder id
//! - `messages`: folder id ‖ uid -> [`MessageMeta`]
//! - `changes`: mailbox id ‖ modseq -> [`Change`];  `change_floors`: mailbox id -> highest
//!   modseq compacted away (absent: nothing was)
//! - `meta`: store-wide counters (last UIDVALIDITY) and format markers
//! - `pec_log`: time ‖ id -> [`LogRecord`];  `pec_trace`: PEC msgid -> [`TraceRecord`];
//!   `pec_dedup`: submission key -> PEC msgid;  `pec_dedup_age`: expiry time ‖ key -> ()
//!   (the order in which keys expire);  `pec_pending`: PEC msgid -> () while its trace waits
//!   for another provider;  `pec_queue`: queue id -> [`QueueEntry`] (body in `bodies`)
//! - `body_index`: blob id -> where the body's bytes are and how many records refer to it;
//!   `body_segments`: segment -> its live bytes (see [`body_index`])
//! - `records`: family ‖ key -> value, the keyed records of [`crate::records`] ([`records`])
//!
//! Compaction of the change log: every modseq of a mailbox has its entry, so a log holds
//! `modseq - floor` entries. A change that leaves more than [`Retention::change_log_entries`]
//! plus a quarter raises the floor to keep that many (durably, first), then removes what lies
//! below it. [`SledStore::changes_since`] reads the entries before the floor, so a reader that
//! misses an entry also sees the floor that says so.
//!
//! Durable write, in order (STYLE.md example 4): the body is appended to the current segment
//! and the round's segments fdatasynced (a copy refers to its source's body instead); one sled
//! transaction then allocates the UID, inserts the metadata, adds the body to the index (or a
//! reference to it), updates the quota totals and appends to the change log, atomically; the
//! group commit then fsyncs sled's files; only then does the call return and the notice go
//! out. Removing a message drops its body reference in the same transaction.
//!
//! Layout, lowest first: [`codec`] (record encoding and keys: the on-disk format), [`tx`]
//! (transaction steps several families share), [`body_index`] (bodies and their references),
//! [`durable`] (group commit), [`changes`] (change log, notices, compaction), [`lookup`]
//! (reads outside transactions); then one module per record family: [`mailboxes`],
//! [`folders`], [`messages`], [`flags`], [`expunge`], [`copy_move`], [`certify`],
//! [`legal_log`], [`trace`], [`queue`], [`prune`], [`security_archive`]; and the body upkeep: [`migrate`] (from one
//! file per body, at open) and [`compact`] (segments mostly dead, from [`prune`]).
//! This file holds the store itself: its trees, opening, and store-wide figures.

mod body_index;
mod certify;
mod changes;
mod codec;
mod compact;
mod copy_move;
mod durable;
mod expunge;
mod flags;
mod folders;
mod legal_log;
mod lookup;
mod mailboxes;
mod messages;
mod migrate;
mod prune;
mod queue;
mod records;
mod security_archive;
mod trace;
mod tx;

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sled::{Transactional, Tree};
use tokio::sync::broadcast;

use crate::bodies::{fsync_dir, Bodies};
use crate::commit::GroupCommit;

use crate::types::*;
use codec::sled_err;
use durable::Job;

pub(crate) struct SledStore {
    root: PathBuf,
    db: sled::Db,
    mailboxes: Tree,
    addresses: Tree,
    folders: Tree,
    folder_names: Tree,
    messages: Tree,
    changes: Tree,
    change_floors: Tree,
    meta: Tree,
    pec_log: Tree,
    pec_trace: Tree,
    pec_dedup: Tree,
    pec_dedup_age: Tree,
    pec_pending: Tree,
    pec_queue: Tree,
    body_index: Tree,
    body_segments: Tree,
    records: Tree,
    bodies: Bodies,
    group: GroupCommit<Job>,
    /// Our own handle on sled's log file, which sled itself never fsyncs on Linux.
    log_file: File,
    sled_dir: PathBuf,
    /// sled's large-value files already fsynced (they are written once, never changed); only
    /// names still in the directory are kept, so the set is as large as sled's live blobs.
    synced_sled_blobs: Mutex<HashSet<OsString>>,
    retention: Retention,
    notices: broadcast::Sender<ChangeNotice>,
    _lock: File,
}

fn lock_directory(root: &Path) -> Result<File, StoreError> {
    let path = root.join("LOCK");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)?;
    if file.try_lock().is_err() {
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        let holder = holder.trim();
        let who = if holder.is_empty() {
            String::new()
        } else {
            format!(" (pid {holder})")
        };
        return Err(StoreError::Locked(format!("{}{who}", root.display())));
    }
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "{}", std::process::id())?;
    file.sync_all()?;
    Ok(file)
}

/// Opens sled's files. Our directory lock is held, so no other process has them; but sled's
/// own lock can still be held for a moment by this process's last handle of a store just
/// dropped (sled's background threads let go of it as they finish), so a refusal of that
/// lock is retried for up to two seconds before it is an error.
fn open_sled(dir: &Path, cache_bytes: u64) -> Result<sled::Db, StoreError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        match sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .open()
        {
            Err(sled::Error::Io(e))
                if is_lock_refusal(&e) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            opened => return opened.map_err(sled_err),
        }
    }
}

/// sled reports its lock refusal as an I/O error of its own wrapping the OS one
/// (`EWOULDBLOCK` from `flock`).
fn is_lock_refusal(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::WouldBlock
        || e.raw_os_error() == Some(libc::EWOULDBLOCK)
        || e.to_string().contains("could not acquire lock")
}

impl SledStore {
    pub fn open(
        root: &Path,
        retention: Retention,
        cache_bytes: u64,
    ) -> Result<SledStore, StoreError> {
        if retention.change_log_entries == 0 || retention.dedup_seconds <= 0 {
            return Err(StoreError::Invalid(format!("retention {retention:?}")));
        }
        std::fs::create_dir_all(root)?;
        let lock = lock_directory(root)?;
        let sled_dir = root.join("meta");
        let db = open_sled(&sled_dir, cache_bytes)?;
        let tree = |name: &str| db.open_tree(name).map_err(sled_err);
        let log_file = File::open(sled_dir.join("db"))?;
        let store = SledStore {
            root: root.to_path_buf(),
            mailboxes: tree("mailboxes")?,
            addresses: tree("addresses")?,
            folders: tree("folders")?,
            folder_names: tree("folder_names")?,
            messages: tree("messages")?,
            changes: tree("changes")?,
            change_floors: tree("change_floors")?,
            pec_log: tree("pec_log")?,
            pec_trace: tree("pec_trace")?,
            pec_dedup: tree("pec_dedup")?,
            pec_dedup_age: tree("pec_dedup_age")?,
            pec_pending: tree("pec_pending")?,
            pec_queue: tree("pec_queue")?,
            body_index: tree("body_index")?,
            body_segments: tree("body_segments")?,
            records: tree("records")?,
            meta: tree("meta")?,
            bodies: Bodies::open(root.join("bodies"))?,
            group: GroupCommit::new(),
            log_file,
            sled_dir: sled_dir.clone(),
            synced_sled_blobs: Mutex::new(HashSet::new()),
            retention,
            notices: broadcast::channel(4096).0,
            db,
            _lock: lock,
        };
        store.sync()?;
        if let Ok(conf) = File::open(sled_dir.join("conf")) {
            conf.sync_all()?;
        }
        fsync_dir(&sled_dir)?;
        fsync_dir(root)?;
        store.age_unaged_dedup_keys()?;
        store.migrate_legacy_bodies()?;
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ChangeNotice> {
        self.notices.subscribe()
    }

    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        let mut stats = StoreStats::default();
        for m in self.list_mailboxes()? {
            stats.mailboxes += 1;
            stats.messages += m.message_count;
            stats.used_bytes += m.used_bytes;
        }
        (stats.commits, stats.committed_writes) = self.group.counters();
        Ok(stats)
    }

    pub fn commit_rounds(&self) -> u64 {
        self.group.counters().0
    }

    /// Allocated bytes of the whole store directory.
    pub fn disk_usage(&self) -> Result<u64, StoreError> {
        Ok(crate::bodies::disk_usage(&self.root)?)
    }
}

impl SledStore {
    /// One transaction over the message trees and the body trees: the set every write of
    /// message records touches (append, copy and move, expunge), since each record holds a
    /// reference to its body.
    pub(super) fn message_transaction<T>(
        &self,
        f: impl Fn(tx::MessageTrees, body_index::BodyTrees) -> codec::TxResult<T>,
    ) -> Result<T, StoreError> {
        codec::finish(
            (
                &self.mailboxes,
                &self.folders,
                &self.messages,
                &self.changes,
                &self.body_index,
                &self.body_segments,
            )
                .transaction(|(mbx, fld, msgs, chg, idx, segs)| {
                    f((mbx, fld, msgs, chg), (idx, segs))
                }),
        )
    }
}
