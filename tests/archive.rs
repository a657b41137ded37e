//! The provisioning archive's operators, customers, accounts, domains and audit log through
//! pecctl against the real pecd (PROVISIONING.md §2, §5): one test per rule, each bad input
//! refused clearly with nothing changed.

mod support;

#[path = "archive/domains.rs"]
mod domains;

use support::cli::*;
use support::*;

/// A password the policy of PROVISIONING.md §7 accepts.
pub const GOOD_PASSWORD: &str = "Str0ng!Passw0rd\n";

/// Customers C111 (accounts A1, A2) and C222 (account B1), each account with a user-id rule.
pub fn customers(s: &Server) {
    for (code, name) in [("C111", "Rossi S.p.A."), ("C222", "Bianchi S.r.l.")] {
        human(s, &["customer", "create", code, "--name", name], "");
    }
    for (code, customer, prefix) in [
        ("A1", "C111", "ra"),
        ("A2", "C111", "rb"),
        ("B1", "C222", "bb"),
    ] {
        human(
            s,
            &[
                "account",
                "create",
                code,
                "--customer",
                customer,
                "--description",
                &format!("account {code}"),
                "--userid-prefix",
                prefix,
            ],
            "",
        );
    }
}

/// Creates operator `userid` with `profile` and the extra flags.
pub fn operator(s: &Server, userid: &str, profile: &str, extra: &[&str]) {
    let mut args = vec![
        "operator",
        "create",
        userid,
        "--profile",
        profile,
        "--surname",
        "Verdi",
        "--first-name",
        "Luca",
        "--password-stdin",
    ];
    args.extend_from_slice(extra);
    human(s, &args, GOOD_PASSWORD);
}

/// `pecctl --as USERID --json ARGS`, expecting exit code `code`.
pub fn as_json(s: &Server, userid: &str, args: &[&str], code: i32) -> serde_json::Value {
    json_exit(s, &[&["--as", userid], args].concat(), "", code)
}

