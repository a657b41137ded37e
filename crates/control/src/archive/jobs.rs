//! `jobs.run`: every due job of the archive, at once (PROVISIONING.md §3, §4).

use pecd_archive::{Actor, Archive};
use serde::{Deserialize, Serialize};

use super::{json, refusal};
use crate::protocol::ControlError;

pub const COMMANDS: [&str; 1] = ["jobs.run"];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", deny_unknown_fields)]
pub enum Command {
    #[serde(rename = "jobs.run")]
    JobsRun,
}

pub async fn dispatch(
    archive: &Archive,
    actor: &Actor,
    command: Command,
) -> Result<serde_json::Value, ControlError> {
    match command {
        Command::JobsRun => {
            actor.check_admin("jobs run").map_err(refusal)?;
            let report = archive.run_jobs().await.map_err(refusal)?;
            // The report shows the first passwords of the mailboxes it activated: once.
            archive
                .forget_reported_passwords(&report)
                .await
                .map_err(refusal)?;
            Ok(json(report))
        }
    }
}
