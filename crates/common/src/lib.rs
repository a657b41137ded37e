//! What every pecd service shares (ARCHITECTURE.md: config, certificates, TLS, addresses,
//! password policy, network accept loop): the typed configuration loaded from `pecd.toml`,
//! the rustls server configuration (TLS 1.2 and 1.3 only), the development certificates made
//! on first start, e-mail address handling, the password policy with argon2id hashing, the
//! minimal RFC 5322 checks of imported messages, the buffered line reader of the protocol
//! sessions, the listener accept loop with its connection caps, and the brute-force
//! protection of password logins.
//!
//! Its I/O is only what those need: it reads the configuration and certificate files and
//! writes the development certificates when they are missing; on sockets it accepts
//! connections from a listener the caller bound, performs TLS handshakes and reads and writes
//! session bytes, but it binds no address and connects to nothing. It speaks no protocol (a
//! service hands it the bytes of its own refusal), knows nothing of the store's format and
//! depends on no other pecd crate. Entry points: [`config::Config::load`],
//! [`certs::ensure_dev_certificates`], [`tls::server_config`], [`address::Address`],
//! [`password::check_policy`], [`password::hash`], [`message::check_rfc5322`],
//! [`input::Input`], [`net::accept_loop`] and [`net::Connections`], and
//! [`throttle::LoginThrottle`].

pub mod address;
pub mod certs;
pub mod config;
pub mod domains;
pub mod input;
pub mod message;
pub mod metrics;
pub mod net;
pub mod password;
pub mod throttle;
pub mod tls;
