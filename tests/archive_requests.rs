//! Requests (PROVISIONING.md §3) against the real pecd through pecctl: the request file and
//! its per-line validation (nothing stored unless all is valid), scope, contract documents,
//! processing by the job runner up to the first login and a certified message, cancel,
//! recent and search, incomplete mailboxes, audit entries.

mod support;

#[path = "archive_requests/contracts.rs"]
mod contracts;
#[path = "archive_requests/life.rs"]
mod life;
#[path = "archive_requests/listing.rs"]
mod listing;

use std::path::PathBuf;

use serde_json::{json, Value};
use support::cli::*;
use support::*;

/// A policy-valid password for the operators the tests create.
pub const OPERATOR_PASSWORD: &str = "Str0ng!Passw0rd";

/// Customer C1 with accounts A1 (user ids `rss...`) and A2 (user ids `vrd...`), and the
/// intermediario `inter1` of C1 / A1.
pub fn setup(s: &Server) {
    for args in [
        &["customer", "create", "C1", "--name", "Cliente Uno"][..],
        &[
            "account",
            "create",
            "A1",
            "--customer",
            "C1",
            "--description",
            "Rivenditore Uno",
            "--userid-prefix",
            "rss",
        ],
        &[
            "account",
            "create",
            "A2",
            "--customer",
            "C1",
            "--description",
            "Rivenditore Due",
            "--userid-prefix",
            "vrd",
        ],
    ] {
        human(s, args, "");
    }
    human(
        s,
        &[
            "operator",
            "create",
            "inter1",
            "--profile",
            "intermediario",
            "--surname",
            "Bianchi",
            "--first-name",
            "Anna",
            "--customer",
            "C1",
            "--account",
            "A1",
            "--password-stdin",
        ],
        &format!("{OPERATOR_PASSWORD}\n"),
    );
}

/// A valid request document for `account` with these mailbox lines.
pub fn request_doc(account: &str, mailboxes: Value) -> Value {
    json!({
        "customer": "C1",
        "account": account,
        "order": "ORD-7",
        "richiedente": {"surname": "Rossi", "first_name": "Mario", "tax_code": "RSSMRA80A01H501U",
                        "email": "mario.rossi@example.it", "phone": "+39 06 1234567"},
        "titolare": {"name": "Rossi S.r.l.", "tax_code": "01234567890",
                     "address": "Via Roma 1, 00100 Roma", "email": "amministrazione@example.it"},
        "mailboxes": mailboxes,
    })
}

/// One standard line.
pub fn line(address: &str) -> Value {
    json!({"address": address, "description": "Rossi S.r.l."})
}

