//! Domains (PROVISIONING.md §5): sub-domains of the two families, at most 60 characters,
//! listed at once, enabled by an administrator.

use super::support::cli::*;
use super::support::*;
use super::{as_json, customers, operator};

#[test]
fn a_requested_domain_is_listed_at_once_and_enabled_by_an_administrator() {
    let s = server().start();
    customers(&s);
    operator(
        &s,
        "int1",
        "intermediario",
        &["--customer", "C111", "--account", "A1"],
    );
    operator(
        &s,
        "int2",
        "intermediario",
        &["--customer", "C222", "--account", "B1"],
    );
    let d = as_json(
        &s,
        "int1",
        &[
            "domain",
            "request",
            "Rossi.pec.localhost",
            "--family",
            "ordinary",
            "--order",
            "ORD-1",
        ],
        0,
    );
    assert_eq!(d["name"], "rossi.pec.localhost");
    assert_eq!(d["state"], "requested");
    assert_eq!(
        (d["customer"].as_str(), d["account"].as_str()),
        (Some("C111"), Some("A1"))
    );
    // The test server also serves pec.example.it from its configuration.
    let names = |doc: &serde_json::Value| -> Vec<String> {
        doc.as_array()
            .unwrap()
            .iter()
            .filter(|d| d["name"] != "pec.example.it")
            .map(|d| {
                format!(
                    "{}={}",
                    d["name"].as_str().unwrap(),
                    d["state"].as_str().unwrap()
                )
            })
            .collect()
    };
    let mine = as_json(&s, "int1", &["domain", "list"], 0);
    assert_eq!(
        names(&mine),
        ["pec.localhost=enabled", "rossi.pec.localhost=requested"]
    );
    let theirs = as_json(&s, "int2", &["domain", "list"], 0);
    assert_eq!(names(&theirs), ["pec.localhost=enabled"]);
    let doc = as_json(&s, "int1", &["domain", "enable", "rossi.pec.localhost"], 1);
    assert_eq!(doc["error"]["code"], "forbidden");
    let d = json_exit(&s, &["domain", "enable", "rossi.pec.localhost"], "", 0);
    assert_eq!(d["state"], "enabled");
    refused(
        &s,
        &["domain", "enable", "rossi.pec.localhost"],
        "",
        "conflict",
    );
    let mine = as_json(&s, "int1", &["domain", "list"], 0);
    assert_eq!(
        names(&mine),
        ["pec.localhost=enabled", "rossi.pec.localhost=enabled"]
    );
}

#[test]
fn a_61_character_domain_is_refused_and_nothing_is_stored() {
    let s = server().start();
    let before = json_exit(&s, &["domain", "list"], "", 0)
        .as_array()
        .unwrap()
        .len();
    // 47 + 1 + 13 = 61 characters.
    let long = format!("{}.pec.localhost", "a".repeat(47));
    assert_eq!(long.len(), 61);
    let doc = refused(
        &s,
        &["domain", "request", &long, "--family", "ordinary"],
        "",
        "invalid_value",
    );
    assert!(
        doc["error"]["message"].as_str().unwrap().contains("60"),
        "{doc}"
    );
    let ok60 = format!("{}.pec.localhost", "a".repeat(46));
    json_exit(
        &s,
        &["domain", "request", &ok60, "--family", "ordinary"],
        "",
        0,
    );
    let list = json_exit(&s, &["domain", "list"], "", 0);
    assert_eq!(
        list.as_array().unwrap().len(),
        before + 1,
        "only the 60-character one was stored"
    );
}

#[test]
fn a_domain_outside_its_family_or_already_served_is_refused() {
    let s = server().start();
    for (name, family, code) in [
        ("rossi.example.com", "ordinary", "invalid_value"),
        ("comune.pec.localhost", "pa", "invalid_value"),
        ("pec.localhost", "ordinary", "invalid_value"),
        ("bad_name!.pec.localhost", "ordinary", "invalid_value"),
    ] {
        refused(
            &s,
            &["domain", "request", name, "--family", family],
            "",
            code,
        );
    }
    json_exit(
        &s,
        &[
            "domain",
            "request",
            "comune.pa.pec.localhost",
            "--family",
            "pa",
        ],
        "",
        0,
    );
    refused(
        &s,
        &[
            "domain",
            "request",
            "comune.pa.pec.localhost",
            "--family",
            "pa",
        ],
        "",
        "conflict",
    );
    let out = s.pecctl(
        &["domain", "request", "x.pec.localhost", "--family", "weird"],
        "",
    );
    assert_eq!(out.status.code(), Some(2), "a bad family is a usage error");
}

#[test]
fn an_enabled_domain_survives_kill_9() {
    let mut s = server().start();
    json_exit(
        &s,
        &[
            "domain",
            "request",
            "keep.pec.localhost",
            "--family",
            "ordinary",
        ],
        "",
        0,
    );
    json_exit(&s, &["domain", "enable", "keep.pec.localhost"], "", 0);
    s.kill9();
    s.spawn();
    let list = json_exit(&s, &["domain", "list"], "", 0);
    let enabled: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["name"] == "keep.pec.localhost" && d["state"] == "enabled")
        .collect();
    assert_eq!(enabled.len(), 1, "{list}");
}
