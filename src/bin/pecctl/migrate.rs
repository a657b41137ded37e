//! `pecctl migrate start | status`: a mailbox moving in from another provider
//! (PROVISIONING.md §9). `start` checks the credentials and starts the import on the server,
//! then follows it to the end (a progress bar when standard error is a terminal, a line now
//! and then otherwise) unless `--detach`; `status` shows where it is.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use clap::Subcommand;
use pecd_control::client::{Client, ClientError};
use pecd_control::migrate::Command as Call;
use pecd_control::protocol::{ControlError, ErrorCode};
use pecd_migrate::{MigrationRecord, RunState};

use crate::output::{print, read_password, Done, REFUSED};

#[derive(Subcommand)]
pub enum MigrateCommand {
    /// Check the holder's credentials at the old provider and import the mailbox.
    Start {
        /// The mailbox's address (ours, in a migration window).
        address: String,
        /// The old provider's IMAP server: imaps://HOST:PORT.
        #[arg(long, value_name = "URL")]
        from: String,
        /// The login at the old provider (default: the address).
        #[arg(long)]
        login: Option<String>,
        /// Read the current (old provider's) password from the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
        /// Read a new password from the next line (required when the current one does not
        /// meet the password policy).
        #[arg(long)]
        new_password_stdin: bool,
        /// Return once the import has started instead of following it.
        #[arg(long)]
        detach: bool,
    },
    /// Where the migration of a mailbox is.
    Status { address: String },
}

fn text(r: &MigrationRecord) -> String {
    let state = match r.state {
        RunState::Running => "in corso",
        RunState::Done => "completata",
        RunState::Failed => "non riuscita",
    };
    let mut out = format!(
        "migrazione di {} da {} ({}): {state}\nmessaggi: {} di {}; importati in questa esecuzione: {} ({} byte)\n",
        r.address, r.server, r.login, r.messages_done, r.messages_total, r.imported, r.bytes
    );
    for f in &r.folders {
        let later = if f.deferred {
            "  (dopo il passaggio)"
        } else {
            ""
        };
        out.push_str(&format!(
            "  {} -> {}\t{}/{}{later}\n",
            f.name, f.target, f.messages_done, f.messages_total
        ));
    }
    if r.errors > 0 {
        out.push_str(&format!("errori: {}\n", r.errors));
        for e in &r.error_texts {
            out.push_str(&format!("  - {e}\n"));
        }
    }
    out
}

fn password() -> Result<String, ClientError> {
    read_password().map_err(|e| ControlError::new(ErrorCode::BadRequest, e).into())
}

pub async fn migrate(
    client: &mut Client,
    json: bool,
    cmd: &MigrateCommand,
) -> Result<Done, ClientError> {
    match cmd {
        MigrateCommand::Start {
            address,
            from,
            login,
            new_password_stdin,
            detach,
            ..
        } => {
            let call = Call::Start {
                address: address.clone(),
                from: from.clone(),
                login: login.clone(),
                password: password()?,
                new_password: if *new_password_stdin {
                    Some(password()?)
                } else {
                    None
                },
            };
            let started: MigrationRecord = client.call(&call).await?;
            let last = if *detach {
                started
            } else {
                follow(client, json, address).await?
            };
            print(json, &last, text);
            Ok(match last.state {
                RunState::Failed => Done::Reported(REFUSED),
                _ => Done::Ok,
            })
        }
        MigrateCommand::Status { address } => {
            let call = Call::Status {
                address: address.clone(),
            };
            let r: MigrationRecord = client.call(&call).await?;
            print(json, &r, text);
            Ok(Done::Ok)
        }
    }
}

/// Polls the status until the run ends, showing progress on standard error.
async fn follow(
    client: &mut Client,
    json: bool,
    address: &str,
) -> Result<MigrationRecord, ClientError> {
    let bar = std::io::stderr().is_terminal();
    let mut last_line = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let call = Call::Status {
            address: address.to_string(),
        };
        let r: MigrationRecord = client.call(&call).await?;
        if bar {
            progress_bar(&r);
        } else if !json && last_line.elapsed() >= Duration::from_secs(2) {
            eprintln!(
                "importati {} di {} messaggi",
                r.messages_done, r.messages_total
            );
            last_line = Instant::now();
        }
        if r.state != RunState::Running {
            if bar {
                eprintln!();
            }
            return Ok(r);
        }
    }
}

fn progress_bar(r: &MigrationRecord) {
    const WIDTH: u64 = 40;
    let filled = (r.messages_done * WIDTH)
        .checked_div(r.messages_total)
        .unwrap_or(0)
        .min(WIDTH) as usize;
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "\r[{}{}] {}/{} messaggi, {} errori",
        "#".repeat(filled),
        " ".repeat(WIDTH as usize - filled),
        r.messages_done,
        r.messages_total,
        r.errors
    );
    let _ = err.flush();
}
