//! pecd's SMTP service (the provider's `sendm`): `listen.smtp` (cleartext with STARTTLS, port
//! 25 in production) for users and peer providers, and `listen.submissions` (implicit TLS,
//! port 465) for users.
//!
//! Rules enforced here: AUTH PLAIN/LOGIN only under TLS; after AUTH, MAIL FROM and the From
//! header must be the authenticated mailbox; without AUTH, mail is taken on the smtp listener
//! only for our own domains and never relayed; the per-sender limit at MAIL FROM; sizes,
//! recipients, line length, connections per IP and idle time bounded by configuration. A
//! message is answered 250 only once [`delivery::hand_off`] has made it durable.
//!
//! This crate never touches the store's format: it calls the store API. Entry points:
//! [`context::Context::new`] and [`server::serve`]; [`session::Session`] runs one
//! conversation over any stream.

pub mod context;
pub mod data;
pub mod delivery;
pub mod ehlo;
pub mod message;
pub mod reply;
pub mod sasl;
pub mod server;
pub mod session;
