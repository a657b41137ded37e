//! Mailboxes in the archive (PROVISIONING.md §4): search (and its CSV report), revoke,
//! reactivate, change, massive, base -> standard, services. Batches answer with an outcome
//! per mailbox.

use pecd_archive::mailboxes::incomplete::Assignment;
use pecd_archive::mailboxes::ops::{Change, Form};
use pecd_archive::mailboxes::search::{csv, SearchQuery};
use pecd_archive::mailboxes::services::ServicesAsk;
use pecd_archive::model::{MailboxType, RevokeReason};
use pecd_archive::{Actor, Archive};
use serde::{Deserialize, Serialize};

use super::{json, refusal};
use crate::protocol::ControlError;

pub const COMMANDS: [&str; 8] = [
    "mailbox.assign",
    "mailbox.search",
    "mailbox.revoke",
    "mailbox.reactivate",
    "mailbox.change",
    "mailbox.massive",
    "mailbox.to-standard",
    "mailbox.services",
];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", deny_unknown_fields)]
pub enum Command {
    /// An administrator's completion of an incomplete mailbox.
    #[serde(rename = "mailbox.assign")]
    Assign {
        address: String,
        customer: String,
        account: String,
        #[serde(default, rename = "type")]
        kind: Option<MailboxType>,
    },
    #[serde(rename = "mailbox.search")]
    Search {
        #[serde(default)]
        address: Option<String>,
        #[serde(default)]
        userid: Option<String>,
        #[serde(default)]
        activated_from: Option<String>,
        #[serde(default)]
        activated_to: Option<String>,
        #[serde(default)]
        limit: Option<usize>,
        /// Answer with the CSV report instead of the rows.
        #[serde(default)]
        csv: bool,
    },
    #[serde(rename = "mailbox.revoke")]
    Revoke {
        addresses: Vec<String>,
        reason: RevokeReason,
        #[serde(default)]
        form: Option<Form>,
    },
    #[serde(rename = "mailbox.reactivate")]
    Reactivate { addresses: Vec<String> },
    #[serde(rename = "mailbox.change")]
    Change {
        address: String,
        #[serde(default)]
        new_address: Option<String>,
        #[serde(default)]
        description: Option<String>,
        #[serde(default)]
        expiry: Option<String>,
    },
    #[serde(rename = "mailbox.massive")]
    Massive { address: String, on: bool },
    #[serde(rename = "mailbox.to-standard")]
    ToStandard { address: String },
    #[serde(rename = "mailbox.services")]
    Services {
        addresses: Vec<String>,
        #[serde(default)]
        archive_gb: Option<u32>,
        #[serde(default)]
        sms: Option<bool>,
        #[serde(default)]
        restore_quota: bool,
        #[serde(default)]
        order: Option<String>,
    },
}

/// `mailbox.search` with `csv`: the report and what it holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CsvReport {
    pub csv: String,
    pub rows: usize,
    pub truncated: bool,
}

pub async fn dispatch(
    archive: &Archive,
    actor: &Actor,
    command: Command,
) -> Result<serde_json::Value, ControlError> {
    let a = archive;
    let result = match command {
        Command::Assign {
            address,
            customer,
            account,
            kind,
        } => a
            .assign(
                actor,
                &address,
                Assignment {
                    customer,
                    account,
                    kind,
                },
            )
            .await
            .map(json),
        Command::Search {
            address,
            userid,
            activated_from,
            activated_to,
            limit,
            csv: as_csv,
        } => {
            let q = SearchQuery {
                address,
                userid,
                activated_from,
                activated_to,
                limit,
            };
            match a.search(actor, &q).await {
                Ok(r) if as_csv => Ok(json(CsvReport {
                    csv: csv(&r.rows),
                    rows: r.rows.len(),
                    truncated: r.truncated,
                })),
                other => other.map(json),
            }
        }
        Command::Revoke {
            addresses,
            reason,
            form,
        } => a.revoke(actor, &addresses, reason, form).await.map(json),
        Command::Reactivate { addresses } => a.reactivate(actor, &addresses).await.map(json),
        Command::Change {
            address,
            new_address,
            description,
            expiry,
        } => a
            .change(
                actor,
                &address,
                Change {
                    new_address,
                    description,
                    expiry,
                },
            )
            .await
            .map(json),
        Command::Massive { address, on } => a.set_massive(actor, &address, on).await.map(json),
        Command::ToStandard { address } => a.to_standard(actor, &address).await.map(json),
        Command::Services {
            addresses,
            archive_gb,
            sms,
            restore_quota,
            order,
        } => a
            .set_services(
                actor,
                &addresses,
                ServicesAsk {
                    archive_gb,
                    sms,
                    restore_quota,
                    order,
                },
            )
            .await
            .map(json),
    };
    result.map_err(refusal)
}
