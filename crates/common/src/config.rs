//! The one typed configuration of pecd, read from `pecd.toml` (ARCHITECTURE.md "Interfaces").
//!
//! Every field has a default that runs unprivileged on loopback high ports, so an absent file
//! means "development defaults". Unknown keys and bad values are refused with a message that
//! names the file and the key.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::address::{valid_domain, Address};

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
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Provider {
    /// The gestore-emittente name, as in the provider index and the signing certificate.
    pub name: String,
    /// The PEC domains whose mailboxes we hold.
    pub domains: Vec<String>,
    /// The From address of every message the provider itself emits.
    pub service_address: String,
}

impl Default for Provider {
    fn default() -> Self {
        Provider {
            name: "pecd development provider".into(),
            domains: vec!["pec.localhost".into()],
            service_address: "posta-certificata@pec.localhost".into(),
        }
    }
}

impl Provider {
    /// Whether `address` belongs to one of our domains.
    pub fn serves(&self, address: &Address) -> bool {
        self.serves_domain(address.domain())
    }

    /// Whether `domain` is one of ours, case-insensitively.
    pub fn serves_domain(&self, domain: &str) -> bool {
        self.domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Listen {
    pub smtp: SocketAddr,
    pub submissions: SocketAddr,
    pub imaps: SocketAddr,
    pub pop3s: SocketAddr,
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            smtp: ([127, 0, 0, 1], 2525).into(),
            submissions: ([127, 0, 0, 1], 4465).into(),
            imaps: ([127, 0, 0, 1], 9993).into(),
            pop3s: ([127, 0, 0, 1], 9995).into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tls {
    /// Server certificate chain (leaf first, then intermediates), PEM.
    pub cert: PathBuf,
    /// Server private key, PEM.
    pub key: PathBuf,
    /// Create a development CA and certificates where the files are missing. Production
    /// configurations set this to false so that a missing file is an error instead.
    pub dev_certificates: bool,
}

impl Default for Tls {
    fn default() -> Self {
        Tls {
            cert: "data/certs/server.pem".into(),
            key: "data/certs/server.key".into(),
            dev_certificates: true,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Signing {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Issuer chain included in every signature; the development CA is created here.
    pub chain: PathBuf,
}

impl Default for Signing {
    fn default() -> Self {
        Signing {
            cert: "data/certs/signer.pem".into(),
            key: "data/certs/signer.key".into(),
            chain: "data/certs/ca.pem".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Peers {
    /// Trusted provider index (LDIF, IGPEC schema).
    pub index: PathBuf,
    /// CAs that issue provider signing certificates.
    pub trust_anchors: PathBuf,
    /// Certificate revocation lists (PEM or DER) of those CAs, fetched by the operator and
    /// reloaded on SIGHUP; a certificate is checked against the lists its issuer signed.
    pub crls: Vec<PathBuf>,
    /// Static routes: PEC domain -> "host:port", tried before MX records.
    pub routes: BTreeMap<String, String>,
}

impl Default for Peers {
    fn default() -> Self {
        Peers {
            index: "certs/providers.ldif".into(),
            trust_anchors: "data/certs/ca.pem".into(),
            crls: Vec::new(),
            routes: BTreeMap::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Store {
    pub path: PathBuf,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            path: "data/store".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Control {
    pub socket: PathBuf,
}

impl Default for Control {
    fn default() -> Self {
        Control {
            socket: "data/pecd.sock".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Messages a sender may submit per minute (burst of the same size).
    pub sender_per_minute: u32,
    /// Largest message accepted, in bytes (advertised in SMTP SIZE).
    pub max_message_bytes: u64,
    /// Disk quota given to a new mailbox, in bytes.
    pub mailbox_quota_bytes: u64,
    /// Reply code when a sender is over its limit: 550 (permanent, the provider's documented
    /// behaviour) or 451 (temporary: the client keeps the message in its Outbox and retries).
    pub sender_over_limit_code: u16,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            sender_per_minute: 6,
            max_message_bytes: 31_457_280,
            mailbox_quota_bytes: 1 << 30,
            sender_over_limit_code: 550,
        }
    }
}

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
}

impl Default for Auth {
    fn default() -> Self {
        Auth {
            failures_per_login: 10,
            failures_per_ip: 30,
            block_seconds: 60,
            max_block_seconds: 900,
            max_tracked: 100_000,
        }
    }
}

/// How ordinary (non-PEC) mail for a domain's mailboxes is treated (PEC.md §6.3, §12 item 9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrdinaryMail {
    /// Open mailboxes: delivered inside a signed busta di anomalia.
    Anomaly,
    /// Closed (base) mailboxes: refused at the end of DATA with 550 5.7.1.
    Refuse,
}

/// PEC rules that are the provider's choice (PEC.md §10.3, §12).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Pec {
    /// Limit on message size × number of recipients (PEC.md §10.3); above it the sender gets
    /// an avviso di non accettazione. At least 30 MiB, the figure the rules name.
    pub max_size_times_recipients: u64,
    /// Policy for ordinary mail to domains not listed in `ordinary_mail_domains`.
    pub ordinary_mail: OrdinaryMail,
    /// Per-domain policy: domain -> "anomaly" | "refuse".
    pub ordinary_mail_domains: BTreeMap<String, OrdinaryMail>,
    /// Seconds added to the system clock by the PEC engine (timers, queue, temporal
    /// references). For drills and tests of the 12 h / 24 h timeouts only; keep it 0.
    pub clock_offset_seconds: i64,
    /// How often the timeout timers (PEC.md §6.6) are checked, in seconds.
    pub timer_interval_seconds: u64,
}

/// The relay to other providers and to the Internet (PEC.md §6.2, §6.8).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Relay {
    /// First retry delay after a temporary failure, in seconds; doubled at each attempt.
    pub retry_initial_seconds: u64,
    /// Longest retry delay, in seconds.
    pub retry_max_seconds: u64,
    /// How long a message may stay queued (PEC.md §6.2: at most 24 hours).
    pub max_queue_seconds: u64,
    /// How often the queue is scanned for due messages, in seconds.
    pub interval_seconds: u64,
    /// Timeout of each SMTP step (connect, command, reply), in seconds.
    pub timeout_seconds: u64,
    /// Extra roots (PEM) for the TLS certificates of peer SMTP servers, besides the public
    /// web roots and `peers.trust_anchors`.
    pub tls_roots: Option<PathBuf>,
}

impl Default for Relay {
    fn default() -> Self {
        Relay {
            retry_initial_seconds: 60,
            retry_max_seconds: 3600,
            max_queue_seconds: 86_400,
            interval_seconds: 5,
            timeout_seconds: 60,
            tls_roots: None,
        }
    }
}

/// The size rule's floor (PEC.md §10.3): 30 MiB.
pub const PEC_SIZE_FLOOR: u64 = 30 * 1024 * 1024;

impl Default for Pec {
    fn default() -> Self {
        Pec {
            max_size_times_recipients: PEC_SIZE_FLOOR,
            ordinary_mail: OrdinaryMail::Anomaly,
            ordinary_mail_domains: BTreeMap::new(),
            clock_offset_seconds: 0,
            timer_interval_seconds: 30,
        }
    }
}

impl Pec {
    /// The ordinary-mail policy of `domain`, case-insensitively.
    pub fn ordinary_mail_for(&self, domain: &str) -> OrdinaryMail {
        self.ordinary_mail_domains
            .iter()
            .find(|(d, _)| d.eq_ignore_ascii_case(domain))
            .map_or(self.ordinary_mail, |(_, p)| *p)
    }
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

    /// Loads `path`, or without one `config/pecd.toml` when present, else the defaults.
    pub fn load(path: Option<&Path>) -> Result<(Config, Source), ConfigError> {
        let path = match path {
            Some(p) => p.to_path_buf(),
            None => {
                let default = PathBuf::from(DEFAULT_CONFIG_PATH);
                if !default.exists() {
                    let config = Config::default();
                    config.validate("embedded defaults")?;
                    return Ok((config, Source::Embedded));
                }
                default
            }
        };
        let file = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|e| ConfigError {
            file: file.clone(),
            key: "(file)".into(),
            message: format!("cannot read: {e}"),
        })?;
        let config = Config::parse(&text, &file)?;
        Ok((config, Source::File(path)))
    }

    /// Parses and validates TOML text; `file` is only used in error messages.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let deserializer = toml::Deserializer::new(text);
        let config: Config = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            ConfigError {
                file: file.to_string(),
                key: if key == "." {
                    "(top level)".into()
                } else {
                    key
                },
                message: inner.message().trim().to_string(),
            }
        })?;
        config.validate(file)?;
        Ok(config)
    }

    fn validate(&self, file: &str) -> Result<(), ConfigError> {
        let err = |key: &str, message: String| ConfigError {
            file: file.to_string(),
            key: key.to_string(),
            message,
        };
        if self.provider.name.trim().is_empty() {
            return Err(err("provider.name", "must not be empty".into()));
        }
        // It becomes the O attribute of the signing certificate (at most 64 characters).
        if self.provider.name.chars().count() > 64 {
            return Err(err("provider.name", "must be at most 64 characters".into()));
        }
        if self.provider.domains.is_empty() {
            return Err(err(
                "provider.domains",
                "must list at least one domain".into(),
            ));
        }
        for d in &self.provider.domains {
            if !valid_domain(d) {
                return Err(err(
                    "provider.domains",
                    format!("{d:?} is not a valid domain name"),
                ));
            }
        }
        if let Err(e) = Address::parse(&self.provider.service_address) {
            return Err(err("provider.service_address", e.to_string()));
        }
        for (domain, route) in &self.peers.routes {
            if !valid_domain(domain) {
                return Err(err(
                    "peers.routes",
                    format!("{domain:?} is not a valid domain name"),
                ));
            }
            let port_ok = route.rsplit_once(':').is_some_and(|(host, port)| {
                !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
            });
            if !port_ok {
                return Err(err(
                    &format!("peers.routes.{domain}"),
                    format!("{route:?} must have the form \"host:port\""),
                ));
            }
        }
        if self.pec.max_size_times_recipients < PEC_SIZE_FLOOR {
            return Err(err(
                "pec.max_size_times_recipients",
                format!("must be at least {PEC_SIZE_FLOOR} (30 MiB, PEC.md §10.3)"),
            ));
        }
        if let Some(d) = self.pec.ordinary_mail_domains.keys().find(|d| {
            !self
                .provider
                .domains
                .iter()
                .any(|p| p.eq_ignore_ascii_case(d))
        }) {
            return Err(err(
                "pec.ordinary_mail_domains",
                format!("{d:?} is not one of provider.domains"),
            ));
        }
        if self.relay.max_queue_seconds == 0 || self.relay.max_queue_seconds > 86_400 {
            return Err(err(
                "relay.max_queue_seconds",
                "must be between 1 and 86400 (24 hours, PEC.md §6.2)".into(),
            ));
        }
        for (key, v) in [
            (
                "relay.retry_initial_seconds",
                self.relay.retry_initial_seconds,
            ),
            ("relay.retry_max_seconds", self.relay.retry_max_seconds),
            ("relay.interval_seconds", self.relay.interval_seconds),
            ("relay.timeout_seconds", self.relay.timeout_seconds),
            (
                "pec.timer_interval_seconds",
                self.pec.timer_interval_seconds,
            ),
        ] {
            if v == 0 {
                return Err(err(key, "must be at least 1".into()));
            }
        }
        if self.limits.sender_per_minute == 0 {
            return Err(err("limits.sender_per_minute", "must be at least 1".into()));
        }
        if !(1024..=MAX_MESSAGE_BYTES_CEILING).contains(&self.limits.max_message_bytes) {
            return Err(err(
                "limits.max_message_bytes",
                format!("must be between 1024 and {MAX_MESSAGE_BYTES_CEILING}"),
            ));
        }
        if self.limits.mailbox_quota_bytes < self.limits.max_message_bytes {
            return Err(err(
                "limits.mailbox_quota_bytes",
                "must be at least limits.max_message_bytes".into(),
            ));
        }
        for (key, path) in [
            ("store.path", &self.store.path),
            ("control.socket", &self.control.socket),
            ("tls.cert", &self.tls.cert),
            ("tls.key", &self.tls.key),
            ("signing.cert", &self.signing.cert),
            ("signing.key", &self.signing.key),
            ("signing.chain", &self.signing.chain),
            ("peers.index", &self.peers.index),
            ("peers.trust_anchors", &self.peers.trust_anchors),
        ] {
            if path.as_os_str().is_empty() {
                return Err(err(key, "must not be empty".into()));
            }
        }
        if ![550, 451].contains(&self.limits.sender_over_limit_code) {
            return Err(err(
                "limits.sender_over_limit_code",
                "must be 550 or 451".into(),
            ));
        }
        if !valid_domain(&self.smtp.hostname) {
            return Err(err(
                "smtp.hostname",
                format!("{:?} is not a valid host name", self.smtp.hostname),
            ));
        }
        if self.smtp.max_command_bytes < 512 {
            return Err(err(
                "smtp.max_command_bytes",
                "must be at least 512 (RFC 5321)".into(),
            ));
        }
        if self.smtp.max_recipients == 0 {
            return Err(err("smtp.max_recipients", "must be at least 1".into()));
        }
        if self.smtp.max_connections_per_ip == 0 {
            return Err(err(
                "smtp.max_connections_per_ip",
                "must be at least 1".into(),
            ));
        }
        if self.smtp.idle_timeout_seconds == 0 {
            return Err(err(
                "smtp.idle_timeout_seconds",
                "must be at least 1".into(),
            ));
        }
        if self.pop3.idle_timeout_seconds == 0 {
            return Err(err(
                "pop3.idle_timeout_seconds",
                "must be at least 1".into(),
            ));
        }
        if !(1..=1800).contains(&self.pop3.prelogin_timeout_seconds) {
            return Err(err(
                "pop3.prelogin_timeout_seconds",
                "must be between 1 and 1800".into(),
            ));
        }
        for (key, v) in [
            (
                "smtp.write_timeout_seconds",
                self.smtp.write_timeout_seconds,
            ),
            (
                "pop3.write_timeout_seconds",
                self.pop3.write_timeout_seconds,
            ),
        ] {
            if !(1..=3600).contains(&v) {
                return Err(err(key, "must be between 1 and 3600".into()));
            }
        }
        for (key, per_ip, total) in [
            (
                "smtp.max_connections",
                self.smtp.max_connections_per_ip,
                self.smtp.max_connections,
            ),
            (
                "pop3.max_connections",
                self.pop3.max_connections_per_ip,
                self.pop3.max_connections,
            ),
            (
                "imap.max_connections",
                self.imap.max_connections_per_ip,
                self.imap.max_connections,
            ),
        ] {
            // A total below the per-address cap is raised to it where it is used
            // (`connection_total`), not refused: older configurations must keep loading.
            if per_ip == 0 {
                return Err(err(&format!("{key}_per_ip"), "must be at least 1".into()));
            }
            if total == 0 {
                return Err(err(key, "must be at least 1".into()));
            }
        }
        for (key, v) in [
            (
                "smtp.auth_failures_per_minute",
                self.smtp.auth_failures_per_minute,
            ),
            (
                "pop3.auth_failures_per_minute",
                self.pop3.auth_failures_per_minute,
            ),
            (
                "imap.auth_failures_per_minute",
                self.imap.auth_failures_per_minute,
            ),
        ] {
            if v == Some(0) {
                return Err(err(key, "must be at least 1".into()));
            }
        }
        for (key, v) in [
            ("auth.failures_per_login", self.auth.failures_per_login),
            ("auth.failures_per_ip", self.auth.failures_per_ip),
        ] {
            if !(1..=10_000).contains(&v) {
                return Err(err(key, "must be between 1 and 10000".into()));
            }
        }
        if !(1..=86_400).contains(&self.auth.block_seconds) {
            return Err(err(
                "auth.block_seconds",
                "must be between 1 and 86400".into(),
            ));
        }
        if !(self.auth.block_seconds..=86_400).contains(&self.auth.max_block_seconds) {
            return Err(err(
                "auth.max_block_seconds",
                "must be between auth.block_seconds and 86400 (a block always expires)".into(),
            ));
        }
        if !(100..=10_000_000).contains(&self.auth.max_tracked) {
            return Err(err(
                "auth.max_tracked",
                "must be between 100 and 10000000".into(),
            ));
        }
        if self.imap.idle_timeout_seconds < 1800 {
            return Err(err(
                "imap.idle_timeout_seconds",
                "must be at least 1800 (RFC 3501 §5.4)".into(),
            ));
        }
        if !(1..=1800).contains(&self.imap.idle_heartbeat_seconds) {
            return Err(err(
                "imap.idle_heartbeat_seconds",
                "must be between 1 and 1800".into(),
            ));
        }
        if self.imap.max_connections_per_user < 10 {
            return Err(err(
                "imap.max_connections_per_user",
                "must be at least 10 (clients keep several connections per device)".into(),
            ));
        }
        if !(1024..=1_048_576).contains(&self.imap.max_command_bytes) {
            return Err(err(
                "imap.max_command_bytes",
                "must be between 1024 and 1048576".into(),
            ));
        }
        if !(1..=1800).contains(&self.imap.prelogin_timeout_seconds) {
            return Err(err(
                "imap.prelogin_timeout_seconds",
                "must be between 1 and 1800".into(),
            ));
        }
        if !(1..=3600).contains(&self.imap.write_timeout_seconds) {
            return Err(err(
                "imap.write_timeout_seconds",
                "must be between 1 and 3600".into(),
            ));
        }
        // sockaddr_un holds 108 bytes including the terminating NUL.
        if self.control.socket.as_os_str().len() > 107 {
            return Err(err(
                "control.socket",
                "path longer than 107 bytes, the Unix socket limit".into(),
            ));
        }
        let listeners = [
            ("listen.smtp", self.listen.smtp),
            ("listen.submissions", self.listen.submissions),
            ("listen.imaps", self.listen.imaps),
            ("listen.pop3s", self.listen.pop3s),
        ];
        for (i, (key, addr)) in listeners.iter().enumerate() {
            if addr.port() != 0 && listeners[..i].iter().any(|(_, other)| other == addr) {
                return Err(err(
                    key,
                    format!("{addr} is already used by another listener"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_file_equals_embedded_defaults() {
        let text = include_str!("../../../config/pecd.toml");
        assert_eq!(
            Config::parse(text, "config/pecd.toml").unwrap(),
            Config::default()
        );
    }

    #[test]
    fn production_example_is_a_valid_configuration() {
        let text = include_str!("../../../config/production.example.toml");
        let c = Config::parse(text, "config/production.example.toml").unwrap();
        assert_eq!(c.listen.smtp.port(), 25);
        assert!(!c.tls.dev_certificates);
    }

    #[test]
    fn unknown_key_is_named() {
        let e = Config::parse("[listen]\nsmtpp = \"127.0.0.1:25\"\n", "x.toml").unwrap_err();
        assert_eq!(e.file, "x.toml");
        assert_eq!(e.key, "listen.smtpp");
        assert!(e.message.contains("unknown field `smtpp`"), "{e}");
        let e = Config::parse("colour = 1\n", "x.toml").unwrap_err();
        assert!(e.to_string().contains("unknown field `colour`"), "{e}");
    }

    #[test]
    fn bad_values_are_named() {
        let e = Config::parse("[limits]\nsender_per_minute = \"six\"\n", "x.toml").unwrap_err();
        assert_eq!(e.key, "limits.sender_per_minute");
        let e = Config::parse("[listen]\nimaps = \"localhost\"\n", "x.toml").unwrap_err();
        assert_eq!(e.key, "listen.imaps");
        let e = Config::parse("[limits]\nsender_per_minute = 0\n", "x.toml").unwrap_err();
        assert_eq!(
            e.to_string(),
            "x.toml: limits.sender_per_minute: must be at least 1"
        );
        let e = Config::parse("[provider]\ndomains = [\"bad domain\"]\n", "x.toml").unwrap_err();
        assert_eq!(e.key, "provider.domains");
        let e = Config::parse("[peers.routes]\n\"pec.other.it\" = \"mx\"\n", "x.toml").unwrap_err();
        assert_eq!(e.key, "peers.routes.pec.other.it");
        let e = Config::parse("[limits]\nmax_message_bytes = 99999999999\n", "x.toml").unwrap_err();
        assert_eq!(e.key, "limits.max_message_bytes");
        let e = Config::parse("[listen]\nimaps = \"127.0.0.1:2525\"\n", "x.toml").unwrap_err();
        assert_eq!(e.key, "listen.imaps");
        let long = format!("[control]\nsocket = \"/{}/pecd.sock\"\n", "d".repeat(120));
        assert_eq!(
            Config::parse(&long, "x.toml").unwrap_err().key,
            "control.socket"
        );
        let name = format!("[provider]\nname = \"{}\"\n", "N".repeat(65));
        assert_eq!(
            Config::parse(&name, "x.toml").unwrap_err().key,
            "provider.name"
        );
        let e = Config::parse("[limits\n", "x.toml").unwrap_err();
        assert_eq!(e.file, "x.toml");
    }

    #[test]
    fn serves_only_configured_domains() {
        let p = Provider::default();
        assert!(p.serves(&Address::parse("a@PEC.localhost").unwrap()));
        assert!(!p.serves(&Address::parse("a@example.com").unwrap()));
    }

    /// `auth_failures_per_minute` predates `[auth]`: configurations that set it still load,
    /// and it still lowers the per-login limit.
    #[test]
    fn legacy_auth_failures_per_minute_still_loads_and_counts() {
        let c = Config::parse(
            "[smtp]\nauth_failures_per_minute = 7\n[imap]\nauth_failures_per_minute = 4\n",
            "x.toml",
        )
        .unwrap();
        assert_eq!(c.effective_auth().failures_per_login, 4);
        assert_eq!(Config::default().effective_auth(), Config::default().auth);
        for key in ["smtp", "pop3", "imap"] {
            let e = Config::parse(
                &format!("[{key}]\nauth_failures_per_minute = 0\n"),
                "x.toml",
            )
            .unwrap_err();
            assert_eq!(e.key, format!("{key}.auth_failures_per_minute"));
        }
    }

    #[test]
    fn auth_and_connection_bounds() {
        for (text, key) in [
            (
                "[auth]\nfailures_per_login = 0\n",
                "auth.failures_per_login",
            ),
            ("[auth]\nfailures_per_ip = 0\n", "auth.failures_per_ip"),
            ("[auth]\nblock_seconds = 0\n", "auth.block_seconds"),
            (
                "[auth]\nblock_seconds = 60\nmax_block_seconds = 30\n",
                "auth.max_block_seconds",
            ),
            ("[auth]\nmax_tracked = 5\n", "auth.max_tracked"),
            (
                "[pop3]\nprelogin_timeout_seconds = 0\n",
                "pop3.prelogin_timeout_seconds",
            ),
            (
                "[pop3]\nwrite_timeout_seconds = 0\n",
                "pop3.write_timeout_seconds",
            ),
            (
                "[smtp]\nwrite_timeout_seconds = 0\n",
                "smtp.write_timeout_seconds",
            ),
            (
                "[pop3]\nmax_connections_per_ip = 0\n",
                "pop3.max_connections_per_ip",
            ),
            ("[smtp]\nmax_connections = 0\n", "smtp.max_connections"),
        ] {
            assert_eq!(
                Config::parse(text, "x.toml").unwrap_err().key,
                key,
                "{text}"
            );
        }
        let ok = Config::parse(
            "[auth]\nblock_seconds = 1\nmax_block_seconds = 1\n",
            "x.toml",
        )
        .unwrap();
        assert_eq!(ok.auth.max_block_seconds, 1);
    }

    /// Review item: a configuration that raised a per-address cap above the default total
    /// (which came later) was refused; it loads, and the total is raised to the cap.
    #[test]
    fn existing_configs_may_stop_loading() {
        let c = Config::parse(
            "[smtp]\nmax_connections_per_ip = 5000\n[pop3]\nmax_connections_per_ip = 2500\n\
             [imap]\nmax_connections_per_ip = 20000\n",
            "x.toml",
        )
        .unwrap();
        assert_eq!(c.smtp.connection_total(), 5000);
        assert_eq!(c.pop3.connection_total(), 2500);
        assert_eq!(c.imap.connection_total(), 20000);
        let c = Config::parse(
            "[smtp]\nmax_connections_per_ip = 10\nmax_connections = 5\n",
            "x.toml",
        )
        .unwrap();
        assert_eq!(c.smtp.connection_total(), 10);
        let d = Config::default();
        assert_eq!(d.smtp.connection_total(), d.smtp.max_connections);
        assert_eq!(d.pop3.connection_total(), d.pop3.max_connections);
        assert_eq!(d.imap.connection_total(), d.imap.max_connections);
    }

    #[test]
    fn imap_bounds() {
        for (text, key) in [
            (
                "[imap]\nidle_timeout_seconds = 60\n",
                "imap.idle_timeout_seconds",
            ),
            (
                "[imap]\nidle_heartbeat_seconds = 0\n",
                "imap.idle_heartbeat_seconds",
            ),
            (
                "[imap]\nmax_connections_per_user = 5\n",
                "imap.max_connections_per_user",
            ),
            ("[imap]\nmax_command_bytes = 10\n", "imap.max_command_bytes"),
            (
                "[imap]\nmax_connections_per_ip = 0\n",
                "imap.max_connections_per_ip",
            ),
            ("[imap]\nmax_connections = 0\n", "imap.max_connections"),
            (
                "[imap]\nprelogin_timeout_seconds = 0\n",
                "imap.prelogin_timeout_seconds",
            ),
            (
                "[imap]\nwrite_timeout_seconds = 0\n",
                "imap.write_timeout_seconds",
            ),
            (
                "[imap]\nwrite_timeout_seconds = 86400\n",
                "imap.write_timeout_seconds",
            ),
        ] {
            assert_eq!(
                Config::parse(text, "x.toml").unwrap_err().key,
                key,
                "{text}"
            );
        }
        let ok = Config::parse("[imap]\nmax_connections_per_user = 10\n", "x.toml").unwrap();
        assert_eq!(ok.imap.max_connections_per_user, 10);
    }
}
