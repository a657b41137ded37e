//! Mailboxes in the provisioning archive (PROVISIONING.md §4, §5 "served at once") against
//! the real pecd through pecctl: one test per rule, each bad input refused clearly with
//! nothing changed, and the services (SMTP, IMAP, POP3, `pecd index export`) following the
//! archive at once.

mod support;

#[path = "archive_mailboxes/changes.rs"]
mod changes;
#[path = "archive_mailboxes/search.rs"]
mod search;
#[path = "archive_mailboxes/services.rs"]
mod services;
#[path = "archive_mailboxes/serving.rs"]
mod serving;
#[path = "archive_mailboxes/transitions.rs"]
mod transitions;

use support::cli::*;
use support::*;

pub const A: &str = "anna@pec.localhost";
pub const B: &str = "bruno@pec.localhost";
pub const C: &str = "carla@pec.localhost";

/// Customer C1 with accounts A1 (user ids aa…) and A2 (bb…), an intermediario of each
/// (int1, int2) and one of A1 entitled to massive mailboxes (mas1).
pub fn customers(s: &Server) {
    human(s, &["customer", "create", "C1", "--name", "Rossi"], "");
    for (acc, prefix) in [("A1", "aa"), ("A2", "bb")] {
        human(
            s,
            &[
                "account",
                "create",
                acc,
                "--customer",
                "C1",
                "--description",
                "rivenditore",
                "--userid-prefix",
                prefix,
            ],
            "",
        );
    }
    for (userid, acc, massive) in [
        ("int1", "A1", false),
        ("int2", "A2", false),
        ("mas1", "A1", true),
    ] {
        let mut args = vec![
            "operator",
            "create",
            userid,
            "--profile",
            "intermediario",
            "--surname",
            "Verdi",
            "--first-name",
            "Ugo",
            "--customer",
            "C1",
            "--account",
            acc,
            "--password-stdin",
        ];
        if massive {
            args.push("--may-manage-massive");
        }
        human(s, &args, &format!("{PASSWORD}\n"));
    }
}

/// An administrator's completion of an incomplete mailbox.
pub fn assign(s: &Server, address: &str, account: &str, kind: &str) -> serde_json::Value {
    json_exit(
        s,
        &[
            "mailbox",
            "assign",
            address,
            "--customer",
            "C1",
            "--account",
            account,
            "--type",
            kind,
        ],
        "",
        0,
    )
}

/// `mailbox show --json`.
pub fn show(s: &Server, address: &str) -> serde_json::Value {
    s.json(&["mailbox", "show", address])
}

/// The archive's state of a mailbox, as shown.
pub fn state(s: &Server, address: &str) -> String {
    show(s, address)["archive"]["state"]
        .as_str()
        .unwrap()
        .to_string()
}

pub fn jobs(s: &Server) -> serde_json::Value {
    s.json(&["jobs", "run"])
}

/// The outcome per address of a batch's JSON.
pub fn outcomes(doc: &serde_json::Value) -> Vec<(String, String)> {
    doc.as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["address"].as_str().unwrap().to_string(),
                o["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The actions the audit log recorded on `target`.
pub fn audited(s: &Server, target: &str) -> Vec<String> {
    s.json(&["audit", "--target", target])
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect()
}

pub fn pos(a: &str) -> (String, String) {
    (a.to_string(), "Esito positivo".to_string())
}

pub fn neg(a: &str) -> (String, String) {
    (a.to_string(), "Esito negativo".to_string())
}
