//! The checks a parsed configuration must pass before pecd uses it: one function per section
//! (or per rule that spans sections), run in a fixed order; the first failure is the one
//! reported, naming its key.

use super::{
    Archive, Auth, Config, ConfigError, Control, Http, Imap, Limits, Listen, Pec, Peers, Pop3,
    Provider, Relay, Smtp, Store, MAX_MESSAGE_BYTES_CEILING, PEC_SIZE_FLOOR,
};
use crate::address::{valid_domain, Address};

/// A failed check: the key and what is wrong with it. [`Config::validate`] adds the file.
struct Invalid {
    key: String,
    message: String,
}

fn invalid(key: &str, message: impl Into<String>) -> Invalid {
    Invalid {
        key: key.to_string(),
        message: message.into(),
    }
}

type Checked = Result<(), Invalid>;

impl Config {
    pub(super) fn validate(&self, file: &str) -> Result<(), ConfigError> {
        self.check()
            .map_err(|Invalid { key, message }| ConfigError {
                file: file.to_string(),
                key,
                message,
            })
    }

    /// Every check, in the order that decides which error a configuration with several is
    /// refused for.
    fn check(&self) -> Checked {
        provider(&self.provider)?;
        peer_routes(&self.peers)?;
        pec(&self.pec, &self.provider)?;
        relay(&self.relay, &self.pec)?;
        limits(&self.limits)?;
        paths(self)?;
        store(&self.store)?;
        sender_over_limit_code(&self.limits)?;
        smtp(&self.smtp)?;
        pop3(&self.pop3)?;
        write_timeouts(&self.smtp, &self.pop3)?;
        connection_caps(self)?;
        legacy_auth_failures(self)?;
        auth(&self.auth)?;
        imap(&self.imap)?;
        control(&self.control)?;
        archive(&self.archive)?;
        http(&self.http)?;
        self.migration
            .check()
            .map_err(|(key, message)| invalid(key, message))?;
        listen(&self.listen)
    }
}

fn http(http: &Http) -> Checked {
    for (key, host) in [
        ("http.public_imap_host", &http.public_imap_host),
        ("http.public_smtp_host", &http.public_smtp_host),
    ] {
        if !valid_domain(host) && host.parse::<std::net::IpAddr>().is_err() {
            return Err(invalid(key, format!("{host:?} is not a host name")));
        }
    }
    for (key, value) in [
        ("http.session_idle_seconds", http.session_idle_seconds),
        ("http.session_max_seconds", http.session_max_seconds),
        ("http.max_sessions", http.max_sessions as u64),
        ("http.max_connections", http.max_connections as u64),
        ("http.max_body_bytes", http.max_body_bytes as u64),
    ] {
        if value == 0 {
            return Err(invalid(key, "must be at least 1"));
        }
    }
    Ok(())
}

fn archive(archive: &Archive) -> Checked {
    for (key, parents) in [
        ("archive.ordinary_parents", &archive.ordinary_parents),
        ("archive.pa_parents", &archive.pa_parents),
    ] {
        if let Some(bad) = parents.iter().find(|d| !valid_domain(d)) {
            return Err(invalid(key, format!("{bad:?} is not a domain name")));
        }
    }
    if archive.massive_sender_per_minute == 0 {
        return Err(invalid(
            "archive.massive_sender_per_minute",
            "must be at least 1",
        ));
    }
    if archive.contract_max_bytes == 0 || archive.contract_max_bytes > 256 << 20 {
        return Err(invalid(
            "archive.contract_max_bytes",
            "must be between 1 byte and 256 MiB",
        ));
    }
    if archive.contracts_per_request == 0 {
        return Err(invalid(
            "archive.contracts_per_request",
            "must be at least 1",
        ));
    }
    if archive.address_change_days < 0 {
        return Err(invalid("archive.address_change_days", "cannot be negative"));
    }
    if archive.security_archive_unit_bytes == 0 {
        return Err(invalid(
            "archive.security_archive_unit_bytes",
            "must be at least 1",
        ));
    }
    Ok(())
}

