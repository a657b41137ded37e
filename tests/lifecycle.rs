//! The scheduled jobs (PROVISIONING.md §6, §7, §8; ARCHITECTURE.md `lifecycle`) against the
//! real pecd, with its clock moved by restarting it with another `pec.clock_offset_seconds`:
//! expiry management under both settings, retention, the password campaign, new-mail, SMS
//! and full-mailbox notices, each job run twice notifying once, and a kill -9 in the middle
//! of a run.

mod support;

#[path = "lifecycle/campaign.rs"]
mod campaign;
#[path = "lifecycle/expiry.rs"]
mod expiry;
#[path = "lifecycle/notify.rs"]
mod notify;
#[path = "lifecycle/security_archive.rs"]
mod security_archive;

use support::cli::*;
use support::smtp::Conn;
use support::*;

pub const DAY: i64 = 86_400;

/// The scheduled runner is off: the tests run the jobs themselves with `pecctl jobs run`.
pub const NO_SCHEDULE: &str = "\n[lifecycle]\ninterval_seconds = 0\n";

/// Customer C1 with account A1 (user ids aa…).
pub fn customer(s: &Server) {
    human(s, &["customer", "create", "C1", "--name", "Rossi"], "");
    human(
        s,
        &[
            "account",
            "create",
            "A1",
            "--customer",
            "C1",
            "--description",
            "Rivenditore Nord",
            "--userid-prefix",
            "aa",
        ],
        "",
    );
}

/// Gives the mailbox to C1/A1 as standard; returns its master user id.
pub fn assign(s: &Server, address: &str) -> String {
    let c = json_exit(
        s,
        &[
            "mailbox",
            "assign",
            address,
            "--customer",
            "C1",
            "--account",
            "A1",
            "--type",
            "standard",
        ],
        "",
        0,
    );
    c["userid"].as_str().expect("a user id").to_string()
}

pub fn jobs(s: &Server) -> serde_json::Value {
    let r = s.json(&["jobs", "run"]);
    assert_eq!(r["errors"], serde_json::json!([]), "{r}");
    r
}

/// The (job, target) pairs a run did.
pub fn done(report: &serde_json::Value) -> Vec<(String, String)> {
    report["done"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["job"].as_str().unwrap().to_string(),
                i["target"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// How many items of `job` a run did.
pub fn count(report: &serde_json::Value, job: &str) -> usize {
    done(report).iter().filter(|(j, _)| j == job).count()
}

/// Restarts `s` with its clock `days` ahead of the real one.
pub fn restart_at(s: &mut Server, days: i64, extra: &str) {
    s.terminate();
    s.write_config(&ServerConfig::new().extra(&format!(
        "{NO_SCHEDULE}{extra}\n[pec]\nclock_offset_seconds = {}\n",
        days * DAY
    )));
    s.spawn();
}

/// Today (UTC) moved by `days`, as YYYY-MM-DD.
pub fn day(days: i64) -> chrono::NaiveDate {
    chrono::Utc::now().date_naive() + chrono::Duration::days(days)
}

/// A notice as the holder reads it: subject, decoded text, and the raw bytes.
pub struct Read {
    pub subject: String,
    pub text: String,
    pub kind: String,
    pub raw: Vec<u8>,
}

/// The provider's notices in the INBOX of `user` (read over IMAP with python's imaplib), in
/// order; each is checked to verify with OpenSSL and GnuTLS against the server's CA.
pub fn notices(s: &Server, user: &str) -> Vec<Read> {
    let mut out = Vec::new();
    for raw in support::pec::imap(s, user, "INBOX") {
        let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
        let Some(kind) = m.header_raw("X-Pecd-Notice") else {
            continue;
        };
        let kind = kind.trim().to_string();
        support::pec::assert_valid_pec(&raw, &s.ca());
        out.push(Read {
            subject: m.subject().unwrap_or_default().to_string(),
            text: m.body_text(0).unwrap_or_default().to_string(),
            kind,
            raw: raw.clone(),
        });
    }
    out
}

/// Stops the server and returns the notices of `kind` in the INBOX of `address`, read from
/// the store (for mailboxes whose password no longer opens them).
pub fn stored_notices(s: &mut Server, address: &str, kind: &str) -> Vec<Read> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut out = Vec::new();
    for raw in rt.block_on(s.stored_inbox(address)) {
        let raw = raw.into_bytes();
        let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
        if m.header_raw("X-Pecd-Notice").map(str::trim) != Some(kind) {
            continue;
        }
        out.push(Read {
            subject: m.subject().unwrap_or_default().to_string(),
            text: m.body_text(0).unwrap_or_default().to_string(),
            kind: kind.to_string(),
            raw: raw.clone(),
        });
    }
    out
}

/// The notices of `kind` in the INBOX of `user`.
pub fn notices_of(s: &Server, user: &str, kind: &str) -> Vec<Read> {
    notices(s, user)
        .into_iter()
        .filter(|n| n.kind == kind)
        .collect()
}

/// The relay queue's entries labelled `label`: their recipients.
pub fn queued(s: &Server, label: &str) -> Vec<Vec<String>> {
    let q = s.json(&["queue", "list"]);
    q.as_array()
        .unwrap()
        .iter()
        .filter(|e| e["label"] == label)
        .map(|e| {
            e["recipients"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_string())
                .collect()
        })
        .collect()
}

/// Sends a certified message from `from` to `to` over SMTPS; asserts it was accepted.
pub async fn certified(s: &Server, from: &str, to: &str, subject: &str) {
    let (mut c, _) = Conn::tls(s.listener("submissions"), &s.ca()).await;
    c.login(from, PASSWORD).await;
    let message = format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{subject}.{}@test>\r\n\r\nTesto.\r\n",
        rand::random::<u32>()
    );
    let r = c.send_message(from, &[to], &message).await;
    assert!(r.starts_with("250"), "{r}");
}
