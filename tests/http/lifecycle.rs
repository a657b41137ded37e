//! The lifecycle over HTTPS: an operator's expiry settings and campaign CSV in scope, a
//! holder's own notification settings, and a forgotten password reset with a one-time code
//! sent to the recovery e-mail (read from that mailbox) and to the recovery mobile (read
//! from the SMS spool).

use reqwest::Method;

use super::support::cli::*;
use super::support::https::Https;
use super::support::imap::Imap;
use super::support::*;

const MARIO: &str = "mario@pec.localhost";
const RECOVERY: &str = "recupero@pec.localhost";
const NEW: &str = "Nuova!Passw0rd7";

async fn imap_login(s: &Server, user: &str, password: &str) -> String {
    let (mut c, _) = Imap::connect(s).await;
    let r = c.cmd(&format!("LOGIN {user} \"{password}\"")).await;
    r.last().unwrap().clone()
}

async fn post(h: &Https, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let r = h.client.post(h.url(path)).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

async fn holder_token(h: &Https, login: &str, password: &str) -> String {
    let (st, doc) = post(
        h,
        "/api/v1/me/login",
        serde_json::json!({"login": login, "password": password}),
    )
    .await;
    assert_eq!(st, 200, "{doc}");
    doc["token"].as_str().unwrap().to_string()
}

/// The 8-digit code in the text of the newest recovery notice of `mailbox`.
fn code_in(messages: &[Vec<u8>]) -> Option<String> {
    let m = messages
        .iter()
        .rev()
        .find(|m| String::from_utf8_lossy(m).contains("X-Pecd-Notice: password.recovery"))?;
    let parsed = mail_parser::MessageParser::default().parse(m).unwrap();
    let text = parsed.body_text(0).unwrap().to_string();
    let at = text.find("Codice: ")? + "Codice: ".len();
    Some(text[at..at + 8].to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forgotten_password_is_reset_with_the_code_sent_to_the_recovery_contacts() {
    let mut s = server().users(&[MARIO, RECOVERY]).start();
    let spool = s.dir.path().join("sms");
    s.terminate();
    s.write_config(
        &ServerConfig::new().extra(&format!("\n[sms]\nspool = \"{}\"\n", spool.display())),
    );
    s.spawn();
    let h = Https::new(&s);
    let token = holder_token(&h, MARIO, PASSWORD).await;
    let info = serde_json::json!({"recovery_email": RECOVERY, "recovery_mobile": "+393331234567"});
    let (st, _) = h
        .call(Method::PUT, "/api/v1/me/security", &token, Some(info))
        .await;
    assert_eq!(st, 200);

    // The same answer for a login that does not exist: nothing to learn from it.
    let (st, nobody) = post(
        &h,
        "/api/v1/me/recovery",
        serde_json::json!({"login": "nessuno@pec.localhost"}),
    )
    .await;
    let (st2, doc) = post(
        &h,
        "/api/v1/me/recovery",
        serde_json::json!({"login": MARIO}),
    )
    .await;
    assert_eq!((st, st2), (202, 202));
    assert_eq!(nobody, doc);

    let code =
        code_in(&super::support::pec::imap(&s, RECOVERY, "INBOX")).expect("a code by e-mail");
    let sms: Vec<serde_json::Value> = std::fs::read_dir(&spool)
        .unwrap()
        .map(|e| serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap())
        .collect();
    assert_eq!(sms.len(), 1);
    assert_eq!(sms[0]["to"], "+393331234567");
    assert!(sms[0]["text"].as_str().unwrap().contains(&code), "{sms:?}");

    // A wrong code, and a new password against the policy, are refused; the password stays.
    let wrong = if code == "00000000" {
        "11111111"
    } else {
        "00000000"
    };
    let confirm = |code: &str, pw: &str| serde_json::json!({"login": MARIO, "code": code, "new_password": pw});
    let (st, e) = post(&h, "/api/v1/me/recovery/confirm", confirm(wrong, NEW)).await;
    assert_eq!(
        (st, e["error"]["message"].as_str()),
        (422, Some("Codice non valido o scaduto")),
        "{e}"
    );
    let (st, e) = post(&h, "/api/v1/me/recovery/confirm", confirm(&code, "corta")).await;
    assert_eq!(st, 422, "{e}");
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Password non valida"));
    assert!(imap_login(&s, MARIO, PASSWORD).await.contains("OK"));

    // The right code sets the new password, once.
    let (st, ok) = post(&h, "/api/v1/me/recovery/confirm", confirm(&code, NEW)).await;
    assert_eq!(st, 200, "{ok}");
    assert!(imap_login(&s, MARIO, NEW).await.contains("OK"));
    assert!(!imap_login(&s, MARIO, PASSWORD).await.contains("OK"));
    let (st, _) = post(
        &h,
        "/api/v1/me/recovery/confirm",
        confirm(&code, "Altra!Passw0rd9"),
    )
    .await;
    assert_eq!(st, 422, "a code works once");
}

#[tokio::test(flavor = "multi_thread")]
async fn operators_set_expiry_and_read_the_campaign_holders_set_their_notifications() {
    let s = server().users(&[MARIO]).start();
    human(&s, &["customer", "create", "C1", "--name", "Rossi"], "");
    human(
        &s,
        &[
            "account",
            "create",
            "A1",
            "--customer",
            "C1",
            "--description",
            "Nord",
            "--userid-prefix",
            "aa",
        ],
        "",
    );
    human(
        &s,
        &[
            "operator",
            "create",
            "int1",
            "--profile",
            "intermediario",
            "--surname",
            "Verdi",
            "--first-name",
            "Ugo",
            "--customer",
            "C1",
            "--account",
            "A1",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    json_exit(
        &s,
        &[
            "mailbox",
            "assign",
            MARIO,
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
    let h = Https::new(&s);
    let op = h.login("int1", PASSWORD).await;
    let body = serde_json::json!({"enabled": true, "report": "a@example.com", "auto_revoke": true});
    let (st, c) = h
        .call(Method::PUT, "/api/v1/expiry/C1/A1", &op, Some(body.clone()))
        .await;
    assert_eq!(st, 200, "{c}");
    assert_eq!(c["auto_revoke"], true);
    // Another customer's account, and its mailbox, are out of the intermediario's scope.
    human(&s, &["customer", "create", "C2", "--name", "Bianchi"], "");
    human(
        &s,
        &[
            "account",
            "create",
            "B1",
            "--customer",
            "C2",
            "--description",
            "Sud",
            "--userid-prefix",
            "bb",
        ],
        "",
    );
    let (st, e) = h
        .call(Method::PUT, "/api/v1/expiry/C2/B1", &op, Some(body))
        .await;
    assert_eq!(
        (st, e["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{e}"
    );
    assert_eq!(
        s.json(&["expiry", "list"]).as_array().unwrap().len(),
        1,
        "nothing stored"
    );
    let (st, list) = h.call(Method::GET, "/api/v1/expiry", &op, None).await;
    assert_eq!((st, list.as_array().unwrap().len()), (200, 1));
    let csv = h
        .client
        .get(h.url("/api/v1/password/campaign?format=csv"))
        .bearer_auth(&op)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status().as_u16(), 200);
    assert!(csv.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(csv
        .text()
        .await
        .unwrap()
        .starts_with("DATA_ORA_LISTA;USER;CASELLA;"));

    let holder = holder_token(&h, MARIO, PASSWORD).await;
    let set = serde_json::json!({"notify": ["avvisi@example.com"], "sms": true, "sms_phone": "+393331234567", "sms_hour": 8});
    let (st, mine) = h
        .call(Method::PUT, "/api/v1/me/settings", &holder, Some(set))
        .await;
    assert_eq!(st, 200, "{mine}");
    let (st, seen) = h
        .call(
            Method::GET,
            &format!("/api/v1/mailboxes/{MARIO}/settings"),
            &op,
            None,
        )
        .await;
    assert_eq!(
        (st, &seen["notify"]),
        (200, &serde_json::json!(["avvisi@example.com"]))
    );
    assert_eq!(seen["sms_hour"], 8);
    let six: Vec<String> = (0..6).map(|i| format!("n{i}@example.com")).collect();
    let (st, _) = h
        .call(
            Method::PUT,
            "/api/v1/me/settings",
            &holder,
            Some(serde_json::json!({"notify": six})),
        )
        .await;
    assert_eq!(st, 422);
    let (_, after) = h
        .call(Method::GET, "/api/v1/me/settings", &holder, None)
        .await;
    assert_eq!(
        after["notify"],
        serde_json::json!(["avvisi@example.com"]),
        "unchanged"
    );
}
