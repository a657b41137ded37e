//! Search (PROVISIONING.md §4): by address part, user id, activation dates, combined; scoped;
//! the CSV report.

use crate::support::cli::*;
use crate::support::*;
use crate::*;

fn addresses(doc: &serde_json::Value) -> Vec<String> {
    doc.as_array()
        .unwrap()
        .iter()
        .map(|r| r["address"].as_str().unwrap().to_string())
        .collect()
}

fn today() -> String {
    pecd_archive::mailboxes::search::rome_day(chrono::Utc::now().timestamp())
        .unwrap()
        .to_string()
}

#[test]
fn search_by_address_part_userid_and_dates() {
    let s = server().users(&[A, B, C]).start();
    customers(&s);
    let a = assign(&s, A, "A1", "standard");
    let userid = a["userid"].as_str().unwrap().to_string();
    assert!(userid.starts_with("aa"), "{userid}");
    assign(&s, B, "A2", "aperta");

    let all = s.json(&["mailbox", "search"]);
    assert_eq!(addresses(&all), vec![A, B, C]);
    let row = &all[0];
    for field in ["address", "userid", "state", "type", "activated"] {
        assert!(row.get(field).is_some(), "{field} in {row}");
    }
    assert_eq!(row["state"], "evasa");
    assert_eq!(row["type"], "standard");
    assert_eq!(row["activated"], today());

    assert_eq!(
        addresses(&s.json(&["mailbox", "search", "--address", "RUN"])),
        vec![B]
    );
    assert_eq!(
        addresses(&s.json(&["mailbox", "search", "--address", "@pec.local"])).len(),
        3
    );
    assert_eq!(
        addresses(&s.json(&["mailbox", "search", "--userid", &userid])),
        vec![A]
    );
    assert!(addresses(&s.json(&["mailbox", "search", "--userid", "zz9999999"])).is_empty());
    let t = today();
    let dated = s.json(&[
        "mailbox",
        "search",
        "--activated-from",
        &t,
        "--activated-to",
        &t,
    ]);
    assert_eq!(addresses(&dated).len(), 3);
    let past = s.json(&["mailbox", "search", "--activated-to", "2020-01-01"]);
    assert!(addresses(&past).is_empty());
    // Combined: the intersection.
    let both = s.json(&[
        "mailbox",
        "search",
        "--address",
        "a",
        "--userid",
        &userid,
        "--activated-from",
        &t,
    ]);
    assert_eq!(addresses(&both), vec![A]);
    let none = s.json(&[
        "mailbox",
        "search",
        "--address",
        "bruno",
        "--userid",
        &userid,
    ]);
    assert!(addresses(&none).is_empty());
    // Revoke shows the pending state.
    json_exit(&s, &["mailbox", "revoke", C, "--reason", "expiry"], "", 0);
    assert_eq!(
        s.json(&["mailbox", "search", "--address", "carla"])[0]["state"],
        "in revoca"
    );

    // Bad dates: a clear refusal.
    refused(
        &s,
        &["mailbox", "search", "--activated-from", "2024-13-01"],
        "",
        "invalid_value",
    );
    refused(
        &s,
        &[
            "mailbox",
            "search",
            "--activated-from",
            "2024-02-01",
            "--activated-to",
            "2024-01-01",
        ],
        "",
        "invalid_value",
    );
    // Scoped: int2 (account A2) sees B and the incomplete C, never A, and no error.
    let scoped = s.json(&["--as", "int2", "mailbox", "search"]);
    assert_eq!(addresses(&scoped), vec![B, C]);
    let scoped = s.json(&["--as", "int2", "mailbox", "search", "--userid", &userid]);
    assert!(addresses(&scoped).is_empty());
}

#[test]
fn csv_report() {
    let s = server().users(&[A, B]).start();
    customers(&s);
    assign(&s, A, "A1", "base");
    json_exit(
        &s,
        &[
            "mailbox",
            "change",
            A,
            "--description",
            "Anna; Rossi",
            "--expiry",
            "2099-01-31",
        ],
        "",
        0,
    );
    let out = human(&s, &["mailbox", "search", "--csv"], "");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "address;userid;state;type;activated;customer;account;expiry"
    );
    assert_eq!(lines.len(), 3, "{out}");
    let a: Vec<&str> = lines[1].split(';').collect();
    assert_eq!(a[0], A);
    assert!(a[1].starts_with("aa"));
    assert_eq!(&a[2..4], &["evasa", "base"]);
    assert_eq!(&a[5..8], &["C1", "A1", "2099-01-31"]);
    let b: Vec<&str> = lines[2].split(';').collect();
    assert_eq!(b, vec![B, "", "evasa", "", b[4], "", "", ""]);
    let one = human(
        &s,
        &["mailbox", "search", "--address", "bruno", "--csv"],
        "",
    );
    assert_eq!(one.lines().count(), 2);
    let doc = s.json(&["mailbox", "search", "--csv"]);
    assert_eq!(doc["rows"], 2);
    assert_eq!(doc["truncated"], false);
}