fn provider(provider: &Provider) -> Checked {
    if provider.name.trim().is_empty() {
        return Err(invalid("provider.name", "must not be empty"));
    }
    // It becomes the O attribute of the signing certificate (at most 64 characters).
    if provider.name.chars().count() > 64 {
        return Err(invalid("provider.name", "must be at most 64 characters"));
    }
    if provider.domains.is_empty() {
        return Err(invalid("provider.domains", "must list at least one domain"));
    }
    for d in &provider.domains {
        if !valid_domain(d) {
            return Err(invalid(
                "provider.domains",
                format!("{d:?} is not a valid domain name"),
            ));
        }
    }
    if let Err(e) = Address::parse(&provider.service_address) {
        return Err(invalid("provider.service_address", e.to_string()));
    }
    Ok(())
}

fn peer_routes(peers: &Peers) -> Checked {
    for (domain, route) in &peers.routes {
        if !valid_domain(domain) {
            return Err(invalid(
                "peers.routes",
                format!("{domain:?} is not a valid domain name"),
            ));
        }
        let port_ok = route.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
        });
        if !port_ok {
            return Err(invalid(
                &format!("peers.routes.{domain}"),
                format!("{route:?} must have the form \"host:port\""),
            ));
        }
    }
    Ok(())
}

fn pec(pec: &Pec, provider: &Provider) -> Checked {
    if pec.max_size_times_recipients < PEC_SIZE_FLOOR {
        return Err(invalid(
            "pec.max_size_times_recipients",
            format!("must be at least {PEC_SIZE_FLOOR} (30 MiB, PEC.md §10.3)"),
        ));
    }
    if let Some(d) = pec
        .ordinary_mail_domains
        .keys()
        .find(|d| !provider.domains.iter().any(|p| p.eq_ignore_ascii_case(d)))
    {
        return Err(invalid(
            "pec.ordinary_mail_domains",
            format!("{d:?} is not one of provider.domains"),
        ));
    }
    Ok(())
}

/// The relay's bounds, and with its intervals the PEC timers' one.
fn relay(relay: &Relay, pec: &Pec) -> Checked {
    if relay.max_queue_seconds == 0 || relay.max_queue_seconds > 86_400 {
        return Err(invalid(
            "relay.max_queue_seconds",
            "must be between 1 and 86400 (24 hours, PEC.md §6.2)",
        ));
    }
    for (key, v) in [
        ("relay.retry_initial_seconds", relay.retry_initial_seconds),
        ("relay.retry_max_seconds", relay.retry_max_seconds),
        ("relay.interval_seconds", relay.interval_seconds),
        ("relay.timeout_seconds", relay.timeout_seconds),
        ("pec.timer_interval_seconds", pec.timer_interval_seconds),
    ] {
        if v == 0 {
            return Err(invalid(key, "must be at least 1"));
        }
    }
    Ok(())
}

fn limits(limits: &Limits) -> Checked {
    if limits.sender_per_minute == 0 {
        return Err(invalid("limits.sender_per_minute", "must be at least 1"));
    }
    if !(1024..=MAX_MESSAGE_BYTES_CEILING).contains(&limits.max_message_bytes) {
        return Err(invalid(
            "limits.max_message_bytes",
            format!("must be between 1024 and {MAX_MESSAGE_BYTES_CEILING}"),
        ));
    }
    if limits.mailbox_quota_bytes < limits.max_message_bytes {
        return Err(invalid(
            "limits.mailbox_quota_bytes",
            "must be at least limits.max_message_bytes",
        ));
    }
    Ok(())
}

fn store(store: &Store) -> Checked {
    if !(1 << 20..=64 << 30).contains(&store.cache_bytes) {
        return Err(invalid(
            "store.cache_bytes",
            "must be between 1048576 (1 MiB) and 68719476736 (64 GiB)",
        ));
    }
    Ok(())
}

