//! Migration from another provider (PROVISIONING.md §9; issue 20) against a real Dovecot
//! started by each test ([`dovecot`]): `pecctl migrate start|status` over the real pecd,
//! the old mailbox read over TLS and checked back in pecd's store, message by message.

mod support;

#[path = "migrate/dovecot.rs"]
mod dovecot;
#[path = "migrate/mailbox.rs"]
mod mailbox;
#[path = "migrate/proxy.rs"]
mod proxy;

use std::process::Output;
use std::time::{Duration, Instant};

use dovecot::{Dovecot, OldMessage};
use mailbox::{assert_same, fill, stored};
use proxy::{Behaviour, Proxy};
use support::cli::{json_exit, refused};
use support::imap::Imap;
use support::smtp::Conn;
use support::{server, text, Server, ServerConfig, PASSWORD, PECD};

const SCUOLA: &str = "scuola@pec.example.it";
const OLD_PASSWORD: &str = "Vecchia-Pass1!";
const ANNA: &str = "anna@pec.localhost";
const BRUNO: &str = "bruno@pec.localhost";
const BEFORE: &str = "2099-01-11T00:00:00+01:00";
const AFTER: &str = "2020-01-11T00:00:00+01:00";

/// pecd with pec.example.it in a migration window closing at `cutover`, trusting the old
/// server's CA when given; `batch` messages per round.
fn migration_config(ca: Option<&std::path::Path>, cutover: &str, batch: usize) -> ServerConfig {
    let roots = ca.map_or(String::new(), |p| {
        format!("tls_roots = \"{}\"\n", p.display())
    });
    ServerConfig::new().extra(&format!(
        "\n[migration]\ndomains = [\"pec.example.it\"]\ncutover = \"{cutover}\"\n{roots}\
         batch_messages = {batch}\ntimeout_seconds = 10\n"
    ))
}

fn pecd(config: ServerConfig, users: &[&str]) -> Server {
    let mut s = server().users(&[]).prepare();
    s.write_config(&config);
    s.spawn();
    for u in users {
        s.create_mailbox(u);
    }
    s
}

fn start(s: &Server, from: &str, stdin: &str, extra: &[&str]) -> Output {
    let mut args = vec!["--json", "migrate", "start", SCUOLA, "--from", from];
    args.extend_from_slice(extra);
    args.push("--password-stdin");
    s.pecctl(&args, stdin)
}

