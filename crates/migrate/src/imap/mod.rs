//! The IMAP client side of a migration: [`frame`] (where a response ends, with limits),
//! [`reply`] (what it says, through imap-codec), [`utf7`] (mailbox names), [`client`]
//! (the connection and its commands).

pub mod client;
pub mod frame;
pub mod reply;
pub mod utf7;

pub use client::{Capabilities, Connection, ImapError, Server};
pub use reply::{Fetched, ListEntry};
