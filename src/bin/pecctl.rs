//! pecctl: the admin CLI. It talks only to the control socket, never to the store.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pecd_common::config::Config;
use pecd_control::client::{Client, ClientError};
use pecd_control::protocol::*;
use serde::Serialize;

#[derive(Parser)]
#[command(
    name = "pecctl",
    version,
    about = "Administer a running pecd over its control socket"
)]
struct Cli {
    /// Control socket (default: control.socket of the configuration).
    #[arg(long, global = true, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Configuration used to find the socket (default: config/pecd.toml if present).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Print one JSON document per command.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Server version, uptime and store figures.
    Status,
    /// Manage mailboxes.
    #[command(subcommand)]
    Mailbox(MailboxCommand),
    /// The legal transaction log (PEC.md §10.5).
    #[command(subcommand)]
    Log(LogCommand),
    /// Every recipient's state of a certified message (accepted, delivered, error).
    Trace {
        /// PEC msgid (identificativo) or the client's Message-ID.
        id: String,
    },
    /// The provider index in force (PEC.md §8); `kill -HUP` the server to reload it.
    #[command(subcommand)]
    Index(IndexCommand),
    /// The relay queue to other providers and the Internet (PEC.md §6.2).
    #[command(subcommand)]
    Queue(QueueCommand),
}

#[derive(Subcommand)]
enum IndexCommand {
    /// Every provider: name, mailReceipt, managed domains.
    List,
    /// One provider with its certificates.
    Show {
        /// Provider name, managed domain or certificate SHA-1.
        key: String,
    },
}

#[derive(Subcommand)]
enum QueueCommand {
    /// Queued messages, oldest first.
    List,
    /// One queued message.
    Show { id: u64 },
    /// Try a queued message (or all of them) now.
    Retry {
        #[arg(required_unless_present = "all")]
        id: Option<u64>,
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
    /// Remove a queued message for good (logged).
    Delete { id: u64 },
}

fn provider_text(p: &ProviderView, full: bool) -> String {
    let mut out = format!(
        "{}{}\n  mailReceipt: {}\n  domains: {}\n",
        p.name,
        if p.ours { " (ours)" } else { "" },
        p.mail_receipt,
        p.domains.join(", ")
    );
    if full {
        for c in &p.certificates {
            out.push_str(&format!(
                "  certificate {}\n    subject: {}\n    issuer: {}\n    valid: {} .. {}\n    e-mail: {}\n",
                c.sha1,
                c.subject,
                c.issuer,
                c.not_before,
                c.not_after,
                c.emails.join(", ")
            ));
        }
    }
    out
}

fn queue_text(e: &pecd_store::QueueEntry) -> String {
    format!(
        "{:<20} {}  {} -> {}  [{}] {} bytes, {} attempt(s), next {}{}\n  {}\n",
        e.id,
        e.label,
        e.sender,
        e.recipients.join(", "),
        e.domain,
        e.size,
        e.attempts,
        local(e.next_attempt),
        if e.last_error.is_empty() {
            String::new()
        } else {
            format!(", last error: {}", e.last_error)
        },
        e.pec_id
    )
}

async fn index(client: &mut Client, json: bool, cmd: &IndexCommand) -> Result<Done, ClientError> {
    match cmd {
        IndexCommand::List => {
            let list: Vec<ProviderView> = client.call(&Request::IndexList).await?;
            print(json, &list, |l| {
                l.iter().map(|p| provider_text(p, false)).collect()
            });
        }
        IndexCommand::Show { key } => {
            let p: ProviderView = client
                .call(&Request::IndexShow { key: key.clone() })
                .await?;
            print(json, &p, |p| provider_text(p, true));
        }
    }
    Ok(Done::Ok)
}

async fn queue(client: &mut Client, json: bool, cmd: &QueueCommand) -> Result<Done, ClientError> {
    match cmd {
        QueueCommand::List => {
            let list: Vec<pecd_store::QueueEntry> = client.call(&Request::QueueList).await?;
            print(json, &list, |l| l.iter().map(queue_text).collect());
        }
        QueueCommand::Show { id } => {
            let e: pecd_store::QueueEntry = client.call(&Request::QueueShow { id: *id }).await?;
            print(json, &e, queue_text);
        }
        QueueCommand::Retry { id, .. } => {
            let r: Retried = client.call(&Request::QueueRetry { id: *id }).await?;
            print(json, &r, |r| format!("{} message(s) due now\n", r.retried));
        }
        QueueCommand::Delete { id } => {
            let e: pecd_store::QueueEntry = client.call(&Request::QueueDelete { id: *id }).await?;
            print(json, &e, |e| format!("deleted {}", queue_text(e)));
        }
    }
    Ok(Done::Ok)
}

#[derive(Subcommand)]
enum LogCommand {
    /// Records by message id, address and period, oldest first.
    Search {
        /// PEC msgid or client Message-ID.
        #[arg(long, value_name = "ID")]
        msgid: Option<String>,
        /// Sender or recipient.
        #[arg(long, value_name = "ADDRESS")]
        address: Option<String>,
        /// From this instant (RFC 3339, or YYYY-MM-DD for midnight UTC).
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        since: Option<i64>,
        /// Before this instant (RFC 3339, or YYYY-MM-DD).
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        until: Option<i64>,
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
    },
}

fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp());
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|d| {
            d.and_hms_opt(0, 0, 0)
                .expect("midnight")
                .and_utc()
                .timestamp()
        })
        .map_err(|_| format!("{s:?}: expected RFC 3339 (2026-11-22T10:00:00+01:00) or YYYY-MM-DD"))
}

