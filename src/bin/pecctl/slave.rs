//! `pecctl slave add | list | activate | deactivate | passwd`: slave user ids, extra logins
//! that open a mailbox (PROVISIONING.md §4 multi-user, §7).

use clap::Subcommand;
use pecd_archive::slaves::SlaveView;
use pecd_control::archive::slaves::Command as Call;
use pecd_control::client::{Client, ClientError};
use pecd_control::protocol::{ControlError, ErrorCode};

use crate::output::{local, print, read_password, Done};

#[derive(Subcommand)]
pub enum SlaveCommand {
    /// Add a slave user id to an active mailbox (`in attivazione` until the job runner).
    Add {
        /// The mailbox's address.
        address: String,
        #[arg(long)]
        first_name: String,
        #[arg(long)]
        last_name: String,
        /// Default: the mailbox's description.
        #[arg(long)]
        description: Option<String>,
        /// The password must be changed at the first login.
        #[arg(long)]
        must_change: bool,
        /// Security information: a recovery e-mail address.
        #[arg(long)]
        recovery_email: Option<String>,
        /// Security information: a recovery mobile number.
        #[arg(long)]
        recovery_mobile: Option<String>,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// The slave user ids of a mailbox.
    List { address: String },
    /// `disattivata` → `in attivazione`.
    Activate { userid: String },
    /// `attiva` → `in disattivazione`.
    Deactivate { userid: String },
    /// Set a slave's password (the password policy applies).
    Passwd {
        userid: String,
        /// The password must be changed at the next login.
        #[arg(long)]
        must_change: bool,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

fn text(s: &SlaveView) -> String {
    format!(
        "{}\t{}\t{} {}\t{}\tpassword {}{}\tultimo accesso {}{}\n",
        s.userid,
        s.state.name(),
        s.first_name,
        s.last_name,
        s.description,
        local(s.password_changed_at),
        if s.password_expired { " (scaduta)" } else { "" },
        s.last_access.map_or("mai".to_string(), local),
        if s.recovery_email.is_none() && s.recovery_mobile.is_none() {
            "\tNOINFO"
        } else {
            ""
        }
    )
}

fn password() -> Result<String, ClientError> {
    read_password().map_err(|e| ControlError::new(ErrorCode::BadRequest, e).into())
}

pub async fn slave(
    client: &mut Client,
    json: bool,
    cmd: &SlaveCommand,
) -> Result<Done, ClientError> {
    let (verb, call) = match cmd {
        SlaveCommand::Add {
            address,
            first_name,
            last_name,
            description,
            must_change,
            recovery_email,
            recovery_mobile,
            ..
        } => (
            "added",
            Call::SlaveAdd {
                address: address.clone(),
                first_name: first_name.clone(),
                last_name: last_name.clone(),
                description: description.clone(),
                password: password()?,
                must_change: *must_change,
                recovery_email: recovery_email.clone(),
                recovery_mobile: recovery_mobile.clone(),
            },
        ),
        SlaveCommand::List { address } => {
            let list: Vec<SlaveView> = client
                .call(&Call::SlaveList {
                    address: address.clone(),
                })
                .await?;
            print(json, &list, |l| l.iter().map(text).collect());
            return Ok(Done::Ok);
        }
        SlaveCommand::Activate { userid } => (
            "activating",
            Call::SlaveActivate {
                userid: userid.clone(),
            },
        ),
        SlaveCommand::Deactivate { userid } => (
            "deactivating",
            Call::SlaveDeactivate {
                userid: userid.clone(),
            },
        ),
        SlaveCommand::Passwd {
            userid,
            must_change,
            ..
        } => (
            "password set for",
            Call::SlavePasswd {
                userid: userid.clone(),
                password: password()?,
                must_change: *must_change,
            },
        ),
    };
    let s: SlaveView = client.call(&call).await?;
    print(json, &s, |s| format!("{verb} {}", text(s)));
    Ok(Done::Ok)
}
