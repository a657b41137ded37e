//! pecctl: the admin CLI. It talks only to the control socket, never to the store.
//!
//! This file holds the command line and the dispatch; each command group has its module
//! (`mailbox`, `log` with `trace`, `index`, `queue`, `migrate`), and `output` the printing and exit codes
//! they share.

mod index;
mod lifecycle;
mod log;
mod mailbox;
mod migrate;
mod operators;
mod output;
mod queue;
mod request;
mod slave;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pecd_common::config::Config;
use pecd_control::client::{Client, ClientError};
use pecd_control::protocol::{Request, Status};

use index::IndexCommand;
use log::LogCommand;
use mailbox::MailboxCommand;
use migrate::MigrateCommand;
use operators::{AccountCommand, CustomerCommand, DomainCommand, OperatorCommand};
use output::{print, report, Done, USAGE};
use queue::QueueCommand;
use request::RequestCommand;
use slave::SlaveCommand;

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
    /// Act as this archive operator, with its scope (default: the built-in administrator).
    #[arg(long = "as", global = true, value_name = "OPERATOR_USERID")]
    as_operator: Option<String>,
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
    /// Archive operators and their profiles (PROVISIONING.md §2).
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// Customers (clienti).
    #[command(subcommand)]
    Customer(CustomerCommand),
    /// Reseller accounts of a customer, with the user-id rule.
    #[command(subcommand)]
    Account(AccountCommand),
    /// PEC domains: request, enable, list (PROVISIONING.md §5).
    #[command(subcommand)]
    Domain(DomainCommand),
    /// Activation requests and their contract documents (PROVISIONING.md §3).
    #[command(subcommand)]
    Request(RequestCommand),
    /// Who did what to which record, and when.
    Audit {
        /// From this day (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        since: Option<chrono::NaiveDate>,
        #[arg(long, value_name = "USERID")]
        operator: Option<String>,
        /// An address, request code, domain or user id.
        #[arg(long, value_name = "ADDRESS")]
        target: Option<String>,
    },
    /// The operator pecctl acts as.
    Whoami,
    /// Slave user ids of a mailbox (PROVISIONING.md §4 multi-user).
    #[command(subcommand)]
    Slave(SlaveCommand),
    /// Scheduled jobs: request processing, state transitions, expiry management, password
    /// campaigns, notifications, retention.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Expiry management per customer and account (PROVISIONING.md §6).
    #[command(subcommand)]
    Expiry(lifecycle::ExpiryCommand),
    /// The password campaign: LIST1..LIST4 report and block (PROVISIONING.md §7).
    #[command(subcommand)]
    Password(lifecycle::PasswordCommand),
    /// Mailboxes moving in from another provider (PROVISIONING.md §9).
    #[command(subcommand)]
    Migrate(MigrateCommand),
}

#[derive(Subcommand)]
enum JobsCommand {
    /// Run every due job now.
    Run,
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
    if let Some(userid) = &cli.as_operator {
        let acting: Result<serde_json::Value, _> = client
            .call(&Request::SessionAs {
                userid: Some(userid.clone()),
            })
            .await;
        if let Err(e) = acting {
            return report(json, &e);
        }
    }
    let outcome = match &cli.command {
        Command::Status => status(&mut client, json).await,
        Command::Mailbox(cmd) => mailbox::mailbox(&mut client, json, cmd).await,
        Command::Index(cmd) => index::index(&mut client, json, cmd).await,
        Command::Queue(cmd) => queue::queue(&mut client, json, cmd).await,
        Command::Log(cmd) => log::log(&mut client, json, cmd).await,
        Command::Trace { id } => log::trace(&mut client, json, id).await,
        Command::Operator(cmd) => operators::operator(&mut client, json, cmd).await,
        Command::Customer(cmd) => operators::customer(&mut client, json, cmd).await,
        Command::Account(cmd) => operators::account(&mut client, json, cmd).await,
        Command::Domain(cmd) => operators::domain(&mut client, json, cmd).await,
        Command::Request(cmd) => request::request(&mut client, json, cmd).await,
        Command::Audit {
            since,
            operator,
            target,
        } => operators::audit(&mut client, json, *since, operator, target).await,
        Command::Whoami => operators::whoami(&mut client, json).await,
        Command::Slave(cmd) => slave::slave(&mut client, json, cmd).await,
        Command::Jobs(JobsCommand::Run) => operators::jobs_run(&mut client, json).await,
        Command::Expiry(cmd) => lifecycle::expiry(&mut client, json, cmd).await,
        Command::Password(cmd) => lifecycle::password(&mut client, json, cmd).await,
        Command::Migrate(cmd) => migrate::migrate(&mut client, json, cmd).await,
    };
    match outcome {
        Ok(Done::Ok) => ExitCode::SUCCESS,
        Ok(Done::Reported(code)) => ExitCode::from(code),
        Err(e) => report(json, &e),
    }
}