/// Every file and socket path of every section.
fn paths(config: &Config) -> Checked {
    let paths = [
        ("store.path", &config.store.path),
        ("control.socket", &config.control.socket),
        ("tls.cert", &config.tls.cert),
        ("tls.key", &config.tls.key),
        ("signing.cert", &config.signing.cert),
        ("signing.key", &config.signing.key),
        ("signing.chain", &config.signing.chain),
        ("peers.index", &config.peers.index),
        ("peers.trust_anchors", &config.peers.trust_anchors),
    ];
    for (key, path) in paths {
        if path.as_os_str().is_empty() {
            return Err(invalid(key, "must not be empty"));
        }
    }
    Ok(())
}

fn sender_over_limit_code(limits: &Limits) -> Checked {
    if ![550, 451].contains(&limits.sender_over_limit_code) {
        return Err(invalid(
            "limits.sender_over_limit_code",
            "must be 550 or 451",
        ));
    }
    Ok(())
}

fn smtp(smtp: &Smtp) -> Checked {
    if !valid_domain(&smtp.hostname) {
        return Err(invalid(
            "smtp.hostname",
            format!("{:?} is not a valid host name", smtp.hostname),
        ));
    }
    if smtp.max_command_bytes < 512 {
        return Err(invalid(
            "smtp.max_command_bytes",
            "must be at least 512 (RFC 5321)",
        ));
    }
    if smtp.max_recipients == 0 {
        return Err(invalid("smtp.max_recipients", "must be at least 1"));
    }
    if smtp.max_connections_per_ip == 0 {
        return Err(invalid("smtp.max_connections_per_ip", "must be at least 1"));
    }
    if smtp.idle_timeout_seconds == 0 {
        return Err(invalid("smtp.idle_timeout_seconds", "must be at least 1"));
    }
    Ok(())
}

fn pop3(pop3: &Pop3) -> Checked {
    if pop3.idle_timeout_seconds == 0 {
        return Err(invalid("pop3.idle_timeout_seconds", "must be at least 1"));
    }
    if !(1..=1800).contains(&pop3.prelogin_timeout_seconds) {
        return Err(invalid(
            "pop3.prelogin_timeout_seconds",
            "must be between 1 and 1800",
        ));
    }
    Ok(())
}

fn write_timeouts(smtp: &Smtp, pop3: &Pop3) -> Checked {
    for (key, v) in [
        ("smtp.write_timeout_seconds", smtp.write_timeout_seconds),
        ("pop3.write_timeout_seconds", pop3.write_timeout_seconds),
    ] {
        if !(1..=3600).contains(&v) {
            return Err(invalid(key, "must be between 1 and 3600"));
        }
    }
    Ok(())
}

/// The per-address and total connection caps of the three services.
fn connection_caps(config: &Config) -> Checked {
    for (key, per_ip, total) in [
        (
            "smtp.max_connections",
            config.smtp.max_connections_per_ip,
            config.smtp.max_connections,
        ),
        (
            "pop3.max_connections",
            config.pop3.max_connections_per_ip,
            config.pop3.max_connections,
        ),
        (
            "imap.max_connections",
            config.imap.max_connections_per_ip,
            config.imap.max_connections,
        ),
    ] {
        // A total below the per-address cap is raised to it where it is used
        // (`connection_total`), not refused: older configurations must keep loading.
        if per_ip == 0 {
            return Err(invalid(&format!("{key}_per_ip"), "must be at least 1"));
        }
        if total == 0 {
            return Err(invalid(key, "must be at least 1"));
        }
    }
    Ok(())
}

/// `auth_failures_per_minute` of the three services, older than `[auth]`.
fn legacy_auth_failures(config: &Config) -> Checked {
    for (key, v) in [
        (
            "smtp.auth_failures_per_minute",
            config.smtp.auth_failures_per_minute,
        ),
        (
            "pop3.auth_failures_per_minute",
            config.pop3.auth_failures_per_minute,
        ),
        (
            "imap.auth_failures_per_minute",
            config.imap.auth_failures_per_minute,
        ),
    ] {
        if v == Some(0) {
            return Err(invalid(key, "must be at least 1"));
        }
    }
    Ok(())
}

