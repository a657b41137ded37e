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
//!
//! Compaction of the change log: every modseq of a mailbox has its entry, so a log holds
//! `modseq - floor` entries. A change that leaves more than [`Retention::change_log_entries`]
//! plus a quarter raises the floor to keep that many (durably, first), then removes what lies
//! below it. [`SledStore::changes_since`] reads the entries before the floor, so a reader that
//! misses an entry also sees the floor that says so.
//!
//! Durable write, in order (STYLE.md example 4): the body file is written and fsynced (a copy
//! hard-links its source's instead) and its directory fsynced; one sled transaction then
//! allocates the UID, inserts the metadata, updates the quota totals and appends to the change
//! log, atomically; the group commit then fsyncs sled's files; only then does the call return
//! and the notice go out. Bodies of removed messages are unlinked after that commit.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde::Serialize;
use sled::transaction::{abort, ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::{Transactional, Tree};
use tokio::sync::broadcast;

use crate::bodies::{fsync_dir, make_durable, BlobId, Bodies, PreparedBody};
use crate::commit::GroupCommit;
use crate::pec::*;
use crate::types::*;

const FORMAT: u8 = 1;

fn enc<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![FORMAT];
    out.extend(postcard::to_allocvec(value).expect("store records always serialize"));
    out
}

fn dec<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    match bytes.split_first() {
        Some((&FORMAT, rest)) => {
            postcard::from_bytes(rest).map_err(|e| StoreError::Corrupt(e.to_string()))
        }
        Some((v, _)) => Err(StoreError::Corrupt(format!("unknown record format {v}"))),
        None => Err(StoreError::Corrupt("empty record".into())),
    }
}

fn id_key(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

fn msg_key(folder: FolderId, uid: Uid) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..8].copy_from_slice(&folder.to_be_bytes());
    k[8..].copy_from_slice(&uid.to_be_bytes());
    k
}

fn change_key(mailbox: MailboxId, modseq: ModSeq) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&mailbox.to_be_bytes());
    k[8..].copy_from_slice(&modseq.to_be_bytes());
    k
}

fn name_key(mailbox: MailboxId, name: &str) -> Vec<u8> {
    let mut k = mailbox.to_be_bytes().to_vec();
    k.extend_from_slice(name.as_bytes());
    k
}

fn id_from(bytes: &[u8]) -> Result<u64, StoreError> {
    bytes
        .try_into()
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::Corrupt("bad id".into()))
}

/// INBOX is case-insensitive (RFC 3501 §5.1); every other name is kept as given.
pub fn normalize_folder_name(name: &str) -> String {
    if name.eq_ignore_ascii_case("INBOX") {
        "INBOX".to_string()
    } else {
        name.to_string()
    }
}

fn validate_folder_name(name: &str) -> Result<(), StoreError> {
    if name.is_empty() || name.len() > 255 || name.chars().any(|c| c.is_control()) {
        return Err(StoreError::Invalid(format!("folder name {name:?}")));
    }
    Ok(())
}

