//! Services (PROVISIONING.md §4): archive size from the fixed list, SMS, restore quota; only
//! on `evasa` or `da elaborare` mailboxes; batch rules; outcome per mailbox.

use crate::support::cli::*;
use crate::support::*;
use crate::*;

fn archive_gb(s: &Server, address: &str) -> String {
    show(s, address)["archive"]["services"][0]["quantity"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn batch_services_outcomes_per_mailbox() {
    let s = server().users(&[A, B, C]).start();
    json_exit(&s, &["mailbox", "revoke", B, "--reason", "expiry"], "", 0);
    jobs(&s);
    let r = json_exit(
        &s,
        &[
            "mailbox",
            "services",
            A,
            B,
            C,
            "--archive-gb",
            "2",
            "--order",
            "ORD-7",
        ],
        "",
        1,
    );
    assert_eq!(outcomes(&r), vec![pos(A), neg(B), pos(C)]);
    assert!(r[1]["reason"].as_str().unwrap().contains("revocata"), "{r}");
    assert_eq!(archive_gb(&s, A), "2 GB");
    assert_eq!(archive_gb(&s, B), "0 GB");
    assert!(audited(&s, A).contains(&"mailbox.services".to_string()));
    assert!(!audited(&s, B).contains(&"mailbox.services".to_string()));
    let history = show(&s, A)["archive"]["history"].clone();
    assert!(history.to_string().contains("ORD-7"), "{history}");
    // Human output lists each mailbox with its outcome.
    let out = s.pecctl(&["mailbox", "services", A, "--sms", "on"], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("{A}\tEsito positivo")));
    let shown = show(&s, A)["archive"]["services"].clone();
    assert_eq!(shown[1]["enabled"], true, "{shown}");
    // Restoring the quota: back to the default.
    json_exit(&s, &["mailbox", "services", C, "--restore-quota"], "", 0);
    assert_eq!(show(&s, C)["quota_bytes"].as_u64().unwrap(), 1 << 30);
}

#[test]
fn services_batch_cannot_mix_add_and_remove() {
    let s = server().users(&[A, B]).start();
    json_exit(&s, &["mailbox", "services", A, "--archive-gb", "5"], "", 0);
    // 5 -> 3 lowers A while 0 -> 3 raises B: refused whole.
    let e = refused(
        &s,
        &["mailbox", "services", A, B, "--archive-gb", "3"],
        "",
        "invalid_value",
    );
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("aggiungere e togliere"));
    assert_eq!(archive_gb(&s, A), "5 GB", "nothing changed");
    assert_eq!(archive_gb(&s, B), "0 GB");
    // Nor the two domain families.
    human(
        &s,
        &[
            "domain",
            "request",
            "ente.pa.pec.localhost",
            "--family",
            "pa",
        ],
        "",
    );
    human(&s, &["domain", "enable", "ente.pa.pec.localhost"], "");
    let p = "protocollo@ente.pa.pec.localhost";
    s.create_mailbox(p);
    let e = refused(
        &s,
        &["mailbox", "services", B, p, "--sms", "on"],
        "",
        "invalid_value",
    );
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("due tipi di dominio"));
    assert_eq!(show(&s, p)["archive"]["services"][1]["enabled"], false);
    // Public administration: at least 2 GB; sizes only from the list.
    refused(
        &s,
        &["mailbox", "services", p, "--archive-gb", "1"],
        "",
        "invalid_value",
    );
    for bad in ["4", "0", "20"] {
        refused(
            &s,
            &["mailbox", "services", B, "--archive-gb", bad],
            "",
            "invalid_value",
        );
    }
    refused(&s, &["mailbox", "services", B], "", "invalid_value");
    assert_eq!(archive_gb(&s, B), "0 GB");
    json_exit(&s, &["mailbox", "services", p, "--archive-gb", "2"], "", 0);
    assert_eq!(archive_gb(&s, p), "2 GB");
}

#[test]
fn standard_mailboxes_keep_sms_and_quota_base_ones_need_to_standard() {
    let s = server().users(&[A, B]).start();
    customers(&s);
    assign(&s, A, "A1", "standard");
    assign(&s, B, "A1", "base");
    let r = json_exit(&s, &["mailbox", "services", A, "--sms", "off"], "", 1);
    assert_eq!(outcomes(&r), vec![neg(A)]);
    assert!(r[0]["reason"].as_str().unwrap().contains("standard"));
    assert_eq!(show(&s, A)["archive"]["services"][1]["enabled"], true);
    let r = json_exit(&s, &["mailbox", "services", B, "--archive-gb", "2"], "", 1);
    assert!(r[0]["reason"].as_str().unwrap().contains("to-standard"));
    assert_eq!(archive_gb(&s, B), "0 GB");
}
