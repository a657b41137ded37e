//! The life of a request (PROVISIONING.md §3): create, contract, confirm, `jobs run`,
//! mailboxes `evasa` with user ids, the first login refused as expired, the password
//! changed, a certified message accepted; processing once; cancel; modify and duplicate;
//! incomplete mailboxes; audit entries.

use serde_json::{json, Value};

use super::support::cli::*;
use super::support::imap::Imap;
use super::support::smtp::Conn;
use super::support::*;
use super::{code, confirm, create, line, request_doc, setup, write};

/// `jobs run --json`.
fn jobs_run(s: &Server) -> Value {
    json_exit(s, &["jobs", "run"], "", 0)
}

/// The first password the report gives `address`.
fn first_password(report: &Value, address: &str) -> String {
    let item = report["done"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["job"] == "mailbox.activate" && i["target"] == address)
        .unwrap_or_else(|| panic!("{address} activated: {report}"));
    item["detail"]
        .as_str()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_request_lives_from_create_to_a_certified_message() {
    let s = server().users(&["luigi@pec.localhost"]).start();
    setup(&s);
    let doc = request_doc(
        "A1",
        json!([line("info@pec.localhost"), line("ufficio@pec.localhost")]),
    );
    let v = create(&s, Some("inter1"), &doc);
    let c = code(&v);
    assert_eq!(v["state"], "da elaborare");
    // Not confirmed: the job runner leaves it alone.
    let idle = jobs_run(&s);
    assert!(idle["done"].as_array().unwrap().is_empty(), "{idle}");
    let pdf = write(&s, "contratto.pdf", b"%PDF-1.4 firmato");
    let up = human(
        &s,
        &["--as", "inter1", "request", "contract", "add", &c, &pdf],
        "",
    );
    assert_eq!(up, "Upload del file:contratto.pdf completato\n");
    let ok = human(
        &s,
        &["--as", "inter1", "request", "contract", "confirm", &c],
        "",
    );
    assert!(ok.contains("[!] Operazione avvenuta con successo: file acquisiti dal sistema"));
    let report = jobs_run(&s);
    let password = first_password(&report, "info@pec.localhost");
    let shown = json_exit(&s, &["--as", "inter1", "request", "show", &c], "", 0);
    assert_eq!(shown["state"], "evasa");
    let userids: Vec<&str> = shown["mailboxes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert_eq!(m["state"], "evasa", "{m}");
            m["userid"].as_str().unwrap()
        })
        .collect();
    assert_eq!(userids, ["rss0000001", "rss0000002"]);
    assert!(
        shown.get("initial_passwords").is_none(),
        "jobs run showed the passwords: not again: {shown}"
    );
    // The first login is refused as expired, with the system's password.
    let (mut imap, _) = Imap::connect(&s).await;
    let r = imap
        .cmd(&format!("LOGIN info@pec.localhost \"{password}\""))
        .await;
    assert!(r.last().unwrap().contains("NO [EXPIRED]"), "{r:?}");
    s.set_password("info@pec.localhost");
    Imap::login(&s, "info@pec.localhost").await;
    let (mut smtp, _) = Conn::tls(s.listener("submissions"), &s.ca()).await;
    smtp.login("info@pec.localhost", PASSWORD).await;
    let message = "From: <info@pec.localhost>\r\nTo: <luigi@pec.localhost>\r\n\
                   Subject: prima PEC\r\nMessage-ID: <prima@client.test>\r\n\r\ncorpo\r\n";
    let reply = smtp
        .send_message("info@pec.localhost", &["luigi@pec.localhost"], message)
        .await;
    assert!(reply.starts_with("250"), "{reply}");
    // --must-change expires a password given by an administrator at once.
    human(
        &s,
        &[
            "mailbox",
            "passwd",
            "ufficio@pec.localhost",
            "--password-stdin",
            "--must-change",
        ],
        &format!("{PASSWORD}\n"),
    );
    let (mut imap, _) = Imap::connect(&s).await;
    let r = imap
        .cmd(&format!("LOGIN ufficio@pec.localhost {PASSWORD}"))
        .await;
    assert!(r.last().unwrap().contains("NO [EXPIRED]"), "{r:?}");
    // Who did it: the intermediario created and confirmed, the job runner processed.
    let audit = json_exit(&s, &["audit", "--target", &c], "", 0);
    let entries: Vec<(String, String)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["operator"].as_str().unwrap().into(),
                e["action"].as_str().unwrap().into(),
            )
        })
        .collect();
    for (who, what) in [
        ("inter1", "request.create"),
        ("inter1", "request.contract.add"),
        ("inter1", "request.contract.confirm"),
        ("jobs", "request.process"),
    ] {
        assert!(
            entries.contains(&(who.into(), what.into())),
            "{who} {what}: {entries:?}"
        );
    }
    let activation = json_exit(&s, &["audit", "--target", "info@pec.localhost"], "", 0);
    assert_eq!(activation[0]["action"], "mailbox.activate", "{activation}");
    assert_eq!(activation[0]["operator"], "jobs");
}

