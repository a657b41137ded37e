//! `migrate.start`, `migrate.status`: a mailbox moving in from another provider
//! (PROVISIONING.md §9; ARCHITECTURE.md "Interfaces" `migrate start|status`), run by
//! [`pecd_migrate::Migrations`]. Administrators only: a holder starts its own migration
//! through the HTTPS API.

use pecd_migrate::{Kind, MigrateError, Migrations, StartRequest};
use serde::{Deserialize, Serialize};

use crate::protocol::{ControlError, ErrorCode};

pub const COMMANDS: [&str; 2] = ["migrate.start", "migrate.status"];

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", deny_unknown_fields)]
pub enum Command {
    #[serde(rename = "migrate.start")]
    Start {
        address: String,
        /// `imaps://HOST:PORT` of the old provider.
        from: String,
        #[serde(default)]
        login: Option<String>,
        password: String,
        #[serde(default)]
        new_password: Option<String>,
    },
    #[serde(rename = "migrate.status")]
    Status { address: String },
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Start { address, from, .. } => {
                write!(f, "migrate.start {address} from {from}")
            }
            Command::Status { address } => write!(f, "migrate.status {address}"),
        }
    }
}

/// Parses `value` as a migrate command if `command` names one.
pub fn parse(command: &str, value: serde_json::Value) -> Option<Result<Command, ControlError>> {
    if !COMMANDS.contains(&command) {
        return None;
    }
    Some(serde_json::from_value(value).map_err(|e| {
        ControlError::new(
            ErrorCode::BadRequest,
            format!("bad arguments for {command}: {e}"),
        )
    }))
}

pub async fn dispatch(
    migrations: &Migrations,
    command: Command,
) -> Result<serde_json::Value, ControlError> {
    let result = match command {
        Command::Start {
            address,
            from,
            login,
            password,
            new_password,
        } => {
            let request = StartRequest {
                address,
                from,
                login,
                password,
                new_password,
            };
            migrations.start(request).await
        }
        Command::Status { address } => migrations.status(&address).await,
    };
    result
        .map(|r| serde_json::to_value(r).expect("records serialize"))
        .map_err(refusal)
}

/// The control socket's form of a migration refusal.
pub fn refusal(e: MigrateError) -> ControlError {
    let code = match e.kind {
        Kind::Invalid if !e.details.is_empty() => ErrorCode::WeakPassword,
        Kind::Invalid => ErrorCode::InvalidValue,
        Kind::NotFound => ErrorCode::NotFound,
        Kind::Credentials => ErrorCode::Forbidden,
        Kind::OldServer | Kind::Unavailable => ErrorCode::Unavailable,
        Kind::Conflict => ErrorCode::Conflict,
    };
    ControlError::new(code, e.message).with_details(e.details)
}
