//! The IMAP service against the real pecd over TLS: every command of issue 4 with a raw
//! client (exact bytes), the rules of CLIENTS.md §1 and a regression test for each
//! applicable bug of CLIENTS.md §5, named after it.

mod support;

use support::imap::Imap;
use support::*;

const MARIO: &str = "mario@pec.localhost";
const LUIGI: &str = "luigi@pec.localhost";
const USERS: &[&str] = &[MARIO, LUIGI];

fn tagged(r: &[String]) -> &str {
    r.last().map(String::as_str).unwrap_or("")
}

fn has(r: &[String], needle: &str) -> bool {
    r.iter().any(|l| l.contains(needle))
}

#[tokio::test]
async fn maddy_761_golden_capabilities_and_mox_388_no_uidonly() {
    // CLIENTS.md §5 bug 13 (golden capability lists) and bug 4 (no UIDONLY, no IMAP4rev2).
    let s = server().users(USERS).start();
    let (mut c, greeting) = Imap::connect(&s).await;
    assert_eq!(
        greeting,
        "* OK [CAPABILITY IMAP4REV1 SASL-IR LITERAL+ ID ENABLE AUTH=PLAIN] pecd IMAP4rev1 ready\r\n"
    );
    let r = c.ok("CAPABILITY").await;
    assert_eq!(
        r[0],
        "* CAPABILITY IMAP4REV1 SASL-IR LITERAL+ ID ENABLE AUTH=PLAIN\r\n"
    );
    let r = c.ok(&format!("LOGIN {MARIO} {PASSWORD}")).await;
    let after = "IMAP4REV1 SASL-IR LITERAL+ ID ENABLE IDLE UIDPLUS MOVE SPECIAL-USE NAMESPACE UNSELECT CHILDREN LIST-EXTENDED LIST-STATUS CONDSTORE QRESYNC QUOTA QUOTA=RES-STORAGE UTF8=ACCEPT ESEARCH STATUS=SIZE";
    assert!(
        tagged(&r).contains(&format!("[CAPABILITY {after}]")),
        "{r:?}"
    );
    let r = c.ok("CAPABILITY").await;
    assert_eq!(r[0], format!("* CAPABILITY {after}\r\n"));
    assert!(!r[0].contains("IMAP4rev2") && !r[0].contains("UIDONLY"));
    let r = c.ok("LOGOUT").await;
    assert!(r[0].starts_with("* BYE"));
    assert_eq!(c.line().await, "", "connection closed after LOGOUT");
}

#[tokio::test]
async fn login_errors_do_not_reveal_addresses() {
    let s = server().users(USERS).start();
    let (mut c, _) = Imap::connect(&s).await;
    let wrong = c.cmd(&format!("LOGIN {MARIO} wrong-password")).await;
    let unknown = c.cmd("LOGIN nobody@pec.localhost wrong-password").await;
    let strip = |l: &str| l.split_once(' ').unwrap().1.to_string();
    assert_eq!(strip(tagged(&wrong)), strip(tagged(&unknown)));
    assert!(tagged(&wrong).contains("NO [AUTHENTICATIONFAILED]"));
    let r = c.cmd("SELECT INBOX").await;
    assert!(tagged(&r).contains("BAD"), "not logged in: {r:?}");
    // AUTHENTICATE PLAIN with an initial response (SASL-IR) and with a continuation.
    let plain = smtp::plain(MARIO, PASSWORD);
    let r = c.cmd(&format!("AUTHENTICATE PLAIN {plain}")).await;
    assert!(tagged(&r).contains("OK"), "{r:?}");
    let (mut c, _) = Imap::connect(&s).await;
    c.send(b"a1 AUTHENTICATE PLAIN\r\n").await;
    assert_eq!(c.line().await, "+ \r\n");
    c.send(format!("{plain}\r\n").as_bytes()).await;
    assert!(tagged(&c.until("a1").await).contains("OK"));
    // An authorization identity naming another mailbox never logs in.
    let (mut c, _) = Imap::connect(&s).await;
    let other = smtp::b64(format!("{LUIGI}\0{MARIO}\0{PASSWORD}").as_bytes());
    let r = c.cmd(&format!("AUTHENTICATE PLAIN {other}")).await;
    assert!(tagged(&r).contains("NO"), "{r:?}");
    c.send(b"a2 AUTHENTICATE PLAIN\r\n").await;
    assert_eq!(c.line().await, "+ \r\n");
    c.send(b"*\r\n").await;
    assert!(tagged(&c.until("a2").await).contains("BAD"), "cancelled");
}

