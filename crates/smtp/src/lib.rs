//! pecd's SMTP service (the provider's `sendm`): `listen.smtp` (cleartext with STARTTLS, port
//! 25 in production) for users and peer providers, and `listen.submissions` (implicit TLS,
//! port 465) for users.
//!
//! Rules enforced here: AUTH PLAIN/LOGIN only under TLS; after AUTH, MAIL FROM must be the
//! authenticated mailbox; without AUTH, mail is taken on the smtp listener only for existing
//! mailboxes of our own domains and never relayed; the per-sender limit at MAIL FROM; sizes,
//! recipients, line length, connections per IP and idle time bounded by configuration. Each
//! RCPT TO is decided by one engine call (`Engine::decide_recipient`), carried with the
//! transaction and handed back at the end of DATA; engine errors carry their SMTP reply. At
//! the end of DATA the message goes to the PEC engine (`pecd_engine`): a submission is
//! certified, ordinary mail wrapped or refused; the reply comes once the result is durable.
//!
//! This crate never touches the store's format: it calls the store API. Entry points:
//! [`context::Context::new`] and [`server::serve`]; [`session::Session`] runs one
//! conversation over any stream.

pub mod context;
pub mod data;
pub mod ehlo;
pub mod message;
pub mod reply;
pub mod sasl;
pub mod server;
pub mod session;
