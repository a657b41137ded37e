//! `pecctl status`, `log search`, `trace`, `index list|show` and `queue
//! list|show|retry|delete`: one test per command, on certified mail submitted over SMTP.

use std::net::TcpListener;

use super::support::smtp::Conn;
use super::support::*;
use super::{fixture, human, json_exit, refused};

const MARIO: &str = "mario@pec.localhost";
const LUIGI: &str = "luigi@pec.localhost";
const ESTERNO: &str = "amico@esterno.test";

/// Submits a certified message from MARIO to `to`; returns the PEC msgid of the 250 reply.
async fn submit(s: &Server, to: &str, subject: &str) -> String {
    let (mut c, _) = Conn::tls(s.listener("submissions"), &s.ca()).await;
    c.login(MARIO, PASSWORD).await;
    let message = format!(
        "From: <{MARIO}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@client.test>\r\n\r\ncorpo\r\n"
    );
    let reply = c.send_message(MARIO, &[to], &message).await;
    assert!(reply.starts_with("250"), "{reply}");
    reply
        .split_whitespace()
        .find(|w| w.starts_with("pecd."))
        .expect("the PEC msgid in the 250 reply")
        .to_string()
}

/// A server whose relay routes esterno.test to a port nobody listens on, with one message
/// from MARIO to ESTERNO waiting in the queue; returns it and the queue entry's id.
async fn with_a_queued_message() -> (Server, u64, String) {
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let s = server()
        .config(|c| c.route("esterno.test", dead))
        .extra("\n[relay]\nretry_initial_seconds = 600\nretry_max_seconds = 600\n")
        .users(&[MARIO])
        .start();
    let id = submit(&s, ESTERNO, "in-coda").await;
    let queue = s.json(&["queue", "list"]);
    let qid = queue[0]["id"].as_u64().expect("one queued message");
    (s, qid, id)
}

#[test]
fn status_reports_provider_store_and_listeners() {
    let s = server().users(&[MARIO]).start();
    s.json(&["mailbox", "import", MARIO, &fixture("plain-lf.eml")]);
    s.json(&["mailbox", "import", MARIO, &fixture("plain-lf.eml")]);
    let status = json_exit(&s, &["status"], "", 0);
    assert_eq!(
        (status["mailboxes"].as_u64(), status["messages"].as_u64()),
        // The provider's service mailbox (posta-certificata@, PEC.md §1.1) always exists.
        (Some(2), Some(2))
    );
    assert!(status["commits"].as_u64().unwrap() >= 1);
    assert_eq!(status["provider"], "pecd test provider");
    for listener in ["smtp", "submissions", "imaps", "pop3s"] {
        assert!(status["listeners"][listener].is_string(), "{status}");
    }
    let out = human(&s, &["status"], "");
    assert!(out.starts_with("pecd "), "{out}");
    assert!(out.contains("mailboxes: 2  messages: 2"), "{out}");
}

#[tokio::test]
async fn log_search_by_msgid_address_and_period() {
    let s = server().users(&[MARIO, LUIGI]).start();
    let id = submit(&s, LUIGI, "registro").await;
    let log = json_exit(&s, &["log", "search", "--msgid", &id], "", 0);
    let events: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["accettazione", "presa-in-carico", "consegna"]);
    let for_luigi = s.json(&["log", "search", "--address", LUIGI, "--since", "2000-01-01"]);
    assert_eq!(for_luigi.as_array().unwrap().len(), 3, "{for_luigi}");
    assert_eq!(
        s.json(&["log", "search", "--until", "2000-01-01"]),
        serde_json::json!([])
    );
    let limited = s.json(&["log", "search", "--msgid", &id, "--limit", "1"]);
    assert_eq!(limited.as_array().unwrap().len(), 1, "{limited}");
    let out = human(&s, &["log", "search", "--msgid", &id], "");
    assert!(out.contains("accettazione") && out.contains(&id), "{out}");
    let out = s.pecctl(&["log", "search", "--since", "yesterday"], "");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[tokio::test]
async fn trace_gives_every_recipients_state() {
    let s = server().users(&[MARIO, LUIGI]).start();
    let id = submit(&s, LUIGI, "traccia").await;
    let trace = json_exit(&s, &["trace", &id], "", 0);
    assert_eq!(trace["pec_id"], id.as_str());
    assert_eq!(trace["sender"], MARIO);
    assert_eq!(trace["recipients"][0]["address"], LUIGI);
    assert_eq!(trace["recipients"][0]["state"], "delivered");
    // The client's Message-ID finds the same transaction.
    let by_msgid = s.json(&["trace", "<traccia@client.test>"]);
    assert_eq!(by_msgid["pec_id"], id.as_str());
    let out = human(&s, &["trace", &id], "");
    assert!(out.starts_with(&format!("{id}\n")), "{out}");
    assert!(out.contains("delivered"), "{out}");
    refused(
        &s,
        &["trace", "pecd.nothing@pec.localhost"],
        "",
        "not_found",
    );
}

