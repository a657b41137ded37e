//! The services follow the archive at once: a revoked mailbox is refused by SMTP as sender
//! and recipient but still read over IMAP and POP3 (PROVISIONING.md §4); a base mailbox
//! refuses ordinary mail, a standard one gets it in an anomaly envelope; an enabled domain
//! is served and exported without a restart (§5).

use crate::support::cli::*;
use crate::support::imap::Imap;
use crate::support::pop3::Pop;
use crate::support::smtp::Conn;
use crate::support::*;
use crate::*;

fn ordinary(to: &str) -> String {
    format!(
        "From: <amico@example.com>\r\nTo: <{to}>\r\nSubject: ciao\r\nMessage-ID: <ciao.{to}>\r\n\r\nposta ordinaria\r\n"
    )
}

fn messages(s: &Server, address: &str) -> u64 {
    show(s, address)["messages"].as_u64().unwrap()
}

#[tokio::test]
async fn revoked_mailbox_refused_by_smtp_readable_by_imap_and_pop3() {
    let s = server().users(&[A, B]).start();
    let fixture = format!("{}/tests/fixtures/plain-lf.eml", env!("CARGO_MANIFEST_DIR"));
    human(&s, &["mailbox", "import", A, &fixture], "");
    json_exit(
        &s,
        &["mailbox", "revoke", A, "--reason", "non-payment"],
        "",
        0,
    );
    jobs(&s);
    assert_eq!(state(&s, A), "revocata");

    // As sender: AUTH works (the holder still reads), MAIL FROM is refused.
    let (mut c, _) = Conn::tls(s.listener("submissions"), &s.ca()).await;
    c.login(A, PASSWORD).await;
    let r = c.cmd(&format!("MAIL FROM:<{A}>")).await;
    assert!(r.starts_with("550 5.7.1"), "{r}");
    // As recipient of mail from outside.
    let (mut c, _) = Conn::plain(s.listener("smtp")).await;
    c.cmd("EHLO mx.example.com").await;
    assert!(c
        .cmd("MAIL FROM:<amico@example.com>")
        .await
        .starts_with("250"));
    let r = c.cmd(&format!("RCPT TO:<{A}>")).await;
    assert!(r.starts_with("550 5.2.1"), "{r}");
    assert!(c.cmd(&format!("RCPT TO:<{B}>")).await.starts_with("250"));

    // The holder still reads and downloads: the message, and the notice of the revocation
    // with its reason (PROVISIONING.md §6 item 3).
    let mut imap = Imap::login(&s, A).await;
    let r = imap.ok("SELECT INBOX").await;
    assert!(r.iter().any(|l| l.contains("2 EXISTS")), "{r:?}");
    let (mut pop, _) = Pop::connect(&s).await;
    let r = pop.login(A, PASSWORD).await;
    assert!(r.starts_with("+OK"), "{r}");
    assert!(pop.cmd("STAT").await.starts_with("+OK 2 "));
    assert!(pop.cmd("RETR 1").await.starts_with("+OK"));
    assert!(!pop.body().await.is_empty());

    // Reactivated: accepted again.
    json_exit(&s, &["mailbox", "reactivate", A], "", 0);
    jobs(&s);
    let (mut c, _) = Conn::plain(s.listener("smtp")).await;
    c.cmd("EHLO mx.example.com").await;
    assert!(c
        .cmd("MAIL FROM:<amico@example.com>")
        .await
        .starts_with("250"));
    assert!(c.cmd(&format!("RCPT TO:<{A}>")).await.starts_with("250"));
}