fn auth(auth: &Auth) -> Checked {
    for (key, v) in [
        ("auth.failures_per_login", auth.failures_per_login),
        ("auth.failures_per_ip", auth.failures_per_ip),
    ] {
        if !(1..=10_000).contains(&v) {
            return Err(invalid(key, "must be between 1 and 10000"));
        }
    }
    if !(1..=86_400).contains(&auth.block_seconds) {
        return Err(invalid("auth.block_seconds", "must be between 1 and 86400"));
    }
    if !(auth.block_seconds..=86_400).contains(&auth.max_block_seconds) {
        return Err(invalid(
            "auth.max_block_seconds",
            "must be between auth.block_seconds and 86400 (a block always expires)",
        ));
    }
    if !(100..=10_000_000).contains(&auth.max_tracked) {
        return Err(invalid(
            "auth.max_tracked",
            "must be between 100 and 10000000",
        ));
    }
    if auth.cache_seconds > 86_400 {
        return Err(invalid(
            "auth.cache_seconds",
            "must be between 0 (no login cache) and 86400",
        ));
    }
    if !(1..=10_000_000).contains(&auth.cache_entries) {
        return Err(invalid(
            "auth.cache_entries",
            "must be between 1 and 10000000",
        ));
    }
    let url = &auth.self_service_url;
    if !(url.starts_with("https://") || url.starts_with("http://"))
        || url.len() > 500
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid(
            "auth.self_service_url",
            "must be an http(s) URL without spaces, at most 500 characters",
        ));
    }
    Ok(())
}

fn imap(imap: &Imap) -> Checked {
    if imap.idle_timeout_seconds < 1800 {
        return Err(invalid(
            "imap.idle_timeout_seconds",
            "must be at least 1800 (RFC 3501 §5.4)",
        ));
    }
    if !(1..=1800).contains(&imap.idle_heartbeat_seconds) {
        return Err(invalid(
            "imap.idle_heartbeat_seconds",
            "must be between 1 and 1800",
        ));
    }
    if imap.max_connections_per_user < 10 {
        return Err(invalid(
            "imap.max_connections_per_user",
            "must be at least 10 (clients keep several connections per device)",
        ));
    }
    if !(1024..=1_048_576).contains(&imap.max_command_bytes) {
        return Err(invalid(
            "imap.max_command_bytes",
            "must be between 1024 and 1048576",
        ));
    }
    if !(1..=1800).contains(&imap.prelogin_timeout_seconds) {
        return Err(invalid(
            "imap.prelogin_timeout_seconds",
            "must be between 1 and 1800",
        ));
    }
    if !(1..=3600).contains(&imap.write_timeout_seconds) {
        return Err(invalid(
            "imap.write_timeout_seconds",
            "must be between 1 and 3600",
        ));
    }
    Ok(())
}

fn control(control: &Control) -> Checked {
    // sockaddr_un holds 108 bytes including the terminating NUL.
    if control.socket.as_os_str().len() > 107 {
        return Err(invalid(
            "control.socket",
            "path longer than 107 bytes, the Unix socket limit",
        ));
    }
    Ok(())
}

/// No two listeners on the same address (port 0 asks the system for a free one each).
fn listen(listen: &Listen) -> Checked {
    let listeners = [
        ("listen.smtp", listen.smtp),
        ("listen.submissions", listen.submissions),
        ("listen.imaps", listen.imaps),
        ("listen.pop3s", listen.pop3s),
    ];
    for (i, (key, addr)) in listeners.iter().enumerate() {
        if addr.port() != 0 && listeners[..i].iter().any(|(_, other)| other == addr) {
            return Err(invalid(
                key,
                format!("{addr} is already used by another listener"),
            ));
        }
    }
    Ok(())
}