#[test]
fn index_list_shows_our_own_entry() {
    let s = server().start();
    let list = json_exit(&s, &["index", "list"], "", 0);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["name"], "pecd test provider");
    assert_eq!(list[0]["ours"], true);
    assert_eq!(list[0]["mail_receipt"], "posta-certificata@pec.localhost");
    let out = human(&s, &["index", "list"], "");
    assert!(
        out.starts_with(
            "pecd test provider (ours)\n  mailReceipt: posta-certificata@pec.localhost\n"
        ),
        "{out}"
    );
}

#[test]
fn index_show_finds_a_provider_by_name_domain_or_hash() {
    let s = server().start();
    let shown = json_exit(&s, &["index", "show", "pec.localhost"], "", 0);
    assert_eq!(shown["name"], "pecd test provider");
    assert_eq!(
        shown["certificates"][0]["emails"][0],
        "posta-certificata@pec.localhost"
    );
    let sha1 = shown["certificates"][0]["sha1"].as_str().unwrap();
    assert_eq!(s.json(&["index", "show", sha1])["name"], shown["name"]);
    assert_eq!(
        s.json(&["index", "show", "PECD TEST PROVIDER"])["name"],
        shown["name"]
    );
    let out = human(&s, &["index", "show", "pec.localhost"], "");
    assert!(out.contains(&format!("  certificate {sha1}\n")), "{out}");
    refused(&s, &["index", "show", "pec.nowhere.test"], "", "not_found");
}

#[tokio::test]
async fn queue_list_shows_what_waits_for_another_provider() {
    let (s, qid, id) = with_a_queued_message().await;
    let queue = json_exit(&s, &["queue", "list"], "", 0);
    assert_eq!(queue.as_array().unwrap().len(), 1, "{queue}");
    assert_eq!(queue[0]["id"], qid);
    assert_eq!(queue[0]["pec_id"], id.as_str());
    assert_eq!(queue[0]["recipients"][0], ESTERNO);
    assert_eq!(queue[0]["domain"], "esterno.test");
    let out = human(&s, &["queue", "list"], "");
    assert!(out.contains(&id) && out.contains(ESTERNO), "{out}");
}

#[tokio::test]
async fn queue_show_gives_one_entry() {
    let (s, qid, id) = with_a_queued_message().await;
    let shown = json_exit(&s, &["queue", "show", &qid.to_string()], "", 0);
    assert_eq!(shown["pec_id"], id.as_str());
    assert_eq!(shown["label"], "busta di trasporto");
    assert_eq!(shown["sender"], MARIO);
    let out = human(&s, &["queue", "show", &qid.to_string()], "");
    assert!(
        out.contains("busta di trasporto") && out.contains(&id),
        "{out}"
    );
    refused(
        &s,
        &["queue", "show", &(qid + 1000).to_string()],
        "",
        "not_found",
    );
}

#[tokio::test]
async fn queue_retry_makes_one_or_every_message_due() {
    let (s, qid, _) = with_a_queued_message().await;
    let retried = json_exit(&s, &["queue", "retry", &qid.to_string()], "", 0);
    assert_eq!(retried["retried"], 1);
    let all = json_exit(&s, &["queue", "retry", "--all"], "", 0);
    assert_eq!(all["retried"], 1);
    let out = human(&s, &["queue", "retry", "--all"], "");
    assert_eq!(out, "1 message(s) due now\n");
    refused(
        &s,
        &["queue", "retry", &(qid + 1000).to_string()],
        "",
        "not_found",
    );
    let out = s.pecctl(&["queue", "retry"], "");
    assert_eq!(out.status.code(), Some(2), "an id or --all: {}", text(&out));
}

#[tokio::test]
async fn queue_delete_removes_a_message_for_good() {
    let (s, qid, id) = with_a_queued_message().await;
    let deleted = json_exit(&s, &["queue", "delete", &qid.to_string()], "", 0);
    assert_eq!(deleted["pec_id"], id.as_str());
    assert_eq!(s.json(&["queue", "list"]), serde_json::json!([]));
    refused(&s, &["queue", "delete", &qid.to_string()], "", "not_found");
    assert!(s.log().contains("queued message deleted by the operator"));
}