fn done(out: &Output) -> serde_json::Value {
    assert_eq!(out.status.code(), Some(0), "{}", text(out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["state"], "done", "{doc}");
    doc
}

fn status(s: &Server) -> serde_json::Value {
    json_exit(s, &["migrate", "status", SCUOLA], "", 0)
}

/// Sends a certified message from ANNA to BRUNO through pecd and returns what pecd made of
/// it: ANNA's acceptance and delivery receipt, BRUNO's transport envelope.
async fn pec_messages(s: &Server) -> Vec<Vec<u8>> {
    let (mut c, _) = Conn::tls(s.listener("submissions"), &s.ca()).await;
    c.login(ANNA, PASSWORD).await;
    let message = format!(
        "From: {ANNA}\r\nTo: {BRUNO}\r\nSubject: Circolare n. 4\r\nMessage-ID: <circ4@pec.localhost>\r\n\r\nCircolare."
    );
    let r = c.send_message(ANNA, &[BRUNO], &message).await;
    assert!(r.starts_with("250"), "{r}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let a = support::pec::imap(s, ANNA, "INBOX");
        let b = support::pec::imap(s, BRUNO, "INBOX");
        if a.len() == 2 && b.len() == 1 {
            return a.into_iter().chain(b).collect();
        }
        assert!(
            Instant::now() < deadline,
            "receipts: {} {}",
            a.len(),
            b.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn pecd_verify(s: &Server, messages: &[Vec<u8>]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "verify".to_string(),
        "--config".into(),
        s.config().display().to_string(),
        "--json".into(),
    ];
    for (i, m) in messages.iter().enumerate() {
        let f = dir.path().join(format!("{i}.eml"));
        std::fs::write(&f, m).unwrap();
        args.push(f.display().to_string());
    }
    let out = std::process::Command::new(PECD)
        .args(&args)
        .output()
        .unwrap();
    assert!(out.status.success(), "pecd verify: {}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn a_mailbox_moves_in_whole_with_pec_that_still_verifies_and_a_second_run_imports_nothing() {
    let old = Dovecot::start(&[(SCUOLA, OLD_PASSWORD)]);
    let mut s = pecd(
        migration_config(Some(&old.ca()), BEFORE, 200),
        &[ANNA, BRUNO, SCUOLA],
    );
    let pec = pec_messages(&s).await;
    let extra: Vec<OldMessage> = pec
        .iter()
        .enumerate()
        .map(|(i, bytes)| OldMessage {
            bytes: bytes.clone(),
            flags: "S".into(),
            keywords: vec![],
            date: 1_795_000_000 + i as i64,
        })
        .collect();
    let mut wanted = fill(&old, SCUOLA, 600, &extra);

    let first = done(&start(&s, &old.url(), &format!("{OLD_PASSWORD}\n"), &[]));
    let archive = wanted.remove("Archivio").unwrap();
    assert_eq!(first["messages_total"], 1900);
    assert_eq!(first["messages_done"], 1900);
    assert_eq!(first["imported"], 1900);
    assert_eq!(first["errors"], 0, "{first}");
    assert_eq!(first["password_kept"], true);
    let deferred: Vec<&serde_json::Value> = first["folders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["deferred"] == true)
        .collect();
    assert_eq!(deferred.len(), 1);
    assert_eq!(deferred[0]["name"], "Archivio");
    assert_eq!(status(&s)["state"], "done");

    // Before cutover the mailbox is closed, with a text that says until when.
    let (mut imap, _) = Imap::connect(&s).await;
    let r = imap.cmd(&format!("LOGIN {SCUOLA} {OLD_PASSWORD}")).await;
    assert!(r.last().unwrap().contains("Casella in migrazione"), "{r:?}");

    let second = done(&start(&s, &old.url(), &format!("{OLD_PASSWORD}\n"), &[]));
    assert_eq!(second["imported"], 0, "{second}");
    assert_eq!(second["messages_done"], 1900);

    s.terminate();
    let (here, count) = stored(&s.store_path(), SCUOLA).await;
    assert_same(&wanted, &here, count);
    let imported_pec: Vec<Vec<u8>> = pec
        .iter()
        .map(|m| here["INBOX"][&mailbox::message_id(m)].bytes.clone())
        .collect();
    let reports = pecd_verify(&s, &imported_pec);
    let kinds: Vec<&str> = reports
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["report"]["valid"], true, "{r}");
            r["report"]["kind"].as_str().unwrap()
        })
        .collect();
    assert_eq!(kinds.len(), 3);
    assert!(
        kinds.contains(&"acceptance") && kinds.contains(&"delivery"),
        "{kinds:?}"
    );

    // After cutover: the old provider's archive folder, then the mailbox opens.
    s.write_config(&migration_config(Some(&old.ca()), AFTER, 200));
    s.spawn();
    let third = done(&start(&s, &old.url(), &format!("{OLD_PASSWORD}\n"), &[]));
    assert_eq!(third["imported"], 100, "{third}");
    assert_eq!(third["messages_total"], 2000);
    let (mut imap, _) = Imap::connect(&s).await;
    let r = imap.cmd(&format!("LOGIN {SCUOLA} {OLD_PASSWORD}")).await;
    assert!(r.last().unwrap().contains("OK"), "{r:?}");
    s.terminate();
    wanted.insert("Archivio".into(), archive);
    let (here, count) = stored(&s.store_path(), SCUOLA).await;
    assert_same(&wanted, &here, count);
}

#[tokio::test]
async fn after_cutover_a_mailbox_that_never_started_is_refused_for_logins_sending_and_receiving() {
    let mut s = pecd(migration_config(None, AFTER, 200), &[ANNA, SCUOLA]);
    let (mut imap, _) = Imap::connect(&s).await;
    let r = imap.cmd(&format!("LOGIN {SCUOLA} {PASSWORD}")).await;
    assert!(r.last().unwrap().contains("Casella non migrata"), "{r:?}");
    let (mut smtp, _) = Conn::tls(s.listener("submissions"), &s.ca()).await;
    smtp.cmd("EHLO client.test").await;
    let r = smtp
        .cmd(&format!(
            "AUTH PLAIN {}",
            support::smtp::plain(SCUOLA, PASSWORD)
        ))
        .await;
    assert!(
        r.starts_with("535") && r.contains("Casella non migrata"),
        "{r}"
    );
    // Certified mail to it gets an avviso di mancata consegna, not a delivery.
    let (mut c, _) = Conn::tls(s.listener("submissions"), &s.ca()).await;
    c.login(ANNA, PASSWORD).await;
    let message = format!("From: {ANNA}\r\nTo: {SCUOLA}\r\nSubject: Prova\r\n\r\nProva.");
    let r = c.send_message(ANNA, &[SCUOLA], &message).await;
    assert!(r.starts_with("250"), "{r}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let notices = loop {
        let inbox = support::pec::imap(&s, ANNA, "INBOX");
        if inbox.len() >= 2 {
            break inbox;
        }
        assert!(Instant::now() < deadline, "{} messages", inbox.len());
        std::thread::sleep(Duration::from_millis(200));
    };
    let texts: Vec<String> = notices
        .iter()
        .filter_map(|m| support::pec::assert_valid_pec(m, &s.ca()))
        .filter_map(|d| d.errore_esteso)
        .collect();
    assert!(
        texts.iter().any(|t| t.contains("casella non migrata")),
        "the avviso di mancata consegna says why: {texts:?}"
    );
    // Starting now is too late.
    let out = start(&s, "imaps://localhost:1", &format!("{OLD_PASSWORD}\n"), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("prima del passaggio"), "{}", text(&out));
    s.terminate();
    let (here, _) = stored(&s.store_path(), SCUOLA).await;
    assert!(here.is_empty(), "nothing delivered to a closed mailbox");
}

#[tokio::test]
async fn wrong_password_is_refused_with_credenziali_non_valide_and_changes_nothing() {
    let old = Dovecot::start(&[(SCUOLA, OLD_PASSWORD)]);
    old.fill(SCUOLA, "INBOX", &[mailbox::message("INBOX", 1, 100)]);
    let s = pecd(migration_config(Some(&old.ca()), BEFORE, 200), &[SCUOLA]);
    let out = start(&s, &old.url(), "Sbagliata-9!\n", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["error"]["code"], "forbidden", "{doc}");
    assert_eq!(doc["error"]["message"], "Credenziali non valide");
    refused(&s, &["migrate", "status", SCUOLA], "", "not_found");
    // The mailbox keeps its password, and was not marked as migrating.
    let log = s.pecctl(&["mailbox", "show", SCUOLA], "");
    assert!(log.status.success());
}

#[tokio::test]
async fn unreachable_server_and_untrusted_certificate_are_told_apart() {
    let old = Dovecot::start(&[(SCUOLA, OLD_PASSWORD)]);
    let s = pecd(migration_config(None, BEFORE, 200), &[SCUOLA]);
    let out = start(&s, &old.url(), &format!("{OLD_PASSWORD}\n"), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("non attendibile"), "{}", text(&out));
    assert!(text(&out).contains("tls_roots"), "{}", text(&out));
    let closed = format!("imaps://localhost:{}", support::free_port());
    let out = start(&s, &closed, &format!("{OLD_PASSWORD}\n"), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("non raggiungibile"), "{}", text(&out));
}

#[tokio::test]
async fn a_weak_old_password_needs_a_new_one_which_works_from_cutover() {
    let old = Dovecot::start(&[(SCUOLA, "vecchia")]);
    old.fill(SCUOLA, "INBOX", &[mailbox::message("INBOX", 1, 100)]);
    let mut s = pecd(migration_config(Some(&old.ca()), BEFORE, 200), &[SCUOLA]);
    let out = start(&s, &old.url(), "vecchia\n", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["error"]["code"], "weak_password", "{doc}");
    assert!(doc["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Password non valida"));
    assert_eq!(
        doc["error"]["details"].as_array().unwrap().len(),
        4,
        "{doc}"
    );
    let out = start(
        &s,
        &old.url(),
        "vecchia\nnuova\n",
        &["--new-password-stdin"],
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["error"]["code"], "weak_password", "{doc}");
    let first = done(&start(
        &s,
        &old.url(),
        "vecchia\nNuova-Pass7?\n",
        &["--new-password-stdin"],
    ));
    assert_eq!(first["password_kept"], false);
    assert_eq!(first["imported"], 1);
    // Not before cutover, not even on the holders' self-service API.
    let api = support::https::Https::new(&s);
    let r = api
        .client
        .post(api.url("/api/v1/me/login"))
        .json(&serde_json::json!({ "login": SCUOLA, "password": "Nuova-Pass7?" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let doc: serde_json::Value = r.json().await.unwrap();
    assert_eq!(doc["error"]["code"], "closed", "{doc}");
    s.terminate();
    s.write_config(&migration_config(Some(&old.ca()), AFTER, 200));
    s.spawn();
    let (mut imap, _) = Imap::connect(&s).await;
    let r = imap.cmd(&format!("LOGIN {SCUOLA} vecchia")).await;
    assert!(r.last().unwrap().contains("NO"), "{r:?}");
    let r = imap.cmd(&format!("LOGIN {SCUOLA} Nuova-Pass7?")).await;
    assert!(r.last().unwrap().contains("OK"), "{r:?}");
}

/// Waits until the run has stored at least `at_least` messages.
fn wait_for_progress(s: &Server, at_least: u64) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let st = status(s);
        if st["messages_done"].as_u64().unwrap() >= at_least || st["state"] != "running" {
            return st;
        }
        assert!(Instant::now() < deadline, "no progress: {st}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn kill_9_in_the_middle_then_a_rerun_imports_only_what_is_missing() {
    let old = Dovecot::start(&[(SCUOLA, OLD_PASSWORD)]);
    let mut wanted = fill(&old, SCUOLA, 10_000, &[]);
    wanted.remove("Archivio");
    // About 20 MB at 4 MB/s: the import takes seconds, so a kill lands in the middle.
    let slow = Proxy::start(
        old.port,
        Behaviour {
            bytes_per_second: Some(4 << 20),
            ..Behaviour::default()
        },
    );
    let mut s = pecd(migration_config(Some(&old.ca()), BEFORE, 25), &[SCUOLA]);
    let out = start(&s, &slow.url(), &format!("{OLD_PASSWORD}\n"), &["--detach"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let total: u64 = wanted.values().map(|m| m.len() as u64).sum();
    let at = wait_for_progress(&s, total / 2);
    assert_eq!(at["state"], "running", "killed too late: {at}");
    s.kill9();
    s.spawn();
    let interrupted = status(&s);
    assert_eq!(interrupted["state"], "failed", "{interrupted}");
    let done_before = interrupted["messages_done"].as_u64().unwrap();
    assert!((total / 2..total).contains(&done_before), "{interrupted}");
    let rerun = done(&start(&s, &old.url(), &format!("{OLD_PASSWORD}\n"), &[]));
    assert_eq!(rerun["messages_done"], total, "{rerun}");
    assert!(
        rerun["imported"].as_u64().unwrap() <= total - done_before,
        "{rerun}"
    );
    s.terminate();
    let (here, count) = stored(&s.store_path(), SCUOLA).await;
    assert_same(&wanted, &here, count);
}

#[tokio::test]
async fn a_connection_dropped_in_the_middle_of_a_fetch_is_resumed_without_duplicates() {
    let old = Dovecot::start(&[(SCUOLA, OLD_PASSWORD)]);
    let mut wanted = fill(&old, SCUOLA, 10_000, &[]);
    wanted.remove("Archivio");
    let cut = Proxy::start(
        old.port,
        Behaviour {
            cut_first_after: Some(7 << 20),
            ..Behaviour::default()
        },
    );
    let mut s = pecd(migration_config(Some(&old.ca()), BEFORE, 40), &[SCUOLA]);
    let run = done(&start(&s, &cut.url(), &format!("{OLD_PASSWORD}\n"), &[]));
    let total: u64 = wanted.values().map(|m| m.len() as u64).sum();
    assert_eq!(run["messages_done"], total, "{run}");
    assert_eq!(run["imported"], total, "{run}");
    assert!(
        cut.connections.load(std::sync::atomic::Ordering::SeqCst) >= 2,
        "the cut connection was opened again"
    );
    s.terminate();
    let (here, count) = stored(&s.store_path(), SCUOLA).await;
    assert_same(&wanted, &here, count);
}

/// Rewrites the progress of old folder `folder` in pecd's store (pecd stopped).
async fn rewrite_progress(s: &Server, folder: &str, change: impl Fn(&mut serde_json::Value)) {
    let store = pecd_store::Store::open(&s.store_path()).unwrap();
    let key = [SCUOLA.as_bytes(), b"\0", folder.as_bytes()].concat();
    let mut value: serde_json::Value = serde_json::from_slice(
        &store
            .record("migration_folder", &key)
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    change(&mut value);
    let bytes = serde_json::to_vec(&value).unwrap();
    store
        .records_transaction(move |tx| tx.put("migration_folder", &key, bytes.clone()))
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_batch_left_pending_by_a_crash_or_a_changed_uidvalidity_is_matched_not_imported_again() {
    let old = Dovecot::start(&[(SCUOLA, OLD_PASSWORD)]);
    let mut wanted = fill(&old, SCUOLA, 200, &[]);
    wanted.remove("Archivio");
    let mut s = pecd(migration_config(Some(&old.ca()), BEFORE, 50), &[SCUOLA]);
    done(&start(&s, &old.url(), &format!("{OLD_PASSWORD}\n"), &[]));
    s.terminate();
    // A crash after the last INBOX batch was stored but before its progress was written:
    // the mark is back 30 messages, which are pending from our UID 768 on.
    rewrite_progress(&s, "INBOX", |v| {
        let mark = v["imported_through"].as_u64().unwrap();
        v["imported_through"] = (mark - 30).into();
        v["pending"] = serde_json::json!({
            "uids": ((mark - 29)..=mark).collect::<Vec<u64>>(),
            "target_uidnext": 768,
        });
    })
    .await;
    // And the old server renumbered "Clienti/Perché": its UIDs no longer mean anything.
    rewrite_progress(&s, "Clienti/Perché", |v| v["uidvalidity"] = 7.into()).await;
    s.spawn();
    let rerun = done(&start(&s, &old.url(), &format!("{OLD_PASSWORD}\n"), &[]));
    assert_eq!(rerun["imported"], 0, "{rerun}");
    s.terminate();
    let (here, count) = stored(&s.store_path(), SCUOLA).await;
    assert_same(&wanted, &here, count);
    assert_old_mailbox_untouched(&old, &wanted["INBOX"]).await;
}

/// Three runs later the old INBOX still has every message with its own flags: the import
/// only reads (EXAMINE, BODY.PEEK), so unread mail stays unread at the old provider.
async fn assert_old_mailbox_untouched(
    old: &Dovecot,
    inbox: &std::collections::BTreeMap<String, mailbox::Expected>,
) {
    use pecd_migrate::imap::client::{trust_roots, Connection, Server};
    let roots = std::sync::Arc::new(trust_roots(Some(&old.ca())).unwrap());
    let server = Server::parse(&old.url()).unwrap();
    let limits = pecd_migrate::imap::frame::Limits::default();
    let mut c = Connection::connect(&server, roots, limits, Duration::from_secs(10))
        .await
        .unwrap();
    c.login(SCUOLA, OLD_PASSWORD).await.unwrap();
    let (_, exists) = c.examine(b"INBOX").await.unwrap();
    assert_eq!(exists as usize, inbox.len());
    let flags = c.uid_fetch("1:*", "(UID FLAGS)").await.unwrap();
    let seen = flags
        .iter()
        .filter(|f| f.flags.contains(pecd_store::Flags::SEEN))
        .count();
    let wanted = inbox
        .values()
        .filter(|m| m.flags.contains(pecd_store::Flags::SEEN))
        .count();
    assert_eq!(seen, wanted, "\\Seen at the old provider");
    c.logout().await;
}

#[tokio::test]
async fn the_https_api_starts_and_follows_a_migration_like_pecctl() {
    let old = Dovecot::start(&[(SCUOLA, OLD_PASSWORD)]);
    old.fill(
        SCUOLA,
        "INBOX",
        &[
            mailbox::message("INBOX", 1, 100),
            mailbox::message("INBOX", 2, 100),
        ],
    );
    let s = pecd(migration_config(Some(&old.ca()), BEFORE, 200), &[SCUOLA]);
    support::cli::human(
        &s,
        &[
            "operator",
            "create",
            "adm",
            "--profile",
            "amministratore",
            "--surname",
            "Bianchi",
            "--first-name",
            "Anna",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    let api = support::https::Https::new(&s);
    let token = api.login("adm", PASSWORD).await;
    let path = format!("/api/v1/mailboxes/{SCUOLA}/migration");
    let post = |password: &str| serde_json::json!({ "from": old.url(), "password": password });
    let (code, doc) = api
        .call(
            reqwest::Method::POST,
            &path,
            &token,
            Some(post("Sbagliata-9!")),
        )
        .await;
    assert_eq!(
        (code, doc["error"]["message"].as_str()),
        (403, Some("Credenziali non valide")),
        "{doc}"
    );
    let (code, doc) = api
        .call(
            reqwest::Method::POST,
            &path,
            &token,
            Some(post(OLD_PASSWORD)),
        )
        .await;
    assert_eq!(code, 202, "{doc}");
    assert_eq!(doc["state"], "running");
    let deadline = Instant::now() + Duration::from_secs(30);
    let last = loop {
        let (code, doc) = api.call(reqwest::Method::GET, &path, &token, None).await;
        assert_eq!(code, 200, "{doc}");
        if doc["state"] != "running" {
            break doc;
        }
        assert!(Instant::now() < deadline, "{doc}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(last["state"], "done", "{last}");
    assert_eq!(
        (
            last["messages_done"].as_u64(),
            last["messages_total"].as_u64()
        ),
        (Some(2), Some(2))
    );
    assert_eq!(
        status(&s)["messages_done"],
        2,
        "the same migration pecctl sees"
    );
}