#[tokio::test]
async fn select_append_fetch_store_search_expunge() {
    let s = server().users(USERS).start();
    let mut c = Imap::login(&s, MARIO).await;
    let msg = message("hello", 300);
    let r = c.append("INBOX", "\\Seen NonJunk", &msg).await;
    assert!(tagged(&r).contains("OK [APPENDUID "), "{r:?}");
    let uidvalidity: u32 = tagged(&r).split(' ').nth(3).unwrap().parse().unwrap();
    assert!(tagged(&r).contains(&format!("[APPENDUID {uidvalidity} 1]")));
    c.append("INBOX", "", &message("second", 200)).await;
    let r = c.ok("SELECT INBOX").await;
    assert!(has(&r, "* 2 EXISTS"), "{r:?}");
    assert!(has(&r, "* 2 RECENT"));
    assert!(has(&r, "[PERMANENTFLAGS (") && has(&r, "\\*)]"));
    assert!(has(&r, &format!("[UIDVALIDITY {uidvalidity}]")));
    assert!(has(&r, "[UIDNEXT 3]"));
    assert!(has(&r, "[UNSEEN 2]"));
    assert!(has(&r, "[HIGHESTMODSEQ "));
    assert!(tagged(&r).contains("[READ-WRITE]"));

    let r = c.ok("FETCH 1:* (UID FLAGS RFC822.SIZE)").await;
    assert!(
        has(
            &r,
            &format!(
                "* 1 FETCH (UID 1 FLAGS (\\Seen NonJunk \\Recent) RFC822.SIZE {})",
                msg.len()
            )
        ),
        "{r:?}"
    );
    let r = c
        .ok("UID FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject)])")
        .await;
    assert!(has(&r, "Subject: hello\r\n"), "{r:?}");
    let r = c.ok("FETCH 2 (BODY[TEXT]<0.5>)").await;
    assert!(has(&r, "BODY[TEXT]<0> \"Lorem\""), "{r:?}");
    assert!(has(&r, "\\Seen"), "BODY[] without PEEK sets \\Seen: {r:?}");
    let r = c.ok("FETCH 1 (ENVELOPE BODYSTRUCTURE INTERNALDATE)").await;
    assert!(
        has(
            &r,
            "ENVELOPE (\"Mon, 02 Nov 2026 10:00:00 +0100\" \"hello\""
        ),
        "{r:?}"
    );
    assert!(
        r[0].to_ascii_uppercase().contains(
            "BODYSTRUCTURE (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\""
        ),
        "{r:?}"
    );
    let r = c.ok("FETCH 1 (RFC822)").await;
    assert!(has(&r, "Subject: hello"));

    let r = c.ok("STORE 1 +FLAGS (\\Flagged $Forwarded)").await;
    assert!(
        has(
            &r,
            "* 1 FETCH (FLAGS (\\Seen \\Flagged NonJunk $Forwarded \\Recent))"
        ),
        "{r:?}"
    );
    let r = c.ok("STORE 1 -FLAGS.SILENT (\\Flagged)").await;
    assert_eq!(r.len(), 1, "silent: {r:?}");
    let r = c.ok("SEARCH UNFLAGGED SUBJECT hello").await;
    assert_eq!(r[0], "* SEARCH 1\r\n");
    let r = c
        .ok("UID SEARCH CHARSET UTF-8 BODY lorem NOT KEYWORD $Forwarded")
        .await;
    assert_eq!(r[0], "* SEARCH 2\r\n");
    let r = c.ok("SEARCH RETURN (MIN MAX COUNT) ALL").await;
    assert_eq!(
        r[0],
        format!(
            "* ESEARCH (TAG \"{}\") MIN 1 MAX 2 COUNT 2\r\n",
            tagged(&r).split(' ').next().unwrap()
        )
    );
    let r = c.cmd("SEARCH CHARSET KOI8-R ALL").await;
    assert!(tagged(&r).contains("NO [BADCHARSET"), "{r:?}");

    c.ok("STORE 2 +FLAGS (\\Deleted)").await;
    let r = c.ok("EXPUNGE").await;
    assert_eq!(r[0], "* 2 EXPUNGE\r\n");
    let r = c
        .ok("STATUS INBOX (MESSAGES UIDNEXT UNSEEN SIZE HIGHESTMODSEQ)")
        .await;
    assert!(
        r[0].starts_with("* STATUS INBOX (MESSAGES 1 UIDNEXT 3 UNSEEN 0 SIZE "),
        "{r:?}"
    );
    let r = c.cmd("FETCH 5 FLAGS").await;
    assert!(tagged(&r).contains("BAD"), "{r:?}");
    let r = c.ok("CLOSE").await;
    assert_eq!(r.len(), 1);
    let r = c.cmd("FETCH 1 FLAGS").await;
    assert!(tagged(&r).contains("BAD"), "no mailbox selected: {r:?}");
}

