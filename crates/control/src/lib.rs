//! The admin control socket of pecd: its versioned JSON-lines protocol ([`protocol`]), the
//! typed operations API the socket serves ([`ops::Operations`]), the server ([`server`]) and
//! the client pecctl uses ([`client::Client`]).
//!
//! pecctl never opens the store: every administrative action goes through this socket, and
//! every rule (our domains, the password policy, message checks) is enforced in `ops`, and
//! the provisioning archive's commands ([`archive`]) run as the connection's acting operator;
//! [`migrate`] holds the migration commands.

pub mod archive;
pub mod client;
pub mod migrate;
pub mod ops;
pub mod protocol;
pub mod server;
