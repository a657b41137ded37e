//! Slave user ids and password expiry against the real pecd (PROVISIONING.md §4 multi-user,
//! §7): pecctl drives the archive, the job runner completes transitions, and IMAP, POP3 and
//! SMTP clients log in with the master's address, a slave's user id and their passwords.

mod support;

use std::time::{Duration, Instant};

use support::cli::*;
use support::imap::Imap;
use support::pop3::Pop;
use support::smtp::{plain, Conn};
use support::*;

const MARIO: &str = "mario@pec.localhost";
const LUIGI: &str = "luigi@pec.localhost";
const SLAVE_PASSWORD: &str = "Slave-Pass7!";
const NEW_PASSWORD: &str = "Nuova-Parola8#";
const URL: &str = "https://pec.localhost/cambio-password/";
/// About 393 days: every password set before the restart is older than 12 months.
const A_YEAR_AND_A_MONTH: &str = "34000000";

/// `slave add` on MARIO; returns the JSON result.
fn add(s: &Server, first: &str, extra: &[&str]) -> serde_json::Value {
    let args = [
        &[
            "slave",
            "add",
            MARIO,
            "--first-name",
            first,
            "--last-name",
            "Bianchi",
            "--password-stdin",
        ],
        extra,
    ]
    .concat();
    json_exit(s, &args, &format!("{SLAVE_PASSWORD}\n"), 0)
}

fn add_userid(s: &Server, first: &str) -> String {
    add(s, first, &[])["userid"].as_str().unwrap().to_string()
}

fn jobs(s: &Server) -> serde_json::Value {
    json_exit(s, &["jobs", "run"], "", 0)
}

fn list(s: &Server) -> Vec<serde_json::Value> {
    json_exit(s, &["slave", "list", MARIO], "", 0)
        .as_array()
        .unwrap()
        .clone()
}

fn state_of(s: &Server, userid: &str) -> String {
    list(s)
        .iter()
        .find(|v| v["userid"] == userid)
        .map(|v| v["state"].as_str().unwrap().to_string())
        .unwrap()
}

/// An active slave of MARIO (added, then activated by the job runner).
fn active_slave(s: &Server) -> String {
    let userid = add_userid(s, "Anna");
    jobs(s);
    assert_eq!(state_of(s, &userid), "attiva");
    userid
}

async fn imap_login(s: &Server, user: &str, password: &str) -> String {
    let (mut c, _) = Imap::connect(s).await;
    let r = c.cmd(&format!("LOGIN {user} {password}")).await;
    r.last().unwrap().clone()
}

async fn pop3_login(s: &Server, user: &str, password: &str) -> String {
    let (mut p, _) = Pop::connect(s).await;
    let r = p.login(user, password).await;
    p.cmd("QUIT").await;
    r
}

async fn smtp_login(s: &Server, user: &str, password: &str) -> String {
    let (mut c, _) = Conn::tls(s.listener("submissions"), &s.ca()).await;
    c.cmd("EHLO client.test").await;
    c.cmd(&format!("AUTH PLAIN {}", plain(user, password)))
        .await
}

/// Whether `user` logs in over IMAP, POP3 and SMTP (all three, or none: anything else fails).
async fn logs_in(s: &Server, user: &str, password: &str) -> bool {
    let imap = imap_login(s, user, password).await;
    let pop3 = pop3_login(s, user, password).await;
    let smtp = smtp_login(s, user, password).await;
    let answers = [
        imap.contains(" OK "),
        pop3.starts_with("+OK"),
        smtp.starts_with("235 "),
    ];
    assert!(
        answers.iter().all(|a| *a == answers[0]),
        "{imap}{pop3}{smtp}"
    );
    answers[0]
}

/// The refusal of a wrong password on each protocol.
async fn refused_as_invalid(s: &Server, user: &str, password: &str) {
    let imap = imap_login(s, user, password).await;
    assert!(imap.contains("NO [AUTHENTICATIONFAILED]"), "{imap}");
    let pop3 = pop3_login(s, user, password).await;
    assert!(
        pop3.starts_with("-ERR [AUTH] Authentication failed"),
        "{pop3}"
    );
    let smtp = smtp_login(s, user, password).await;
    assert!(
        smtp.starts_with("535 5.7.8 Authentication credentials invalid"),
        "{smtp}"
    );
}

