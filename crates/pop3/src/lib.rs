//! pecd's POP3 service on `listen.pop3s` (implicit TLS, port 995 in production): RFC 1939 with
//! the extensions of RFC 2449 (CAPA, response codes) and RFC 5034 (AUTH PLAIN).
//!
//! The maildrop is the INBOX, seen as it was at login. Deletions are applied at QUIT only, in
//! one durable step; a session that ends otherwise deletes nothing. One POP3 session per
//! mailbox at a time (`-ERR [IN-USE]`). What Outlook and others rely on (CLIENTS.md §2): UIDL
//! derived from UIDVALIDITY and UID, never reused; sizes that count CRLF; TOP that always ends
//! the headers with a blank line; no NUL byte ever sent; +OK and a clean TLS close on QUIT.
//!
//! Entry points: [`Context::new`], [`server::serve`]; [`session::Session`] runs over any stream.

pub mod capa;
pub mod server;
pub mod session;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use pecd_common::config::Config;
use pecd_common::net::Connections;
use pecd_common::throttle::{LoginThrottle, Policy};
use pecd_store::{MailboxId, Store};

/// State shared by every POP3 session.
pub struct Context {
    pub config: Arc<Config>,
    pub store: Store,
    /// Brute-force protection of USER/PASS and AUTH (shared with IMAP and SMTP when pecd
    /// runs them all).
    pub logins: Arc<LoginThrottle>,
    /// Open connections per address and in all.
    pub connections: Arc<Connections>,
    /// Mailboxes with a POP3 session in the TRANSACTION state.
    locked: Mutex<HashSet<MailboxId>>,
}

impl Context {
    /// A context with its own login throttle (tests of POP3 alone).
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
            connections: Connections::new(
                config.pop3.max_connections_per_ip,
                config.pop3.connection_total(),
            ),
            logins,
            config,
            store,
            locked: Mutex::new(HashSet::new()),
        })
    }

    /// Takes the maildrop lock, or `None` when another session holds it.
    pub fn lock(self: &Arc<Self>, mailbox: MailboxId) -> Option<MaildropLock> {
        let mut locked = self.locked.lock().unwrap_or_else(|p| p.into_inner());
        locked.insert(mailbox).then(|| MaildropLock {
            ctx: self.clone(),
            mailbox,
        })
    }
}

/// Held for the life of a TRANSACTION state; released when dropped.
pub struct MaildropLock {
    ctx: Arc<Context>,
    mailbox: MailboxId,
}

impl Drop for MaildropLock {
    fn drop(&mut self) {
        self.ctx
            .locked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.mailbox);
    }
}