#[tokio::test]
async fn folders_list_and_protection() {
    let s = server().users(USERS).start();
    let mut c = Imap::login(&s, MARIO).await;
    // CLIENTS.md §5 bug 6 (mox #66): special-use attributes without being asked.
    let r = c.ok("LIST \"\" *").await;
    for (attr, name) in [
        ("\\Sent", "Sent"),
        ("\\Drafts", "Drafts"),
        ("\\Trash", "Trash"),
        ("\\Junk", "Junk"),
        ("\\Archive", "Archive"),
    ] {
        assert!(
            has(&r, &format!("{attr}) \"/\" {name}\r\n")),
            "{attr}: {r:?}"
        );
    }
    assert!(has(&r, "* LIST (\\HasNoChildren) \"/\" INBOX\r\n"), "{r:?}");
    let r = c.ok("LSUB \"\" *").await;
    assert!(has(&r, "* LSUB (\\Sent) \"/\" Sent\r\n"), "LSUB too: {r:?}");
    let r = c.ok("LIST \"\" \"\"").await;
    assert_eq!(r[0], "* LIST (\\Noselect) \"/\" \"\"\r\n");

    c.ok("CREATE Progetti/2026").await;
    let r = c.ok("LIST \"\" %").await;
    assert!(
        has(&r, "* LIST (\\HasChildren) \"/\" Progetti\r\n"),
        "{r:?}"
    );
    let r = c.ok("LIST \"\" Progetti/%").await;
    assert!(has(&r, "\"/\" Progetti/2026\r\n"));
    c.ok("RENAME Progetti Lavori").await;
    let r = c.ok("LIST \"\" *").await;
    assert!(has(&r, "Lavori/2026") && !has(&r, "Progetti"), "{r:?}");
    c.ok("UNSUBSCRIBE Lavori/2026").await;
    // Thunderbird's LIST (CLIENTS.md §1).
    let r = c
        .ok("LIST (SUBSCRIBED) \"\" \"*\" RETURN (SPECIAL-USE)")
        .await;
    assert!(
        has(&r, "\\Subscribed \\Sent") || has(&r, "\\Sent \\Subscribed"),
        "{r:?}"
    );
    assert!(!has(&r, "Lavori/2026"), "unsubscribed: {r:?}");
    let r = c
        .ok("LIST \"\" (INBOX Drafts) RETURN (STATUS (MESSAGES UIDNEXT))")
        .await;
    assert!(has(&r, "* STATUS INBOX (MESSAGES 0 UIDNEXT 1)"), "{r:?}");
    assert!(has(&r, "* STATUS Drafts (MESSAGES 0 UIDNEXT 1)"), "{r:?}");

    for protected in ["INBOX", "Sent", "Trash"] {
        let r = c.cmd(&format!("DELETE {protected}")).await;
        assert!(
            tagged(&r).contains("NO [CANNOT]") || tagged(&r).contains("NO"),
            "{protected}: {r:?}"
        );
        let r = c.cmd(&format!("RENAME {protected} Other")).await;
        assert!(tagged(&r).contains("NO [CANNOT]"), "{protected}: {r:?}");
    }
    let r = c.cmd("DELETE Lavori").await;
    assert!(tagged(&r).contains("NO"), "has children: {r:?}");
    c.ok("DELETE Lavori/2026").await;
    c.ok("DELETE Lavori").await;
    let r = c.cmd("SELECT Lavori").await;
    assert!(tagged(&r).contains("NO [NONEXISTENT]"), "{r:?}");
    // Names outside ASCII travel in modified UTF-7 unless UTF8=ACCEPT is enabled.
    c.ok("CREATE \"Citt&AOA-\"").await;
    let r = c.ok("LIST \"\" Citt*").await;
    assert!(has(&r, "\"/\" Citt&AOA-\r\n"), "{r:?}");
    let r = c.ok("ENABLE UTF8=ACCEPT").await;
    assert_eq!(r[0], "* ENABLED UTF8=ACCEPT\r\n");
    let r = c.ok("LIST \"\" Citt*").await;
    assert!(has(&r, "Città"), "{r:?}");
    let r = c.ok("NAMESPACE").await;
    assert_eq!(r[0], "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
    let r = c.ok("GETQUOTAROOT INBOX").await;
    assert_eq!(r[0], "* QUOTAROOT INBOX \"\"\r\n");
    assert!(r[1].starts_with("* QUOTA \"\" (STORAGE 0 "), "{r:?}");
}

#[tokio::test]
async fn copy_move_uidplus_and_missing_uids() {
    let s = server().users(USERS).start();
    let mut c = Imap::login(&s, MARIO).await;
    for i in 0..3 {
        c.append("INBOX", "", &message(&format!("m{i}"), 100)).await;
    }
    let r = c.ok("SELECT Archive").await;
    let archive_validity = r
        .iter()
        .find(|l| l.contains("UIDVALIDITY"))
        .unwrap()
        .split_whitespace()
        .nth(3)
        .unwrap()
        .trim_end_matches(']')
        .to_string();
    c.ok("SELECT INBOX").await;
    let r = c.ok("UID COPY 1:2 Archive").await;
    assert!(
        tagged(&r).contains(&format!("[COPYUID {archive_validity} 1:2 1:2]")),
        "{r:?}"
    );
    let r = c.ok("UID MOVE 3 Archive").await;
    assert!(
        has(&r, &format!("* OK [COPYUID {archive_validity} 3 3]")),
        "{r:?}"
    );
    assert!(has(&r, "* 3 EXPUNGE"), "{r:?}");
    // CLIENTS.md §5 bug 7 (Stalwart #1201): MOVE, COPY, STORE of missing UIDs are OK.
    let r = c.cmd("UID MOVE 99 Archive").await;
    assert!(tagged(&r).contains("OK"), "{r:?}");
    let r = c.cmd("UID COPY 99:100 Archive").await;
    assert!(tagged(&r).contains("OK"), "{r:?}");
    let r = c.cmd("UID STORE 99 +FLAGS (\\Seen)").await;
    assert!(tagged(&r).contains("OK") && r.len() == 1, "{r:?}");
    let r = c.cmd("UID COPY 1 Nowhere").await;
    assert!(tagged(&r).contains("NO [TRYCREATE]"), "{r:?}");
    let r = c.ok("STATUS Archive (MESSAGES)").await;
    assert_eq!(r[0], "* STATUS Archive (MESSAGES 3)\r\n");
    c.ok("UID STORE 1:2 +FLAGS (\\Deleted)").await;
    let r = c.ok("UID EXPUNGE 1").await;
    assert_eq!(
        r[0], "* 1 EXPUNGE\r\n",
        "UID EXPUNGE touches only its set: {r:?}"
    );
    assert_eq!(r.len(), 2);
}

#[tokio::test]
async fn two_sessions_see_each_other() {
    let s = server().users(USERS).start();
    let mut a = Imap::login(&s, MARIO).await;
    let mut b = Imap::login(&s, MARIO).await;
    a.append("INBOX", "", &message("one", 100)).await;
    a.ok("SELECT INBOX").await;
    b.ok("SELECT INBOX").await;
    b.append("INBOX", "", &message("two", 100)).await;
    let r = a.ok("NOOP").await;
    assert!(has(&r, "* 2 EXISTS"), "{r:?}");
    b.ok("STORE 1 +FLAGS (\\Flagged)").await;
    let r = a.ok("NOOP").await;
    assert!(has(&r, "* 1 FETCH (FLAGS (\\Flagged"), "{r:?}");
    b.ok("STORE 1 +FLAGS (\\Deleted)").await;
    b.ok("EXPUNGE").await;
    // No EXPUNGE during FETCH (RFC 3501 §7.4.1); it comes with the next NOOP.
    let r = a.ok("FETCH 1:* (UID)").await;
    assert!(!has(&r, "EXPUNGE"), "{r:?}");
    let r = a.ok("NOOP").await;
    assert!(has(&r, "* 1 EXPUNGE"), "{r:?}");
    // CLIENTS.md §5 bug 8 (Stalwart #234): no unsolicited STATUS in NOOP.
    assert!(!has(&r, "STATUS"));
}

#[tokio::test]
async fn stalwart_765_done_and_commands_in_one_write() {
    let s = server().users(USERS).start();
    let mut a = Imap::login(&s, MARIO).await;
    let mut b = Imap::login(&s, MARIO).await;
    a.ok("SELECT INBOX").await;
    a.send(b"i1 IDLE\r\n").await;
    assert_eq!(a.line().await, "+ idling\r\n");
    b.append("INBOX", "", &message("live", 100)).await;
    let exists = tokio::time::timeout(std::time::Duration::from_secs(10), a.line())
        .await
        .unwrap();
    assert_eq!(exists, "* 1 EXISTS\r\n");
    // CLIENTS.md §5 bug 1 (Stalwart #765, iOS 18): DONE and the next commands in one write.
    a.send(b"DONE\r\nn1 NOOP\r\nn2 FETCH 1 (UID)\r\n").await;
    let r = a.until("n2").await;
    assert!(has(&r, "i1 OK"), "{r:?}");
    assert!(has(&r, "n1 OK"), "{r:?}");
    assert!(has(&r, "* 1 FETCH (UID 1)"), "{r:?}");
}

#[tokio::test]
async fn literals_limits_and_bad_input() {
    let s = server()
        .extra("[limits]\nmax_message_bytes = 10000\nmailbox_quota_bytes = 100000\n")
        .start();
    s.create_mailbox(MARIO);
    let mut c = Imap::login(&s, MARIO).await;
    // LITERAL+ APPEND.
    let msg = message("plus", 100);
    c.send(format!("p1 APPEND INBOX {{{}+}}\r\n", msg.len()).as_bytes())
        .await;
    c.send(&msg).await;
    c.send(b"\r\n").await;
    assert!(tagged(&c.until("p1").await).contains("OK [APPENDUID"));
    // Stalwart #2768: an oversized LITERAL+ is drained, then refused; the session goes on.
    let big = vec![b'x'; 20000];
    c.send(b"p2 APPEND INBOX {20000+}\r\n").await;
    c.send(&big).await;
    c.send(b"\r\np3 NOOP\r\n").await;
    let r = c.until("p3").await;
    assert!(has(&r, "p2 NO [TOOBIG]"), "{r:?}");
    assert!(has(&r, "p3 OK"), "{r:?}");
    // An oversized synchronizing literal is refused before the client sends it.
    c.send(b"p4 APPEND INBOX {20000}\r\n").await;
    assert!(c.line().await.starts_with("p4 NO [TOOBIG]"));
    // A command line over the limit.
    let long = format!("p5 NOOP {}\r\n", "y".repeat(70000));
    c.send(long.as_bytes()).await;
    let r = c.cmd("NOOP").await;
    assert!(has(&r, "BAD"), "{r:?}");
    assert!(tagged(&r).contains("OK"));
    let r = c.cmd("BOGUS COMMAND").await;
    assert!(tagged(&r).contains("BAD"));
    let r = c.cmd("FETCH").await;
    assert!(tagged(&r).contains("BAD"));
    // Quota.
    c.ok("SELECT INBOX").await;
    let r = c.ok("GETQUOTA \"\"").await;
    assert!(r[0].starts_with("* QUOTA \"\" (STORAGE 1 97)"), "{r:?}");
}

#[tokio::test]
async fn stalwart_190_connection_limit_is_unavailable_not_bad_password() {
    // CLIENTS.md §5 bug 9 (Stalwart #190): over the limit is [UNAVAILABLE], never a bad
    // password; at least 10 connections per user.
    let s = server().users(USERS).start();
    let mut open = Vec::new();
    for _ in 0..20 {
        open.push(Imap::login(&s, MARIO).await);
    }
    let (mut c, _) = Imap::connect(&s).await;
    let r = c.cmd(&format!("LOGIN {MARIO} {PASSWORD}")).await;
    assert!(tagged(&r).contains("NO [UNAVAILABLE]"), "{r:?}");
    assert!(!tagged(&r).contains("AUTHENTICATIONFAILED"));
    open.pop();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let r = c.cmd(&format!("LOGIN {MARIO} {PASSWORD}")).await;
    assert!(tagged(&r).contains("OK"), "{r:?}");
}

#[tokio::test]
async fn mox_2ae121e_esearch_tag_is_quoted() {
    let s = server().users(USERS).start();
    let mut c = Imap::login(&s, MARIO).await;
    c.append("INBOX", "", &message("e", 100)).await;
    c.ok("SELECT INBOX").await;
    c.send(b"outlook.1 UID SEARCH RETURN (ALL) ALL\r\n").await;
    let r = c.until("outlook.1").await;
    assert_eq!(r[0], "* ESEARCH (TAG \"outlook.1\") UID ALL 1\r\n");
}

#[tokio::test]
async fn mox_66_special_use_in_every_list_and_lsub() {
    let s = server().users(USERS).start();
    let mut c = Imap::login(&s, MARIO).await;
    for cmd in [
        "LIST \"\" %",
        "LIST \"\" *",
        "LSUB \"\" *",
        "LIST (SUBSCRIBED) \"\" *",
    ] {
        let r = c.ok(cmd).await;
        for attr in ["\\Sent", "\\Drafts", "\\Trash", "\\Junk", "\\Archive"] {
            assert!(has(&r, attr), "{cmd} lacks {attr}: {r:?}");
        }
    }
}

#[tokio::test]
async fn stalwart_1201_move_of_missing_or_stale_uid_is_ok() {
    let s = server().users(USERS).start();
    let mut c = Imap::login(&s, MARIO).await;
    c.append("INBOX", "", &message("m", 100)).await;
    c.ok("SELECT INBOX").await;
    c.ok("UID MOVE 1 Trash").await;
    // iOS sends the same UID MOVE again with the stale UID.
    let r = c.cmd("UID MOVE 1 Trash").await;
    assert!(tagged(&r).contains(" OK "), "{r:?}");
    let r = c.cmd("UID MOVE 1:5 Trash").await;
    assert!(tagged(&r).contains(" OK "), "{r:?}");
    let r = c.ok("STATUS Trash (MESSAGES)").await;
    assert_eq!(r[0], "* STATUS Trash (MESSAGES 1)\r\n");
}

#[tokio::test]
async fn stalwart_234_no_unsolicited_status_in_noop() {
    let s = server().users(USERS).start();
    let mut c = Imap::login(&s, MARIO).await;
    let mut other = Imap::login(&s, MARIO).await;
    c.ok("SELECT Drafts").await;
    other
        .append("Drafts", "\\Draft", &message("draft", 100))
        .await;
    other.append("INBOX", "", &message("in", 100)).await;
    let r = c.ok("NOOP").await;
    assert!(!has(&r, "STATUS"), "{r:?}");
    assert!(has(&r, "* 1 EXISTS"), "{r:?}");
}

#[tokio::test]
async fn stalwart_2768_oversized_literal_plus_is_drained() {
    let s = server()
        .extra("[limits]\nmax_message_bytes = 2048\nmailbox_quota_bytes = 100000\n")
        .start();
    s.create_mailbox(MARIO);
    let mut c = Imap::login(&s, MARIO).await;
    // The literal's bytes look like commands; none of them may run.
    let mut data = Vec::new();
    while data.len() < 5000 {
        data.extend_from_slice(b"x1 DELETE Archive\r\n");
    }
    c.send(format!("a APPEND INBOX {{{}+}}\r\n", data.len()).as_bytes())
        .await;
    c.send(&data).await;
    c.send(b"\r\nb LIST \"\" Archive\r\n").await;
    let r = c.until("b").await;
    assert!(has(&r, "a NO [TOOBIG]"), "{r:?}");
    assert!(
        !has(&r, "x1 "),
        "literal bytes were read as commands: {r:?}"
    );
    assert!(has(&r, "\"/\" Archive"), "{r:?}");
}