#[test]
fn jobs_run_twice_processes_once() {
    let s = server().start();
    setup(&s);
    let c = code(&create(
        &s,
        None,
        &request_doc("A1", json!([line("una@pec.localhost")])),
    ));
    confirm(&s, &c);
    let first = jobs_run(&s);
    first_password(&first, "una@pec.localhost");
    let second = jobs_run(&s);
    assert!(second["done"].as_array().unwrap().is_empty(), "{second}");
    assert!(second["errors"].as_array().unwrap().is_empty(), "{second}");
    let shown = json_exit(&s, &["request", "show", &c], "", 0);
    assert_eq!(shown["mailboxes"][0]["userid"], "rss0000001");
    let accounts = json_exit(&s, &["account", "list"], "", 0);
    let a1 = accounts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["code"] == "A1")
        .unwrap();
    assert_eq!(a1["userids_assigned"], 1, "one user id given");
    let status = json_exit(&s, &["mailbox", "list"], "", 0);
    let made = status
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["address"] == "una@pec.localhost")
        .count();
    assert_eq!(made, 1);
}

#[test]
fn cancel_cancels_pending_mailboxes() {
    let s = server().start();
    setup(&s);
    let v = create(
        &s,
        None,
        &request_doc(
            "A1",
            json!([line("a@pec.localhost"), line("b@pec.localhost")]),
        ),
    );
    let c = code(&v);
    let cancelled = json_exit(&s, &["request", "cancel", &c], "", 0);
    assert_eq!(cancelled["state"], "annullata");
    for m in cancelled["mailboxes"].as_array().unwrap() {
        assert_eq!(m["state"], "annullata", "{m}");
    }
    refused(&s, &["request", "cancel", &c], "", "conflict");
    let pdf = write(&s, "contratto.pdf", b"%PDF");
    json_exit(&s, &["request", "contract", "add", &c, &pdf], "", 1);
    let report = jobs_run(&s);
    assert!(report["done"].as_array().unwrap().is_empty(), "{report}");
    // The cancelled addresses can be requested again.
    let again = create(
        &s,
        None,
        &request_doc("A1", json!([line("a@pec.localhost")])),
    );
    assert_eq!(again["mailboxes"][0]["state"], "da elaborare");
    let old = json_exit(&s, &["request", "show", &c], "", 0);
    assert_eq!(old["mailboxes"][0]["state"], "annullata");
    // An evasa request cannot be cancelled.
    let done = code(&create(
        &s,
        None,
        &request_doc("A1", json!([line("z@pec.localhost")])),
    ));
    confirm(&s, &done);
    jobs_run(&s);
    let e = refused(&s, &["request", "cancel", &done], "", "conflict");
    assert!(e.to_string().contains("evasa"), "{e}");
}