fn validate_keywords(keywords: &[String]) -> Result<(), StoreError> {
    if keywords.len() > MAX_KEYWORDS {
        return Err(StoreError::Invalid(format!(
            "more than {MAX_KEYWORDS} keywords"
        )));
    }
    if let Some(k) = keywords
        .iter()
        .find(|k| k.is_empty() || k.len() > MAX_KEYWORD_LEN)
    {
        return Err(StoreError::Invalid(format!("keyword {k:?}")));
    }
    Ok(())
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

/// A metadata write handed to the group commit: the round's leader runs every job of the round
/// one after another, then flushes and fsyncs sled once for all of them. Running the
/// transactions in the leader matters with sled 0.34: its `flush()` holds a process-wide lock
/// that transactions also need, so writers running their own transactions would queue behind
/// each flush and reach the barrier one or two at a time.
struct Job {
    /// Message bodies the transaction refers to, made durable before any transaction runs.
    bodies: Vec<PreparedBody>,
    op: Box<dyn FnOnce(&SledStore) + Send>,
}

fn tx_get<T: DeserializeOwned>(tree: &TransactionalTree, key: &[u8]) -> TxResult<Option<T>> {
    match tree.get(key)? {
        Some(v) => dec(&v).map(Some).or_else(abort),
        None => Ok(None),
    }
}

fn tx_mailbox(tree: &TransactionalTree, id: MailboxId) -> TxResult<Mailbox> {
    tx_get(tree, &id_key(id))?.map_or_else(|| abort(StoreError::NoMailbox(id.to_string())), Ok)
}

fn tx_folder(tree: &TransactionalTree, id: FolderId) -> TxResult<Folder> {
    tx_get(tree, &id_key(id))?.map_or_else(|| abort(StoreError::NoFolder(id.to_string())), Ok)
}

/// A folder of `mailbox`: a session naming another mailbox's folder id gets `NoFolder`.
fn tx_owned_folder(tree: &TransactionalTree, mailbox: MailboxId, id: FolderId) -> TxResult<Folder> {
    let folder = tx_folder(tree, id)?;
    if folder.mailbox_id != mailbox {
        return abort(StoreError::NoFolder(id.to_string()));
    }
    Ok(folder)
}

/// INBOX and the special-use folders every client expects (CLIENTS.md §1) stay in place.
fn refuse_system_folder(folder: &Folder) -> Result<(), StoreError> {
    match folder.role {
        Some(_) => Err(StoreError::Invalid(format!(
            "{} is a system folder",
            folder.name
        ))),
        None => Ok(()),
    }
}

/// Logs one change at the mailbox's current modseq (the caller has just advanced it).
fn tx_log_change(
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
fn tx_save(
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

/// What a new message record holds besides its place.
struct NewRecord {
    blob: BlobId,
    size: u64,
    internal_date: i64,
    flags: Flags,
    keywords: Vec<String>,
}

/// Inserts one message record into `folder_id` of mailbox `m`: next UID, counters, modseq,
/// change log, folder and mailbox written back. The caller has checked the quota if any.
fn tx_insert_message(
    (mbx, fld, msgs, chg): (
        &TransactionalTree,
        &TransactionalTree,
        &TransactionalTree,
        &TransactionalTree,
    ),
    mut m: Mailbox,
    folder_id: FolderId,
    r: NewRecord,
) -> TxResult<Appended> {
    let mut f = tx_owned_folder(fld, m.id, folder_id)?;
    let uid = f.uidnext;
    m.modseq += 1;
    m.used_bytes += r.size;
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

fn finish<T>(r: Result<T, TransactionError<StoreError>>) -> Result<T, StoreError> {
    r.map_err(|e| match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => StoreError::Io(e.to_string()),
    })
}

/// A legal log record ready to insert: key (time ‖ id) and encoded value.
type LogLine = ([u8; 16], Vec<u8>);

/// Log keys start with the time, sign bit flipped so that byte order is time order.
fn log_time_key(t: i64) -> [u8; 8] {
    ((t as u64) ^ (1 << 63)).to_be_bytes()
}

/// An idempotency key's place in the expiry order: the time it expires, then the key.
fn dedup_age_key(t: i64, key: &[u8]) -> Vec<u8> {
    let mut k = log_time_key(t).to_vec();
    k.extend_from_slice(key);
    k
}

fn sled_err(e: sled::Error) -> StoreError {
    StoreError::Io(e.to_string())
}

pub struct SledStore {
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

impl SledStore {
    pub fn open(root: &Path, retention: Retention) -> Result<SledStore, StoreError> {
        if retention.change_log_entries == 0 || retention.dedup_seconds <= 0 {
            return Err(StoreError::Invalid(format!("retention {retention:?}")));
        }
        std::fs::create_dir_all(root)?;
        let lock = lock_directory(root)?;
        let sled_dir = root.join("meta");
        let db = sled::Config::new()
            .path(&sled_dir)
            .cache_capacity(64 << 20)
            .open()
            .map_err(sled_err)?;
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
        let referenced = store.referenced_bodies()?;
        let swept = store.bodies.sweep(&referenced)?;
        if swept > 0 {
            tracing::info!(
                files = swept,
                "removed unreferenced message bodies left by an interrupted write"
            );
        }
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn referenced_bodies(&self) -> Result<HashSet<[u8; 16]>, StoreError> {
        let mut set = HashSet::new();
        for item in self.messages.iter() {
            let (_, v) = item.map_err(sled_err)?;
            set.insert(dec::<MessageMeta>(&v)?.blob);
        }
        for item in self.pec_queue.iter() {
            let (_, v) = item.map_err(sled_err)?;
            set.insert(dec::<QueueEntry>(&v)?.blob);
        }
        Ok(set)
    }

    /// Makes every change made so far durable: sled writes its buffers, then we fsync.
    fn sync_files(&self) -> std::io::Result<()> {
        self.db.flush().map_err(std::io::Error::other)?;
        // fdatasync: the log's contents and its size, which is all a reader needs.
        self.log_file.sync_data()?;
        let blobs = self.sled_dir.join("blobs");
        let mut synced = self
            .synced_sled_blobs
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut new = false;
        if let Ok(entries) = std::fs::read_dir(&blobs) {
            let mut live = HashSet::with_capacity(synced.len());
            for entry in entries {
                let entry = entry?;
                let name = entry.file_name();
                if !synced.contains(&name) {
                    match File::open(entry.path()) {
                        Ok(f) => f.sync_all()?,
                        // sled removed it between the listing and the open: nothing to sync.
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(e),
                    }
                    new = true;
                }
                live.insert(name);
            }
            // Names sled has removed go: its blob names are never reused, and a set that
            // remembered them all would grow for as long as pecd runs.
            *synced = live;
        }
        if new {
            fsync_dir(&blobs)?;
        }
        Ok(())
    }

    /// Waits until every write made before the call is on disk (shared fsync).
    pub fn sync(&self) -> Result<(), StoreError> {
        self.group
            .barrier_with(None, |jobs| self.run_round(jobs))
            .map_err(StoreError::Io)
    }

    /// One commit round, in the order durability needs: bodies (fdatasync, rename, directory
    /// fsync), then the metadata transactions, then sled's flush and fsync.
    fn run_round(&self, jobs: Vec<Job>) -> std::io::Result<()> {
        let (bodies, ops): (Vec<_>, Vec<_>) = jobs.into_iter().map(|j| (j.bodies, j.op)).unzip();
        let bodies: Vec<PreparedBody> = bodies.into_iter().flatten().collect();
        make_durable(&bodies)?;
        for op in ops {
            // A panicking transaction must not take the round down with it: its caller finds
            // its result slot empty and gets an error; the others proceed.
            if std::panic::catch_unwind(AssertUnwindSafe(|| op(self))).is_err() {
                tracing::error!("a store transaction panicked; its write was refused");
            }
        }
        self.sync_files()
    }

    /// Runs `op` (a metadata transaction) in the next group-commit round and returns its
    /// result once the round's fsync is done, so a successful result is durable.
    fn commit<R: Send + 'static>(
        &self,
        bodies: Vec<PreparedBody>,
        op: impl FnOnce(&SledStore) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let slot = Arc::new(Mutex::new(None));
        let out = slot.clone();
        let op = Box::new(move |s: &SledStore| {
            *out.lock().unwrap_or_else(|p| p.into_inner()) = Some(op(s));
        });
        let job = Job { bodies, op };
        self.group
            .barrier_with(Some(job), |jobs| self.run_round(jobs))
            .map_err(StoreError::Io)?;
        let result = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
        result.unwrap_or_else(|| {
            Err(StoreError::Corrupt(
                "internal error in a store transaction".into(),
            ))
        })
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ChangeNotice> {
        self.notices.subscribe()
    }

    /// Announces a durable change of a mailbox (up to `modseq`) and keeps its change log
    /// within [`Retention::change_log_entries`].
    fn notify(&self, mailbox_id: MailboxId, modseq: ModSeq) {
        let _ = self.notices.send(ChangeNotice { mailbox_id, modseq });
        // The change is durable and announced; a failed compaction is retried by the next
        // change or prune, and must not turn the write into an error.
        if let Err(e) = self.compact_if_due(mailbox_id, modseq) {
            tracing::warn!(mailbox = mailbox_id, error = %e, "change-log compaction failed");
        }
    }

    /// Log entries beyond [`Retention::change_log_entries`] tolerated before a compaction, so
    /// that compactions are rare and each removes many entries.
    fn compaction_slack(&self) -> u64 {
        self.retention.change_log_entries / 4 + 1
    }

    fn change_floor(&self, mailbox_id: MailboxId) -> Result<ModSeq, StoreError> {
        match self
            .change_floors
            .get(id_key(mailbox_id))
            .map_err(sled_err)?
        {
            Some(v) => id_from(&v),
            None => Ok(0),
        }
    }

    fn compact_if_due(&self, mailbox_id: MailboxId, modseq: ModSeq) -> Result<usize, StoreError> {
        let keep = self.retention.change_log_entries;
        if modseq.saturating_sub(self.change_floor(mailbox_id)?) <= keep + self.compaction_slack() {
            return Ok(0);
        }
        self.compact_changes(mailbox_id, modseq.saturating_sub(keep))
    }

    /// Removes the change-log entries of a mailbox up to `floor`. The floor is raised
    /// durably first (and only while the mailbox exists), so that a reader never misses an
    /// entry without also seeing the floor; then the entries below it go, in batches that
    /// never hold up other writers for long. Entries left by an interrupted compaction are
    /// taken by the next one. Returns how many entries went.
    fn compact_changes(&self, mailbox_id: MailboxId, floor: ModSeq) -> Result<usize, StoreError> {
        const BATCH: usize = 1_000;
        let raised = self.commit(Vec::new(), move |s| {
            finish(
                (&s.mailboxes, &s.change_floors).transaction(|(mbx, floors)| {
                    if mbx.get(id_key(mailbox_id))?.is_none() {
                        return Ok(None);
                    }
                    let key = id_key(mailbox_id);
                    let current = match floors.get(key)? {
                        Some(v) => id_from(&v).or_else(abort)?,
                        None => 0,
                    };
                    if floor > current {
                        floors.insert(&key, &id_key(floor))?;
                    }
                    Ok(Some(floor.max(current)))
                }),
            )
        })?;
        let Some(floor) = raised else {
            return Ok(0);
        };
        let mut removed = 0;
        loop {
            let keys: Vec<sled::IVec> = self
                .changes
                .range(change_key(mailbox_id, 0)..=change_key(mailbox_id, floor))
                .keys()
                .take(BATCH)
                .collect::<Result<_, _>>()
                .map_err(sled_err)?;
            if keys.is_empty() {
                break;
            }
            let mut batch = sled::Batch::default();
            for k in &keys {
                batch.remove(k.clone());
            }
            self.changes.apply_batch(batch).map_err(sled_err)?;
            removed += keys.len();
        }
        if removed > 0 {
            tracing::debug!(mailbox = mailbox_id, floor, removed, "change log compacted");
        }
        Ok(removed)
    }

    /// The periodic clean-up of records that would otherwise only grow: idempotency keys
    /// whose keep (7 days for submissions, the legal log's for replay keys) ended before
    /// `now` (Unix seconds), and change logs past their bound that no write has compacted
    /// yet (logs written before compaction existed). Idempotent; safe at any time.
    pub fn prune(&self, now: i64) -> Result<Pruned, StoreError> {
        let dedup_keys = self.prune_dedup(now)?;
        let mut changes = 0;
        for item in self.mailboxes.iter() {
            let (_, v) = item.map_err(sled_err)?;
            let m: Mailbox = dec(&v)?;
            changes += self.compact_if_due(m.id, m.modseq)?;
        }
        if changes > 0 {
            self.sync()?;
        }
        Ok(Pruned {
            dedup_keys,
            changes,
        })
    }

    // ---- mailboxes -------------------------------------------------------------------

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

    #[allow(clippy::too_many_arguments)]
    fn tx_create_folder(
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

    /// Deletes a mailbox with its folders, messages and change log, then its bodies.
    pub fn delete_mailbox(&self, id: MailboxId) -> Result<Mailbox, StoreError> {
        // The scans run inside the round, where no other write can interleave, so nothing
        // committed in the meantime is left behind.
        let (removed, blobs) = self.commit(Vec::new(), move |s| {
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
                )
                    .transaction(|(mbx, addr, fld, names, msgs, chg, floors)| {
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
                        for k in &change_keys {
                            chg.remove(k)?;
                        }
                        Ok(m)
                    }),
            )?;
            Ok((removed, blobs))
        })?;
        for b in &blobs {
            self.bodies.remove(b);
        }
        // Sessions of the deleted mailbox learn of it from a notice past its last modseq.
        self.notify(id, removed.modseq + 1);
        Ok(removed)
    }

    // ---- folders ----------------------------------------------------------------------

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
    fn owned_folder(&self, mailbox: MailboxId, id: FolderId) -> Result<Folder, StoreError> {
        self.folder_by_id(id)?
            .filter(|f| f.mailbox_id == mailbox)
            .ok_or_else(|| StoreError::NoFolder(id.to_string()))
    }

    pub fn create_folder(
        &self,
        mailbox_id: MailboxId,
        name: &str,
        role: Option<SpecialUse>,
    ) -> Result<Folder, StoreError> {
        let name = normalize_folder_name(name);
        validate_folder_name(&name)?;
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

    /// Deletes a folder and its messages, each logged as expunged, then their bodies; returns
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
        let (folder, blobs, modseq) = self.commit(Vec::new(), move |s| {
            let messages = s.messages(folder_id)?;
            let (folder, modseq) = finish(
                (
                    &s.mailboxes,
                    &s.folders,
                    &s.folder_names,
                    &s.messages,
                    &s.changes,
                )
                    .transaction(|(mbx, fld, names, msgs, chg)| {
                        let mut m = tx_mailbox(mbx, mailbox_id)?;
                        let f = tx_owned_folder(fld, mailbox_id, folder_id)?;
                        for meta in &messages {
                            msgs.remove(msg_key(folder_id, meta.uid).as_ref())?;
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
            let blobs: Vec<BlobId> = messages.iter().map(|m| m.blob).collect();
            Ok((folder, blobs, modseq))
        })?;
        for b in &blobs {
            self.bodies.remove(b);
        }
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

    // ---- messages ---------------------------------------------------------------------

    pub fn append(
        &self,
        mailbox_id: MailboxId,
        folder_name: &str,
        msg: NewMessage,
    ) -> Result<Appended, StoreError> {
        validate_keywords(&msg.keywords)?;
        let folder = self
            .folder(mailbox_id, folder_name)?
            .ok_or_else(|| StoreError::NoFolder(folder_name.to_string()))?;
        let size = msg.bytes.len() as u64;
        let pre = self
            .mailbox(mailbox_id)?
            .ok_or_else(|| StoreError::NoMailbox(mailbox_id.to_string()))?;
        if pre.used_bytes + size > pre.quota_bytes {
            return Err(StoreError::OverQuota {
                used: pre.used_bytes,
                quota: pre.quota_bytes,
                size,
            });
        }
        let prepared = self.bodies.prepare(&msg.bytes)?;
        let blob = prepared.id;
        let internal_date = msg.internal_date.unwrap_or_else(now);
        let result = self.commit(vec![prepared], move |s| {
            finish(
                (&s.mailboxes, &s.folders, &s.messages, &s.changes).transaction(
                    |(mbx, fld, msgs, chg)| {
                        let m = tx_mailbox(mbx, mailbox_id)?;
                        if m.used_bytes + size > m.quota_bytes {
                            return abort(StoreError::OverQuota {
                                used: m.used_bytes,
                                quota: m.quota_bytes,
                                size,
                            });
                        }
                        let trees = (mbx, fld, msgs, chg);
                        let meta = NewRecord {
                            blob,
                            size,
                            internal_date,
                            flags: msg.flags,
                            keywords: msg.keywords.clone(),
                        };
                        tx_insert_message(trees, m, folder.id, meta)
                    },
                ),
            )
        });
        let appended = match result {
            Ok(a) => a,
            // The transaction refused the message: nothing refers to the body.
            Err(e) if !e.is_temporary() => {
                self.bodies.remove(&blob);
                return Err(e);
            }
            // The round failed after the transaction may have run; sled may still write the
            // record, so the body stays for the sweep at the next open to judge.
            Err(e) => return Err(e),
        };
        self.notify(mailbox_id, appended.modseq);
        Ok(appended)
    }

    // ---- PEC certification, legal log, trace ------------------------------------------

    /// Writes one certification step in one atomic, durable commit: every delivery (no quota
    /// refusal: the engine checked the recipients' space before; receipts and notices are
    /// legal documents and are always stored), the log lines, the trace and the dedup key.
    /// A crash leaves all of it or none of it.
    pub fn certify(&self, c: Certification) -> Result<Certified, StoreError> {
        if let Some(k) = &c.dedup_key {
            if let Some(v) = self.pec_dedup.get(k).map_err(sled_err)? {
                return Ok(Certified::Duplicate(
                    String::from_utf8_lossy(&v).into_owned(),
                ));
            }
        }
        let mut plan = Vec::with_capacity(c.deliveries.len());
        let mut prepared = Vec::with_capacity(c.deliveries.len());
        for d in &c.deliveries {
            let folder = self
                .folder(d.mailbox, &d.folder)?
                .ok_or_else(|| StoreError::NoFolder(d.folder.clone()))?;
            let body = self.bodies.prepare(&d.bytes)?;
            plan.push((d.mailbox, folder.id, body.id, d.bytes.len() as u64));
            prepared.push(body);
        }
        let log = self.log_lines(&c.log)?;
        let trace = c.trace.as_ref().map(|t| (enc(t), t.open()));
        let mut queue = Vec::with_capacity(c.queue.len());
        for o in &c.queue {
            let body = self.bodies.prepare(&o.bytes)?;
            let id = self.db.generate_id().map_err(sled_err)?;
            let entry = QueueEntry {
                id,
                pec_id: o.pec_id.clone(),
                sender: o.sender.clone(),
                recipients: o.recipients.clone(),
                domain: o.domain.clone(),
                certified: o.certified,
                label: o.label.clone(),
                size: o.bytes.len() as u64,
                blob: body.id,
                created: o.created,
                next_attempt: o.created,
                attempts: 0,
                last_error: String::new(),
            };
            queue.push((id.to_be_bytes(), enc(&entry)));
            prepared.push(body);
        }
        let settle = c.queue_settle.as_ref().map(|s| match s {
            QueueSettle::Remove(id) => (id.to_be_bytes(), None),
            QueueSettle::Update(e) => (e.id.to_be_bytes(), Some(enc(e))),
        });
        let blobs: Vec<BlobId> = prepared.iter().map(|p| p.id).collect();
        let mailboxes: Vec<MailboxId> = plan.iter().map(|p| p.0).collect();
        let now = now();
        let keep = c.dedup_keep_seconds.unwrap_or(self.retention.dedup_seconds);
        let Certification {
            dedup_key, pec_id, ..
        } = c;
        let result = self.commit(prepared, move |s| {
            finish(
                (
                    &s.mailboxes,
                    &s.folders,
                    &s.messages,
                    &s.changes,
                    &s.pec_log,
                    &s.pec_trace,
                    &s.pec_dedup,
                    &s.pec_dedup_age,
                    &s.pec_pending,
                    &s.pec_queue,
                )
                    .transaction(
                        |(mbx, fld, msgs, chg, lg, tr, dd, age, pend, q)| {
                            if let Some(k) = &dedup_key {
                                if let Some(v) = dd.get(k)? {
                                    return Ok((
                                        Certified::Duplicate(
                                            String::from_utf8_lossy(&v).into_owned(),
                                        ),
                                        None,
                                    ));
                                }
                            }
                            let mut out = Vec::with_capacity(plan.len());
                            for &(mailbox_id, folder_id, blob, size) in &plan {
                                let m = tx_mailbox(mbx, mailbox_id)?;
                                let meta = NewRecord {
                                    blob,
                                    size,
                                    internal_date: now,
                                    flags: Flags::default(),
                                    keywords: Vec::new(),
                                };
                                out.push(tx_insert_message(
                                    (mbx, fld, msgs, chg),
                                    m,
                                    folder_id,
                                    meta,
                                )?);
                            }
                            for (key, value) in &log {
                                lg.insert(&key[..], value.clone())?;
                            }
                            if let Some((t, open)) = &trace {
                                tr.insert(pec_id.as_bytes(), t.clone())?;
                                if *open {
                                    pend.insert(pec_id.as_bytes(), &[][..])?;
                                } else {
                                    pend.remove(pec_id.as_bytes())?;
                                }
                            }
                            for (key, value) in &queue {
                                q.insert(&key[..], value.clone())?;
                            }
                            let mut settled = None;
                            match &settle {
                                Some((key, None)) => settled = q.remove(&key[..])?,
                                Some((key, Some(entry))) if q.get(key)?.is_some() => {
                                    q.insert(&key[..], entry.clone())?;
                                }
                                _ => {}
                            }
                            if let Some(k) = &dedup_key {
                                dd.insert(k.clone(), pec_id.as_bytes())?;
                                age.insert(dedup_age_key(now + keep, k), &[][..])?;
                            }
                            Ok((Certified::Stored(out), settled))
                        },
                    ),
            )
        });
        match result {
            Ok((Certified::Stored(appended), settled)) => {
                for (mailbox, a) in mailboxes.into_iter().zip(&appended) {
                    self.notify(mailbox, a.modseq);
                }
                if let Some(v) = settled {
                    let entry: QueueEntry = dec(&v)?;
                    self.bodies.remove(&entry.blob);
                }
                Ok(Certified::Stored(appended))
            }
            Ok((dup, _)) => {
                blobs.iter().for_each(|b| self.bodies.remove(b));
                Ok(dup)
            }
            Err(e) if !e.is_temporary() => {
                blobs.iter().for_each(|b| self.bodies.remove(b));
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Records of the legal log matching `q`, oldest first.
    pub fn log_search(&self, q: &LogQuery) -> Result<Vec<LogRecord>, StoreError> {
        let start = log_time_key(q.since.unwrap_or(i64::MIN));
        let mut out = Vec::new();
        for item in self.pec_log.range(start.to_vec()..) {
            let (_, v) = item.map_err(sled_err)?;
            let r: LogRecord = dec(&v)?;
            if q.until.is_some_and(|u| r.time >= u) {
                break;
            }
            if q.matches(&r) {
                out.push(r);
                if q.limit > 0 && out.len() >= q.limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    pub fn trace(&self, pec_id: &str) -> Result<Option<TraceRecord>, StoreError> {
        match self.pec_trace.get(pec_id.as_bytes()).map_err(sled_err)? {
            Some(v) => dec(&v).map(Some),
            None => Ok(None),
        }
    }

    /// PEC msgids whose trace still waits for another provider (PEC.md §6.6).
    pub fn pending(&self) -> Result<Vec<String>, StoreError> {
        self.pec_pending
            .iter()
            .keys()
            .map(|k| Ok(String::from_utf8_lossy(&k.map_err(sled_err)?).into_owned()))
            .collect()
    }

    /// The relay queue, oldest first.
    pub fn queue(&self) -> Result<Vec<QueueEntry>, StoreError> {
        self.pec_queue
            .iter()
            .values()
            .map(|v| dec(&v.map_err(sled_err)?))
            .collect()
    }

    pub fn queue_entry(&self, id: u64) -> Result<Option<QueueEntry>, StoreError> {
        match self.pec_queue.get(id.to_be_bytes()).map_err(sled_err)? {
            Some(v) => dec(&v).map(Some),
            None => Ok(None),
        }
    }

    pub fn queue_body(&self, entry: &QueueEntry) -> Result<Vec<u8>, StoreError> {
        Ok(self.bodies.read(&entry.blob)?)
    }

    /// Rewrites a queue entry (after an attempt, or to retry at once) with the log lines of
    /// what the attempt delivered, durably; `false` when it is gone meanwhile (delivered or
    /// deleted), and then nothing is written.
    pub fn queue_update(&self, entry: QueueEntry, log: Vec<LogRecord>) -> Result<bool, StoreError> {
        let lines = self.log_lines(&log)?;
        self.commit(Vec::new(), move |s| {
            let key = entry.id.to_be_bytes();
            finish((&s.pec_queue, &s.pec_log).transaction(|(q, lg)| {
                if q.get(key)?.is_none() {
                    return Ok(false);
                }
                q.insert(&key[..], enc(&entry))?;
                for (k, value) in &lines {
                    lg.insert(&k[..], value.clone())?;
                }
                Ok(true)
            }))
        })
    }

    /// Makes a queue entry due at `when`, changing nothing else (an operator's retry must not
    /// bring back recipients a concurrent attempt delivered); `false` when it is gone.
    pub fn queue_reschedule(&self, id: u64, when: i64) -> Result<bool, StoreError> {
        self.commit(Vec::new(), move |s| {
            let key = id.to_be_bytes();
            finish(s.pec_queue.transaction(|q| {
                let Some(v) = q.get(key)? else {
                    return Ok(false);
                };
                let mut entry: QueueEntry = dec(&v).map_err(ConflictableTransactionError::Abort)?;
                entry.next_attempt = when;
                q.insert(&key[..], enc(&entry))?;
                Ok(true)
            }))
        })
    }

    fn log_lines(&self, log: &[LogRecord]) -> Result<Vec<LogLine>, StoreError> {
        let mut lines = Vec::with_capacity(log.len());
        for r in log {
            let mut key = [0u8; 16];
            key[..8].copy_from_slice(&log_time_key(r.time));
            key[8..].copy_from_slice(&self.db.generate_id().map_err(sled_err)?.to_be_bytes());
            lines.push((key, enc(r)));
        }
        Ok(lines)
    }

    /// Removes a queue entry (delivered, expired or deleted) with the log lines that record
    /// why, in one durable commit; its body goes after. The entry as it was, if it existed.
    pub fn queue_remove(
        &self,
        id: u64,
        log: Vec<LogRecord>,
    ) -> Result<Option<QueueEntry>, StoreError> {
        let lines = self.log_lines(&log)?;
        let removed = self.commit(Vec::new(), move |s| {
            finish((&s.pec_queue, &s.pec_log).transaction(|(q, lg)| {
                let Some(v) = q.remove(&id.to_be_bytes()[..])? else {
                    return Ok(None);
                };
                for (key, value) in &lines {
                    lg.insert(&key[..], value.clone())?;
                }
                Ok(Some(v))
            }))
        })?;
        match removed {
            Some(v) => {
                let entry: QueueEntry = dec(&v)?;
                self.bodies.remove(&entry.blob);
                Ok(Some(entry))
            }
            None => Ok(None),
        }
    }

    /// Removes log records older than `before` (Unix seconds); the only deletion the log
    /// knows, run for the 30-month retention (PEC.md §10.5). Returns how many went.
    pub fn prune_log(&self, before: i64) -> Result<usize, StoreError> {
        let end = log_time_key(before);
        let keys: Vec<_> = self
            .pec_log
            .range(..end.to_vec())
            .keys()
            .collect::<Result<_, _>>()
            .map_err(sled_err)?;
        for k in &keys {
            self.pec_log.remove(k).map_err(sled_err)?;
        }
        if !keys.is_empty() {
            self.sync()?;
        }
        Ok(keys.len())
    }

    /// Removes idempotency keys that expire before `before` (Unix seconds), with their place
    /// in the expiry order, a batch per transaction. Returns how many went.
    fn prune_dedup(&self, before: i64) -> Result<usize, StoreError> {
        const BATCH: usize = 500;
        let end = log_time_key(before);
        let mut removed = 0;
        loop {
            let aged: Vec<sled::IVec> = self
                .pec_dedup_age
                .range(..end.to_vec())
                .keys()
                .take(BATCH)
                .collect::<Result<_, _>>()
                .map_err(sled_err)?;
            if aged.is_empty() {
                break;
            }
            finish(
                (&self.pec_dedup, &self.pec_dedup_age).transaction(|(dd, age)| {
                    for k in &aged {
                        dd.remove(&k[8..])?;
                        age.remove(k)?;
                    }
                    Ok(())
                }),
            )?;
            removed += aged.len();
        }
        if removed > 0 {
            self.sync()?;
        }
        Ok(removed)
    }

    /// Submission keys written before keys expired have no place in the expiry order: they
    /// get one as of now, once (marked in `meta`), so that they expire a window from now.
    fn age_unaged_dedup_keys(&self) -> Result<(), StoreError> {
        const MARK: &[u8] = b"dedup_aged";
        const BATCH: usize = 1000;
        if self.meta.get(MARK).map_err(sled_err)?.is_some() {
            return Ok(());
        }
        // Submission keys and the keys that stop replays of peers' signed documents cannot
        // be told apart: all get the longer keep, that of the legal log.
        let expires = now() + LOG_RETENTION_SECONDS;
        let mut aged = 0;
        let mut batch: Vec<sled::IVec> = Vec::with_capacity(BATCH);
        let mut keys = self.pec_dedup.iter().keys();
        loop {
            batch.clear();
            for k in keys.by_ref().take(BATCH) {
                batch.push(k.map_err(sled_err)?);
            }
            if batch.is_empty() {
                break;
            }
            // A run cut short ages some keys twice: the earlier expiry removes the key, the
            // later one finds nothing left to remove.
            finish(self.pec_dedup_age.transaction(|age| {
                for k in &batch {
                    age.insert(dedup_age_key(expires, k), &[][..])?;
                }
                Ok(())
            }))?;
            aged += batch.len();
        }
        self.meta.insert(MARK, &[1u8][..]).map_err(sled_err)?;
        self.sync()?;
        if aged > 0 {
            tracing::info!(keys = aged, "idempotency keys given an expiry");
        }
        Ok(())
    }

    pub fn messages(&self, folder: FolderId) -> Result<Vec<MessageMeta>, StoreError> {
        self.messages
            .scan_prefix(id_key(folder))
            .values()
            .map(|v| dec(&v.map_err(sled_err)?))
            .collect()
    }

    pub fn read_body(&self, meta: &MessageMeta) -> Result<Vec<u8>, StoreError> {
        self.bodies.read(&meta.blob).map_err(|e| {
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

    /// IMAP COPY (`remove_source` false) and MOVE (true, RFC 6851) of `uids` from `from` to
    /// `to`, in one atomic, durable step. Copies get new UIDs in ascending order of their
    /// sources, keep flags, keywords and internal date, and each gets its own body file, a
    /// hard link to its source's ([`Bodies::link`]). UIDs that do not exist are skipped (a
    /// COPY of a missing UID is OK with no effect). A COPY counts against the quota and is
    /// refused whole when it does not fit; a MOVE stays in the mailbox and leaves its used
    /// bytes alone. COPY into the same folder duplicates; MOVE into it is refused.
    pub fn copy_messages(
        &self,
        mailbox_id: MailboxId,
        from: FolderId,
        uids: &[Uid],
        to: FolderId,
        remove_source: bool,
    ) -> Result<Copied, StoreError> {
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
            return Ok(Copied {
                uidvalidity: dest.uidvalidity,
                pairs: Vec::new(),
                modseq: pre.modseq,
            });
        }
        let size: u64 = sources.iter().map(|m| m.size).sum();
        if !remove_source && pre.used_bytes + size > pre.quota_bytes {
            return Err(StoreError::OverQuota {
                used: pre.used_bytes,
                quota: pre.quota_bytes,
                size,
            });
        }
        let links = self.link_bodies(from, &sources)?;
        // (source uid, blob of its copy), ascending by uid.
        let planned: Vec<(Uid, BlobId)> = links.iter().map(|(uid, b)| (*uid, b.id)).collect();
        let links: Vec<PreparedBody> = links.into_iter().map(|(_, b)| b).collect();
        let plan = planned.clone();
        let result = self.commit(links, move |s| {
            finish(
                (&s.mailboxes, &s.folders, &s.messages, &s.changes).transaction(
                    |(mbx, fld, msgs, chg)| {
                        let mut m = tx_mailbox(mbx, mailbox_id)?;
                        let mut dst = tx_owned_folder(fld, mailbox_id, to)?;
                        let mut src = if remove_source {
                            Some(tx_owned_folder(fld, mailbox_id, from)?)
                        } else {
                            None
                        };
                        let mut pairs = Vec::with_capacity(plan.len());
                        let mut copied = Vec::with_capacity(plan.len());
                        let mut unused = Vec::new();
                        for &(uid, blob) in &plan {
                            let key = msg_key(from, uid);
                            let Some(source) = tx_get::<MessageMeta>(msgs, &key)? else {
                                unused.push(blob);
                                continue;
                            };
                            m.modseq += 1;
                            let copy = MessageMeta {
                                uid: dst.uidnext,
                                folder_id: to,
                                blob,
                                modseq: m.modseq,
                                ..source.clone()
                            };
                            dst.uidnext += 1;
                            dst.message_count += 1;
                            dst.size_bytes += copy.size;
                            msgs.insert(&msg_key(to, copy.uid), enc(&copy))?;
                            tx_log_change(chg, &m, to, copy.uid, ChangeKind::Appended)?;
                            pairs.push((uid, copy.uid));
                            copied.push(source);
                        }
                        if copied.is_empty() {
                            return Ok((
                                Copied {
                                    uidvalidity: dst.uidvalidity,
                                    pairs,
                                    modseq: m.modseq,
                                },
                                unused,
                                Vec::new(),
                            ));
                        }
                        let mut moved = Vec::new();
                        if let Some(src) = &mut src {
                            for source in &copied {
                                msgs.remove(msg_key(from, source.uid).as_ref())?;
                                m.modseq += 1;
                                src.message_count = src.message_count.saturating_sub(1);
                                src.size_bytes = src.size_bytes.saturating_sub(source.size);
                                tx_log_change(chg, &m, from, source.uid, ChangeKind::Expunged)?;
                                moved.push(source.blob);
                            }
                            src.highestmodseq = m.modseq;
                            fld.insert(&id_key(from), enc(&*src))?;
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
                        Ok((
                            Copied {
                                uidvalidity: dst.uidvalidity,
                                pairs,
                                modseq: m.modseq,
                            },
                            unused,
                            moved,
                        ))
                    },
                ),
            )
        });
        let (copied, unused, moved) = match result {
            Ok(r) => r,
            // The transaction refused the copy: nothing refers to the new links.
            Err(e) if !e.is_temporary() => {
                for (_, blob) in &planned {
                    self.bodies.remove(blob);
                }
                return Err(e);
            }
            // As in `append`: the links stay for the sweep at the next open to judge.
            Err(e) => return Err(e),
        };
        // Sources removed between the lookup and the transaction: their links are unused.
        for blob in unused.iter().chain(&moved) {
            self.bodies.remove(blob);
        }
        if !copied.pairs.is_empty() {
            self.notify(mailbox_id, copied.modseq);
        }
        Ok(copied)
    }

    /// New body files for copies of `sources`, hard links to theirs, paired with the source
    /// UIDs. A source whose body is gone because its message was removed meanwhile is left
    /// out; a body missing under a message that still exists is corruption.
    fn link_bodies(
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

    /// Updates flags of the given UIDs; UIDs that do not exist are skipped (CLIENTS.md §5
    /// bug 7: STORE on a missing UID is OK with no effect). Returns the messages changed.
    pub fn set_flags(
        &self,
        mailbox_id: MailboxId,
        folder_id: FolderId,
        uids: &[Uid],
        op: &FlagOp,
    ) -> Result<Vec<MessageMeta>, StoreError> {
        let keywords = match op {
            FlagOp::Set(_, k) | FlagOp::Add(_, k) | FlagOp::Remove(_, k) => k,
        };
        validate_keywords(keywords)?;
        let (uids, op) = (uids.to_vec(), op.clone());
        let changed = self.commit(Vec::new(), move |s| {
            finish(
                (&s.mailboxes, &s.folders, &s.messages, &s.changes).transaction(
                    |(mbx, fld, msgs, chg)| {
                        let mut m = tx_mailbox(mbx, mailbox_id)?;
                        let mut f = tx_owned_folder(fld, mailbox_id, folder_id)?;
                        let mut changed = Vec::new();
                        for &uid in &uids {
                            let key = msg_key(folder_id, uid);
                            let Some(mut meta) = tx_get::<MessageMeta>(msgs, &key)? else {
                                continue;
                            };
                            let before = (meta.flags, meta.keywords.clone());
                            apply_flags(&mut meta, &op);
                            if (meta.flags, &meta.keywords) == (before.0, &before.1) {
                                continue;
                            }
                            if meta.keywords.len() > MAX_KEYWORDS {
                                return abort(StoreError::Invalid(format!(
                                    "more than {MAX_KEYWORDS} keywords"
                                )));
                            }
                            m.modseq += 1;
                            meta.modseq = m.modseq;
                            msgs.insert(&key, enc(&meta))?;
                            tx_log_change(chg, &m, folder_id, uid, ChangeKind::FlagsChanged)?;
                            changed.push(meta);
                        }
                        if !changed.is_empty() {
                            tx_save(fld, mbx, &mut f, &m)?;
                        }
                        Ok((changed, m.modseq))
                    },
                ),
            )
        });
        let (changed, modseq) = changed?;
        if !changed.is_empty() {
            self.notify(mailbox_id, modseq);
        }
        Ok(changed)
    }

    /// Removes messages flagged \Deleted (limited to `only` when given, as UID EXPUNGE does)
    /// and returns their UIDs in ascending order.
    pub fn expunge(
        &self,
        mailbox_id: MailboxId,
        folder_id: FolderId,
        only: Option<&[Uid]>,
    ) -> Result<Vec<Uid>, StoreError> {
        // Checked before the scan, so another mailbox's messages are not even read.
        self.owned_folder(mailbox_id, folder_id)?;
        let candidates: Vec<Uid> = self
            .messages(folder_id)?
            .into_iter()
            .filter(|m| m.flags.contains(Flags::DELETED))
            .filter(|m| only.is_none_or(|set| set.contains(&m.uid)))
            .map(|m| m.uid)
            .collect();
        self.remove(mailbox_id, folder_id, candidates, true)
    }

    /// Removes the given messages whatever their flags (POP3's deletions at QUIT), in one
    /// atomic, durable step; UIDs already gone are skipped. Returns the UIDs removed.
    pub fn delete_messages(
        &self,
        mailbox_id: MailboxId,
        folder_id: FolderId,
        uids: &[Uid],
    ) -> Result<Vec<Uid>, StoreError> {
        self.remove(mailbox_id, folder_id, uids.to_vec(), false)
    }

    /// Removes `candidates` (when `only_deleted`, those still flagged \Deleted at commit time).
    fn remove(
        &self,
        mailbox_id: MailboxId,
        folder_id: FolderId,
        candidates: Vec<Uid>,
        only_deleted: bool,
    ) -> Result<Vec<Uid>, StoreError> {
        // Also for an empty list: a wrong owner is an error, never a silent success.
        self.owned_folder(mailbox_id, folder_id)?;
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let removed = self.commit(Vec::new(), move |s| {
            finish(
                (&s.mailboxes, &s.folders, &s.messages, &s.changes).transaction(
                    |(mbx, fld, msgs, chg)| {
                        let mut m = tx_mailbox(mbx, mailbox_id)?;
                        let mut f = tx_owned_folder(fld, mailbox_id, folder_id)?;
                        let mut removed = Vec::new();
                        for &uid in &candidates {
                            let key = msg_key(folder_id, uid);
                            let Some(meta) = tx_get::<MessageMeta>(msgs, &key)? else {
                                continue;
                            };
                            if only_deleted && !meta.flags.contains(Flags::DELETED) {
                                continue;
                            }
                            msgs.remove(key.as_ref())?;
                            m.modseq += 1;
                            // Saturating: a corrupt total must not panic the commit round.
                            m.used_bytes = m.used_bytes.saturating_sub(meta.size);
                            m.message_count = m.message_count.saturating_sub(1);
                            f.message_count = f.message_count.saturating_sub(1);
                            f.size_bytes = f.size_bytes.saturating_sub(meta.size);
                            tx_log_change(chg, &m, folder_id, uid, ChangeKind::Expunged)?;
                            removed.push(meta);
                        }
                        if !removed.is_empty() {
                            tx_save(fld, mbx, &mut f, &m)?;
                        }
                        Ok((removed, m.modseq))
                    },
                ),
            )
        });
        let (removed, modseq) = removed?;
        if removed.is_empty() {
            return Ok(Vec::new());
        }
        for meta in &removed {
            self.bodies.remove(&meta.blob);
        }
        self.notify(mailbox_id, modseq);
        Ok(removed.iter().map(|m| m.uid).collect())
    }

    /// Change-log entries of a mailbox with a modseq above `since`, oldest first, with
    /// whether they are all of them (see [`ChangeLog`]).
    pub fn changes_since(
        &self,
        mailbox: MailboxId,
        since: ModSeq,
    ) -> Result<ChangeLog, StoreError> {
        let changes = self
            .changes
            .range(change_key(mailbox, since.saturating_add(1))..=change_key(mailbox, u64::MAX))
            .values()
            .map(|v| dec(&v.map_err(sled_err)?))
            .collect::<Result<Vec<Change>, _>>()?;
        // Read after the entries: compaction raises the floor before removing any, so
        // entries missing from the read above imply a floor that says so.
        let floor = self.change_floor(mailbox)?;
        Ok(ChangeLog {
            floor,
            complete: since >= floor,
            changes,
        })
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

    /// Allocated bytes of the whole store directory.
    pub fn disk_usage(&self) -> Result<u64, StoreError> {
        Ok(crate::bodies::disk_usage(&self.root)?)
    }
}

fn apply_flags(meta: &mut MessageMeta, op: &FlagOp) {
    match op {
        FlagOp::Set(flags, keywords) => {
            meta.flags = *flags;
            meta.keywords = dedup(keywords.iter());
        }
        FlagOp::Add(flags, keywords) => {
            meta.flags = meta.flags.union(*flags);
            meta.keywords = dedup(meta.keywords.iter().chain(keywords));
        }
        FlagOp::Remove(flags, keywords) => {
            meta.flags = meta.flags.without(*flags);
            meta.keywords
                .retain(|k| !keywords.iter().any(|r| r.eq_ignore_ascii_case(k)));
        }
    }
}

/// Keywords compare case-insensitively (RFC 3501 §2.3.2); the first spelling wins.
fn dedup<'a>(keywords: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for k in keywords {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(k)) {
            out.push(k.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_synced_blob_set_forgets_files_sled_has_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), Retention::default()).unwrap();
        let blobs = store.sled_dir.join("blobs");
        std::fs::create_dir_all(&blobs).unwrap();
        let synced = || store.synced_sled_blobs.lock().unwrap().clone();
        for round in 0..5u32 {
            // sled writes large values once under names never reused, and removes them
            // when they are overwritten; here ten new ones replace the last ten each round.
            for i in 0..10 {
                std::fs::write(blobs.join(format!("{}", round * 10 + i)), b"v").unwrap();
            }
            if round > 0 {
                for i in 0..10 {
                    std::fs::remove_file(blobs.join(format!("{}", (round - 1) * 10 + i))).unwrap();
                }
            }
            store.sync().unwrap();
            let expected: HashSet<OsString> = (0..10)
                .map(|i| OsString::from(format!("{}", round * 10 + i)))
                .collect();
            assert!(
                synced().is_superset(&expected),
                "round {round}: new blobs are synced"
            );
            assert_eq!(
                synced().len(),
                expected.len(),
                "round {round}: {:?}",
                synced()
            );
        }
    }
}
