//! `slave.add`, `slave.list`, `slave.activate`, `slave.deactivate`, `slave.passwd`: slave
//! user ids of a mailbox (PROVISIONING.md §4 multi-user, §7).

use pecd_archive::slaves::NewSlave;
use pecd_archive::{Actor, Archive};
use serde::{Deserialize, Serialize};

use super::{json, refusal};
use crate::protocol::ControlError;

pub const COMMANDS: [&str; 5] = [
    "slave.add",
    "slave.list",
    "slave.activate",
    "slave.deactivate",
    "slave.passwd",
];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", deny_unknown_fields)]
pub enum Command {
    #[serde(rename = "slave.add")]
    SlaveAdd {
        address: String,
        first_name: String,
        last_name: String,
        #[serde(default)]
        description: Option<String>,
        password: String,
        #[serde(default)]
        must_change: bool,
        #[serde(default)]
        recovery_email: Option<String>,
        #[serde(default)]
        recovery_mobile: Option<String>,
    },
    #[serde(rename = "slave.list")]
    SlaveList { address: String },
    #[serde(rename = "slave.activate")]
    SlaveActivate { userid: String },
    #[serde(rename = "slave.deactivate")]
    SlaveDeactivate { userid: String },
    #[serde(rename = "slave.passwd")]
    SlavePasswd {
        userid: String,
        password: String,
        #[serde(default)]
        must_change: bool,
    },
}

pub async fn dispatch(
    archive: &Archive,
    actor: &Actor,
    command: Command,
) -> Result<serde_json::Value, ControlError> {
    let a = archive;
    let result = match command {
        Command::SlaveAdd {
            address,
            first_name,
            last_name,
            description,
            password,
            must_change,
            recovery_email,
            recovery_mobile,
        } => a
            .add_slave(
                actor,
                NewSlave {
                    address,
                    first_name,
                    last_name,
                    description,
                    password,
                    must_change,
                    recovery_email,
                    recovery_mobile,
                },
            )
            .await
            .map(json),
        Command::SlaveList { address } => a.list_slaves(actor, &address).await.map(json),
        Command::SlaveActivate { userid } => a.activate_slave(actor, &userid).await.map(json),
        Command::SlaveDeactivate { userid } => a.deactivate_slave(actor, &userid).await.map(json),
        Command::SlavePasswd {
            userid,
            password,
            must_change,
        } => a
            .set_slave_password(actor, &userid, password, must_change)
            .await
            .map(json),
    };
    result.map_err(refusal)
}
