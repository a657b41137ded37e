//! `pecctl mailbox`: create, list, show, delete, set the password or settings of, and import
//! messages into a mailbox; and the archive's commands on mailboxes ([`archive`]: search,
//! revoke, reactivate, change, massive, to-standard, services).

pub mod archive;

use std::path::PathBuf;

use clap::Subcommand;
use pecd_archive::model::{MailboxType, RevokeReason};
use pecd_control::archive::mailboxes::Command as Call;
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
    /// Give an incomplete mailbox (made by `mailbox create`) its customer, account and
    /// type: an administrator's completion.
    Assign {
        address: String,
        #[arg(long)]
        customer: String,
        #[arg(long)]
        account: String,
        #[arg(long = "type", value_parser = clap::value_parser!(MailboxType), value_name = "base|aperta|standard")]
        kind: Option<MailboxType>,
    },
    /// Find mailboxes in the archive (criteria combine); --csv prints the report.
    Search {
        /// Part of the address.
        #[arg(long, value_name = "PART")]
        address: Option<String>,
        /// Master user id (exact).
        #[arg(long, value_name = "ID")]
        userid: Option<String>,
        /// Activated from this day (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        activated_from: Option<String>,
        /// Activated up to this day (YYYY-MM-DD), included.
        #[arg(long, value_name = "DATE")]
        activated_to: Option<String>,
        /// A CSV report (`;`-separated, header row, UTF-8).
        #[arg(long)]
        csv: bool,
    },
    /// Ask for the revocation of mailboxes (only `evasa` ones); `pecctl jobs run` applies it.
    Revoke {
        #[arg(required = true)]
        addresses: Vec<String>,
        #[arg(long, value_parser = archive::reason, value_name = "expiry|non-payment|customer-request")]
        reason: RevokeReason,
        /// The revocation form (needed for customer-request), kept with the mailbox.
        #[arg(long, value_name = "FILE")]
        form: Option<PathBuf>,
    },
    /// Ask for the reactivation of revoked mailboxes; `pecctl jobs run` applies it.
    Reactivate {
        #[arg(required = true)]
        addresses: Vec<String>,
    },
    /// Change the address (within 15 days of the request), description or expiry.
    Change {
        address: String,
        #[arg(long, value_name = "A")]
        new_address: Option<String>,
        /// The display name used in our notices to the holder.
        #[arg(long, value_name = "D")]
        description: Option<String>,
        /// YYYY-MM-DD.
        #[arg(long, value_name = "DATE")]
        expiry: Option<String>,
    },
    /// Set or clear the massive flag (raises the sending limit).
    Massive {
        address: String,
        #[arg(value_parser = archive::on_off, value_name = "on|off", action = clap::ArgAction::Set)]
        state: bool,
    },
    /// Make a base (closed) mailbox standard.
    ToStandard { address: String },
    /// Change services: security archive size, SMS, disk quota back to the default.
    Services {
        #[arg(required = true)]
        addresses: Vec<String>,
        /// Security archive size: 1, 2, 3, 5 or 10 GB.
        #[arg(long, value_name = "N")]
        archive_gb: Option<u32>,
        #[arg(long, value_parser = archive::on_off, value_name = "on|off")]
        sms: Option<bool>,
        #[arg(long)]
        restore_quota: bool,
        /// Order number to record with the change.
        #[arg(long, value_name = "N")]
        order: Option<String>,
    },
    /// Show or change the holder's settings: new-mail notifications, SMS, security archive.
    Settings {
        address: String,
        /// New-mail notification addresses separated by `;` (at most 5; "" clears them).
        #[arg(long, value_name = "\"a@x;b@y\"")]
        notify: Option<String>,
        #[arg(long, value_parser = archive::on_off, value_name = "on|off")]
        sms: Option<bool>,
        #[arg(long, value_name = "NUMBER")]
        sms_phone: Option<String>,
        /// Hour of the daily SMS (Italy), 0-23.
        #[arg(long, value_name = "H")]
        sms_hour: Option<u8>,
        #[arg(long, value_parser = archive::on_off, value_name = "on|off")]
        security_archive: Option<bool>,
        /// Kinds kept, comma separated: certified-in, certified-out, ordinary, acceptance,
        /// delivery, notices.
        #[arg(long, value_name = "K1,K2")]
        archive_kinds: Option<String>,
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
        out.push_str(&folder_line(f));
    }
    if let Some(a) = &d.archive {
        out.push_str(&archive_text(a));
    }
    out
}

fn folder_line(f: &pecd_control::protocol::FolderInfo) -> String {
    format!(
        "  {:<12} {:<9} messages {:>6}  uidvalidity {}  uidnext {}  modseq {}\n",
        f.name,
        f.special_use.as_deref().unwrap_or(""),
        f.messages,
        f.uidvalidity,
        f.uidnext,
        f.highestmodseq
    )
}

