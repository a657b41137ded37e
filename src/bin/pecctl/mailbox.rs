//! `pecctl mailbox`: create, list, show, delete, set the password or settings of, and import
//! messages into a mailbox.

use std::path::PathBuf;

use clap::Subcommand;
use pecd_control::client::{Client, ClientError};
use pecd_control::protocol::{
    ControlError, ErrorCode, Imported, MailboxDetail, MailboxSummary, Request, SenderLimit,
};
use serde::Serialize;

use crate::output::{print, read_password, Done, REFUSED};

#[derive(Subcommand)]
pub enum MailboxCommand {
    /// Create a mailbox (with INBOX, Sent, Drafts, Trash, Junk, Archive).
    Create {
        address: String,
        /// Read the password from the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List every mailbox.
    List,
    /// Show a mailbox with its folders and settings.
    Show { address: String },
    /// Delete a mailbox and every message in it.
    Delete { address: String },
    /// Set a new password, usable at once unless `--must-change`.
    Passwd {
        address: String,
        #[arg(long, required = true)]
        password_stdin: bool,
        /// Expire it at once: the holder must change it at the first login.
        #[arg(long)]
        must_change: bool,
    },
    /// Append RFC 5322 message files; each is durable before the next is sent.
    Import {
        address: String,
        #[arg(long, value_name = "NAME")]
        folder: Option<String>,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Change per-mailbox settings.
    Set {
        address: String,
        /// Messages per minute this sender may submit, or `default`.
        #[arg(long, value_name = "N|default")]
        sender_per_minute: SenderLimit,
    },
}

fn detail_text(d: &MailboxDetail) -> String {
    let mut out = format!(
        "address: {}\nstate: {}\nmessages: {}\nused: {} of {} bytes\ncreated: {}\npassword changed: {}\nsender limit: {} per minute{}\nfolders:\n",
        d.summary.address, d.summary.state, d.summary.messages, d.summary.used_bytes, d.summary.quota_bytes,
        d.created_at, d.password_changed_at, d.effective_sender_per_minute,
        if d.sender_per_minute.is_some() { " (mailbox setting)" } else { " (default)" },
    );
    for f in &d.folders {
        out.push_str(&format!(
            "  {:<12} {:<9} messages {:>6}  uidvalidity {}  uidnext {}  modseq {}\n",
            f.name,
            f.special_use.as_deref().unwrap_or(""),
            f.messages,
            f.uidvalidity,
            f.uidnext,
            f.highestmodseq
        ));
    }
    out
}

fn summary_line(m: &MailboxSummary) -> String {
    format!(
        "{}\t{}\t{} messages\t{}/{} bytes\n",
        m.address, m.state, m.messages, m.used_bytes, m.quota_bytes
    )
}

pub async fn mailbox(
    client: &mut Client,
    json: bool,
    cmd: &MailboxCommand,
) -> Result<Done, ClientError> {
    match cmd {
        MailboxCommand::Create { address, .. } => {
            let password =
                read_password().map_err(|e| ControlError::new(ErrorCode::BadRequest, e))?;
            let d: MailboxDetail = client
                .call(&Request::MailboxCreate {
                    address: address.clone(),
                    password,
                })
                .await?;
            print(json, &d, |d| {
                format!("created {}\n{}", d.summary.address, detail_text(d))
            });
        }
        MailboxCommand::List => {
            let list: Vec<MailboxSummary> = client.call(&Request::MailboxList).await?;
            print(json, &list, |list| list.iter().map(summary_line).collect());
        }
        MailboxCommand::Show { address } => {
            let d: MailboxDetail = client
                .call(&Request::MailboxShow {
                    address: address.clone(),
                })
                .await?;
            print(json, &d, detail_text);
        }
        MailboxCommand::Delete { address } => {
            let s: MailboxSummary = client
                .call(&Request::MailboxDelete {
                    address: address.clone(),
                })
                .await?;
            print(json, &s, |s| {
                format!("deleted {} ({} messages)\n", s.address, s.messages)
            });
        }
        MailboxCommand::Passwd {
            address,
            must_change,
            ..
        } => {
            let password =
                read_password().map_err(|e| ControlError::new(ErrorCode::BadRequest, e))?;
            let s: MailboxSummary = client
                .call(&Request::MailboxPasswd {
                    address: address.clone(),
                    password,
                    must_change: *must_change,
                })
                .await?;
            print(json, &s, |s| {
                format!("password changed for {}\n", s.address)
            });
        }
        MailboxCommand::Set {
            address,
            sender_per_minute,
        } => {
            let d: MailboxDetail = client
                .call(&Request::MailboxSet {
                    address: address.clone(),
                    sender_per_minute: *sender_per_minute,
                })
                .await?;
            print(json, &d, detail_text);
        }
        MailboxCommand::Import {
            address,
            folder,
            files,
        } => return import(client, json, address, folder.as_deref(), files).await,
    }
    Ok(Done::Ok)
}

#[derive(Serialize)]
struct ImportReport {
    imported: Vec<ImportedFile>,
    failed: Vec<FailedFile>,
}

#[derive(Serialize)]
struct ImportedFile {
    file: String,
    #[serde(flatten)]
    result: Imported,
}

#[derive(Serialize)]
struct FailedFile {
    file: String,
    error: ControlError,
}

/// `mailbox import`: every file is tried; the ones the server refused (or that cannot be
/// read) are reported at the end and make the exit code 1.
async fn import(
    client: &mut Client,
    json: bool,
    address: &str,
    folder: Option<&str>,
    files: &[PathBuf],
) -> Result<Done, ClientError> {
    let mut report = ImportReport {
        imported: Vec::new(),
        failed: Vec::new(),
    };
    for file in files {
        let name = file.display().to_string();
        let bytes = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) => {
                let error =
                    ControlError::new(ErrorCode::BadRequest, format!("cannot read {name}: {e}"));
                report.failed.push(FailedFile { file: name, error });
                continue;
            }
        };
        match client.import(address, folder, &bytes).await {
            Ok(result) => report.imported.push(ImportedFile { file: name, result }),
            Err(ClientError::Refused(error)) => {
                report.failed.push(FailedFile { file: name, error })
            }
            Err(other) => return Err(other),
        }
    }
    print(json, &report, |r| {
        let mut out = String::new();
        for i in &r.imported {
            out.push_str(&format!(
                "{}: {} uid {} ({} bytes)\n",
                i.file, i.result.folder, i.result.uid, i.result.size
            ));
        }
        out
    });
    if !report.failed.is_empty() {
        for f in &report.failed {
            eprintln!("pecctl: {}: {}", f.file, f.error);
        }
        eprintln!(
            "pecctl: {} of {} files not imported",
            report.failed.len(),
            files.len()
        );
        return Ok(Done::Reported(REFUSED));
    }
    Ok(Done::Ok)
}
