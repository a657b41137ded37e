//! `[http]`: the HTTPS interface (operators' and holders' API, console, client autoconfig)
//! and the Prometheus metrics listener.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Http {
    /// HTTPS listener (the mail listeners' certificate).
    pub listen: SocketAddr,
    /// Plain-HTTP Prometheus listener; keep it on loopback or a private network.
    pub metrics_listen: SocketAddr,
    /// IMAP host name mail clients are told to use (autoconfig); port 993, TLS.
    pub public_imap_host: String,
    /// SMTP host name mail clients are told to use; port 465 TLS, or 25 with STARTTLS.
    pub public_smtp_host: String,
    /// IMAP port clients are told (993 in production).
    pub public_imap_port: u16,
    /// SMTP port with implicit TLS clients are told (465 in production).
    pub public_submissions_port: u16,
    /// SMTP port with STARTTLS clients are told as the alternative (25 in production).
    pub public_smtp_port: u16,
    /// A session unused for this long ends (the provider's webmail rule: 30 minutes).
    pub session_idle_seconds: u64,
    /// A session ends this long after its login whatever its use.
    pub session_max_seconds: u64,
    /// Sessions kept at most (oldest dropped first).
    pub max_sessions: usize,
    /// Connections served at once.
    pub max_connections: usize,
    /// Largest request body (contract uploads included).
    pub max_body_bytes: usize,
}

impl Default for Http {
    fn default() -> Self {
        Http {
            listen: "127.0.0.1:8443".parse().expect("literal address"),
            metrics_listen: "127.0.0.1:9464".parse().expect("literal address"),
            public_imap_host: "localhost".into(),
            public_smtp_host: "localhost".into(),
            public_imap_port: 9993,
            public_submissions_port: 4465,
            public_smtp_port: 2525,
            session_idle_seconds: 1800,
            session_max_seconds: 12 * 3600,
            max_sessions: 10_000,
            max_connections: 512,
            max_body_bytes: 25 << 20,
        }
    }
}
