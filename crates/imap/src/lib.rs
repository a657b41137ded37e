//! pecd's IMAP service on `listen.imaps` (implicit TLS, port 993 in production): IMAP4rev1
//! (RFC 3501) with the extensions Outlook, Thunderbird and Apple Mail rely on (CLIENTS.md §1):
//! IDLE, UIDPLUS, MOVE, SPECIAL-USE, NAMESPACE, ID, ENABLE, UNSELECT, CHILDREN,
//! LIST-EXTENDED, LIST-STATUS, CONDSTORE, QRESYNC, QUOTA, UTF8=ACCEPT, ESEARCH, LITERAL+,
//! SASL-IR.
//!
//! Commands are decoded and responses encoded with imap-codec; the few extended syntaxes it
//! does not know (LIST-EXTENDED options, SEARCH RETURN) are recognised in [`extended`] and
//! the rest handed to imap-codec. Each command has its module under `op`, named after the
//! command and citing the RFC section it implements; `dispatch` routes to them, and they
//! work on the [`session::Session`] and its selected view (`view`). Messages are served out
//! of the store; a selected session follows other sessions' changes through the store's
//! per-mailbox change log (`sync`). FETCH of header items and header SEARCH keys read only
//! each message's header block (`batch`), and header blocks are kept in a cache shared by
//! the sessions ([`header_cache`]) so that, once cached, they read nothing.
//!
//! Entry points: [`Context::new`], [`server::serve`]; [`session::Session`] runs over any
//! stream, so protocol tests need no socket.

mod batch;
pub mod capability;
mod conversation;
mod dispatch;
mod error;
pub mod extended;
mod flags;
/// Public as the entry of the `imap_command` fuzz target (fuzz/); the session is its user.
pub mod framing;
pub mod header_cache;
mod op;
mod ranges;
mod security_archive;
pub mod server;
pub mod session;
mod sync;
pub mod utf7;
mod view;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use pecd_common::config::Config;
use pecd_common::net::Connections;
use pecd_common::throttle::{LoginThrottle, Policy};
use pecd_store::{Folder, FolderId, MailboxId, MessageMeta, ModSeq, Store, StoreError, Uid};

/// State shared by every IMAP session.
pub struct Context {
    pub config: Arc<Config>,
    pub store: Store,
    /// Brute-force protection of LOGIN and AUTHENTICATE (shared with POP3 and SMTP when
    /// pecd runs them all).
    pub logins: Arc<LoginThrottle>,
    /// Open connections per client address and in all, counted from accept.
    pub clients: Arc<Connections>,
    /// Open connections per logged-in mailbox.
    connections: Mutex<HashMap<MailboxId, u32>>,
    /// Per folder, the highest UID some session has already seen: messages above it are
    /// `\Recent` for the next session that sees them (RFC 3501 §2.3.2). Kept in memory, so
    /// after a restart every message counts as recent once; only a SELECT adds an entry, a
    /// deleted folder's entry goes, and past [`RECENT_FOLDERS`] entries the map starts over
    /// (as after a restart) rather than grow with every folder ever selected.
    recent: Mutex<HashMap<FolderId, Uid>>,
    /// Message lists of large folders as of a folder modseq, shared by the sessions that
    /// SELECT them (reading 5,000 records from the store is most of a SELECT's cost).
    listings: Mutex<HashMap<FolderId, Listing>>,
    /// Header blocks of messages for SEARCH and FETCH of header items, shared by all sessions
    /// (`imap.header_cache_bytes`).
    pub headers: header_cache::HeaderCache,
}

/// A folder's messages as of a folder modseq.
type Listing = (ModSeq, Arc<Vec<MessageMeta>>);

/// Folders whose `\Recent` boundary is remembered (about 16 bytes each).
const RECENT_FOLDERS: usize = 200_000;

/// Folders with at least this many messages have their listing cached.
const LISTING_CACHE_MIN: usize = 500;
/// At most this many listings are kept...
const LISTING_CACHE_ENTRIES: usize = 256;
/// ...holding at most this many messages in all (a message record is about 100 bytes, so
/// the listings stay within a few tens of MiB whatever the folders' sizes).
const LISTING_CACHE_MESSAGES: usize = 250_000;

impl Context {
    /// A context with its own login throttle (tests of IMAP alone).
    pub fn new(config: Arc<Config>, store: Store) -> Arc<Context> {
        let logins = Arc::new(LoginThrottle::new(Policy::from(&*config)));
        Context::with_logins(config, store, logins)
    }

    /// A context whose failed logins count in `logins`, shared with the other services.
    pub fn with_logins(
        config: Arc<Config>,
        store: Store,
        logins: Arc<LoginThrottle>,
    ) -> Arc<Context> {
        Arc::new(Context {
            headers: header_cache::HeaderCache::new(config.imap.header_cache_bytes),
            clients: Connections::new(
                config.imap.max_connections_per_ip,
                config.imap.connection_total(),
            ),
            logins,
            config,
            store,
            connections: Mutex::new(HashMap::new()),
            recent: Mutex::new(HashMap::new()),
            listings: Mutex::new(HashMap::new()),
        })
    }

