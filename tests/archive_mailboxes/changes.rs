//! Data changes of an `evasa` mailbox (PROVISIONING.md §4): address within 15 days of the
//! request's insertion, description, expiry; the massive flag for entitled operators; scope.

use crate::support::cli::*;
use crate::support::*;
use crate::*;

#[test]
fn address_change_is_refused_after_15_days() {
    let mut s = server().users(&[A, B]).start();
    let moved = "anna.rossi@pec.localhost";
    let c = json_exit(&s, &["mailbox", "change", A, "--new-address", moved], "", 0);
    assert_eq!(c["address"], moved);
    assert_eq!(
        show(&s, moved)["address"],
        moved,
        "the store's mailbox moved with it"
    );
    refused(&s, &["mailbox", "show", A], "", "no_mailbox");
    // The new address must be free and in a domain the account may use.
    refused(
        &s,
        &["mailbox", "change", B, "--new-address", moved],
        "",
        "conflict",
    );
    refused(
        &s,
        &["mailbox", "change", B, "--new-address", "b@example.com"],
        "",
        "invalid_value",
    );
    assert_eq!(show(&s, B)["address"], B);
    let search = s.json(&["mailbox", "search", "--address", "anna"]);
    assert_eq!(search.as_array().unwrap().len(), 1);
    assert_eq!(search[0]["address"], moved);

    // Sixteen days later (the archive's clock moved), the address is fixed.
    s.terminate();
    s.write_config(&ServerConfig::new().extra("\n[pec]\nclock_offset_seconds = 1382400\n"));
    s.spawn();
    let e = refused(
        &s,
        &[
            "mailbox",
            "change",
            B,
            "--new-address",
            "bruno.b@pec.localhost",
        ],
        "",
        "conflict",
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("15 giorni"),
        "{e}"
    );
    assert_eq!(show(&s, B)["address"], B, "nothing changed");
    // Description and expiry may still change.
    let c = json_exit(
        &s,
        &[
            "mailbox",
            "change",
            B,
            "--description",
            "Bruno Bianchi",
            "--expiry",
            "2099-12-31",
        ],
        "",
        0,
    );
    assert_eq!(c["description"], "Bruno Bianchi");
    assert_eq!(show(&s, B)["archive"]["expiry"], "2099-12-31");
    for bad in ["2099-02-30", "31/12/2099", "2000-01-01"] {
        refused(
            &s,
            &["mailbox", "change", B, "--expiry", bad],
            "",
            "invalid_value",
        );
    }
    refused(&s, &["mailbox", "change", B], "", "invalid_value");
    assert_eq!(show(&s, B)["archive"]["expiry"], "2099-12-31", "unchanged");
    let actions = audited(&s, B);
    assert_eq!(
        actions.iter().filter(|a| *a == "mailbox.change").count(),
        1,
        "{actions:?}"
    );
}

#[test]
fn massive_needs_the_entitlement_and_raises_the_limit() {
    let s = server().users(&[A]).start();
    customers(&s);
    assign(&s, A, "A1", "standard");
    let before = show(&s, A)["effective_sender_per_minute"].as_u64().unwrap();
    let e = refused(
        &s,
        &["--as", "int1", "mailbox", "massive", A, "on"],
        "",
        "forbidden",
    );
    assert!(e["error"]["message"].as_str().unwrap().contains("massive"));
    assert_eq!(show(&s, A)["effective_sender_per_minute"], before);
    assert_eq!(show(&s, A)["archive"]["massive"], false);
    // Entitled, but the mailbox has no contract data: the §3 refusal.
    let e = refused(
        &s,
        &["--as", "mas1", "mailbox", "massive", A, "on"],
        "",
        "forbidden",
    );
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Servizi NON attivati, per le seguenti caselle"));
    let on = json_exit(&s, &["mailbox", "massive", A, "on"], "", 0);
    assert_eq!(on["massive"], true);
    assert_eq!(show(&s, A)["effective_sender_per_minute"], 60);
    json_exit(&s, &["mailbox", "massive", A, "off"], "", 0);
    assert_eq!(show(&s, A)["effective_sender_per_minute"], before);
    assert!(show(&s, A)["sender_per_minute"].is_null());
    assert_eq!(
        s.pecctl(&["mailbox", "massive", A, "maybe"], "")
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        audited(&s, A)
            .iter()
            .filter(|a| *a == "mailbox.massive")
            .count(),
        2
    );
}

#[test]
fn out_of_scope_records_are_refused() {
    let s = server().users(&[A, B]).start();
    customers(&s);
    assign(&s, A, "A1", "standard");
    // int2 works on account A2: A (account A1) is out of its scope.
    for args in [
        vec!["mailbox", "revoke", A, "--reason", "expiry"],
        vec!["mailbox", "reactivate", A],
        vec!["mailbox", "change", A, "--description", "x"],
        vec!["mailbox", "services", A, "--sms", "on"],
        vec!["mailbox", "to-standard", A],
        vec!["mailbox", "show", A],
    ] {
        let mut full = vec!["--as", "int2"];
        full.extend(args.iter());
        let e = refused(&s, &full, "", "forbidden");
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("fuori dall'ambito"),
            "{args:?}: {e}"
        );
    }
    assert_eq!(state(&s, A), "evasa", "nothing changed");
    // int1 sees A but A has no contract: changes are for administrators, with the list.
    let e = refused(
        &s,
        &[
            "--as", "int1", "mailbox", "revoke", A, B, "--reason", "expiry",
        ],
        "",
        "forbidden",
    );
    assert!(e["error"]["message"].as_str().unwrap().contains(A));
    assert_eq!(e["error"]["details"].as_array().unwrap().len(), 2);
    assert_eq!(state(&s, A), "evasa");
    assert_eq!(state(&s, B), "evasa");
    // Its own mailbox's detail it may read.
    let d = s.json(&["--as", "int1", "mailbox", "show", A]);
    assert_eq!(d["archive"]["account"], "A1");
    assert_eq!(d["archive"]["request"], "non definito");
    // An unknown operator is refused before anything runs.
    refused(
        &s,
        &["--as", "nobody", "mailbox", "search"],
        "",
        "not_found",
    );
}
