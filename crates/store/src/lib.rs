//! pecd's message store: mailboxes, folders, messages, flags, quotas, the per-mailbox change
//! log that feeds IMAP IDLE, CONDSTORE/QRESYNC and POP3, the holders' security archive (a
//! read-only folder with its own size, [`SECURITY_ARCHIVE_FOLDER`]), and the PEC records
//! (legal log, traces, relay queue, idempotency keys).
//!
//! This is the only crate that knows sled (and, later, SQL). Protocol crates see [`Store`]
//! and the types of [`types`] and [`pec`]; no backend type appears in them, and
//! [`StoreError`] carries backend errors as text.
//!
//! Backends: [`Store`] holds a private `Backend` enum with one variant per backend, today
//! `Sled` (module `sled`: synchronous, run on tokio's blocking pool), and each operation of
//! the facade matches on it. A PostgreSQL backend (tokio-postgres, a later issue) becomes a
//! second variant whose operations are async natively. An enum rather than a trait: a sync
//! trait would make that backend block a thread per query, a trait with async methods cannot
//! be used as `dyn`, and a generic `Store<B>` would carry a type parameter into every crate
//! that holds a store. With the enum, callers keep one concrete `Store`, and a new variant
//! makes the compiler list every operation still to write for it. The operations live in
//! the `api` module, one file per record family (mailboxes, folders, messages, copy/move,
//! PEC certification and logs, relay queue, upkeep), as the sled backend's modules are.
//! Body segments (`bodies`) and the group commit (`commit`) know no sled; the sled backend uses
//! them (with its own index of which records refer to which body), and a PostgreSQL backend
//! keeping bodies in a blob directory can use them too.
//!
//! Durability contract: every write method returns only once its effect is on disk. Message
//! bodies live in append-only segment files, fdatasynced once per commit round for all the
//! bodies of the round, before the metadata that refers to them commits; one body may be
//! referred to by many messages (copies, one certified envelope to many mailboxes, relay
//! queue entries), counted, and reclaimed by compaction once none is left; metadata lives
//! in sled, and the store fsyncs sled's files itself through a group commit, because sled's
//! `flush()` does not fsync and its large values are never fsynced. Blocking work runs on
//! tokio's blocking pool; the async methods are safe to call from protocol sessions.
//!
//! Nothing grows without bound: each mailbox's change log is compacted as it is written (a
//! reader below the compaction floor is told so by [`ChangeLog::complete`]), and submission
//! idempotency keys expire through [`Store::prune`]; both bounds are a [`Retention`].
//!
//! Entry points: [`Store::open`], [`Store::create_mailbox`], [`Store::append`],
//! [`Store::certify`], [`Store::changes_since`], [`Store::subscribe`], [`Store::prune`].

mod api;
mod bodies;
mod commit;
pub mod pec;
pub mod records;
mod sled;
pub mod types;

use std::path::Path;
use std::sync::Arc;

use tokio::sync::broadcast;

pub use pec::*;
pub use records::{RecordPair, RecordTx};
pub use types::*;

use crate::sled::SledStore;

/// Metadata page cache of [`Store::open`] (`store.cache_bytes`' default): a bound on the
/// memory the store keeps, not a working set it needs.
pub const DEFAULT_CACHE_BYTES: u64 = 32 << 20;

/// The store: cheap to clone, shared by every service of the process.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
}

/// The backend a [`Store`] runs on (see the crate documentation for why an enum).
#[derive(Clone)]
enum Backend {
    Sled(Arc<SledStore>),
}

impl Store {
    /// Opens (creating) the store at `path`, taking an exclusive lock on the directory: a
    /// second process gets [`StoreError::Locked`]. Moves bodies of the previous one-file-each
    /// layout into segments. Keeps the default [`Retention`] and [`DEFAULT_CACHE_BYTES`].
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with(path, Retention::default(), DEFAULT_CACHE_BYTES)
    }

    /// [`Store::open`] with how much to keep of the records that would otherwise only grow,
    /// and how many bytes of metadata pages to keep in memory (`store.cache_bytes`).
    pub fn open_with(
        path: &Path,
        retention: Retention,
        cache_bytes: u64,
    ) -> Result<Store, StoreError> {
        Ok(Store {
            backend: Backend::Sled(Arc::new(SledStore::open(path, retention, cache_bytes)?)),
        })
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        match &self.backend {
            Backend::Sled(s) => s.root(),
        }
    }

    /// Notices of durable changes, for sessions waiting in IDLE. A lagging receiver should
    /// re-read [`Store::changes_since`].
    pub fn subscribe(&self) -> broadcast::Receiver<ChangeNotice> {
        match &self.backend {
            Backend::Sled(s) => s.subscribe(),
        }
    }
}