/// Writes `text` as a file of the server's directory and returns its path.
pub fn write(s: &Server, name: &str, text: &[u8]) -> String {
    let path: PathBuf = s.dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// `request create` of `doc` as `as_` (None: the built-in administrator), expecting success.
pub fn create(s: &Server, as_: Option<&str>, doc: &Value) -> Value {
    let file = write(s, "request.json", doc.to_string().as_bytes());
    json_exit(
        s,
        &with_as(as_, &["request", "create", "--file", &file]),
        "",
        0,
    )
}

/// `args` preceded by `--as USERID` when given.
pub fn with_as<'a>(as_: Option<&'a str>, args: &[&'a str]) -> Vec<&'a str> {
    let mut out = Vec::new();
    if let Some(u) = as_ {
        out.extend(["--as", u]);
    }
    out.extend_from_slice(args);
    out
}

/// The codice attivazione of a create/show result, as text.
pub fn code(v: &Value) -> String {
    v["code"]
        .as_u64()
        .expect("a codice attivazione")
        .to_string()
}

/// `request recent --json`.
pub fn recent(s: &Server) -> Vec<Value> {
    json_exit(s, &["request", "recent"], "", 0)
        .as_array()
        .unwrap()
        .clone()
}

/// Uploads one document and confirms the contract of request `code`.
pub fn confirm(s: &Server, code: &str) {
    let pdf = write(s, "contratto.pdf", b"%PDF-1.4 contratto firmato");
    human(s, &["request", "contract", "add", code, &pdf], "");
    let out = human(s, &["request", "contract", "confirm", code], "");
    assert!(
        out.contains("[!] Operazione avvenuta con successo: file acquisiti dal sistema"),
        "{out}"
    );
}

#[test]
fn request_with_a_typo_key_is_refused() {
    let s = server().start();
    setup(&s);
    let mut doc = request_doc("A1", json!([line("info@pec.localhost")]));
    doc["richiedente"]["frist_name"] = doc["richiedente"]["first_name"].take();
    doc["richiedente"]
        .as_object_mut()
        .unwrap()
        .remove("first_name");
    let file = write(&s, "typo.json", doc.to_string().as_bytes());
    let e = refused(
        &s,
        &["request", "create", "--file", &file],
        "",
        "invalid_value",
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("frist_name"),
        "{e}"
    );
    // The same in TOML, with a typo in a mailbox line.
    let toml = "customer = \"C1\"\naccount = \"A1\"\n[[mailboxes]]\nadress = \"a@pec.localhost\"\n";
    let file = write(&s, "typo.toml", toml.as_bytes());
    let e = refused(
        &s,
        &["request", "create", "--file", &file],
        "",
        "invalid_value",
    );
    assert!(
        e["error"]["message"].as_str().unwrap().contains("adress"),
        "{e}"
    );
    assert!(recent(&s).is_empty());
}

#[test]
fn every_invalid_line_is_reported_and_nothing_is_stored() {
    let s = server().start();
    setup(&s);
    let doc = request_doc(
        "A1",
        json!([
            line("buona@pec.localhost"),
            line("non un indirizzo"),
            line("altro@dominio-altrui.it"),
            {"address": "senza-descrizione@pec.localhost", "description": ""},
            line("buona@pec.localhost"),
        ]),
    );
    let file = write(&s, "bad.json", doc.to_string().as_bytes());
    let e = refused(
        &s,
        &["request", "create", "--file", &file],
        "",
        "invalid_value",
    );
    let details: Vec<&str> = e["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    for n in 2..=5 {
        assert!(
            details.iter().any(|d| d.starts_with(&format!("riga {n}:"))),
            "riga {n} missing: {details:?}"
        );
    }
    assert!(
        !details.iter().any(|d| d.starts_with("riga 1:")),
        "{details:?}"
    );
    assert!(recent(&s).is_empty(), "nothing stored");
    let audit = json_exit(&s, &["audit"], "", 0);
    assert!(!audit.to_string().contains("request.create"), "{audit}");
    // The corrected request is accepted, and its code is the first.
    let ok = create(
        &s,
        None,
        &request_doc("A1", json!([line("buona@pec.localhost")])),
    );
    assert_eq!(ok["code"], 1);
    assert_eq!(ok["state"], "da elaborare");
    assert_eq!(ok["mailboxes"][0]["address"], "buona@pec.localhost");
    assert_eq!(ok["mailboxes"][0]["state"], "da elaborare");
    assert_eq!(ok["mailboxes"][0]["type"], "standard");
    assert!(ok["mailboxes"][0]["userid"].is_null());
    // The address is now taken: by another request, and by `mailbox create`.
    let file = write(
        &s,
        "again.json",
        request_doc("A1", json!([line("buona@pec.localhost")]))
            .to_string()
            .as_bytes(),
    );
    let e = refused(
        &s,
        &["request", "create", "--file", &file],
        "",
        "invalid_value",
    );
    assert!(
        e.to_string()
            .contains("riga 1: address buona@pec.localhost: casella già esistente"),
        "{e}"
    );
    let out = s.pecctl(
        &[
            "--json",
            "mailbox",
            "create",
            "buona@pec.localhost",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let out = s.pecctl(&["--json", "mailbox", "show", "buona@pec.localhost"], "");
    assert_eq!(
        out.status.code(),
        Some(1),
        "the refused mailbox was removed: {}",
        text(&out)
    );
}

#[test]
fn account_without_userid_rule_refuses_activation_with_the_manual_text() {
    let s = server()
        .extra("\n[archive]\nprovider_contact = \"assistenza@gestore.it\"\n")
        .start();
    setup(&s);
    human(
        &s,
        &[
            "account",
            "create",
            "A3",
            "--customer",
            "C1",
            "--description",
            "Senza regola",
        ],
        "",
    );
    let file = write(
        &s,
        "a3.json",
        request_doc("A3", json!([line("x@pec.localhost")]))
            .to_string()
            .as_bytes(),
    );
    let e = refused(&s, &["request", "create", "--file", &file], "", "conflict");
    assert_eq!(
        e["error"]["message"],
        "[!] Attenzione: ci sono problemi nella configurazione del suo account. Non è \
         possibile effettuare nuove attivazioni. Contatti il suo referente (assistenza@gestore.it)"
    );
    assert!(recent(&s).is_empty());
}

#[test]
fn intermediario_cannot_create_for_another_account() {
    let s = server().start();
    setup(&s);
    let file = write(
        &s,
        "a2.json",
        request_doc("A2", json!([line("x@pec.localhost")]))
            .to_string()
            .as_bytes(),
    );
    refused(
        &s,
        &["--as", "inter1", "request", "create", "--file", &file],
        "",
        "forbidden",
    );
    assert!(recent(&s).is_empty());
    // Its own account works, also without naming it; a request of A2 (by the administrator)
    // is Forbidden to show and left out of its lists.
    let mut own = request_doc("A1", json!([line("mia@pec.localhost")]));
    own.as_object_mut().unwrap().remove("customer");
    own.as_object_mut().unwrap().remove("account");
    let mine = create(&s, Some("inter1"), &own);
    assert_eq!(mine["account"], "A1");
    let other = create(
        &s,
        None,
        &request_doc("A2", json!([line("sua@pec.localhost")])),
    );
    refused(
        &s,
        &["--as", "inter1", "request", "show", &code(&other)],
        "",
        "forbidden",
    );
    let list = json_exit(
        &s,
        &[
            "--as",
            "inter1",
            "request",
            "search",
            "--richiedente",
            "rossi",
        ],
        "",
        0,
    );
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["code"], mine["code"]);
    // An intermediario cannot choose a type: a base line is refused with the manual's text.
    let base = request_doc(
        "A1",
        json!([{"address": "chiusa@pec.localhost", "description": "C", "type": "base"}]),
    );
    let file = write(&s, "base.json", base.to_string().as_bytes());
    let e = refused(
        &s,
        &["--as", "inter1", "request", "create", "--file", &file],
        "",
        "invalid_value",
    );
    assert!(
        e.to_string()
            .contains("Casella chiusa (può ricevere solo messaggi di posta certificata)"),
        "{e}"
    );
}

#[test]
fn bad_expiry_date_is_refused() {
    let s = server().start();
    setup(&s);
    for (expiry, text) in [
        ("2027-02-30", "data non valida"),
        ("29/11/2027", "data non valida"),
        ("2001-01-01", "data futura"),
    ] {
        let mut doc = request_doc("A1", json!([line("x@pec.localhost")]));
        doc["expiry"] = json!(expiry);
        let file = write(&s, "expiry.json", doc.to_string().as_bytes());
        let e = refused(
            &s,
            &["request", "create", "--file", &file],
            "",
            "invalid_value",
        );
        assert!(e.to_string().contains(text), "{expiry}: {e}");
    }
    assert!(recent(&s).is_empty());
    // Absent: one year from today.
    let v = create(
        &s,
        None,
        &request_doc("A1", json!([line("x@pec.localhost")])),
    );
    let expiry =
        chrono::NaiveDate::parse_from_str(v["expiry"].as_str().unwrap(), "%Y-%m-%d").unwrap();
    let days = (expiry - chrono::Utc::now().date_naive()).num_days();
    assert!((364..=367).contains(&days), "{expiry}");
}
