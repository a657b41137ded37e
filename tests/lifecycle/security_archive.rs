//! The security archive (PROVISIONING.md §8) against the real pecd: copies of the kinds the
//! holder chose kept in a read-only IMAP folder that survives deletion from the INBOX, the
//! warning at 70 % of the archive's size, and the notice that a copy was NOT saved when it
//! is full.

use super::*;

const A: &str = "anna@pec.localhost";
const B: &str = "bruno@pec.localhost";
const FOLDER: &str = "Archivio di sicurezza";

/// The operator sizes A's (and B's) archive; each holder switches it on with `kinds`.
fn archive_on(s: &Server, who: &[(&str, &str)]) {
    customer(s);
    for (address, kinds) in who {
        assign(s, address);
        human(
            s,
            &["mailbox", "services", address, "--archive-gb", "1"],
            "",
        );
        let set = s.json(&[
            "mailbox",
            "settings",
            address,
            "--security-archive",
            "on",
            "--archive-kinds",
            kinds,
        ]);
        assert_eq!(set["security_archive"], true, "{set}");
    }
}

/// Every message of the archive of `user`, read over IMAP with EXAMINE (SELECT is answered
/// `[READ-ONLY]`, which imaplib refuses for a writable select).
const ARCHIVE_DUMP: &str = r#"
import imaplib, ssl, sys, json, base64
ca, port, user, pw = sys.argv[1:5]
m = imaplib.IMAP4_SSL('localhost', int(port), ssl_context=ssl.create_default_context(cafile=ca))
m.login(user, pw)
out = []
typ, _ = m.select('"Archivio di sicurezza"', readonly=True)
if typ == 'OK':
    typ, data = m.uid('SEARCH', None, 'ALL')
    for uid in data[0].split():
        typ, d = m.uid('FETCH', uid, '(BODY.PEEK[])')
        out.append(base64.b64encode(d[0][1]).decode())
m.logout()
print(json.dumps(out))
"#;

pub fn archived(s: &Server, user: &str) -> Vec<Vec<u8>> {
    support::pec::decode(&s.python(ARCHIVE_DUMP, "imaps", user))
}

fn header(raw: &[u8], name: &str) -> String {
    let m = mail_parser::MessageParser::default().parse(raw).unwrap();
    m.header_raw(name).unwrap_or_default().trim().to_string()
}

/// Deletes the INBOX over IMAP, then tries every change on the archive; prints what each
/// command answered as JSON.
const EXPUNGE_AND_TRY: &str = r#"
import imaplib, ssl, sys, json
ca, port, user, pw = sys.argv[1:5]
m = imaplib.IMAP4_SSL('localhost', int(port), ssl_context=ssl.create_default_context(cafile=ca))
m.login(user, pw)
r = {}
def said(t):
    return [x.decode() if isinstance(x, bytes) else str(x) for x in t[1]]
typ, lst = m.list()
r['list'] = [l.decode() for l in lst]
m.select('INBOX')
typ, d = m.copy('1:*', '"Archivio di sicurezza"')
r['copy_into'] = [typ] + said((typ, d))
typ, d = m.move('1:*', '"Archivio di sicurezza"') if hasattr(m, 'move') else m._simple_command('MOVE', '1:*', '"Archivio di sicurezza"')
r['move_into'] = [typ] + said((typ, d))
m.store('1:*', '+FLAGS', '\\Deleted')
typ, d = m.expunge()
r['inbox_expunge'] = typ
typ, d = m.search(None, 'ALL')
r['inbox_left'] = d[0].decode()
try:
    m.select('"Archivio di sicurezza"')
    r['select'] = 'writable'
except m.readonly as e:
    r['select'] = 'read-only'
    # imaplib would refuse every later command; the server's session stays SELECTed.
    m.is_readonly = True