#[tokio::test]
async fn base_mailbox_refuses_ordinary_mail_while_standard_gets_the_anomaly_envelope() {
    let s = server().users(&[A, B, C]).start();
    customers(&s);
    let base = assign(&s, A, "A1", "base");
    assert_eq!(base["kind"], "base");
    assign(&s, B, "A1", "standard");
    let base_quota = show(&s, A)["quota_bytes"].as_u64().unwrap();
    assert_eq!(base_quota, 100 << 20, "a base mailbox's disk quota");

    let (mut c, _) = Conn::plain(s.listener("smtp")).await;
    c.cmd("EHLO mx.example.com").await;
    let r = c
        .send_message("amico@example.com", &[A], &ordinary(A))
        .await;
    assert!(r.starts_with("550 5.7.1"), "base refuses: {r}");
    let r = c
        .send_message("amico@example.com", &[B], &ordinary(B))
        .await;
    assert!(r.starts_with("250"), "standard takes it: {r}");
    // C has no type (incomplete): the domain's policy (anomaly) applies.
    let r = c
        .send_message("amico@example.com", &[C], &ordinary(C))
        .await;
    assert!(r.starts_with("250"), "{r}");
    assert_eq!(messages(&s, A), 0, "no anomaly envelope for a base mailbox");
    assert_eq!(messages(&s, B), 1);
    let mut imap = Imap::login(&s, B).await;
    imap.ok("SELECT INBOX").await;
    let r = imap.ok("FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]").await;
    assert!(
        r.iter().any(|l| l.contains("ANOMALIA MESSAGGIO: ciao")),
        "{r:?}"
    );

    // base -> standard: opens, archive, SMS, quota raised.
    refused(&s, &["mailbox", "to-standard", B], "", "conflict");
    let std = json_exit(&s, &["mailbox", "to-standard", A], "", 0);
    assert_eq!(std["kind"], "standard");
    assert_eq!(std["services"]["archive_gb"], 1);
    assert_eq!(std["services"]["sms"], true);
    assert_eq!(show(&s, A)["quota_bytes"].as_u64().unwrap(), 1 << 30);
    let r = c
        .send_message("amico@example.com", &[A], &ordinary(A))
        .await;
    assert!(r.starts_with("250"), "now open: {r}");
    assert_eq!(messages(&s, A), 1);
    assert!(audited(&s, A).contains(&"mailbox.to-standard".to_string()));
}

#[tokio::test]
async fn domain_enable_then_immediate_smtp_acceptance() {
    let s = server().start();
    let u = "utente@nuovo.pec.localhost";
    human(
        &s,
        &[
            "domain",
            "request",
            "nuovo.pec.localhost",
            "--family",
            "ordinary",
        ],
        "",
    );
    refused(
        &s,
        &["mailbox", "create", u, "--password-stdin"],
        &format!("{PASSWORD}\n"),
        "foreign_domain",
    );
    human(&s, &["domain", "enable", "nuovo.pec.localhost"], "");
    s.create_mailbox(u);
    let (mut c, _) = Conn::plain(s.listener("smtp")).await;
    c.cmd("EHLO mx.example.com").await;
    assert!(c
        .cmd("MAIL FROM:<amico@example.com>")
        .await
        .starts_with("250"));
    let r = c.cmd(&format!("RCPT TO:<{u}>")).await;
    assert!(r.starts_with("250"), "served at once: {r}");
    let r = c.cmd("RCPT TO:<altro@nuovo.pec.localhost>").await;
    assert!(r.starts_with("550 5.1.1"), "ours, without a mailbox: {r}");

    let export = std::process::Command::new(PECD)
        .args(["index", "export", "--config"])
        .arg(s.config())
        .output()
        .unwrap();
    assert!(export.status.success(), "{}", text(&export));
    let ldif = String::from_utf8(export.stdout).unwrap();
    assert!(ldif.contains("nuovo.pec.localhost"), "{ldif}");
    let index = s.json(&["index", "list"]);
    let ours = index
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["ours"] == true)
        .unwrap();
    assert!(ours["domains"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d == "nuovo.pec.localhost"));
    let status = s.json(&["status"]);
    assert!(status["domains"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d == "nuovo.pec.localhost"));

    // Without the server, the store still says which domains are enabled.
    let mut s = s;
    s.terminate();
    let export = std::process::Command::new(PECD)
        .args(["index", "export", "--config"])
        .arg(s.config())
        .output()
        .unwrap();
    assert!(export.status.success(), "{}", text(&export));
    assert!(String::from_utf8(export.stdout)
        .unwrap()
        .contains("nuovo.pec.localhost"));
}
