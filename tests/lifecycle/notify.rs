//! Notices about a mailbox's content (PROVISIONING.md §8): new-mail notifications (at most
//! five addresses, at most two a day, only for unread certified messages), the daily SMS
//! written to the spool (only for new certified messages), and the full-mailbox notice.

use super::*;

const A: &str = "anna@pec.localhost";
const B: &str = "bruno@pec.localhost";

fn notify_addresses() -> Vec<String> {
    (1..=5).map(|i| format!("n{i}@pec.localhost")).collect()
}

const MARK_READ: &str = r#"
import imaplib, ssl, sys
ca, port, user, pw = sys.argv[1:5]
m = imaplib.IMAP4_SSL('localhost', int(port), ssl_context=ssl.create_default_context(cafile=ca))
m.login(user, pw)
m.select('INBOX')
m.store('1:*', '+FLAGS', '\\Seen')
m.logout()
"#;

#[tokio::test(flavor = "multi_thread")]
async fn new_mail_notifications_go_to_at_most_five_addresses_at_most_twice_a_day() {
    let ns = notify_addresses();
    let mut users = vec![A, B];
    users.extend(ns.iter().map(String::as_str));
    let mut s = server().users(&users).extra(NO_SCHEDULE).start();
    customer(&s);
    assign(&s, A);
    let six = format!("{};n6@pec.localhost", ns.join(";"));
    refused(
        &s,
        &["mailbox", "settings", A, "--notify", &six],
        "",
        "invalid_value",
    );
    assert_eq!(
        s.json(&["mailbox", "settings", A])["notify"],
        serde_json::json!([])
    );
    let set = s.json(&["mailbox", "settings", A, "--notify", &ns.join(";")]);
    assert_eq!(set["notify"], serde_json::json!(ns));

    assert_eq!(count(&jobs(&s), "notify.mail"), 0, "nothing arrived");
    certified(&s, B, A, "uno").await;
    assert_eq!(count(&jobs(&s), "notify.mail"), 1);
    assert_eq!(count(&jobs(&s), "notify.mail"), 0, "run twice, notify once");
    certified(&s, B, A, "due").await;
    assert_eq!(count(&jobs(&s), "notify.mail"), 1, "the second of the day");
    certified(&s, B, A, "tre").await;
    assert_eq!(count(&jobs(&s), "notify.mail"), 0, "at most two a day");

    // The next day the third message, still unread, is notified.
    restart_at(&mut s, 1, "");
    assert_eq!(count(&jobs(&s), "notify.mail"), 1);
    // A certified message read before the run is not notified.
    certified(&s, B, A, "quattro").await;
    s.python(MARK_READ, "imaps", A);
    assert_eq!(count(&jobs(&s), "notify.mail"), 0, "only unread messages");

    for n in &ns {
        let got = notices_of(&s, n, "notify.mail");
        assert_eq!(got.len(), 3, "{n}");
        assert!(got[0].text.contains(A), "{}", got[0].text);
        assert!(got[0].text.contains("1 messaggi"), "{}", got[0].text);
    }
    // The sender's receipts are not certified messages for it: B has no notices anyway.
    assert!(notices(&s, B).is_empty());
}

