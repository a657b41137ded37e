//! pecctl: the admin CLI. It talks only to the control socket, never to the store.
//!
//! This file holds the command line and the dispatch; each command group has its module
//! (`mailbox`, `log` with `trace`, `index`, `queue`), and `output` the printing and exit codes
//! they share.

mod index;
mod log;
mod mailbox;
mod output;
mod queue;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pecd_common::config::Config;
use pecd_control::client::{Client, ClientError};
use pecd_control::protocol::{Request, Status};

use index::IndexCommand;
use log::LogCommand;
use mailbox::MailboxCommand;
use output::{print, report, Done, USAGE};
use queue::QueueCommand;

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

fn socket_path(cli: &Cli) -> Result<PathBuf, String> {
    if let Some(s) = &cli.socket {
        return Ok(s.clone());
    }
    let (config, _) = Config::load(cli.config.as_deref()).map_err(|e| e.to_string())?;
    Ok(config.control.socket)
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

async fn status(client: &mut Client, json: bool) -> Result<Done, ClientError> {
    let s: Status = client.call(&Request::Status).await?;
    print(json, &s, |s| {
        format!(
            "pecd {}, up {} s\nprovider: {} ({})\nstore: {}\nmailboxes: {}  messages: {}  used: {} bytes\ngroup commits: {} for {} writes\n",
            s.version, s.uptime_seconds, s.provider, s.domains.join(", "), s.store_path,
            s.mailboxes, s.messages, s.used_bytes, s.commits, s.committed_writes
        )
    });
    Ok(Done::Ok)
}

async fn run(cli: &Cli, socket: &std::path::Path) -> ExitCode {
    let mut client = match Client::connect(socket).await {
        Ok(c) => c,
        Err(e) => return report(cli.json, &e),
    };
    let json = cli.json;
    let outcome = match &cli.command {
        Command::Status => status(&mut client, json).await,
        Command::Mailbox(cmd) => mailbox::mailbox(&mut client, json, cmd).await,
        Command::Index(cmd) => index::index(&mut client, json, cmd).await,
        Command::Queue(cmd) => queue::queue(&mut client, json, cmd).await,
        Command::Log(cmd) => log::log(&mut client, json, cmd).await,
        Command::Trace { id } => log::trace(&mut client, json, id).await,
    };
    match outcome {
        Ok(Done::Ok) => ExitCode::SUCCESS,
        Ok(Done::Reported(code)) => ExitCode::from(code),
        Err(e) => report(json, &e),
    }
}