/// The refusal of an expired password on each protocol: the code, and where to change it.
async fn refused_as_expired(s: &Server, user: &str, password: &str) {
    let imap = imap_login(s, user, password).await;
    assert!(imap.contains("NO [EXPIRED] Password scaduta"), "{imap}");
    let pop3 = pop3_login(s, user, password).await;
    assert!(pop3.starts_with("-ERR [AUTH] Password scaduta"), "{pop3}");
    let smtp = smtp_login(s, user, password).await;
    assert!(smtp.starts_with("535 5.7.8 Password scaduta"), "{smtp}");
    for text in [imap, pop3, smtp] {
        assert!(text.contains(URL), "the self-service URL: {text}");
        assert!(!text.to_lowercase().contains("invalid"), "{text}");
        assert!(!text.contains("failed"), "{text}");
    }
}

fn auth_url() -> String {
    format!("\n[auth]\nself_service_url = \"{URL}\"\n")
}

/// Restarts `s` with its clock a year and a month ahead.
fn restart_a_year_later(s: &mut Server) {
    s.terminate();
    s.write_config(&ServerConfig::new().extra(&format!(
        "{}\n[pec]\nclock_offset_seconds = {A_YEAR_AND_A_MONTH}\n",
        auth_url()
    )));
    s.spawn();
}

#[test]
fn slaves_through_every_state_with_the_job_runner() {
    let s = server().users(&[MARIO]).start();
    let added = add(&s, "Anna", &["--description", "Segreteria"]);
    let userid = added["userid"].as_str().unwrap().to_string();
    assert_eq!(userid, "mario.01", "the local part and a sequence: {added}");
    assert_eq!(added["state"], "in attivazione");
    let report = jobs(&s);
    assert_eq!(report["done"][0]["job"], "slave.activate", "{report}");
    assert_eq!(report["done"][0]["target"], userid.as_str());
    assert_eq!(state_of(&s, &userid), "attiva");
    assert_eq!(
        jobs(&s)["done"],
        serde_json::json!([]),
        "nothing left to do"
    );
    let d = json_exit(&s, &["slave", "deactivate", &userid], "", 0);
    assert_eq!(d["state"], "in disattivazione");
    jobs(&s);
    assert_eq!(state_of(&s, &userid), "disattivata");
    let a = json_exit(&s, &["slave", "activate", &userid], "", 0);
    assert_eq!(a["state"], "in attivazione");
    jobs(&s);
    let listed = list(&s);
    assert_eq!(listed.len(), 1);
    let l = &listed[0];
    assert_eq!(
        (
            &l["userid"],
            &l["state"],
            &l["first_name"],
            &l["last_name"],
            &l["description"]
        ),
        (
            &serde_json::json!(userid),
            &serde_json::json!("attiva"),
            &serde_json::json!("Anna"),
            &serde_json::json!("Bianchi"),
            &serde_json::json!("Segreteria")
        )
    );
    // The second slave's description defaults to the mailbox (no casella: its address).
    assert_eq!(add(&s, "Bruno", &[])["description"], MARIO);
    let audit = json_exit(&s, &["audit", "--target", &userid], "", 0);
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "slave.add",
            "slave.activate",
            "slave.deactivate",
            "slave.deactivate",
            "slave.activate",
            "slave.activate"
        ]
    );
    let human_list = human(&s, &["slave", "list", MARIO], "");
    assert!(
        human_list.contains("mario.01\tattiva\tAnna Bianchi\tSegreteria"),
        "{human_list}"
    );
}

