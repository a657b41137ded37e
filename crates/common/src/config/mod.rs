//! The one typed configuration of pecd, read from `pecd.toml` (ARCHITECTURE.md "Interfaces").
//!
//! Every field has a default that runs unprivileged on loopback high ports, so an absent file
//! means "development defaults". Unknown keys and bad values are refused with a message that
//! names the file and the key.
//!
//! This module holds [`Config`], [`Source`] and [`ConfigError`]; the sections live in
//! `sections` (where pecd runs), `services` (the protocol services' bounds) and `pec` (the
//! provider's PEC choices and the relay), all re-exported here; `load` reads and parses the
//! file and `validate` holds the checks run after parsing.

mod archive;
mod http;
mod lifecycle;
mod load;
mod migration;
mod pec;
mod sections;
mod services;
mod sms;
mod validate;

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use archive::{Archive, MailboxDefaults};
pub use http::Http;
pub use lifecycle::Lifecycle;
pub use migration::Migration;
pub use pec::{OrdinaryMail, Pec, Relay, PEC_SIZE_FLOOR};
pub use sections::{Control, Limits, Listen, Peers, Provider, Signing, Store, Tls};
pub use services::{Auth, Imap, Pop3, Smtp};
pub use sms::Sms;

/// Largest accepted value of `limits.max_message_bytes` (1 GiB): a message is held in memory
/// while it is checked and stored.
pub const MAX_MESSAGE_BYTES_CEILING: u64 = 1 << 30;

/// Where `pecd serve` and `pecctl` look for the configuration when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "config/pecd.toml";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub provider: Provider,
    pub listen: Listen,
    pub tls: Tls,
    pub signing: Signing,
    pub peers: Peers,
    pub store: Store,
    pub control: Control,
    pub limits: Limits,
    pub smtp: Smtp,
    pub pop3: Pop3,
    pub imap: Imap,
    pub auth: Auth,
    pub pec: Pec,
    pub relay: Relay,
    pub archive: Archive,
    pub lifecycle: Lifecycle,
    pub http: Http,
    pub sms: Sms,
    pub migration: Migration,
}

/// Where the configuration in use came from, for the start-up log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    Embedded,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Embedded => f.write_str("embedded defaults"),
        }
    }
}

/// A configuration that cannot be used; the text names the file and the key.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {key}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub key: String,
    pub message: String,
}

impl Config {
    /// `[auth]` as it applies: `failures_per_login` lowered to the smallest
    /// `auth_failures_per_minute` an older configuration still sets in `[smtp]`, `[pop3]` or
    /// `[imap]`.
    pub fn effective_auth(&self) -> Auth {
        let mut auth = self.auth.clone();
        for legacy in [
            self.smtp.auth_failures_per_minute,
            self.pop3.auth_failures_per_minute,
            self.imap.auth_failures_per_minute,
        ]
        .into_iter()
        .flatten()
        {
            auth.failures_per_login = auth.failures_per_login.min(legacy);
        }
        auth
    }
}

#[cfg(test)]
mod tests;
