//! The OpenAPI document of the JSON API (`GET /api/v1/openapi.json`, no login): a valid
//! OpenAPI 3 document whose every operation is routed on the real server, and that the real
//! server keeps to: schemathesis (PyPI, installed by scripts/test.sh) fuzzes every operation
//! with an amministratore's token, and the holders' operations with a holder's, checking that
//! no answer is a 5xx and every status, content type and body is the documented one.

use std::process::Command;

use reqwest::Method;

use super::support::https::Https;
use super::support::*;

const MARIO: &str = "mario@pec.localhost";

/// What schemathesis checks on every answer.
const CHECKS: &str =
    "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance";

async fn document(h: &Https) -> serde_json::Value {
    let r = h
        .client
        .get(h.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "served without login");
    assert_eq!(r.headers()["content-type"], "application/json");
    r.json().await.unwrap()
}

/// Every (method, path) of the document, path parameters filled with `x`.
fn operations(doc: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let mut concrete = String::new();
        for (i, part) in path.split(['{', '}']).enumerate() {
            concrete.push_str(if i % 2 == 1 { "x" } else { part });
        }
        for method in item.as_object().unwrap().keys() {
            out.push((method.to_uppercase(), concrete.clone()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_is_valid_and_every_operation_in_it_is_routed() {
    let s = server().start();
    let h = Https::new(&s);
    let doc = document(&h).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    for scheme in ["bearer", "session_cookie", "csrf_token"] {
        assert!(doc["components"]["securitySchemes"][scheme].is_object());
    }
    let ops = operations(&doc);
    assert!(ops.len() > 50, "{ops:?}");
    for (method, path) in &ops {
        assert!(path.starts_with("/api/v1/"), "{path}");
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let r = h.client.request(m, h.url(path)).send().await.unwrap();
        let status = r.status().as_u16();
        let body: serde_json::Value = r.json().await.unwrap_or_default();
        assert_ne!(status, 405, "{method} {path}: documented, not routed");
        assert_ne!(
            body["error"]["message"], "no such resource",
            "{method} {path}: documented, not routed"
        );
        assert!(status < 500, "{method} {path}: {status} {body}");
    }
}

/// Real records for a part of the generated path parameters and bodies, so that the run
/// reaches past "not found" to the answers of real operations (the values of [`setup`]).
const DICTIONARIES: &str = r#"
[dictionaries.addresses]
values = ["altrui@pec.localhost", "mario@pec.localhost"]
[dictionaries.userids]
values = ["int1", "nessuno"]
[dictionaries.customers]
values = ["C1", "C2"]
[dictionaries.accounts]
values = ["A1", "B1"]
[dictionaries.domains]
values = ["uno.pec.localhost"]
[dictionaries.documents]
values = ["contratto.pdf"]

[parameters]
"path.address" = { dictionary = "addresses", probability = 0.5 }
"path.userid" = { dictionary = "userids", probability = 0.5 }
"path.customer" = { dictionary = "customers", probability = 0.5 }
"path.account" = { dictionary = "accounts", probability = 0.5 }
"path.name" = { dictionary = "domains", probability = 0.3 }
"body.addresses[*]" = { dictionary = "addresses", probability = 0.5 }
"body.customer" = { dictionary = "customers", probability = 0.5 }
"body.account" = { dictionary = "accounts", probability = 0.5 }
"query.customer" = { dictionary = "customers", probability = 0.5 }
"query.account" = { dictionary = "accounts", probability = 0.5 }
"query.address" = { dictionary = "addresses", probability = 0.5 }
"#;

/// Runs schemathesis against the server's document, with `token` as bearer, on the
/// operations `filter` selects; panics with its report on any failure.
fn schemathesis(s: &Server, h: &Https, token: &str, filter: &[&str]) {
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("schemathesis.toml"), DICTIONARIES).unwrap();
    let mut cmd = Command::new("schemathesis");
    cmd.current_dir(work.path())
        .env("NO_COLOR", "1")
        .arg("run")
        .arg(h.url("/api/v1/openapi.json"))
        .args(["--url", &h.base])
        .args(["--checks", CHECKS])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .arg("--tls-verify")
        .arg(s.ca())
        .args(["--max-examples", "25", "--seed", "18"])
        .args(["--request-timeout", "20"])
        .args(["--workers", "2", "--generation-database", "none"])
        .args(["--generation-with-security-parameters", "false"])
        .args(["--suppress-health-check", "all", "--no-color"])
        .args(filter);
    let out = match cmd.output() {
        Ok(out) => out,
        Err(e) => panic!("schemathesis not runnable ({e}): pip install schemathesis"),
    };
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("schemathesis {filter:?}:\n{report}");
    let log = s.log();
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .collect();
    assert!(
        out.status.success(),
        "schemathesis {filter:?}:\n{report}\nserver warnings:\n{}",
        warnings[warnings.len().saturating_sub(20)..].join("\n")
    );
    assert!(report.contains("passed"), "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_no_5xx_and_no_answer_off_the_document() {
    let s = server().users(&[MARIO]).start();
    super::setup(&s);
    s.create_mailbox("altrui@pec.localhost");
    let h = Https::new(&s);
    // Both sessions first: the fuzzed logins may have this address throttled afterwards.
    let adm = h.login("adm", super::PASSWORD).await;
    let r = h
        .client
        .post(h.url("/api/v1/me/login"))
        .json(&serde_json::json!({"login": MARIO, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let holder: serde_json::Value = r.json().await.unwrap();
    let holder = holder["token"].as_str().unwrap().to_string();
    let domain = serde_json::json!({"name": "uno.pec.localhost", "family": "ordinary"});
    let (st, _) = h
        .call(Method::POST, "/api/v1/domains", &adm, Some(domain))
        .await;
    assert_eq!(st, 200);
    // The holder's run first (the operators' may revoke or rename its mailbox); the
    // operators' leaves out the holders' operations (403 for an operator) and the logout,
    // which ends the session under test and so runs last.
    schemathesis(&s, &h, &holder, &["--include-path-regex", "^/api/v1/me"]);
    schemathesis(
        &s,
        &h,
        &adm,
        &["--exclude-path-regex", "^/api/v1/(me|logout)"],
    );
    let (st, _) = h.call(Method::GET, "/api/v1/whoami", &adm, None).await;
    assert_eq!(st, 200, "the operator's session outlived the run");
    schemathesis(&s, &h, &adm, &["--include-path", "/api/v1/logout"]);
    let (st, _) = h.call(Method::GET, "/api/v1/whoami", &adm, None).await;
    assert_eq!(st, 401, "the run logged the session out");
}
