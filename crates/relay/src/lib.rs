//! pecd-relay: a plain SMTP client (RFC 5321) and MX lookup, for handing mail to another
//! server.
//!
//! What it does: finds a domain's mail servers ([`MxResolver`], RFC 5321 §5.1), opens one
//! connection per call to [`send_batch`], upgrades it with STARTTLS (RFC 3207) as a
//! [`TlsPolicy`] asks, checking the server certificate against [`trust_roots`], and sends
//! several messages on it, one transaction each with several recipients, keeping each
//! recipient's own reply. Every step has its own timeout; replies have bounded line length
//! and line count; the message bytes go out as given (CRLF line ends, dot-stuffed).
//!
//! What it does not know: PEC. No PEC message kinds, no signer, no store, no queue, no
//! retries. The caller (the engine's queue policy) decides what to send, where (routes, or
//! the MX lookup here), when to try again, and what a refusal means; this crate only reports
//! what each server said about each recipient.

mod batch;
mod client;
mod conversation;
mod error;
mod mx;
mod reply;
mod tls;
mod transaction;

#[cfg(test)]
mod tests;

pub use batch::{Outgoing, RcptOutcome};
pub use client::send_batch;
pub use error::ConnectError;
pub use mx::{MxResolver, Target};
pub use rustls::RootCertStore;
pub use tls::{trust_roots, TlsPolicy};
