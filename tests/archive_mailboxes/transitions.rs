//! Revoke and reactivate (PROVISIONING.md §4): recorded, shown `in revoca` / `in
//! riattivazione`, applied by the job runner; only from `evasa` / `revocata`; outcome per
//! mailbox.

use crate::support::cli::*;
use crate::support::*;
use crate::*;

#[test]
fn revoke_needs_evasa_and_is_applied_by_the_job_runner() {
    let s = server().users(&[A, B, C]).start();
    assert_eq!(state(&s, A), "evasa");
    let r = json_exit(&s, &["mailbox", "revoke", A, "--reason", "expiry"], "", 0);
    assert_eq!(outcomes(&r), vec![pos(A)]);
    assert_eq!(state(&s, A), "in revoca");
    assert_eq!(
        show(&s, A)["state"],
        "active",
        "the store waits for the job runner"
    );
    // No operation while the transition is pending.
    let again = json_exit(&s, &["mailbox", "revoke", A, "--reason", "expiry"], "", 1);
    assert_eq!(outcomes(&again), vec![neg(A)]);
    assert!(again[0]["reason"].as_str().unwrap().contains("in revoca"));
    refused(
        &s,
        &["mailbox", "change", A, "--description", "Anna"],
        "",
        "conflict",
    );

    let done = jobs(&s);
    assert_eq!(done["done"][0]["job"], "mailbox.revoke", "{done}");
    assert_eq!(done["done"][0]["target"], A);
    assert_eq!(state(&s, A), "revocata");
    assert_eq!(show(&s, A)["state"], "revoked");
    assert_eq!(show(&s, A)["archive"]["revoke_reason"], "expiry");
    let idle = jobs(&s);
    assert!(idle["done"].as_array().unwrap().is_empty(), "{idle}");

    // Many at once: an outcome per mailbox, exit 1 when any is negative, the others done.
    let batch = json_exit(
        &s,
        &["mailbox", "revoke", A, B, C, "--reason", "non-payment"],
        "",
        1,
    );
    assert_eq!(outcomes(&batch), vec![neg(A), pos(B), pos(C)]);
    assert!(batch[0]["reason"].as_str().unwrap().contains("revocata"));
    let human_out = s.pecctl(&["mailbox", "revoke", A, "--reason", "expiry"], "");
    assert_eq!(human_out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&human_out.stdout).contains("Esito negativo"));
    jobs(&s);
    assert_eq!(state(&s, B), "revocata");
    assert_eq!(show(&s, B)["archive"]["revoke_reason"], "non-payment");

    // An unknown mailbox in a batch refuses the whole batch.
    let s2 = server().users(&[A]).start();
    refused(
        &s2,
        &[
            "mailbox",
            "revoke",
            A,
            "nessuno@pec.localhost",
            "--reason",
            "expiry",
        ],
        "",
        "not_found",
    );
    assert_eq!(state(&s2, A), "evasa");
    // A reason that does not exist is a usage error.
    assert_eq!(
        s2.pecctl(&["mailbox", "revoke", A, "--reason", "boh"], "")
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn customer_request_revocation_needs_a_form() {
    let s = server().users(&[A]).start();
    let e = refused(
        &s,
        &["mailbox", "revoke", A, "--reason", "customer-request"],
        "",
        "invalid_value",
    );
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("modulo di revoca"));
    assert_eq!(state(&s, A), "evasa", "nothing changed");
    let dir = tempfile::tempdir().unwrap();
    let form = dir.path().join("modulo-revoca.pdf");
    std::fs::write(&form, b"%PDF-1.4 modulo firmato\n").unwrap();
    let f = form.to_str().unwrap();
    refused(
        &s,
        &["mailbox", "revoke", A, "--reason", "expiry", "--form", f],
        "",
        "invalid_value",
    );
    assert_eq!(state(&s, A), "evasa");
    let r = json_exit(
        &s,
        &[
            "mailbox",
            "revoke",
            A,
            "--reason",
            "customer-request",
            "--form",
            f,
        ],
        "",
        0,
    );
    assert_eq!(outcomes(&r), vec![pos(A)]);
    let shown = show(&s, A);
    assert_eq!(shown["archive"]["revoke_form"], "modulo-revoca.pdf");
    assert_eq!(shown["archive"]["revoke_reason"], "customer-request");
    jobs(&s);
    assert_eq!(state(&s, A), "revocata");
}

#[test]
fn reactivate_only_from_revocata() {
    let s = server().users(&[A]).start();
    let r = json_exit(&s, &["mailbox", "reactivate", A], "", 1);
    assert_eq!(outcomes(&r), vec![neg(A)]);
    assert_eq!(state(&s, A), "evasa");
    json_exit(&s, &["mailbox", "revoke", A, "--reason", "expiry"], "", 0);
    let r = json_exit(&s, &["mailbox", "reactivate", A], "", 1);
    assert_eq!(outcomes(&r), vec![neg(A)], "still in revoca");
    jobs(&s);
    let r = json_exit(&s, &["mailbox", "reactivate", A], "", 0);
    assert_eq!(outcomes(&r), vec![pos(A)]);
    assert_eq!(state(&s, A), "in riattivazione");
    let services = json_exit(&s, &["mailbox", "services", A, "--sms", "on"], "", 1);
    assert_eq!(
        outcomes(&services),
        vec![neg(A)],
        "no service change while pending"
    );
    let done = jobs(&s);
    assert_eq!(done["done"][0]["job"], "mailbox.reactivate");
    assert_eq!(state(&s, A), "evasa");
    assert_eq!(show(&s, A)["state"], "active");
    assert!(show(&s, A)["archive"]["revoke_reason"].is_null());
    let actions = audited(&s, A);
    for a in ["mailbox.create", "mailbox.revoke", "mailbox.reactivate"] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
    let history = show(&s, A)["archive"]["history"].as_array().unwrap().len();
    assert!(
        history >= 4,
        "requests and their application are in the history"
    );
}