#[test]
fn modify_only_while_da_elaborare_with_the_warning_and_duplicate_copies_the_people() {
    let s = server().start();
    setup(&s);
    let c = code(&create(
        &s,
        None,
        &request_doc(
            "A1",
            json!([line("m1@pec.localhost"), line("m2@pec.localhost")]),
        ),
    ));
    let mut doc = request_doc(
        "A1",
        json!([line("m1@pec.localhost"), line("m3@pec.localhost")]),
    );
    doc["titolare"]["name"] = json!("Rossi S.p.A.");
    let file = write(&s, "modify.json", doc.to_string().as_bytes());
    let m = json_exit(&s, &["request", "modify", &c, "--file", &file], "", 0);
    assert!(
        m["warning"]
            .as_str()
            .unwrap()
            .contains("allinearla al contratto"),
        "{m}"
    );
    assert_eq!(m["titolare"]["name"], "Rossi S.p.A.");
    let addresses: Vec<&str> = m["mailboxes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["address"].as_str().unwrap())
        .collect();
    assert_eq!(addresses, ["m1@pec.localhost", "m3@pec.localhost"]);
    // m2 is free again.
    create(
        &s,
        None,
        &request_doc("A1", json!([line("m2@pec.localhost")])),
    );
    // Another account cannot be given in a modification.
    let file2 = write(
        &s,
        "modify2.json",
        request_doc("A2", json!([line("m1@pec.localhost")]))
            .to_string()
            .as_bytes(),
    );
    refused(
        &s,
        &["request", "modify", &c, "--file", &file2],
        "",
        "invalid_value",
    );
    let dup = json_exit(&s, &["request", "duplicate", &c], "", 0);
    assert_ne!(dup["code"], m["code"]);
    assert_eq!(dup["titolare"]["name"], "Rossi S.p.A.");
    assert_eq!(dup["richiedente"]["surname"], "Rossi");
    assert!(dup["mailboxes"].as_array().unwrap().is_empty());
    assert_eq!(dup["state"], "da elaborare");
    confirm(&s, &c);
    let e = refused(
        &s,
        &["request", "modify", &c, "--file", &file],
        "",
        "conflict",
    );
    assert!(e.to_string().contains("confermato"), "{e}");
    jobs_run(&s);
    refused(
        &s,
        &["request", "modify", &c, "--file", &file],
        "",
        "conflict",
    );
}

#[test]
fn incomplete_mailbox_shows_non_definito_and_complete_associates_it() {
    let s = server().start();
    setup(&s);
    s.create_mailbox("vecchia@pec.localhost");
    let out = human(
        &s,
        &["--as", "inter1", "request", "show", "vecchia@pec.localhost"],
        "",
    );
    assert!(
        out.starts_with("codice attivazione: non definito\n"),
        "{out}"
    );
    let v = json_exit(&s, &["request", "show", "vecchia@pec.localhost"], "", 0);
    assert!(v["code"].is_null());
    assert_eq!(v["mailboxes"][0]["state"], "evasa");
    let c = code(&create(
        &s,
        None,
        &request_doc("A1", json!([line("nuova@pec.localhost")])),
    ));
    let complete = json!({"mailboxes": [{"address": "vecchia@pec.localhost", "description": "Archivio"}],
                          "collocazione": "FALDONE-12"});
    let file = write(&s, "complete.json", complete.to_string().as_bytes());
    let e = refused(
        &s,
        &["--as", "inter1", "request", "complete", &c, "--file", &file],
        "",
        "forbidden",
    );
    assert_eq!(
        e["error"]["message"],
        "Servizi NON attivati, per le seguenti caselle, perchè le informazioni del contratto sono incomplete"
    );
    assert_eq!(e["error"]["details"], json!(["vecchia@pec.localhost"]));
    // Only incomplete mailboxes can be associated.
    let wrong = json!({"mailboxes": [{"address": "nuova@pec.localhost", "description": "X"}]});
    let wrong_file = write(&s, "wrong.json", wrong.to_string().as_bytes());
    let e = refused(
        &s,
        &["request", "complete", &c, "--file", &wrong_file],
        "",
        "invalid_value",
    );
    assert!(
        e.to_string()
            .contains("riga 1: address nuova@pec.localhost: non è una casella incompleta"),
        "{e}"
    );
    let done = json_exit(&s, &["request", "complete", &c, "--file", &file], "", 0);
    assert_eq!(done["collocazione"], "FALDONE-12");
    assert_eq!(done["mailboxes"][1]["address"], "vecchia@pec.localhost");
    assert_eq!(done["mailboxes"][1]["state"], "evasa");
    assert_eq!(done["mailboxes"][1]["type"], "standard");
    let v = json_exit(&s, &["request", "show", "vecchia@pec.localhost"], "", 0);
    assert_eq!(v["code"].as_u64().unwrap().to_string(), c);
    // With a collocazione the request is closed to completion.
    s.create_mailbox("altra@pec.localhost");
    let more = json!({"mailboxes": [{"address": "altra@pec.localhost", "description": "Altra"}]});
    let more_file = write(&s, "more.json", more.to_string().as_bytes());
    let e = refused(
        &s,
        &["request", "complete", &c, "--file", &more_file],
        "",
        "conflict",
    );
    assert!(e.to_string().contains("collocazione"), "{e}");
}

/// Regression (review of the archive, S2): `request complete` took any mailbox without a
/// request, also one an administrator had given to another customer, and moved it (with its
/// user id and slaves) to the request's customer. Such a mailbox now stays where it is, and
/// a completed one gets a master user id by the account's rule.
#[test]
fn complete_cannot_take_another_customers_mailbox_and_gives_a_user_id() {
    let s = server().start();
    setup(&s);
    human(
        &s,
        &["customer", "create", "C2", "--name", "Cliente Due"],
        "",
    );
    human(
        &s,
        &[
            "account",
            "create",
            "B2",
            "--customer",
            "C2",
            "--description",
            "Altro",
            "--userid-prefix",
            "bb",
        ],
        "",
    );
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
            "B2",
        ],
        "",
        0,
    );
    s.create_mailbox("libera@pec.localhost");
    let c = code(&create(
        &s,
        None,
        &request_doc("A1", json!([line("nuova@pec.localhost")])),
    ));
    let take = json!({"mailboxes": [{"address": "altrui@pec.localhost", "description": "Mia"}]});
    let file = write(&s, "take.json", take.to_string().as_bytes());
    refused(
        &s,
        &["request", "complete", &c, "--file", &file],
        "",
        "invalid_value",
    );
    let shown = s.json(&["mailbox", "show", "altrui@pec.localhost"]);
    assert_eq!(shown["archive"]["customer"], "C2", "{shown}");
    let free = json!({"mailboxes": [{"address": "libera@pec.localhost", "description": "Libera"}]});
    let file = write(&s, "free.json", free.to_string().as_bytes());
    let done = json_exit(&s, &["request", "complete", &c, "--file", &file], "", 0);
    let line = done["mailboxes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["address"] == "libera@pec.localhost")
        .unwrap()
        .clone();
    assert!(
        line["userid"].as_str().unwrap().starts_with("rss"),
        "{line}"
    );
}
