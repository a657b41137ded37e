//! Types every pecd service shares: the typed configuration loaded from `pecd.toml`, the
//! rustls server configuration (TLS 1.2 and 1.3 only), the development certificates made on
//! first start, e-mail address handling and the password policy with argon2id hashing.
//!
//! This crate does no network I/O and knows nothing of the store's format. Entry points:
//! [`config::Config::load`], [`certs::ensure_dev_certificates`], [`tls::server_config`],
//! [`address::Address`], [`password::check_policy`], [`password::hash`], and
//! [`input::Input`], the buffered command-line reader of the protocol sessions,
//! [`net::accept_loop`] and [`net::Connections`], the listener loop and connection caps they
//! share, and [`throttle::LoginThrottle`], the brute-force protection of password logins.

pub mod address;
pub mod certs;
pub mod config;
pub mod input;
pub mod message;
pub mod net;
pub mod password;
pub mod throttle;
pub mod tls;
