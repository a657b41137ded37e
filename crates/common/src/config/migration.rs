//! `[migration]`: mailboxes moving in from another provider (PROVISIONING.md §9).
//!
//! A mailbox is *in a migration window* when its domain is listed in `domains`. Before
//! `cutover` its holder may start the migration (`pecctl migrate start`, the HTTPS API) and
//! nobody may log in to it (the password chosen at the start becomes usable at cutover);
//! from `cutover` on a migrated mailbox works as any other and a second `migrate start`
//! imports the old provider's `archive_folder`, while a mailbox of those domains whose
//! migration never started is refused for logins, sending and receiving.

use std::path::PathBuf;

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Migration {
    /// Domains whose mailboxes are in the migration window; empty: no window.
    pub domains: Vec<String>,
    /// RFC 3339 date and time of the cutover (e.g. `2027-01-11T00:00:00+01:00`); required
    /// when `domains` is not empty.
    pub cutover: Option<String>,
    /// PEM file of extra trust anchors for the old providers' IMAP servers (private CAs);
    /// the Mozilla roots are always trusted.
    pub tls_roots: Option<PathBuf>,
    /// The old provider's folder imported only after cutover, by a second `migrate start`.
    pub archive_folder: String,
    /// Messages fetched and stored per round of the import (memory is bounded by this and
    /// `batch_bytes`).
    pub batch_messages: usize,
    /// Bytes of message bodies fetched per round (a larger message is fetched alone).
    pub batch_bytes: u64,
    /// Seconds the old server may stay silent (connect, TLS, any reply) before the import
    /// counts the connection as lost.
    pub timeout_seconds: u64,
    /// Migrations running at once on this node.
    pub max_running: usize,
    /// Ports the holders' migration wizard may connect to (the old provider's IMAP over
    /// TLS): a holder types the old server's name, so the wizard must not become a way to
    /// probe other services. Operators (`pecctl migrate start`, the API) are not limited.
    pub holder_ports: Vec<u16>,
}

impl Default for Migration {
    fn default() -> Self {
        Migration {
            domains: Vec::new(),
            cutover: None,
            tls_roots: None,
            archive_folder: "Archivio".into(),
            batch_messages: 200,
            batch_bytes: 8 << 20,
            timeout_seconds: 60,
            max_running: 4,
            holder_ports: vec![993],
        }
    }
}

impl Migration {
    /// The cutover as Unix seconds, `None` when not set (checked at load).
    pub fn cutover_unix(&self) -> Option<i64> {
        self.cutover
            .as_deref()
            .and_then(|c| DateTime::<FixedOffset>::parse_from_rfc3339(c).ok())
            .map(|c| c.timestamp())
    }

    /// Whether `address` belongs to a domain in the migration window.
    pub fn in_window(&self, address: &str) -> bool {
        let domain = address.rsplit_once('@').map_or("", |(_, d)| d);
        self.domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
    }

    /// The checks run at load: the failing key and why.
    pub(super) fn check(&self) -> Result<(), (&'static str, String)> {
        if let Some(c) = &self.cutover {
            if DateTime::<FixedOffset>::parse_from_rfc3339(c).is_err() {
                return Err((
                    "migration.cutover",
                    format!("{c:?} is not an RFC 3339 date and time"),
                ));
            }
        } else if !self.domains.is_empty() {
            return Err((
                "migration.cutover",
                "must be set when migration.domains is not empty".into(),
            ));
        }
        if self.batch_messages == 0 || self.batch_bytes == 0 {
            return Err((
                "migration.batch_messages",
                "batch_messages and batch_bytes must be at least 1".into(),
            ));
        }
        if self.timeout_seconds == 0 || self.max_running == 0 {
            return Err((
                "migration.timeout_seconds",
                "timeout_seconds and max_running must be at least 1".into(),
            ));
        }
        Ok(())
    }
}