typ, d = m.search(None, 'ALL')
r['archive_search'] = d[0].decode()
typ, d = m.fetch('1', '(BODY[])')
r['body'] = d[0][1].decode(errors='replace')
typ, d = m.fetch('1', '(FLAGS)')
r['flags_after_fetch'] = d[0].decode()
typ, d = m.store('1', '+FLAGS', '\\Deleted')
r['store'] = [typ] + said((typ, d))
typ, d = m.expunge()
r['expunge'] = [typ] + said((typ, d))
typ, d = m._simple_command('MOVE', '1', 'INBOX')
r['move_out'] = [typ] + said((typ, d))
typ, d = m.copy('1', 'INBOX')
r['copy_out'] = typ
typ, d = m.append('"Archivio di sicurezza"', None, None, b'Subject: x\r\n\r\nx\r\n')
r['append'] = [typ] + said((typ, d))
typ, d = m.delete('"Archivio di sicurezza"')
r['delete'] = [typ] + said((typ, d))
typ, d = m.rename('"Archivio di sicurezza"', 'Altro')
r['rename'] = [typ] + said((typ, d))
typ, d = m.create('"Archivio di sicurezza"')
r['create'] = [typ] + said((typ, d))
m.logout()
print(json.dumps(r))
"#;

#[tokio::test(flavor = "multi_thread")]
async fn the_archive_keeps_a_message_expunged_from_the_inbox_and_refuses_every_change() {
    let s = server().users(&[A, B]).extra(NO_SCHEDULE).start();
    archive_on(&s, &[(A, "certified-in")]);
    certified(&s, B, A, "conservato").await;
    let r: serde_json::Value =
        serde_json::from_str(s.python(EXPUNGE_AND_TRY, "imaps", A).trim()).unwrap();
    assert!(
        r["list"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains(FOLDER)),
        "{r}"
    );
    for refused in [
        "copy_into",
        "move_into",
        "store",
        "expunge",
        "move_out",
        "append",
    ] {
        assert_eq!(r[refused][0], "NO", "{refused}: {r}");
        assert!(
            r[refused][1].as_str().unwrap().contains("[NOPERM]"),
            "{refused}: {r}"
        );
    }
    for refused in ["delete", "rename", "create"] {
        assert_eq!(r[refused][0], "NO", "{refused}: {r}");
        assert!(
            r[refused][1].as_str().unwrap().contains("[CANNOT]"),
            "{refused}: {r}"
        );
    }
    assert_eq!(r["inbox_expunge"], "OK");
    assert_eq!(r["inbox_left"], "", "the INBOX is empty: {r}");
    assert_eq!(r["select"], "read-only");
    assert_eq!(r["archive_search"], "1");
    assert!(r["body"].as_str().unwrap().contains("conservato"), "{r}");
    assert!(
        !r["flags_after_fetch"].as_str().unwrap().contains("Seen"),
        "{r}"
    );
    assert_eq!(
        r["copy_out"], "OK",
        "a copy out of it is a copy like any other"
    );
    // The archive still holds the envelope as delivered, unchanged and alone.
    let kept = archived(&s, A);
    assert_eq!(kept.len(), 1);
    assert_eq!(header(&kept[0], "X-Trasporto"), "posta-certificata");
    assert!(header(&kept[0], "Subject").contains("conservato"));
    // And it survives a restart.
    let mut s = s;
    restart_at(&mut s, 0, "");
    assert_eq!(archived(&s, A).len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_kinds_the_holder_chose_are_copied() {
    let s = server().users(&[A, B]).extra(NO_SCHEDULE).start();
    // A keeps incoming certified mail; B, the sender, only delivery receipts.
    archive_on(&s, &[(A, "certified-in"), (B, "delivery")]);
    certified(&s, B, A, "primo").await;
    let a = archived(&s, A);
    assert_eq!(a.len(), 1);
    assert_eq!(header(&a[0], "X-Trasporto"), "posta-certificata");
    let b = archived(&s, B);
    assert_eq!(b.len(), 1, "neither the acceptance nor the sent envelope");
    assert_eq!(header(&b[0], "X-Ricevuta"), "avvenuta-consegna");
    // B now keeps what it sends and its acceptance receipts, not deliveries.
    human(
        &s,
        &[
            "mailbox",
            "settings",
            B,
            "--archive-kinds",
            "certified-out,acceptance",
        ],
        "",
    );
    certified(&s, B, A, "secondo").await;
    let b = archived(&s, B);
    let kinds: Vec<(String, String)> = b
        .iter()
        .map(|m| (header(m, "X-Ricevuta"), header(m, "X-Trasporto")))
        .collect();
    assert_eq!(b.len(), 3, "{kinds:?}");
    assert!(
        kinds.contains(&("accettazione".into(), String::new())),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&(String::new(), "posta-certificata".into())),
        "{kinds:?}"
    );
    assert!(
        header(&b[2], "Subject").contains("secondo")
            || header(&b[1], "Subject").contains("secondo")
    );
    // A holder who switches it off keeps what was kept and gets no more copies.
    assert_eq!(archived(&s, A).len(), 2);
    human(
        &s,
        &["mailbox", "settings", A, "--security-archive", "off"],
        "",
    );
    certified(&s, B, A, "terzo").await;
    assert_eq!(archived(&s, A).len(), 2);
}

/// PEC.md §6.1: a submission whose RCPT TO is not in To or Cc is not accepted (550, with
/// an avviso di non accettazione to the sender).
async fn not_accepted(s: &Server, from: &str, to: &str) {
    let (mut c, _) = Conn::tls(s.listener("submissions"), &s.ca()).await;
    c.login(from, PASSWORD).await;
    let message = format!(
        "From: {from}\r\nTo: carlo@pec.localhost\r\nSubject: nascosto\r\nMessage-ID: <n.{}@test>\r\n\r\nTesto.\r\n",
        rand::random::<u32>()
    );
    let r = c.send_message(from, &[to], &message).await;
    assert!(r.starts_with("550 5.7.1 Not accepted into PEC"), "{r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ordinary_mail_and_notices_are_kept_as_their_own_kinds() {
    let s = server().users(&[A, B]).extra(NO_SCHEDULE).start();
    archive_on(&s, &[(A, "ordinary,notices")]);
    // Ordinary mail from outside reaches A in a busta di anomalia: kind ordinary.
    let ordinary = format!(
        "From: <amico@example.com>\r\nTo: <{A}>\r\nSubject: ciao\r\nMessage-ID: <ciao@example.com>\r\n\r\nposta ordinaria\r\n"
    );
    let (mut c, _) = Conn::plain(s.listener("smtp")).await;
    c.cmd("EHLO mx.example.com").await;
    let r = c.send_message("amico@example.com", &[A], &ordinary).await;
    assert!(r.starts_with("250"), "{r}");
    let kept = archived(&s, A);
    assert_eq!(kept.len(), 1);
    assert_eq!(header(&kept[0], "X-Trasporto"), "errore");
    // A's own submission refused at acceptance: the avviso di non accettazione is a notice.
    not_accepted(&s, A, B).await;
    let kept = archived(&s, A);
    assert_eq!(kept.len(), 2);
    assert_eq!(header(&kept[1], "X-Ricevuta"), "non-accettazione");
    // Certified mail in, a kind A did not choose, is not copied.
    certified(&s, B, A, "certificato").await;
    assert_eq!(archived(&s, A).len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_holder_is_warned_at_seventy_percent_and_told_when_a_copy_is_not_saved() {
    let mut s = server().users(&[A, B]).extra(NO_SCHEDULE).start();
    archive_on(&s, &[(A, "certified-in")]);
    certified(&s, B, A, "misura").await;
    let first = archived(&s, A);
    assert_eq!(first.len(), 1);
    // The archive's unit made 2.5 envelopes: the first copy is 40 % of it, the second
    // takes it to 80 %, the third does not fit.
    let unit = first[0].len() as u64 * 5 / 2;
    restart_at(
        &mut s,
        0,
        &format!("\n[archive]\nsecurity_archive_unit_bytes = {unit}\n"),
    );
    assert!(notices_of(&s, A, "archive.warning").is_empty());
    certified(&s, B, A, "ottanta").await;
    let warned = notices_of(&s, A, "archive.warning");
    assert_eq!(warned.len(), 1);
    assert!(warned[0].subject.contains("70%"), "{}", warned[0].subject);
    assert!(warned[0].text.contains(A), "{}", warned[0].text);
    assert!(notices_of(&s, A, "archive.not-saved").is_empty());
    certified(&s, B, A, "pieno-uno").await;
    certified(&s, B, A, "pieno-due").await;
    assert_eq!(
        archived(&s, A).len(),
        2,
        "the copies that did not fit are not kept"
    );
    let not_saved = notices_of(&s, A, "archive.not-saved");
    assert_eq!(not_saved.len(), 2, "one notice per message not saved");
    assert_eq!(
        not_saved[0].subject,
        "Messaggio NON salvato nell'archivio di sicurezza"
    );
    assert!(
        not_saved[0].text.contains("pieno-uno"),
        "{}",
        not_saved[0].text
    );
    assert!(
        not_saved[1].text.contains("pieno-due"),
        "{}",
        not_saved[1].text
    );
    assert!(not_saved[0].text.contains("NON"), "{}", not_saved[0].text);
    assert_eq!(notices_of(&s, A, "archive.warning").len(), 1, "warned once");
    // The messages themselves were delivered; the notices are not copied.
    let inbox = support::pec::imap(&s, A, "INBOX");
    let subjects: Vec<String> = inbox.iter().map(|m| header(m, "Subject")).collect();
    assert!(
        subjects.iter().any(|x| x.contains("pieno-due")),
        "{subjects:?}"
    );
    assert_eq!(archived(&s, A).len(), 2);
}

async fn holder_token(h: &support::https::Https, login: &str) -> String {
    let r = h
        .client
        .post(h.url("/api/v1/me/login"))
        .json(&serde_json::json!({"login": login, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc: serde_json::Value = r.json().await.unwrap();
    doc["token"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_holder_lists_searches_and_reads_the_archive_over_https() {
    use reqwest::Method;
    let s = server().users(&[A, B]).extra(NO_SCHEDULE).start();
    archive_on(&s, &[(A, "certified-in")]);
    certified(&s, B, A, "alfa").await;
    certified(&s, B, A, "beta").await;
    let h = support::https::Https::new(&s);
    let token = holder_token(&h, A).await;
    let (st, all) = h
        .call(Method::GET, "/api/v1/me/archive", &token, None)
        .await;
    assert_eq!(st, 200, "{all}");
    assert_eq!(
        (all["total"].as_u64(), all["enabled"].as_bool()),
        (Some(2), Some(true))
    );
    assert_eq!(all["limit_bytes"].as_u64(), Some(1 << 30));
    let subjects: Vec<&str> = all["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["subject"].as_str().unwrap())
        .collect();
    assert!(
        subjects[0].contains("beta") && subjects[1].contains("alfa"),
        "newest first: {subjects:?}"
    );
    assert_eq!(all["messages"][0]["pec_type"], "posta-certificata");
    let sizes: u64 = all["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["size"].as_u64().unwrap())
        .sum();
    assert_eq!(all["used_bytes"].as_u64(), Some(sizes));

    let (_, found) = h
        .call(Method::GET, "/api/v1/me/archive?q=ALFA", &token, None)
        .await;
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["truncated"], false);
    assert!(found["messages"][0]["subject"]
        .as_str()
        .unwrap()
        .contains("alfa"));
    let (_, by_sender) = h
        .call(Method::GET, "/api/v1/me/archive?q=nobody", &token, None)
        .await;
    assert_eq!(by_sender["total"], 0);
    let (_, second) = h
        .call(
            Method::GET,
            "/api/v1/me/archive?page=2&per_page=1",
            &token,
            None,
        )
        .await;
    assert_eq!(
        (
            second["total"].as_u64(),
            second["messages"].as_array().unwrap().len()
        ),
        (Some(2), 1)
    );
    assert!(second["messages"][0]["subject"]
        .as_str()
        .unwrap()
        .contains("alfa"));

    // One copy, byte for byte as IMAP gives it.
    let uid = second["messages"][0]["uid"].as_u64().unwrap();
    let r = h
        .client
        .get(h.url(&format!("/api/v1/me/archive/{uid}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "message/rfc822");
    let body = r.bytes().await.unwrap();
    assert_eq!(body.as_ref(), archived(&s, A)[0].as_slice());
    let (st, _) = h
        .call(Method::GET, "/api/v1/me/archive/999", &token, None)
        .await;
    assert_eq!(st, 404);
    // Another holder sees its own (empty) archive, never A's; no session, no archive.
    let other = holder_token(&h, B).await;
    let (_, theirs) = h
        .call(Method::GET, "/api/v1/me/archive", &other, None)
        .await;
    assert_eq!(
        (theirs["total"].as_u64(), theirs["enabled"].as_bool()),
        (Some(0), Some(false))
    );
    let (st, _) = h
        .call(
            Method::GET,
            &format!("/api/v1/me/archive/{uid}"),
            &other,
            None,
        )
        .await;
    assert_eq!(st, 404);
    let r = h
        .client
        .get(h.url("/api/v1/me/archive"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}
