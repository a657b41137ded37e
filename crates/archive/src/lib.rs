//! The provisioning archive (PROVISIONING.md). Today: logins, the one place where a login
//! becomes a mailbox for SMTP, POP3 and IMAP alike, under the brute-force protection of
//! `pecd_common::throttle`.
//! Customers, resellers, requests, user ids and expiries will live here too, persisted
//! through `store`.
//!
//! Entry point: [`login::authenticate`].

pub mod login;