/// The archive's part of `mailbox show` (PROVISIONING.md §4).
fn archive_text(a: &pecd_archive::mailboxes::show::CasellaDetail) -> String {
    let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
    let mut out = format!(
        "archive:\n  userid: {}\n  description: {}\n  type: {}{}\n  archive state: {}\n  codice attivazione: {}\n  customer: {}\n  account: {}\n  family: {}\n  activated: {}\n  expiry: {}\n  massive: {}\n",
        opt(&a.userid),
        a.description,
        a.kind.as_deref().unwrap_or("non definito"),
        a.type_note.as_ref().map_or(String::new(), |n| format!(" ({n})")),
        a.state,
        a.request,
        opt(&a.customer),
        opt(&a.account),
        a.family,
        opt(&a.activated),
        opt(&a.expiry),
        if a.massive { "sì" } else { "no" },
    );
    if let Some(r) = &a.revoke_reason {
        out.push_str(&format!("  revoke reason: {r}\n"));
    }
    out.push_str("  services:\n");
    for s in &a.services {
        out.push_str(&format!(
            "    {:<22} {:<3} {}\n",
            s.name,
            if s.enabled { "sì" } else { "no" },
            s.quantity
        ));
    }
    out.push_str(&format!(
        "  slaves: {} ({} attive o in attivazione)\n  history:\n",
        a.slaves.total, a.slaves.active
    ));
    for h in &a.history {
        out.push_str(&format!(
            "    {}  {}  {}\n",
            crate::output::local(h.at),
            h.by,
            h.what
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
        _ => return archive_command(client, json, cmd).await,
    }
    Ok(Done::Ok)
}

/// The archive's mailbox commands (PROVISIONING.md §4): search, revoke, reactivate, change,
/// massive, to-standard, services, assign.
async fn archive_command(
    client: &mut Client,
    json: bool,
    cmd: &MailboxCommand,
) -> Result<Done, ClientError> {
    match cmd {
        MailboxCommand::Search {
            address,
            userid,
            activated_from,
            activated_to,
            csv,
        } => {
            let call = Call::Search {
                address: address.clone(),
                userid: userid.clone(),
                activated_from: activated_from.clone(),
                activated_to: activated_to.clone(),
                limit: None,
                csv: *csv,
            };
            archive::search(client, json, call, *csv).await
        }
        MailboxCommand::Revoke {
            addresses,
            reason,
            form,
        } => archive::revoke(client, json, addresses, *reason, form.as_ref()).await,
        MailboxCommand::Assign {
            address,
            customer,
            account,
            kind,
        } => {
            let call = Call::Assign {
                address: address.clone(),
                customer: customer.clone(),
                account: account.clone(),
                kind: *kind,
            };
            archive::one(client, json, call).await
        }
        MailboxCommand::Reactivate { addresses } => {
            let call = Call::Reactivate {
                addresses: addresses.clone(),
            };
            archive::batch(client, json, call).await
        }
        MailboxCommand::Change {
            address,
            new_address,
            description,
            expiry,
        } => {
            let call = Call::Change {
                address: address.clone(),
                new_address: new_address.clone(),
                description: description.clone(),
                expiry: expiry.clone(),
            };
            archive::one(client, json, call).await
        }
        MailboxCommand::Massive { address, state } => {
            let call = Call::Massive {
                address: address.clone(),
                on: *state,
            };
            archive::one(client, json, call).await
        }
        MailboxCommand::ToStandard { address } => {
            let call = Call::ToStandard {
                address: address.clone(),
            };
            archive::one(client, json, call).await
        }
        MailboxCommand::Services {
            addresses,
            archive_gb,
            sms,
            restore_quota,
            order,
        } => {
            let call = Call::Services {
                addresses: addresses.clone(),
                archive_gb: *archive_gb,
                sms: *sms,
                restore_quota: *restore_quota,
                order: order.clone(),
            };
            archive::batch(client, json, call).await
        }
        MailboxCommand::Settings {
            address,
            notify,
            sms,
            sms_phone,
            sms_hour,
            security_archive,
            archive_kinds,
        } => {
            let args = crate::lifecycle::SettingsArgs {
                address,
                notify: notify.as_deref(),
                sms: *sms,
                sms_phone: sms_phone.as_deref(),
                sms_hour: *sms_hour,
                security_archive: *security_archive,
                archive_kinds: archive_kinds.as_deref(),
            };
            crate::lifecycle::settings(client, json, args).await
        }
        _ => unreachable!("the server's own mailbox commands are handled by mailbox()"),
    }
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
