//! `pecctl log` and `pecctl trace`: the legal transaction log (PEC.md §10.5), searched by
//! record or followed for one message through its recipients.

use clap::Subcommand;
use pecd_control::client::{Client, ClientError};
use pecd_control::protocol::Request;

use crate::output::{local, print, Done};

#[derive(Subcommand)]
pub enum LogCommand {
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

fn record_text(r: &pecd_store::LogRecord) -> String {
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
}

pub async fn log(client: &mut Client, json: bool, cmd: &LogCommand) -> Result<Done, ClientError> {
    let LogCommand::Search {
        msgid,
        address,
        since,
        until,
        limit,
    } = cmd;
    let records: Vec<pecd_store::LogRecord> = client
        .call(&Request::LogSearch {
            msgid: msgid.clone(),
            address: address.clone(),
            since: *since,
            until: *until,
            limit: *limit,
        })
        .await?;
    print(json, &records, |records| {
        records.iter().map(record_text).collect()
    });
    Ok(Done::Ok)
}

fn trace_text(t: &pecd_store::TraceRecord) -> String {
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
}

pub async fn trace(client: &mut Client, json: bool, id: &str) -> Result<Done, ClientError> {
    let t: pecd_store::TraceRecord = client.call(&Request::Trace { id: id.to_string() }).await?;
    print(json, &t, trace_text);
    Ok(Done::Ok)
}
