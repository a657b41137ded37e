//! The sections that bound the protocol services: `[smtp]`, `[pop3]`, `[imap]` and the
//! brute-force protection they share, `[auth]`.

use serde::{Deserialize, Serialize};

/// Bounds of the SMTP service (both listeners).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Smtp {
    /// Our name in the greeting, the EHLO reply and Received: headers.
    pub hostname: String,
    /// Longest command line accepted, CRLF included (RFC 5321 §4.5.3.1.4 asks for 512 at least).
    pub max_command_bytes: usize,
    /// Recipients accepted per message.
    pub max_recipients: usize,
    /// Simultaneous connections from one IP address (IPv6: one /64), on each listener: port
    /// 25 and submissions count apart, so a flood on one never shuts the other.
    pub max_connections_per_ip: usize,
    /// Simultaneous connections in all, on each listener (see [`Smtp::connection_total`]).
    pub max_connections: usize,
    /// A client silent for this long is disconnected.
    pub idle_timeout_seconds: u64,
    /// A client that accepts no reply bytes for this long is disconnected.
    pub write_timeout_seconds: u64,
    /// Kept so that configurations written before `[auth]` still load: when set, it caps
    /// `auth.failures_per_login` (the lowest of the three services' values wins).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_failures_per_minute: Option<u32>,
}

impl Default for Smtp {
    fn default() -> Self {
        Smtp {
            hostname: "mail.pec.localhost".into(),
            max_command_bytes: 4096,
            max_recipients: 100,
            max_connections_per_ip: 200,
            max_connections: 2000,
            idle_timeout_seconds: 300,
            write_timeout_seconds: 60,
            auth_failures_per_minute: None,
        }
    }
}

/// The total connection cap as it applies: `max_connections`, raised to
/// `max_connections_per_ip` when lower. `max_connections` is newer than
/// `max_connections_per_ip` (in `[smtp]`), and a configuration that raised the per-address cap
/// above the new default total must keep loading and mean what it said.
fn connection_total(max_connections: usize, max_connections_per_ip: usize) -> usize {
    max_connections.max(max_connections_per_ip)
}

impl Smtp {
    /// Simultaneous connections allowed in all, on each listener.
    pub fn connection_total(&self) -> usize {
        connection_total(self.max_connections, self.max_connections_per_ip)
    }
}

impl Pop3 {
    /// Simultaneous connections allowed in all.
    pub fn connection_total(&self) -> usize {
        connection_total(self.max_connections, self.max_connections_per_ip)
    }
}

impl Imap {
    /// Simultaneous connections allowed in all.
    pub fn connection_total(&self) -> usize {
        connection_total(self.max_connections, self.max_connections_per_ip)
    }
}

/// Bounds of the POP3 service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Pop3 {
    /// A client silent for this long is disconnected (RFC 1939 asks for at least 10 minutes).
    pub idle_timeout_seconds: u64,
    /// A connection silent for this long before login is closed (the 10 minutes of RFC 1939
    /// are for logged-in clients).
    pub prelogin_timeout_seconds: u64,
    /// A client that accepts no response bytes for this long is disconnected.
    pub write_timeout_seconds: u64,
    /// Simultaneous connections from one IP address (IPv6: one /64).
    pub max_connections_per_ip: usize,
    /// Simultaneous connections in all (raised to `max_connections_per_ip` when lower).
    pub max_connections: usize,
    /// Kept so that configurations written before `[auth]` still load: when set, it caps
    /// `auth.failures_per_login` (the lowest of the three services' values wins).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_failures_per_minute: Option<u32>,
}

impl Default for Pop3 {
    fn default() -> Self {
        Pop3 {
            idle_timeout_seconds: 600,
            prelogin_timeout_seconds: 60,
            write_timeout_seconds: 60,
            max_connections_per_ip: 200,
            max_connections: 2000,
            auth_failures_per_minute: None,
        }
    }
}

/// Bounds of the IMAP service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Imap {
    /// A client silent for this long outside IDLE is disconnected (RFC 3501 §5.4: at least
    /// 30 minutes).
    pub idle_timeout_seconds: u64,
    /// Seconds between `* OK Still here` lines during IDLE, so that carrier NATs keep the flow
    /// (CLIENTS.md §5 bug 10).
    pub idle_heartbeat_seconds: u64,
    /// Simultaneous IMAP connections of one mailbox (CLIENTS.md §5 bug 9: at least 10).
    pub max_connections_per_user: u32,
    /// Longest command line, literals excluded.
    pub max_command_bytes: usize,
    /// Simultaneous connections from one IP address (IPv6: one /64), before and after login.
    pub max_connections_per_ip: usize,
    /// Simultaneous connections in all (raised to `max_connections_per_ip` when lower).
    pub max_connections: usize,
    /// A connection silent for this long before login is closed (the 30 minutes of RFC 3501
    /// §5.4 are for logged-in clients).
    pub prelogin_timeout_seconds: u64,
    /// A client that accepts no response bytes for this long is disconnected.
    pub write_timeout_seconds: u64,
    /// Memory (estimated bytes) for the header blocks of messages kept for header SEARCH keys
    /// and FETCH of header items, shared by all sessions; 0 disables the cache (those then
    /// read each message's header block, its first 16 KiB, every time).
    pub header_cache_bytes: u64,
    /// Kept so that configurations written before `[auth]` still load: when set, it caps
    /// `auth.failures_per_login` (the lowest of the three services' values wins).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_failures_per_minute: Option<u32>,
}

impl Default for Imap {
    fn default() -> Self {
        Imap {
            idle_timeout_seconds: 1800,
            idle_heartbeat_seconds: 120,
            max_connections_per_user: 20,
            max_command_bytes: 65536,
            max_connections_per_ip: 1000,
            max_connections: 10000,
            prelogin_timeout_seconds: 60,
            write_timeout_seconds: 60,
            header_cache_bytes: 64 << 20,
            auth_failures_per_minute: None,
        }
    }
}

/// Brute-force protection of password logins, shared by IMAP, POP3 and SMTP
/// (`pecd_common::throttle`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Auth {
    /// Failed logins for one login name (from any address, over any protocol) before further
    /// attempts for it are refused without checking the password. Failures are forgotten
    /// gradually: this many drain away over `max_block_seconds`.
    pub failures_per_login: u32,
    /// Failed logins from one IP address (IPv6: one /64), whatever the login, before further
    /// attempts from it are refused the same way.
    pub failures_per_ip: u32,
    /// The first refusal window; each further one while failures go on is twice as long.
    pub block_seconds: u64,
    /// The longest refusal window; a window always expires.
    pub max_block_seconds: u64,
    /// Login names, and separately addresses, remembered at most.
    pub max_tracked: usize,
    /// Seconds a login whose password argon2 accepted is remembered (under a keyed hash of
    /// login and password, never the password), so that its next logins skip argon2; a
    /// password change, revocation or expiry still takes effect at once. 0 turns it off.
    pub cache_seconds: u64,
    /// Logins remembered at most by that cache; the oldest go first.
    pub cache_entries: usize,
    /// Where holders change their password: named in the refusal of an expired password
    /// (PROVISIONING.md §7).
    pub self_service_url: String,
}

impl Default for Auth {
    fn default() -> Self {
        Auth {
            failures_per_login: 10,
            failures_per_ip: 30,
            block_seconds: 60,
            max_block_seconds: 900,
            max_tracked: 100_000,
            cache_seconds: 300,
            cache_entries: 100_000,
            self_service_url: "https://127.0.0.1:8443/account/".into(),
        }
    }
}