#[test]
fn the_26th_slave_is_refused_and_nothing_stored() {
    let s = server().users(&[MARIO]).start();
    for i in 0..25 {
        add(&s, &format!("Nome{i}"), &[]);
    }
    let doc = refused(
        &s,
        &[
            "slave",
            "add",
            MARIO,
            "--first-name",
            "Ventisei",
            "--last-name",
            "Bianchi",
            "--password-stdin",
        ],
        &format!("{SLAVE_PASSWORD}\n"),
        "conflict",
    );
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(message.contains("al massimo 25"), "{message}");
    let all = list(&s);
    assert_eq!(all.len(), 25, "nothing stored");
    assert!(all.iter().all(|v| v["first_name"] != "Ventisei"));
    // A deactivated slave makes room; activating it again while full is refused.
    jobs(&s);
    json_exit(&s, &["slave", "deactivate", "mario.01"], "", 0);
    jobs(&s);
    add(&s, "Ventisei", &[]);
    refused(&s, &["slave", "activate", "mario.01"], "", "conflict");
    assert_eq!(state_of(&s, "mario.01"), "disattivata");
}

#[test]
fn no_operation_while_a_transition_is_pending() {
    let s = server().users(&[MARIO]).start();
    let userid = add_userid(&s, "Anna");
    for args in [
        vec!["slave", "deactivate", &userid],
        vec!["slave", "activate", &userid],
    ] {
        let doc = refused(&s, &args, "", "conflict");
        let message = doc["error"]["message"].as_str().unwrap();
        assert!(message.contains("transizione"), "{message}");
    }
    refused(
        &s,
        &["slave", "passwd", &userid, "--password-stdin"],
        &format!("{NEW_PASSWORD}\n"),
        "conflict",
    );
    assert_eq!(state_of(&s, &userid), "in attivazione", "unchanged");
    jobs(&s);
    json_exit(&s, &["slave", "deactivate", &userid], "", 0);
    refused(&s, &["slave", "activate", &userid], "", "conflict");
    refused(&s, &["slave", "deactivate", &userid], "", "conflict");
    assert_eq!(state_of(&s, &userid), "in disattivazione");
    // Bad input is refused too, with nothing changed.
    refused(&s, &["slave", "activate", "nessuno.01"], "", "not_found");
    let weak = refused(
        &s,
        &[
            "slave",
            "add",
            MARIO,
            "--first-name",
            "X",
            "--last-name",
            "Y",
            "--password-stdin",
        ],
        "debole\n",
        "invalid_value",
    );
    assert!(
        !weak["error"]["details"].as_array().unwrap().is_empty(),
        "{weak}"
    );
    refused(
        &s,
        &[
            "slave",
            "add",
            "nessuno@pec.localhost",
            "--first-name",
            "X",
            "--last-name",
            "Y",
            "--password-stdin",
        ],
        &format!("{SLAVE_PASSWORD}\n"),
        "not_found",
    );
    assert_eq!(list(&s).len(), 1);
}

#[test]
fn only_administrators_add_slaves_to_a_mailbox_without_contract() {
    let s = server().users(&[MARIO]).start();
    human(&s, &["customer", "create", "C111", "--name", "Rossi"], "");
    human(
        &s,
        &[
            "operator",
            "create",
            "op1",
            "--profile",
            "cliente",
            "--surname",
            "Verdi",
            "--first-name",
            "Ada",
            "--customer",
            "C111",
            "--password-stdin",
        ],
        &format!("{SLAVE_PASSWORD}\n"),
    );
    refused(
        &s,
        &[
            "--as",
            "op1",
            "slave",
            "add",
            MARIO,
            "--first-name",
            "X",
            "--last-name",
            "Y",
            "--password-stdin",
        ],
        &format!("{SLAVE_PASSWORD}\n"),
        "forbidden",
    );
    assert!(list(&s).is_empty());
}

#[tokio::test]
async fn slave_cannot_log_in_while_in_attivazione_or_disattivata() {
    let s = server().users(&[MARIO]).start();
    let userid = add_userid(&s, "Anna");
    refused_as_invalid(&s, &userid, SLAVE_PASSWORD).await;
    jobs(&s);
    assert!(logs_in(&s, &userid, SLAVE_PASSWORD).await);
    json_exit(&s, &["slave", "deactivate", &userid], "", 0);
    assert!(
        logs_in(&s, &userid, SLAVE_PASSWORD).await,
        "in disattivazione still logs in"
    );
    jobs(&s);
    refused_as_invalid(&s, &userid, SLAVE_PASSWORD).await;
    assert!(
        logs_in(&s, MARIO, PASSWORD).await,
        "the master is untouched"
    );
}