fn codes(doc: &serde_json::Value, field: &str) -> Vec<String> {
    let mut v: Vec<String> = doc
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x[field].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn each_profile_sees_exactly_its_scope() {
    let s = server().start();
    customers(&s);
    operator(&s, "cli1", "cliente", &["--customer", "C111"]);
    operator(
        &s,
        "int1",
        "intermediario",
        &["--customer", "C111", "--account", "A1"],
    );
    operator(&s, "lmx1", "lmxadm", &["--cli-pattern", "C1%"]);
    operator(
        &s,
        "lmx2",
        "lmxadm",
        &["--cli-pattern", "%9", "--acc-pattern", "B%"],
    );
    let all = json_exit(&s, &["account", "list"], "", 0);
    assert_eq!(codes(&all, "code"), ["A1", "A2", "B1"]);
    let cases = [
        ("cli1", vec!["A1", "A2"]),
        ("int1", vec!["A1"]),
        ("lmx1", vec!["A1", "A2"]),
        ("lmx2", vec!["B1"]),
    ];
    for (who, want) in cases {
        let doc = as_json(&s, who, &["account", "list"], 0);
        assert_eq!(codes(&doc, "code"), want, "{who}");
    }
    let doc = as_json(&s, "int1", &["customer", "list"], 0);
    assert_eq!(codes(&doc, "code"), ["C111"]);
}

#[test]
fn lmxadm_without_patterns_gets_the_no_customers_message() {
    let s = server().start();
    customers(&s);
    operator(&s, "lmx0", "lmxadm", &[]);
    let doc = as_json(&s, "lmx0", &["account", "list"], 1);
    assert_eq!(doc["error"]["code"], "forbidden");
    assert_eq!(
        doc["error"]["message"],
        "[!] Attenzione: Non esistono clienti associati allo userid: lmx0 Verdi Luca"
    );
}

#[test]
fn out_of_scope_accounts_are_an_authorization_error_not_an_empty_list() {
    let s = server().start();
    customers(&s);
    operator(
        &s,
        "int1",
        "intermediario",
        &["--customer", "C111", "--account", "A1"],
    );
    let doc = as_json(&s, "int1", &["account", "list", "--customer", "C222"], 0);
    assert_eq!(doc, serde_json::json!([]), "a list filters by scope");
    let doc = as_json(
        &s,
        "int1",
        &[
            "domain",
            "request",
            "x.pec.localhost",
            "--family",
            "ordinary",
            "--account",
            "B1",
        ],
        1,
    );
    assert_eq!(doc["error"]["code"], "forbidden", "{doc}");
    assert!(doc["error"]["message"]
        .as_str()
        .unwrap()
        .contains("fuori dall'ambito"));
}

#[test]
fn only_an_amministratore_creates_operators_customers_and_accounts() {
    let s = server().start();
    customers(&s);
    operator(&s, "cli1", "cliente", &["--customer", "C111"]);
    for args in [
        &["customer", "create", "C333", "--name", "X"][..],
        &[
            "account",
            "create",
            "A9",
            "--customer",
            "C111",
            "--description",
            "d",
        ][..],
        &["mailbox", "list"][..],
    ] {
        let doc = json_exit(&s, &[&["--as", "cli1"], args].concat(), GOOD_PASSWORD, 1);
        assert_eq!(doc["error"]["code"], "forbidden", "{args:?}: {doc}");
    }
    let doc = json_exit(&s, &["customer", "list"], "", 0);
    assert_eq!(codes(&doc, "code"), ["C111", "C222"], "nothing was created");
    let list = as_json(&s, "cli1", &["operator", "list"], 0);
    assert_eq!(
        codes(&list, "userid"),
        ["cli1"],
        "an operator sees only itself"
    );
    let me = as_json(&s, "cli1", &["whoami"], 0);
    assert_eq!(me["profile"], "cliente");
}

#[test]
fn an_operator_password_must_meet_the_policy() {
    let s = server().start();
    let doc = json_exit(
        &s,
        &[
            "operator",
            "create",
            "weak",
            "--profile",
            "amministratore",
            "--surname",
            "A",
            "--first-name",
            "B",
            "--password-stdin",
        ],
        "password\n",
        1,
    );
    assert_eq!(doc["error"]["message"], "Password non valida");
    assert!(
        doc["error"]["details"].as_array().unwrap().len() >= 3,
        "{doc}"
    );
    let list = json_exit(&s, &["operator", "list"], "", 0);
    assert_eq!(list, serde_json::json!([]));
}

#[test]
fn unknown_codes_and_operators_are_refused_and_change_nothing() {
    let s = server().start();
    customers(&s);
    refused(
        &s,
        &[
            "account",
            "create",
            "Z1",
            "--customer",
            "NOPE",
            "--description",
            "d",
        ],
        "",
        "not_found",
    );
    refused(
        &s,
        &[
            "operator",
            "create",
            "i2",
            "--profile",
            "intermediario",
            "--surname",
            "A",
            "--first-name",
            "B",
            "--customer",
            "C111",
            "--account",
            "B1",
            "--password-stdin",
        ],
        GOOD_PASSWORD,
        "invalid_value",
    );
    refused(&s, &["--as", "ghost", "whoami"], "", "not_found");
    refused(
        &s,
        &["customer", "create", "C111", "--name", "again"],
        "",
        "conflict",
    );
    refused(
        &s,
        &["customer", "create", "bad code!", "--name", "x"],
        "",
        "invalid_value",
    );
    let accounts = json_exit(&s, &["account", "list"], "", 0);
    assert_eq!(codes(&accounts, "code"), ["A1", "A2", "B1"]);
    assert_eq!(
        json_exit(&s, &["operator", "list"], "", 0),
        serde_json::json!([])
    );
}

#[test]
fn the_audit_log_records_who_did_what_to_which_record() {
    let s = server().start();
    customers(&s);
    operator(
        &s,
        "int1",
        "intermediario",
        &["--customer", "C111", "--account", "A1"],
    );
    as_json(
        &s,
        "int1",
        &[
            "domain",
            "request",
            "rossi.pec.localhost",
            "--family",
            "ordinary",
        ],
        0,
    );
    let all = json_exit(&s, &["audit"], "", 0);
    let entries: Vec<(String, String, String)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["operator"].as_str().unwrap().into(),
                e["action"].as_str().unwrap().into(),
                e["target"].as_str().unwrap().into(),
            )
        })
        .collect();
    for want in [
        ("admin", "customer.create", "C111"),
        ("admin", "account.create", "B1"),
        ("admin", "operator.create", "int1"),
        ("int1", "domain.request", "rossi.pec.localhost"),
    ] {
        let want = (want.0.to_string(), want.1.to_string(), want.2.to_string());
        assert!(entries.contains(&want), "{want:?} in {entries:?}");
    }
    assert!(all
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["at"].as_i64().unwrap() > 0));
    let own = as_json(&s, "int1", &["audit"], 0);
    assert_eq!(
        own.as_array().unwrap().len(),
        1,
        "an intermediario reads its own entries"
    );
    let filtered = json_exit(&s, &["audit", "--target", "C111"], "", 0);
    assert_eq!(filtered.as_array().unwrap().len(), 1);
    let none = json_exit(&s, &["audit", "--since", "2999-01-01"], "", 0);
    assert_eq!(none, serde_json::json!([]));
    let out = s.pecctl(&["audit", "--since", "2026-02-30"], "");
    assert_eq!(
        out.status.code(),
        Some(2),
        "a date that does not exist is a usage error"
    );
}

/// Regression (review of the archive, S3): LMXADM read the whole audit log, whose targets
/// and details name other customers' mailboxes and requests. Only an amministratore does.
#[test]
fn an_lmxadm_reads_only_its_own_audit_entries() {
    let s = server().start();
    customers(&s);
    operator(&s, "lmx1", "lmxadm", &["--cli-pattern", "C1%"]);
    as_json(
        &s,
        "lmx1",
        &[
            "domain",
            "request",
            "lmx.pec.localhost",
            "--family",
            "ordinary",
            "--account",
            "A1",
        ],
        0,
    );
    let own = as_json(&s, "lmx1", &["audit"], 0);
    let who: Vec<_> = own
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["operator"].as_str().unwrap())
        .collect();
    assert_eq!(who, ["lmx1"], "{own}");
    let all = json_exit(&s, &["audit"], "", 0);
    assert!(all.as_array().unwrap().len() > 1);
}
