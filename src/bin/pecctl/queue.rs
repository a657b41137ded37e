//! `pecctl queue`: the relay queue to other providers and the Internet (PEC.md §6.2).

use clap::Subcommand;
use pecd_control::client::{Client, ClientError};
use pecd_control::protocol::{Request, Retried};

use crate::output::{local, print, Done};

#[derive(Subcommand)]
pub enum QueueCommand {
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

pub async fn queue(
    client: &mut Client,
    json: bool,
    cmd: &QueueCommand,
) -> Result<Done, ClientError> {
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