    /// Counts a connection of `mailbox`, or `None` when it already has the configured most.
    pub fn connect(self: &Arc<Self>, mailbox: MailboxId) -> Option<ConnectionSlot> {
        let mut open = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(mailbox).or_insert(0);
        if *n >= self.config.imap.max_connections_per_user {
            return None;
        }
        *n += 1;
        Some(ConnectionSlot {
            ctx: self.clone(),
            mailbox,
        })
    }

    /// The lowest UID of `folder` that is recent for the caller (RFC 3501 §2.3.2). With
    /// `claim` (SELECT, a read-write session seeing new messages), the messages up to that UID
    /// become the caller's; without (EXAMINE, STATUS), nothing is claimed.
    pub(crate) fn first_recent(&self, folder: FolderId, claim: Option<Uid>) -> Uid {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let Some(up_to) = claim else {
            return recent.get(&folder).map_or(1, |seen| seen + 1);
        };
        if recent.len() >= RECENT_FOLDERS && !recent.contains_key(&folder) {
            recent.clear();
        }
        let seen = recent.entry(folder).or_insert(0);
        let first = *seen + 1;
        *seen = (*seen).max(up_to);
        first
    }

    /// Forgets what is kept in memory about a deleted folder.
    pub(crate) fn forget_folder(&self, folder: FolderId) {
        self.recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&folder);
        self.listings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&folder);
        self.headers.forget_folder(folder);
    }

    #[cfg(test)]
    pub(crate) fn recent_folders(&self) -> usize {
        self.recent.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// The messages of `folder`, from the cache when nothing changed since it was filled.
    /// The store is read after `folder` was, so a listing is never older than its key; a
    /// newer one is harmless, because a session applies the change log over it again.
    pub(crate) async fn listing(&self, folder: &Folder) -> Result<Vec<MessageMeta>, StoreError> {
        let cached = {
            let listings = self.listings.lock().unwrap_or_else(|p| p.into_inner());
            listings
                .get(&folder.id)
                .filter(|(modseq, _)| *modseq == folder.highestmodseq)
                .map(|(_, list)| list.clone())
        };
        if let Some(list) = cached {
            return Ok(list.as_ref().clone());
        }
        let messages = self.store.messages(folder.id).await?;
        if (LISTING_CACHE_MIN..=LISTING_CACHE_MESSAGES).contains(&messages.len()) {
            let mut listings = self.listings.lock().unwrap_or_else(|p| p.into_inner());
            listings.remove(&folder.id);
            let mut held: usize = listings.values().map(|(_, l)| l.len()).sum();
            while listings.len() >= LISTING_CACHE_ENTRIES
                || held + messages.len() > LISTING_CACHE_MESSAGES
            {
                // Evict the entry with the oldest modseq: a rough least-recently-changed.
                let Some(old) = listings
                    .iter()
                    .min_by_key(|(_, (m, _))| *m)
                    .map(|(k, _)| *k)
                else {
                    break;
                };
                held -= listings.remove(&old).map_or(0, |(_, l)| l.len());
            }
            listings.insert(
                folder.id,
                (folder.highestmodseq, Arc::new(messages.clone())),
            );
        }
        Ok(messages)
    }
}

/// One counted connection of a mailbox; released when dropped.
pub struct ConnectionSlot {
    ctx: Arc<Context>,
    mailbox: MailboxId,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self
            .ctx
            .connections
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.mailbox) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.mailbox);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recent_map_holds_only_selected_folders_that_still_exist() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let ctx = Context::new(Arc::new(Config::default()), store);
        assert_eq!(
            ctx.first_recent(7, None),
            1,
            "STATUS of a folder never selected"
        );
        assert_eq!(ctx.recent_folders(), 0, "STATUS and EXAMINE claim nothing");
        assert_eq!(ctx.first_recent(7, Some(5)), 1);
        assert_eq!(ctx.first_recent(7, None), 6);
        assert_eq!(ctx.first_recent(7, Some(9)), 6);
        assert_eq!(ctx.recent_folders(), 1);
        ctx.forget_folder(7);
        assert_eq!(ctx.recent_folders(), 0, "a deleted folder's entry goes");
    }

    #[test]
    fn the_recent_map_starts_over_past_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let ctx = Context::new(Arc::new(Config::default()), store);
        for folder in 0..RECENT_FOLDERS as u64 {
            ctx.first_recent(folder, Some(1));
        }
        assert_eq!(ctx.recent_folders(), RECENT_FOLDERS);
        ctx.first_recent(0, Some(2));
        assert_eq!(
            ctx.recent_folders(),
            RECENT_FOLDERS,
            "a known folder adds nothing"
        );
        ctx.first_recent(u64::MAX, Some(1));
        assert_eq!(
            ctx.recent_folders(),
            1,
            "a new folder past the bound starts over"
        );
    }
}