#[tokio::test]
async fn a_slave_reads_the_master_inbox_over_imap_and_pop3() {
    let s = server().users(&[MARIO]).start();
    let userid = active_slave(&s);
    let mut master = Imap::login(&s, MARIO).await;
    let message = "From: <luigi@pec.localhost>\r\nSubject: per la segreteria\r\n\r\nciao\r\n";
    let appended = master.append("INBOX", "", message.as_bytes()).await;
    assert!(appended.last().unwrap().contains(" OK "), "{appended:?}");
    let (mut c, _) = Imap::connect(&s).await;
    c.ok(&format!("LOGIN {userid} {SLAVE_PASSWORD}")).await;
    let select = c.ok("SELECT INBOX").await;
    assert!(
        select.iter().any(|l| l.contains("* 1 EXISTS")),
        "{select:?}"
    );
    let fetched = c.ok("FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]").await;
    assert!(
        fetched.iter().any(|l| l.contains("per la segreteria")),
        "{fetched:?}"
    );
    c.ok("LOGOUT").await;
    let (mut p, _) = Pop::connect(&s).await;
    assert!(p
        .login(&userid, SLAVE_PASSWORD)
        .await
        .starts_with("+OK Logged in, 1 messages"));
    assert!(p.cmd("RETR 1").await.starts_with("+OK"));
    let body = String::from_utf8(p.body().await).unwrap();
    assert!(body.contains("Subject: per la segreteria"), "{body}");
    p.cmd("QUIT").await;
}