fn local(t: i64) -> String {
    pecd_signer::Moment::from_unix(t).text()
}

#[derive(Subcommand)]
enum MailboxCommand {
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
    /// Set a new password.
    Passwd {
        address: String,
        #[arg(long, required = true)]
        password_stdin: bool,
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

/// Exit codes: 0 done, 1 refused by the server, 2 usage, 3 cannot reach pecd.
const REFUSED: u8 = 1;
const USAGE: u8 = 2;
const UNREACHABLE: u8 = 3;

fn socket_path(cli: &Cli) -> Result<PathBuf, String> {
    if let Some(s) = &cli.socket {
        return Ok(s.clone());
    }
    let (config, _) = Config::load(cli.config.as_deref()).map_err(|e| e.to_string())?;
    Ok(config.control.socket)
}

fn read_password() -> Result<String, String> {
    if std::io::stdin().is_terminal() {
        eprint!("password: ");
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    if password.is_empty() {
        return Err("no password on standard input".into());
    }
    Ok(password)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let socket = match socket_path(&cli) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("pecctl: {e}");
            return ExitCode::from(USAGE);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(&cli, &socket))
}

fn print<T: Serialize>(json: bool, value: &T, human: impl FnOnce(&T) -> String) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).expect("results serialize")
        );
    } else {
        print!("{}", human(value));
    }
}

fn report(json: bool, e: &ClientError) -> ExitCode {
    let code = match e {
        ClientError::Refused(_) => REFUSED,
        _ => UNREACHABLE,
    };
    if json {
        let doc = match e {
            ClientError::Refused(err) => serde_json::json!({ "error": err }),
            other => {
                serde_json::json!({ "error": { "code": "unreachable", "message": other.to_string() } })
            }
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).expect("errors serialize")
        );
    }
    match e {
        ClientError::Refused(err) if !err.details.is_empty() => {
            eprintln!("pecctl: {err}:");
            for d in &err.details {
                eprintln!("  - {d}");
            }
        }
        other => eprintln!("pecctl: {other}"),
    }
    ExitCode::from(code)
}

