//! `request recent` and `request search` (PROVISIONING.md §3): the 15 newest, newest first;
//! search by richiedente and titolare fields, order number and codice attivazione, always
//! within the operator's scope.

use serde_json::json;

use super::support::cli::*;
use super::support::*;
use super::{create, line, recent, request_doc, setup};

#[test]
fn recent_shows_at_most_15_newest_first() {
    let s = server().start();
    setup(&s);
    for i in 1..=17 {
        create(
            &s,
            None,
            &request_doc("A1", json!([line(&format!("r{i}@pec.localhost"))])),
        );
    }
    let codes: Vec<u64> = recent(&s)
        .iter()
        .map(|r| r["code"].as_u64().unwrap())
        .collect();
    assert_eq!(codes, (3..=17).rev().collect::<Vec<u64>>());
    let out = human(&s, &["request", "recent"], "");
    assert_eq!(out.lines().count(), 15, "{out}");
    assert!(
        out.starts_with("17\tda elaborare\tC1/A1\tRossi Mario\tRossi S.r.l.\t1 caselle"),
        "{out}"
    );
}

#[test]
fn search_by_each_field() {
    let s = server().start();
    setup(&s);
    let mut verdi = request_doc("A2", json!([line("verdi@pec.localhost")]));
    verdi["order"] = json!("ORD-99");
    verdi["richiedente"] = json!({"surname": "Verdi", "first_name": "Giuseppe", "tax_code": "VRDGPP80A01H501Z",
                                  "email": "giuseppe@verdi.it", "phone": "0521 123456"});
    verdi["titolare"] = json!({"name": "Teatro Regio", "tax_code": "98765432109",
                               "address": "Strada Garibaldi 16, Parma", "email": "info@teatro.it"});
    let rossi = create(
        &s,
        None,
        &request_doc("A1", json!([line("rossi@pec.localhost")])),
    );
    let verdi = create(&s, None, &verdi);
    let found = |args: &[&str]| -> Vec<u64> {
        let mut full = vec!["request", "search"];
        full.extend_from_slice(args);
        json_exit(&s, &full, "", 0)
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["code"].as_u64().unwrap())
            .collect()
    };
    let (r, v) = (
        rossi["code"].as_u64().unwrap(),
        verdi["code"].as_u64().unwrap(),
    );
    assert_eq!(found(&["--richiedente", "ROSSI"]), [r]);
    assert_eq!(found(&["--richiedente", "giuseppe@"]), [v]);
    assert_eq!(found(&["--richiedente", "vrdgpp"]), [v]);
    assert_eq!(found(&["--titolare", "regio"]), [v]);
    assert_eq!(found(&["--titolare", "01234567890"]), [r]);
    assert_eq!(found(&["--titolare", "via roma"]), [r]);
    assert_eq!(found(&["--order", "ord-99"]), [v]);
    assert_eq!(found(&["--order", "ORD-7"]), [r]);
    assert_eq!(found(&["--code", &r.to_string()]), [r]);
    assert_eq!(
        found(&["--richiedente", "rossi", "--titolare", "regio"]),
        Vec::<u64>::new()
    );
    assert_eq!(found(&[]), [v, r]);
    // An exact codice attivazione goes to the detail.
    let out = human(&s, &["request", "search", "--code", &v.to_string()], "");
    assert!(
        out.starts_with(&format!("codice attivazione: {v}\n")),
        "{out}"
    );
    assert!(out.contains("titolare: Teatro Regio"), "{out}");
    // inter1 (account A1) never sees the A2 request: filtered, not refused.
    let mine = json_exit(
        &s,
        &["--as", "inter1", "request", "search", "--titolare", "regio"],
        "",
        0,
    );
    assert!(mine.as_array().unwrap().is_empty(), "{mine}");
    let mine = json_exit(&s, &["--as", "inter1", "request", "recent"], "", 0);
    assert_eq!(mine.as_array().unwrap().len(), 1);
}
