//! The provisioning archive (PROVISIONING.md). Today: logins, the one place where a login
//! becomes a mailbox for SMTP, POP3 and IMAP alike, with the slowing of repeated failures.
//! Customers, resellers, requests, user ids and expiries will live here too, persisted
//! through `store`.
//!
//! Entry points: [`login::authenticate`] and [`login::Throttle`].

pub mod login;