#[tokio::test]
async fn a_slave_sends_over_smtp_as_the_mailbox_address() {
    let s = server().users(&[MARIO, LUIGI]).start();
    let userid = active_slave(&s);
    let (mut c, _) = Conn::tls(s.listener("submissions"), &s.ca()).await;
    c.login(&userid, SLAVE_PASSWORD).await;
    let other = c.cmd(&format!("MAIL FROM:<{LUIGI}>")).await;
    assert!(
        other.starts_with("553 5.7.1"),
        "only the mailbox's address: {other}"
    );
    let message = format!(
        "From: <{MARIO}>\r\nTo: <{LUIGI}>\r\nSubject: Prova slave\r\nMessage-ID: <slave-1@client.test>\r\n\r\nbody\r\n"
    );
    let r = c.send_message(MARIO, &[LUIGI], &message).await;
    assert!(r.starts_with("250 "), "{r}");
    // The acceptance receipt goes to the mailbox.
    let mut master = Imap::login(&s, MARIO).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        master.ok("SELECT INBOX").await;
        let headers = master
            .ok("FETCH 1:* BODY.PEEK[HEADER.FIELDS (SUBJECT)]")
            .await;
        if headers
            .iter()
            .any(|l| l.contains("ACCETTAZIONE: Prova slave"))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no acceptance receipt: {headers:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_12_month_old_password_is_refused_over_imap_pop3_and_smtp_with_the_expiry_text_then_changed_and_accepted(
) {
    let mut s = server().users(&[MARIO]).extra(&auth_url()).start();
    assert!(logs_in(&s, MARIO, PASSWORD).await);
    restart_a_year_later(&mut s);
    refused_as_expired(&s, MARIO, PASSWORD).await;
    refused_as_invalid(&s, MARIO, "Sbagliata-9!").await;
    human(
        &s,
        &["mailbox", "passwd", MARIO, "--password-stdin"],
        &format!("{NEW_PASSWORD}\n"),
    );
    assert!(logs_in(&s, MARIO, NEW_PASSWORD).await);
}

#[tokio::test]
async fn master_and_slave_expire_independently() {
    let mut s = server().users(&[MARIO]).extra(&auth_url()).start();
    let userid = active_slave(&s);
    // A first password set by the system (--must-change) is expired; the master's is not.
    let fresh = add(&s, "Bruno", &["--must-change"]);
    let fresh_id = fresh["userid"].as_str().unwrap();
    assert_eq!(fresh["password_expired"], true);
    jobs(&s);
    refused_as_expired(&s, fresh_id, SLAVE_PASSWORD).await;
    assert!(logs_in(&s, MARIO, PASSWORD).await);
    assert!(logs_in(&s, &userid, SLAVE_PASSWORD).await);
    // A year later both are expired; each changes on its own.
    restart_a_year_later(&mut s);
    refused_as_expired(&s, MARIO, PASSWORD).await;
    refused_as_expired(&s, &userid, SLAVE_PASSWORD).await;
    human(
        &s,
        &["slave", "passwd", &userid, "--password-stdin"],
        &format!("{NEW_PASSWORD}\n"),
    );
    assert!(logs_in(&s, &userid, NEW_PASSWORD).await);
    refused_as_expired(&s, MARIO, PASSWORD).await;
    human(
        &s,
        &["mailbox", "passwd", MARIO, "--password-stdin"],
        &format!("{NEW_PASSWORD}\n"),
    );
    assert!(logs_in(&s, MARIO, NEW_PASSWORD).await);
}

#[tokio::test]
async fn last_access_is_recorded_per_user_id_and_kept() {
    let mut s = server().users(&[MARIO]).start();
    let userid = active_slave(&s);
    let other = add_userid(&s, "Bruno");
    jobs(&s);
    let before = chrono::Utc::now().timestamp();
    assert_eq!(list(&s)[0]["last_access"], serde_json::Value::Null);
    assert!(imap_login(&s, &userid, SLAVE_PASSWORD)
        .await
        .contains(" OK "));
    let seen = |s: &Server, id: &str| {
        list(s).iter().find(|v| v["userid"] == id).unwrap()["last_access"].as_i64()
    };
    let at = seen(&s, &userid).expect("noted at once");
    assert!(at >= before && at <= chrono::Utc::now().timestamp(), "{at}");
    assert_eq!(seen(&s, &other), None, "another user id's is its own");
    jobs(&s);
    s.terminate();
    s.spawn();
    assert_eq!(seen(&s, &userid), Some(at), "written by the job runner");
}

/// Regression (review of the archive, S1): a slave followed only the mailbox's address, so
/// after a rename it was locked out, and after the old address was given to a new holder it
/// opened the new holder's mailbox. Slaves now follow a rename and go with a deletion.
#[tokio::test]
async fn slaves_follow_a_renamed_mailbox_and_go_with_a_deleted_one() {
    let s = server().users(&[MARIO]).start();
    let userid = active_slave(&s);
    let renamed = "mario.rossi@pec.localhost";
    json_exit(
        &s,
        &["mailbox", "change", MARIO, "--new-address", renamed],
        "",
        0,
    );
    assert!(
        logs_in(&s, &userid, SLAVE_PASSWORD).await,
        "the slave follows the rename"
    );
    let listed = json_exit(&s, &["slave", "list", renamed], "", 0);
    assert_eq!(listed[0]["userid"], userid.as_str());
    // The old address made again belongs to someone else: the slave does not open it.
    s.create_mailbox(MARIO);
    let (mut c, _) = Imap::connect(&s).await;
    c.ok(&format!("LOGIN {userid} {SLAVE_PASSWORD}")).await;
    let status = c.ok("STATUS INBOX (MESSAGES)").await;
    assert!(
        status.iter().any(|l| l.contains("MESSAGES 0")),
        "{status:?}"
    );
    c.ok("LOGOUT").await;
    json_exit(&s, &["mailbox", "delete", renamed], "", 0);
    refused_as_invalid(&s, &userid, SLAVE_PASSWORD).await;
    let doc = json_exit(&s, &["slave", "list", MARIO], "", 0);
    assert_eq!(
        doc,
        serde_json::json!([]),
        "the new holder inherits no slave"
    );
}
