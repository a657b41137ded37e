//! The IMAP commands, one module per command or command family, each naming the RFC 9051
//! (and RFC 3501 or extension RFC) section it implements. Each adds methods to
//! [`crate::session::Session`] and depends only on the session, its view
//! ([`crate::view`], [`crate::sync`]) and the helpers below them; the `dispatch` module routes
//! commands here.
//!
//! - any state (RFC 9051 §6.1): [`capability`], [`noop`] (also CHECK), [`logout`], [`id`]
//! - not authenticated (§6.2): [`auth`]
//! - authenticated (§6.3): [`enable`], [`namespace`], [`select`] (also CLOSE, UNSELECT),
//!   [`folders`], [`list`], [`status`], [`append`], [`idle`], [`quota`]
//! - selected (§6.4): [`expunge`], [`search`], [`fetch`], [`store`], [`copy_move`]

pub(crate) mod append;
pub(crate) mod auth;
pub(crate) mod capability;
pub(crate) mod copy_move;
pub(crate) mod enable;
pub(crate) mod expunge;
pub(crate) mod fetch;
pub(crate) mod folders;
pub(crate) mod id;
pub(crate) mod idle;
pub(crate) mod list;
pub(crate) mod logout;
pub(crate) mod namespace;
pub(crate) mod noop;
pub(crate) mod quota;
pub(crate) mod search;
pub(crate) mod select;
pub(crate) mod status;
pub(crate) mod store;
