//! The holders' API: a holder whose password expired is refused over IMAP with the expiry
//! text, logs in to the API with that password, may do nothing but set a new one, and then
//! logs in over IMAP with it.

use reqwest::Method;

use super::support::https::Https;
use super::support::imap::Imap;
use super::support::*;

const MARIO: &str = "mario@pec.localhost";
const NEW: &str = "Nuova!Passw0rd7";

async fn imap_login(s: &Server, user: &str, password: &str) -> String {
    let (mut c, _) = Imap::connect(s).await;
    let r = c.cmd(&format!("LOGIN {user} \"{password}\"")).await;
    r.last().unwrap().clone()
}

async fn holder_login(h: &Https, login: &str, password: &str) -> (u16, serde_json::Value) {
    let r = h
        .client
        .post(h.url("/api/v1/me/login"))
        .json(&serde_json::json!({"login": login, "password": password}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_password_is_changed_over_the_api_and_then_accepted_by_imap() {
    let s = server().users(&[MARIO]).start();
    let out = s.pecctl(
        &[
            "mailbox",
            "passwd",
            MARIO,
            "--password-stdin",
            "--must-change",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(out.status.success(), "{}", text(&out));
    let refused = imap_login(&s, MARIO, PASSWORD).await;
    assert!(
        refused.contains("NO [EXPIRED]") && refused.contains("/account/"),
        "{refused}"
    );
    let h = Https::new(&s);
    let (st, wrong) = holder_login(&h, MARIO, "Wrong!Passw0rd1").await;
    assert_eq!(
        (st, wrong["error"]["message"].as_str()),
        (401, Some("Credenziali non valide"))
    );
    let (st, doc) = holder_login(&h, MARIO, PASSWORD).await;
    assert_eq!(st, 200, "{doc}");
    assert_eq!(doc["holder"]["password_expired"], true);
    assert!(doc["message"]
        .as_str()
        .unwrap()
        .contains("Password scaduta"));
    let token = doc["token"].as_str().unwrap().to_string();
    // An expired session may read itself and set a password, nothing else.
    let (st, me) = h.call(Method::GET, "/api/v1/me", &token, None).await;
    assert_eq!((st, me["mailbox"].as_str()), (200, Some(MARIO)));
    let info = serde_json::json!({"recovery_email": "mario@example.com"});
    let (st, err) = h
        .call(
            Method::PUT,
            "/api/v1/me/security",
            &token,
            Some(info.clone()),
        )
        .await;
    assert_eq!(
        (st, err["error"]["code"].as_str()),
        (403, Some("password_expired"))
    );
    let (st, err) = h.call(Method::GET, "/api/v1/whoami", &token, None).await;
    assert_eq!(st, 403, "a holder's session is not an operator's: {err}");
    // A new password must meet the policy, every unmet rule listed, and nothing changes.
    let weak = serde_json::json!({"current_password": PASSWORD, "new_password": "short"});
    let (st, err) = h
        .call(Method::PUT, "/api/v1/me/password", &token, Some(weak))
        .await;
    assert_eq!(
        (st, err["error"]["message"].as_str()),
        (422, Some("Password non valida"))
    );
    assert!(
        err["error"]["details"].as_array().unwrap().len() >= 3,
        "{err}"
    );
    let bad_current =
        serde_json::json!({"current_password": "Wrong!Passw0rd1", "new_password": NEW});
    let (st, _) = h
        .call(
            Method::PUT,
            "/api/v1/me/password",
            &token,
            Some(bad_current),
        )
        .await;
    assert_eq!(st, 403);
    assert!(
        imap_login(&s, MARIO, PASSWORD)
            .await
            .contains("NO [EXPIRED]"),
        "still expired"
    );
    let good = serde_json::json!({"current_password": PASSWORD, "new_password": NEW});
    let (st, me) = h
        .call(Method::PUT, "/api/v1/me/password", &token, Some(good))
        .await;
    assert_eq!(
        (st, me["password_expired"].as_bool()),
        (200, Some(false)),
        "{me}"
    );
    let ok = imap_login(&s, MARIO, NEW).await;
    assert!(ok.contains(" OK "), "{ok}");
    assert!(imap_login(&s, MARIO, PASSWORD)
        .await
        .contains("NO [AUTHENTICATIONFAILED]"));
    // The session may now do the rest.
    let (st, me) = h
        .call(Method::PUT, "/api/v1/me/security", &token, Some(info))
        .await;
    assert_eq!(
        (st, me["recovery_email"].as_str()),
        (200, Some("mario@example.com")),
        "{me}"
    );
    let audit = super::support::cli::json_exit(&s, &["audit", "--target", MARIO], "", 0);
    let actions: Vec<_> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["operator"].as_str().unwrap().to_string(),
                e["action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        actions.contains(&(format!("holder:{MARIO}"), "holder.password".into())),
        "{actions:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_session_cannot_use_the_holders_api() {
    let s = server().users(&[MARIO]).start();
    let out = s.pecctl(
        &[
            "operator",
            "create",
            "adm",
            "--profile",
            "amministratore",
            "--surname",
            "A",
            "--first-name",
            "B",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(out.status.success());
    let h = Https::new(&s);
    let token = h.login("adm", PASSWORD).await;
    let (st, _) = h.call(Method::GET, "/api/v1/me", &token, None).await;
    assert_eq!(st, 403);
    let (st, _) = holder_login(&h, "adm", PASSWORD).await;
    assert_eq!(st, 401, "an operator's user id is not a mailbox login");
}

/// Regression (review of the HTTPS interface, S4): a holder's session outlived a password
/// reset by an operator, so a thief with a stolen password kept its session (and could change
/// the recovery e-mail). A session now holds only while the password it was opened with does.
#[tokio::test(flavor = "multi_thread")]
async fn a_holder_session_ends_when_an_operator_resets_the_password() {
    let s = server().users(&[MARIO]).start();
    let h = Https::new(&s);
    let (st, doc) = holder_login(&h, MARIO, PASSWORD).await;
    assert_eq!(st, 200, "{doc}");
    let token = doc["token"].as_str().unwrap().to_string();
    let (st, _) = h.call(Method::GET, "/api/v1/me", &token, None).await;
    assert_eq!(st, 200);
    let out = s.pecctl(
        &["mailbox", "passwd", MARIO, "--password-stdin"],
        &format!("{NEW}\n"),
    );
    assert!(out.status.success(), "{}", text(&out));
    let (st, _) = h.call(Method::GET, "/api/v1/me", &token, None).await;
    assert_eq!(st, 401, "the reset ended the session");
    let info = serde_json::json!({"recovery_email": "thief@example.com"});
    let (st, _) = h
        .call(Method::PUT, "/api/v1/me/security", &token, Some(info))
        .await;
    assert_eq!(st, 401);
}
