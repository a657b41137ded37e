//! The archive's commands over the control socket (PROVISIONING.md; ARCHITECTURE.md
//! "Interfaces"). Each family of commands has its module with its own request enum (tagged
//! by `command`, like [`crate::protocol::Request`]), the list of its command names, and its
//! dispatch to the typed operations of [`pecd_archive::Archive`], run as the connection's
//! acting operator (`session.as`, `pecctl --as`).

pub mod lifecycle;
pub mod mailboxes;
pub mod operators;
pub mod requests;
pub mod slaves;

use pecd_archive::{Actor, ArchiveError, ErrorKind};
use pecd_lifecycle::Lifecycle;
use serde::de::DeserializeOwned;

use crate::protocol::{ControlError, ErrorCode};

/// One parsed archive command.
#[derive(Clone, Debug, PartialEq)]
pub enum Call {
    Operators(operators::Command),
    Lifecycle(lifecycle::Command),
    Requests(requests::Command),
    Slaves(slaves::Command),
    Mailboxes(mailboxes::Command),
}

impl Call {
    /// How many raw bytes follow the command's line on the stream (a contract document).
    pub fn body_size(&self) -> Option<u64> {
        match self {
            Call::Requests(c) => c.body_size(),
            _ => None,
        }
    }
}

/// Whether a command's line is followed by raw bytes: a line that names one but cannot be
/// parsed leaves the stream out of step.
pub fn announces_body(command: &str) -> bool {
    requests::WITH_BODY.contains(&command)
}

/// Every archive command name, for "unknown command" and its list of known ones.
pub fn commands() -> impl Iterator<Item = &'static str> {
    operators::COMMANDS
        .iter()
        .chain(lifecycle::COMMANDS.iter())
        .chain(requests::COMMANDS.iter())
        .chain(slaves::COMMANDS.iter())
        .chain(mailboxes::COMMANDS.iter())
        .copied()
}

fn decode<T: DeserializeOwned>(command: &str, value: serde_json::Value) -> Result<T, ControlError> {
    serde_json::from_value(value).map_err(|e| {
        ControlError::new(
            ErrorCode::BadRequest,
            format!("bad arguments for {command}: {e}"),
        )
    })
}

/// Parses `value` as an archive command if `command` names one.
pub fn parse(command: &str, value: serde_json::Value) -> Option<Result<Call, ControlError>> {
    if operators::COMMANDS.contains(&command) {
        return Some(decode(command, value).map(Call::Operators));
    }
    if lifecycle::COMMANDS.contains(&command) {
        return Some(decode(command, value).map(Call::Lifecycle));
    }
    if requests::COMMANDS.contains(&command) {
        return Some(decode(command, value).map(Call::Requests));
    }
    if slaves::COMMANDS.contains(&command) {
        return Some(decode(command, value).map(Call::Slaves));
    }
    if mailboxes::COMMANDS.contains(&command) {
        return Some(decode(command, value).map(Call::Mailboxes));
    }
    None
}

/// Runs one archive command as `actor`; `body` holds the raw bytes that followed its line.
pub async fn dispatch(
    lifecycle: &Lifecycle,
    actor: &Actor,
    call: Call,
    body: Option<Vec<u8>>,
) -> Result<serde_json::Value, ControlError> {
    let archive = lifecycle.archive();
    match call {
        Call::Operators(c) => operators::dispatch(archive, actor, c).await,
        Call::Lifecycle(c) => lifecycle::dispatch(lifecycle, actor, c).await,
        Call::Requests(c) => requests::dispatch(archive, actor, c, body).await,
        Call::Slaves(c) => slaves::dispatch(archive, actor, c).await,
        Call::Mailboxes(c) => mailboxes::dispatch(archive, actor, c).await,
    }
}

/// The control socket's form of an archive refusal.
pub fn refusal(e: ArchiveError) -> ControlError {
    let code = match e.kind {
        ErrorKind::Invalid => ErrorCode::InvalidValue,
        ErrorKind::NotFound => ErrorCode::NotFound,
        ErrorKind::Forbidden => ErrorCode::Forbidden,
        ErrorKind::Conflict => ErrorCode::Conflict,
        ErrorKind::Unavailable => ErrorCode::Unavailable,
        ErrorKind::Internal => ErrorCode::Internal,
    };
    ControlError::new(code, e.message).with_details(e.details)
}

/// A result as the reply's JSON.
pub fn json<T: serde::Serialize>(value: T) -> serde_json::Value {
    serde_json::to_value(value).expect("results serialize")
}