async fn run(cli: &Cli, socket: &std::path::Path) -> ExitCode {
    let mut client = match Client::connect(socket).await {
        Ok(c) => c,
        Err(e) => return report(cli.json, &e),
    };
    let json = cli.json;
    let outcome: Result<Done, ClientError> = match &cli.command {
        Command::Status => client.call::<Status>(&Request::Status).await.map(|s| {
            print(json, &s, |s| {
                format!(
                    "pecd {}, up {} s\nprovider: {} ({})\nstore: {}\nmailboxes: {}  messages: {}  used: {} bytes\ngroup commits: {} for {} writes\n",
                    s.version, s.uptime_seconds, s.provider, s.domains.join(", "), s.store_path,
                    s.mailboxes, s.messages, s.used_bytes, s.commits, s.committed_writes
                )
            });
            Done::Ok
        }),
        Command::Mailbox(cmd) => mailbox(&mut client, json, cmd).await,
        Command::Index(cmd) => index(&mut client, json, cmd).await,
        Command::Queue(cmd) => queue(&mut client, json, cmd).await,
        Command::Log(LogCommand::Search {
            msgid,
            address,
            since,
            until,
            limit,
        }) => client
            .call::<Vec<pecd_store::LogRecord>>(&Request::LogSearch {
                msgid: msgid.clone(),
                address: address.clone(),
                since: *since,
                until: *until,
                limit: *limit,
            })
            .await
            .map(|records| {
                print(json, &records, |records| {
                    records
                        .iter()
                        .map(|r| {
                            format!(
                                "{}  {:<18} {}  {} -> {}  \"{}\"{}\n",
                                local(r.time),
                                r.event,
                                r.pec_id,
                                r.sender,
                                r.recipients.join(", "),
                                r.subject,
                                if r.detail.is_empty() {
                                    String::new()
                                } else {
                                    format!("  ({})", r.detail)
                                }
                            )
                        })
                        .collect()
                });
                Done::Ok
            }),
        Command::Trace { id } => client
            .call::<pecd_store::TraceRecord>(&Request::Trace { id: id.clone() })
            .await
            .map(|t| {
                print(json, &t, |t| {
                    let mut out = format!(
                        "{}\n  msgid: {}\n  sender: {}\n  subject: {}\n  accepted: {}\n",
                        t.pec_id,
                        t.msgid.as_deref().unwrap_or("-"),
                        t.sender,
                        t.subject,
                        local(t.accepted)
                    );
                    for r in &t.recipients {
                        out.push_str(&format!(
                            "  {:<40} {:<10} {}  {}\n",
                            r.address,
                            r.state,
                            local(r.updated),
                            r.detail
                        ));
                    }
                    out
                });
                Done::Ok
            }),
    };
    match outcome {
        Ok(Done::Ok) => ExitCode::SUCCESS,
        Ok(Done::Reported(code)) => ExitCode::from(code),
        Err(e) => report(json, &e),
    }
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

/// How a command ended when the server did not refuse it outright.
enum Done {
    Ok,
    /// Partly refused, and already reported: exit with this code.
    Reported(u8),
}

async fn mailbox(
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
            print(json, &list, |list| {
                list.iter()
                    .map(|m| {
                        format!(
                            "{}\t{}\t{} messages\t{}/{} bytes\n",
                            m.address, m.state, m.messages, m.used_bytes, m.quota_bytes
                        )
                    })
                    .collect()
            });
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
        MailboxCommand::Passwd { address, .. } => {
            let password =
                read_password().map_err(|e| ControlError::new(ErrorCode::BadRequest, e))?;
            let s: MailboxSummary = client
                .call(&Request::MailboxPasswd {
                    address: address.clone(),
                    password,
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
        } => {
            let mut report = ImportReport {
                imported: Vec::new(),
                failed: Vec::new(),
            };
            for file in files {
                let name = file.display().to_string();
                let bytes = match std::fs::read(file) {
                    Ok(b) => b,
                    Err(e) => {
                        let error = ControlError::new(
                            ErrorCode::BadRequest,
                            format!("cannot read {name}: {e}"),
                        );
                        report.failed.push(FailedFile { file: name, error });
                        continue;
                    }
                };
                match client.import(address, folder.as_deref(), &bytes).await {
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
        }
    }
    Ok(Done::Ok)
}
