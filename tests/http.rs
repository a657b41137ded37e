//! The HTTPS interface against the real pecd with a real HTTP client (reqwest over rustls):
//! operator login and sessions, each profile's scope, bad input refused with a JSON 4xx and
//! nothing changed, security headers, client autoconfig read by its consumers, metrics.

mod support;

#[path = "http/autoconfig.rs"]
mod autoconfig;
#[path = "http/holders.rs"]
mod holders;
#[path = "http/lifecycle.rs"]
mod lifecycle;
#[path = "http/metrics.rs"]
mod metrics;
#[path = "http/openapi.rs"]
mod openapi;

use reqwest::Method;
use support::cli::*;
use support::https::Https;
use support::*;

const PASSWORD: &str = "Str0ng!Passw0rd";

/// An amministratore `adm`, customers C1 (account A1) and C2 (account B1), and an
/// intermediario `int1` of A1.
fn setup(s: &Server) {
    let op = |userid: &str, extra: &[&str]| {
        let mut args = vec![
            "operator",
            "create",
            userid,
            "--surname",
            "Bianchi",
            "--first-name",
            "Anna",
            "--password-stdin",
        ];
        args.extend_from_slice(extra);
        human(s, &args, &format!("{PASSWORD}\n"));
    };
    human(s, &["customer", "create", "C1", "--name", "Uno"], "");
    human(s, &["customer", "create", "C2", "--name", "Due"], "");
    for (code, customer) in [("A1", "C1"), ("B1", "C2")] {
        human(
            s,
            &[
                "account",
                "create",
                code,
                "--customer",
                customer,
                "--description",
                "d",
                "--userid-prefix",
                "p",
            ],
            "",
        );
    }
    op("adm", &["--profile", "amministratore"]);
    op(
        "int1",
        &[
            "--profile",
            "intermediario",
            "--customer",
            "C1",
            "--account",
            "A1",
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_logs_in_and_works_within_its_scope() {
    let s = server().start();
    setup(&s);
    let h = Https::new(&s);
    let adm = h.login("adm", PASSWORD).await;
    let int1 = h.login("int1", PASSWORD).await;
    let (st, me) = h.call(Method::GET, "/api/v1/whoami", &int1, None).await;
    assert_eq!((st, me["profile"].as_str()), (200, Some("intermediario")));
    let (st, accounts) = h.call(Method::GET, "/api/v1/accounts", &int1, None).await;
    assert_eq!(st, 200);
    assert_eq!(accounts.as_array().unwrap().len(), 1, "{accounts}");
    let (st, all) = h.call(Method::GET, "/api/v1/accounts", &adm, None).await;
    assert_eq!((st, all.as_array().unwrap().len()), (200, 2));
    // Out of scope: 403 with the Italian message, and nothing stored.
    let body =
        serde_json::json!({"name": "x.pec.localhost", "family": "ordinary", "account": "B1"});
    let (st, err) = h
        .call(Method::POST, "/api/v1/domains", &int1, Some(body))
        .await;
    assert_eq!(
        (st, err["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{err}"
    );
    let (st, err) = h
        .call(
            Method::POST,
            "/api/v1/customers",
            &int1,
            Some(serde_json::json!({"code": "C9", "name": "n"})),
        )
        .await;
    assert_eq!(st, 403, "{err}");
    let (_, domains) = h.call(Method::GET, "/api/v1/domains", &adm, None).await;
    assert!(domains
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["name"] != "x.pec.localhost"));
    let (_, customers) = h.call(Method::GET, "/api/v1/customers", &adm, None).await;
    assert_eq!(customers.as_array().unwrap().len(), 2);
    // What the API does is in the audit log under the operator's user id.
    let body = serde_json::json!({"name": "uno.pec.localhost", "family": "ordinary"});
    let (st, d) = h
        .call(Method::POST, "/api/v1/domains", &int1, Some(body))
        .await;
    assert_eq!((st, d["state"].as_str()), (200, Some("requested")), "{d}");
    let (st, d) = h
        .call(
            Method::POST,
            "/api/v1/domains/uno.pec.localhost/enable",
            &adm,
            None,
        )
        .await;
    assert_eq!((st, d["state"].as_str()), (200, Some("enabled")), "{d}");
    let audit = json_exit(&s, &["audit", "--target", "uno.pec.localhost"], "", 0);
    let who: Vec<_> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["operator"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(who, ["int1", "adm"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_logins_tokens_and_bodies_get_a_json_4xx_and_change_nothing() {
    let s = server().start();
    setup(&s);
    let h = Https::new(&s);
    let r = h
        .client
        .post(h.url("/api/v1/login"))
        .json(&serde_json::json!({"userid": "adm", "password": "wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let doc: serde_json::Value = r.json().await.unwrap();
    assert_eq!(doc["error"]["message"], "Credenziali non valide");
    let (st, _) = h
        .call(Method::GET, "/api/v1/whoami", "forged-token", None)
        .await;
    assert_eq!(st, 401);
    let adm = h.login("adm", PASSWORD).await;
    for (body, want) in [
        ("{not json", 400),
        (r#"{"code": "C3", "name": "x", "extra": 1}"#, 422),
        (r#"{"code": 7, "name": "x"}"#, 422),
    ] {
        let r = h
            .client
            .post(h.url("/api/v1/customers"))
            .bearer_auth(&adm)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), want, "{body}");
        let doc: serde_json::Value = r.json().await.unwrap();
        assert!(doc["error"]["code"].is_string(), "{doc}");
    }
    let huge = format!(r#"{{"code": "C4", "name": "{}"}}"#, "x".repeat(30 << 20));
    let r = h
        .client
        .post(h.url("/api/v1/customers"))
        .bearer_auth(&adm)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await;
    if let Ok(r) = r {
        assert_eq!(r.status(), 413);
    }
    let (_, customers) = h.call(Method::GET, "/api/v1/customers", &adm, None).await;
    assert_eq!(
        customers.as_array().unwrap().len(),
        2,
        "nothing was created"
    );
    let (st, _) = h.call(Method::POST, "/api/v1/logout", &adm, None).await;
    assert_eq!(st, 200);
    let (st, _) = h.call(Method::GET, "/api/v1/whoami", &adm, None).await;
    assert_eq!(st, 401, "a logged-out token is dead");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cookie_session_needs_the_csrf_token_to_change_anything() {
    let s = server().start();
    setup(&s);
    let h = Https::new(&s);
    let r = h
        .client
        .post(h.url("/api/v1/login"))
        .json(&serde_json::json!({"userid": "adm", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("Secure")
            && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_string();
    let doc: serde_json::Value = r.json().await.unwrap();
    let csrf = doc["csrf_token"].as_str().unwrap();
    let get = h
        .client
        .get(h.url("/api/v1/whoami"))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200, "reading needs no CSRF token");
    let body = serde_json::json!({"code": "C5", "name": "n"});
    let post = h
        .client
        .post(h.url("/api/v1/customers"))
        .header("cookie", &pair)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 403);
    let doc: serde_json::Value = post.json().await.unwrap();
    assert_eq!(doc["error"]["code"], "csrf");
    let post = h
        .client
        .post(h.url("/api/v1/customers"))
        .header("cookie", &pair)
        .header("x-csrf-token", csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn api_answers_carry_the_security_headers() {
    let s = server().start();
    let h = Https::new(&s);
    let r = h.client.get(h.url("/api/v1/whoami")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let hd = r.headers();
    assert!(hd["strict-transport-security"]
        .to_str()
        .unwrap()
        .contains("max-age="));
    assert_eq!(hd["cache-control"], "no-store");
    assert!(hd["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert_eq!(hd["x-content-type-options"], "nosniff");
    let r = h
        .client
        .get(h.url("/api/v1/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let doc: serde_json::Value = r.json().await.unwrap();
    assert_eq!(doc["error"]["code"], "not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_intermediario_cannot_read_or_revoke_another_accounts_mailbox() {
    let s = server().start();
    setup(&s);
    s.create_mailbox("altrui@pec.localhost");
    json_exit(
        &s,
        &[
            "mailbox",
            "assign",
            "altrui@pec.localhost",
            "--customer",
            "C2",
            "--account",
            "B1",
        ],
        "",
        0,
    );
    let h = Https::new(&s);
    let int1 = h.login("int1", PASSWORD).await;
    let (st, err) = h
        .call(
            Method::GET,
            "/api/v1/mailboxes/altrui@pec.localhost",
            &int1,
            None,
        )
        .await;
    assert_eq!(
        (st, err["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{err}"
    );
    let body = serde_json::json!({"addresses": ["altrui@pec.localhost"], "reason": "non-payment"});
    let (st, _) = h
        .call(
            Method::POST,
            "/api/v1/mailboxes/revoke",
            &int1,
            Some(body.clone()),
        )
        .await;
    assert_eq!(st, 403);
    let (st, found) = h
        .call(Method::GET, "/api/v1/mailboxes?address=altrui", &int1, None)
        .await;
    assert_eq!(
        (st, found["rows"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{found}"
    );
    let shown = s.json(&["mailbox", "show", "altrui@pec.localhost"]);
    assert_eq!(
        shown["archive"]["state"], "evasa",
        "nothing changed: {shown}"
    );
    // The administrator's API revokes it; the job runner applies it.
    let adm = h.login("adm", PASSWORD).await;
    let (st, outcomes) = h
        .call(Method::POST, "/api/v1/mailboxes/revoke", &adm, Some(body))
        .await;
    assert_eq!(st, 200, "{outcomes}");
    assert_eq!(outcomes[0]["outcome"], "Esito positivo", "{outcomes}");
    let (st, _) = h.call(Method::POST, "/api/v1/jobs/run", &adm, None).await;
    assert_eq!(st, 200);
    let (_, detail) = h
        .call(
            Method::GET,
            "/api/v1/mailboxes/altrui@pec.localhost",
            &adm,
            None,
        )
        .await;
    assert_eq!(detail["state"], "revocata", "{detail}");
    let r = h
        .client
        .get(h.url("/api/v1/mailboxes.csv?address=altrui"))
        .bearer_auth(&adm)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let csv = r.text().await.unwrap();
    assert!(
        csv.starts_with("address;userid;state;type;activated;customer;account;expiry\r\n"),
        "{csv}"
    );
    assert!(csv.contains("altrui@pec.localhost;"), "{csv}");
}
