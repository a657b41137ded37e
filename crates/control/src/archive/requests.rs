//! Requests and their contract documents (PROVISIONING.md §3): `request create | show |
//! recent | search | modify | duplicate | cancel | complete` and `request contract add | list
//! | delete | confirm`. A `request.contract.add` line announces `size` and is followed on the
//! stream by exactly that many raw bytes of document, as `mailbox.import` is.

use pecd_archive::requests::file;
use pecd_archive::requests::ops::RequestQuery;
use pecd_archive::requests::parse_code;
use pecd_archive::{Actor, Archive, ArchiveError};
use serde::{Deserialize, Serialize};

use super::{json, refusal};
use crate::protocol::ControlError;

pub const COMMANDS: [&str; 12] = [
    "request.create",
    "request.show",
    "request.recent",
    "request.search",
    "request.modify",
    "request.duplicate",
    "request.cancel",
    "request.complete",
    "request.contract.add",
    "request.contract.list",
    "request.contract.delete",
    "request.contract.confirm",
];

/// The commands whose line is followed by raw bytes (`size` of them).
pub const WITH_BODY: [&str; 1] = ["request.contract.add"];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", deny_unknown_fields)]
pub enum Command {
    /// `file` is the request file's text (TOML or JSON).
    #[serde(rename = "request.create")]
    Create { file: String },
    /// `code`: a codice attivazione, or the address of one of its mailboxes.
    #[serde(rename = "request.show")]
    Show { code: String },
    #[serde(rename = "request.recent")]
    Recent,
    #[serde(rename = "request.search")]
    Search {
        #[serde(default)]
        richiedente: Option<String>,
        #[serde(default)]
        titolare: Option<String>,
        #[serde(default)]
        order: Option<String>,
        #[serde(default)]
        code: Option<String>,
    },
    #[serde(rename = "request.modify")]
    Modify { code: String, file: String },
    #[serde(rename = "request.duplicate")]
    Duplicate { code: String },
    #[serde(rename = "request.cancel")]
    Cancel { code: String },
    #[serde(rename = "request.complete")]
    Complete { code: String, file: String },
    /// Followed by `size` bytes of document.
    #[serde(rename = "request.contract.add")]
    ContractAdd {
        code: String,
        name: String,
        size: u64,
    },
    #[serde(rename = "request.contract.list")]
    ContractList { code: String },
    #[serde(rename = "request.contract.delete")]
    ContractDelete { code: String, name: String },
    #[serde(rename = "request.contract.confirm")]
    ContractConfirm { code: String },
}

impl Command {
    /// How many raw bytes follow the line.
    pub fn body_size(&self) -> Option<u64> {
        match self {
            Command::ContractAdd { size, .. } => Some(*size),
            _ => None,
        }
    }
}

async fn run(
    a: &Archive,
    actor: &Actor,
    command: Command,
    body: Option<Vec<u8>>,
) -> Result<serde_json::Value, ArchiveError> {
    Ok(match command {
        Command::Create { file } => json(a.create_request(actor, file::parse(&file)?).await?),
        Command::Show { code } => json(a.show_request(actor, &code).await?),
        Command::Recent => json(a.recent_requests(actor).await?),
        Command::Search {
            richiedente,
            titolare,
            order,
            code,
        } => {
            let q = RequestQuery {
                richiedente,
                titolare,
                order,
                code: code.as_deref().map(parse_code).transpose()?,
            };
            json(a.search_requests(actor, &q).await?)
        }
        Command::Modify { code, file } => {
            let code = parse_code(&code)?;
            json(a.modify_request(actor, code, file::parse(&file)?).await?)
        }
        Command::Duplicate { code } => json(a.duplicate_request(actor, parse_code(&code)?).await?),
        Command::Cancel { code } => json(a.cancel_request(actor, parse_code(&code)?).await?),
        Command::Complete { code, file } => {
            let code = parse_code(&code)?;
            json(a.complete_request(actor, code, file::parse(&file)?).await?)
        }
        Command::ContractAdd { code, name, .. } => {
            let code = parse_code(&code)?;
            json(
                a.add_contract(actor, code, &name, body.unwrap_or_default())
                    .await?,
            )
        }
        Command::ContractList { code } => json(a.list_contracts(actor, parse_code(&code)?).await?),
        Command::ContractDelete { code, name } => {
            json(a.delete_contract(actor, parse_code(&code)?, &name).await?)
        }
        Command::ContractConfirm { code } => {
            json(a.confirm_contracts(actor, parse_code(&code)?).await?)
        }
    })
}

pub async fn dispatch(
    archive: &Archive,
    actor: &Actor,
    command: Command,
    body: Option<Vec<u8>>,
) -> Result<serde_json::Value, ControlError> {
    run(archive, actor, command, body).await.map_err(refusal)
}
