//! Migration from another provider (PROVISIONING.md §9; issue 20): the holder's mailbox is
//! read from the old provider's IMAP server and written, byte for byte with its flags,
//! keywords and internal dates, into the pecd store, resumably and without duplicates.
//!
//! Layout: [`imap`] (the client: framing with limits, responses through imap-codec,
//! modified UTF-7); [`folders`] (names and special uses mapped to ours); [`record`] (the
//! migration's records: state, counters, per-folder progress); [`import`] (one folder,
//! batch by batch); [`run`] (one run as a server task, reconnecting when a connection is
//! lost); [`service`] (`migrate start` and `migrate status`: [`Migrations`]).
//!
//! Entry point: [`Migrations`], shared by the control socket and the HTTPS API. The old
//! password is kept in memory by the running import only, never stored.

pub mod folders;
pub mod imap;
pub mod import;
pub mod record;
pub mod run;
pub mod service;

pub use record::{MigrationRecord, RunState};
pub use service::{Kind, MigrateError, Migrations, StartRequest};