/// The spool's SMS, as JSON documents.
fn spooled(dir: &std::path::Path) -> Vec<serde_json::Value> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<serde_json::Value> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
        .collect();
    out.sort_by_key(|v| v["created"].as_str().unwrap_or_default().to_string());
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daily_sms_is_spooled_once_a_day_for_new_certified_messages_only() {
    const C: &str = "carla@pec.localhost";
    let mut s = server().users(&[A, B, C]).extra(NO_SCHEDULE).start();
    let spool = s.dir.path().join("sms");
    let sms_config = format!("\n[sms]\nspool = \"{}\"\n", spool.display());
    restart_at(&mut s, 0, &sms_config);
    customer(&s);
    assign(&s, A);
    assign(&s, B);
    json_exit(
        &s,
        &[
            "mailbox",
            "assign",
            C,
            "--customer",
            "C1",
            "--account",
            "A1",
            "--type",
            "base",
        ],
        "",
        0,
    );
    const PHONE: &str = "+393331234567";
    // SMS only where the operator enabled the service (not on a base mailbox), with a number.
    refused(
        &s,
        &[
            "mailbox",
            "settings",
            C,
            "--sms",
            "on",
            "--sms-phone",
            PHONE,
        ],
        "",
        "invalid_value",
    );
    refused(
        &s,
        &["mailbox", "settings", A, "--sms", "on"],
        "",
        "invalid_value",
    );
    for who in [A, B] {
        let set = s.json(&[
            "mailbox",
            "settings",
            who,
            "--sms",
            "on",
            "--sms-phone",
            PHONE,
            "--sms-hour",
            "0",
        ]);
        assert_eq!(set["sms"], true);
    }

    assert_eq!(count(&jobs(&s), "notify.sms"), 0, "nothing arrived yet");
    restart_at(&mut s, 1, &sms_config);
    certified(&s, B, A, "uno").await;
    certified(&s, B, A, "due").await;
    let r = jobs(&s);
    assert_eq!(
        done(&r),
        vec![("notify.sms".to_string(), A.to_string())],
        "{r}"
    );
    assert_eq!(count(&jobs(&s), "notify.sms"), 0, "once a day");
    certified(&s, B, A, "tre").await;
    assert_eq!(
        count(&jobs(&s), "notify.sms"),
        0,
        "once a day, whatever arrives"
    );
    let sms = spooled(&spool);
    assert_eq!(sms.len(), 1, "{sms:?}");
    assert_eq!(sms[0]["to"], PHONE);
    assert_eq!(sms[0]["mailbox"], A);
    assert_eq!(sms[0]["messages"], 2);
    assert!(sms[0]["text"].as_str().unwrap().contains(A));

    restart_at(&mut s, 2, &sms_config);
    assert_eq!(count(&jobs(&s), "notify.sms"), 1);
    let sms = spooled(&spool);
    assert_eq!(sms.len(), 2);
    assert_eq!(sms[1]["messages"], 1, "only what arrived since: {sms:?}");
    // B's INBOX holds receipts only: never an SMS for B.
    assert!(sms.iter().all(|m| m["mailbox"] == A));
}

const APPEND: &str = r#"
import imaplib, ssl, sys
ca, port, user, pw = sys.argv[1:5]
m = imaplib.IMAP4_SSL('localhost', int(port), ssl_context=ssl.create_default_context(cafile=ca))
m.login(user, pw)
body = b'Subject: grande\r\n\r\n' + b'x' * 37000 + b'\r\n'
typ, _ = m.append('INBOX', None, None, body)
assert typ == 'OK', typ
m.logout()
"#;

#[test]
fn a_mailbox_past_90_percent_gets_the_full_mailbox_notice_once() {
    let quota = "\n[archive.ordinary]\nquota_bytes = 40000\narchive_gb = 1\nsms = true\n";
    let mut s = server()
        .users(&[A])
        .extra(&format!("{NO_SCHEDULE}{quota}"))
        .start();
    customer(&s);
    assign(&s, A);
    assert_eq!(count(&jobs(&s), "mailbox.full"), 0, "empty");
    s.python(APPEND, "imaps", A);
    let r = jobs(&s);
    assert_eq!(
        done(&r),
        vec![("mailbox.full".to_string(), A.to_string())],
        "{r}"
    );
    assert_eq!(count(&jobs(&s), "mailbox.full"), 0, "once a day");
    let full = notices_of(&s, A, "mailbox.full");
    assert_eq!(full.len(), 1);
    assert!(
        full[0].subject.contains("quasi piena"),
        "{}",
        full[0].subject
    );
    assert!(full[0].text.contains("mancata consegna"));
    restart_at(&mut s, 1, quota);
    assert_eq!(
        count(&jobs(&s), "mailbox.full"),
        0,
        "once per crossing, not every day it stays full"
    );
}
