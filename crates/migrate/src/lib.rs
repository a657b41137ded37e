//! Migration from another provider (PROVISIONING.md §9; issue 20): the holder's mailbox is
//! read from the old provider's IMAP server and written, byte for byte with its flags,
//! keywords and internal dates, into the pecd store.
//!
//! Layout: [`imap`] (the client: framing with limits, responses through imap-codec,
//! modified UTF-7); [`folders`] (their names and special uses mapped to ours).
//!
//! This crate never keeps the old password beyond the import that uses it.

pub mod folders;
pub mod imap;
