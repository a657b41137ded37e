//! Real IMAP clients against pecd: the async-imap library, python imaplib, curl `imaps://`
//! and an mbsync round trip; plus IDLE woken by a delivery through SMTP, CONDSTORE and
//! QRESYNC resynchronisation, and POP3 and IMAP on one INBOX at the same time.

mod support;

use std::process::Command;
use std::time::Duration;

use futures::StreamExt;
use rustls_pki_types::ServerName;
use support::imap::Imap;
use support::*;
use tokio_rustls::TlsConnector;

const MARIO: &str = "mario@pec.localhost";
const LUIGI: &str = "luigi@pec.localhost";
const USERS: &[&str] = &[MARIO, LUIGI];

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

async fn async_imap_session(s: &Server, user: &str) -> async_imap::Session<Tls> {
    let tcp = tokio::net::TcpStream::connect(s.listener("imaps"))
        .await
        .unwrap();
    let tls = TlsConnector::from(support::smtp::tls_config(&s.ca()))
        .connect(ServerName::try_from("mail.pec.localhost").unwrap(), tcp)
        .await
        .unwrap();
    let mut client = async_imap::Client::new(tls);
    client.read_response().await.unwrap().unwrap();
    client.login(user, PASSWORD).await.map_err(|e| e.0).unwrap()
}

#[tokio::test]
async fn async_imap_library() {
    let s = server().users(USERS).start();
    let mut session = async_imap_session(&s, MARIO).await;
    let caps = session.capabilities().await.unwrap();
    for cap in ["IDLE", "UIDPLUS", "MOVE", "CONDSTORE", "QUOTA"] {
        assert!(caps.has_str(cap), "{cap}");
    }
    session
        .append("INBOX", Some("(\\Seen)"), None, message("lib-one", 500))
        .await
        .unwrap();
    session
        .append("INBOX", None, None, message("lib-two", 500))
        .await
        .unwrap();
    let mailbox = session.select("INBOX").await.unwrap();
    assert_eq!(mailbox.exists, 2);
    assert_eq!(mailbox.uid_next, Some(3));
    let fetched: Vec<_> = session
        .fetch("1:*", "(UID FLAGS ENVELOPE BODY.PEEK[])")
        .await
        .unwrap()
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(fetched.len(), 2);
    assert_eq!(fetched[0].uid, Some(1));
    let envelope = fetched[1].envelope().unwrap();
    assert_eq!(envelope.subject.as_deref(), Some(&b"lib-two"[..]));
    assert_eq!(fetched[1].body().unwrap(), &message("lib-two", 500)[..]);
    let updates: Vec<_> = session
        .uid_store("2", "+FLAGS (\\Answered)")
        .await
        .unwrap()
        .collect::<Vec<_>>()
        .await;
    assert_eq!(updates.len(), 1);
    let found = session.uid_search("ANSWERED").await.unwrap();
    assert_eq!(found.into_iter().collect::<Vec<_>>(), vec![2]);
    session.create("Clienti").await.unwrap();
    session.uid_mv("1", "Clienti").await.unwrap();
    let status = session.status("Clienti", "(MESSAGES)").await.unwrap();
    assert_eq!(status.exists, 1);
    let names: Vec<String> = session
        .list(Some(""), Some("*"))
        .await
        .unwrap()
        .map(|n| n.unwrap().name().to_string())
        .collect()
        .await;
    assert!(names.contains(&"Clienti".to_string()), "{names:?}");
    let quota = session.get_quota("").await.unwrap();
    assert_eq!(quota.resources.len(), 1);
    session.logout().await.unwrap();
}

#[tokio::test]
async fn idle_is_woken_by_smtp_delivery() {
    let s = server().users(USERS).start();
    let mut session = async_imap_session(&s, LUIGI).await;
    session.select("INBOX").await.unwrap();
    let mut idle = session.idle();
    idle.init().await.unwrap();
    let submissions = s.listener("submissions");
    let ca = s.ca();
    let sender = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (mut c, _) = smtp::Conn::tls(submissions, &ca).await;
        c.cmd("EHLO client").await;
        c.login(MARIO, PASSWORD).await;
        let m = String::from_utf8(message("idle-wake", 200)).unwrap();
        let r = c.send_message(MARIO, &[LUIGI], &m).await;
        assert!(r.starts_with("250"), "{r}");
    });
    let (wait, _stop) = idle.wait_with_timeout(Duration::from_secs(20));
    match wait.await.unwrap() {
        async_imap::extensions::idle::IdleResponse::NewData(data) => {
            let text = format!("{:?}", data.parsed());
            assert!(text.contains("Exists(1)"), "{text}");
        }
        other => panic!("IDLE was not woken: {other:?}"),
    }
    sender.await.unwrap();
    let mut session = idle.done().await.unwrap();
    let found = session.search("SUBJECT idle-wake").await.unwrap();
    assert_eq!(found.len(), 1);
}

#[tokio::test]
async fn stalwart_3299_idle_heartbeat_still_here() {
    let s = server()
        .extra("[imap]\nidle_heartbeat_seconds = 1\n")
        .start();
    s.create_mailbox(MARIO);
    let mut c = Imap::login(&s, MARIO).await;
    c.ok("SELECT INBOX").await;
    c.send(b"i IDLE\r\n").await;
    assert_eq!(c.line().await, "+ idling\r\n");
    let beat = tokio::time::timeout(Duration::from_secs(5), c.line())
        .await
        .unwrap();
    assert_eq!(beat, "* OK Still here\r\n");
    c.send(b"DONE\r\n").await;
    assert!(c.until("i").await.last().unwrap().starts_with("i OK"));
}

#[tokio::test]
async fn condstore_and_qresync() {
    let s = server().users(USERS).start();
    let mut c = Imap::login(&s, MARIO).await;
    for i in 0..3 {
        c.append("INBOX", "", &message(&format!("cs{i}"), 100))
            .await;
    }
    let r = c.ok("SELECT INBOX (CONDSTORE)").await;
    let highest: u64 = r
        .iter()
        .find(|l| l.contains("HIGHESTMODSEQ"))
        .and_then(|l| l.split("HIGHESTMODSEQ ").nth(1))
        .and_then(|t| t.split(']').next())
        .unwrap()
        .parse()
        .unwrap();
    // iOS sends CHANGEDSINCE 0: every message, with MODSEQ.
    let r = c.ok("FETCH 1:* (FLAGS) (CHANGEDSINCE 0)").await;
    assert_eq!(
        r.iter().filter(|l| l.contains("MODSEQ (")).count(),
        3,
        "{r:?}"
    );
    c.ok("STORE 2 +FLAGS.SILENT (\\Seen)").await;
    let r = c
        .ok(&format!("UID FETCH 1:* (FLAGS) (CHANGEDSINCE {highest})"))
        .await;
    assert_eq!(r.len(), 2, "only the changed message: {r:?}");
    assert!(r[0].contains("UID 2") && r[0].contains("\\Seen"), "{r:?}");
    // UNCHANGEDSINCE below the message's modseq fails for it ([MODIFIED]).
    let r = c
        .ok(&format!(
            "STORE 2 (UNCHANGEDSINCE {highest}) +FLAGS (\\Flagged)"
        ))
        .await;
    assert!(r.last().unwrap().contains("[MODIFIED 2]"), "{r:?}");
    let r = c.ok("SEARCH MODSEQ 1").await;
    assert!(r[0].starts_with("* SEARCH 1 2 3 (MODSEQ "), "{r:?}");
    c.ok("STORE 3 +FLAGS (\\Deleted)").await;
    let r = c.ok("EXPUNGE").await;
    assert!(r.last().unwrap().contains("[HIGHESTMODSEQ "), "{r:?}");
    let validity = c.ok("STATUS INBOX (UIDVALIDITY)").await[0]
        .split("UIDVALIDITY ")
        .nth(1)
        .unwrap()
        .trim_end_matches(")\r\n")
        .to_string();
    // QRESYNC: a reconnecting client learns what vanished and what changed.
    let mut q = Imap::login(&s, MARIO).await;
    q.ok("ENABLE QRESYNC").await;
    let r = q
        .ok(&format!("SELECT INBOX (QRESYNC ({validity} {highest}))"))
        .await;
    assert!(r.iter().any(|l| l == "* VANISHED (EARLIER) 3\r\n"), "{r:?}");
    assert!(
        r.iter()
            .any(|l| l.contains("UID 2") && l.contains("MODSEQ")),
        "{r:?}"
    );
    c.ok("STORE 1 +FLAGS (\\Deleted)").await;
    c.ok("EXPUNGE").await;
    let r = q.ok("NOOP").await;
    assert!(r.iter().any(|l| l == "* VANISHED 1\r\n"), "{r:?}");
    let r = q.ok("SELECT Sent").await;
    assert!(r.iter().any(|l| l.starts_with("* OK [CLOSED]")), "{r:?}");
}

#[tokio::test]
async fn python_imaplib() {
    let s = server().users(USERS).start();
    let script = r#"
import imaplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
m = imaplib.IMAP4_SSL("127.0.0.1", int(sys.argv[2]), ssl_context=ctx)
m.login(sys.argv[3], sys.argv[4])
typ, data = m.append("INBOX", r"(\Flagged)", None, b"From: a@pec.localhost\r\nSubject: py\r\n\r\nhello from python\r\n")
assert typ == "OK" and b"APPENDUID" in data[0], data
typ, data = m.select("INBOX")
assert data == [b"1"], data
typ, data = m.uid("FETCH", "1", "(FLAGS BODY.PEEK[TEXT])")
assert b"\\Flagged" in data[0][0] and data[0][1] == b"hello from python\r\n", data
typ, data = m.search(None, "FLAGGED", "SUBJECT", "py")
assert data == [b"1"], data
typ, data = m.list()
assert any(b"\\Sent" in l for l in data), data
m.create("Py/Sub")
typ, data = m.copy("1", "Py/Sub")
assert typ == "OK", data
m.store("1", "+FLAGS", r"(\Deleted)")
typ, data = m.expunge()
assert data == [b"1"], data
typ, data = m.status("Py/Sub", "(MESSAGES)")
assert b"MESSAGES 1" in data[0], data
m.logout()
print("ok")
"#;
    let out = s.python(script, "imaps", MARIO);
    assert!(out.contains("ok"), "{out}");
}

#[tokio::test]
async fn curl_imaps_list_and_fetch() {
    let s = server().users(USERS).start();
    let mut c = Imap::login(&s, MARIO).await;
    c.append("INBOX", "", &message("curl-me", 200)).await;
    let curl = |path: &str| s.curl("imaps", "imaps", MARIO, path);
    let list = curl("");
    assert!(list.contains("\\Sent"), "{list}");
    assert!(list.contains("INBOX"), "{list}");
    let body = curl("INBOX;UID=1");
    assert!(body.contains("Subject: curl-me"), "{body}");
}

#[tokio::test]
async fn mbsync_round_trip() {
    if Command::new("mbsync").arg("--version").output().is_err() {
        panic!("mbsync (isync) is installed by scripts/test.sh");
    }
    let s = server().users(USERS).start();
    let mut c = Imap::login(&s, MARIO).await;
    c.append("INBOX", "", &message("server-side", 200)).await;
    let local = s.dir.path().join("maildir");
    std::fs::create_dir_all(&local).unwrap();
    let rc = s.dir.path().join("mbsyncrc");
    let port = s.listener("imaps").port();
    std::fs::write(
        &rc,
        format!(
            "IMAPAccount pecd\nHost localhost\nPort {port}\nUser {MARIO}\nPass {PASSWORD}\nSSLType IMAPS\nCertificateFile {}\nSystemCertificates no\n\nIMAPStore remote\nAccount pecd\n\nMaildirStore local\nPath {}/\nInbox {}/INBOX\n\nChannel inbox\nFar :remote:INBOX\nNear :local:INBOX\nCreate Near\nExpunge Both\nSyncState *\nSync All\n",
            s.ca().display(),
            local.display(),
            local.display()
        ),
    )
    .unwrap();
    let sync = || {
        let out = Command::new("mbsync")
            .args(["-c", rc.to_str().unwrap(), "inbox"])
            .output()
            .unwrap();
        assert!(out.status.success(), "mbsync: {}", text(&out));
    };
    // mbsync matches DNS names only, so it connects to "localhost" (in the dev certificate)
    // and trusts the dev CA through CertificateFile.
    sync();
    let cur = local.join("INBOX").join("cur");
    let new = local.join("INBOX").join("new");
    let pulled: Vec<_> = std::fs::read_dir(&cur)
        .unwrap()
        .chain(std::fs::read_dir(&new).unwrap())
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(pulled.len(), 1, "pulled the server's message");
    // Push a new message and a flag.
    std::fs::write(
        new.join("1700000000.local.host"),
        message("from-maildir", 150),
    )
    .unwrap();
    let flagged = pulled[0].with_file_name(format!(
        "{}:2,F",
        pulled[0]
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .split(":2,")
            .next()
            .unwrap()
    ));
    std::fs::rename(&pulled[0], cur.join(flagged.file_name().unwrap())).unwrap();
    sync();
    c.ok("SELECT INBOX").await;
    let r = c
        .ok("FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        .await;
    assert!(
        r.iter()
            .any(|l| l.contains("\\Flagged") && l.contains("server-side")),
        "{r:?}"
    );
    assert!(r.iter().any(|l| l.contains("from-maildir")), "{r:?}");
    // Expunge on the server; the next sync removes the local copy.
    c.ok("STORE 1 +FLAGS (\\Deleted)").await;
    c.ok("EXPUNGE").await;
    sync();
    let left: Vec<_> = std::fs::read_dir(&cur)
        .unwrap()
        .chain(std::fs::read_dir(&new).unwrap())
        .collect();
    assert_eq!(left.len(), 1, "the expunged message left the maildir too");
}

#[tokio::test]
async fn pop3_dele_while_imap_selected() {
    // Issue 5: a message deleted through POP3 disappears from IMAP and the reverse, while
    // both sessions are connected.
    let s = server().users(USERS).start();
    let mut imap = Imap::login(&s, MARIO).await;
    for i in 0..3 {
        imap.append("INBOX", "", &message(&format!("both{i}"), 100))
            .await;
    }
    imap.ok("SELECT INBOX").await;
    let pop = |cmds: &str| {
        let script = format!(
            r#"
import poplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
p = poplib.POP3_SSL("127.0.0.1", int(sys.argv[2]), context=ctx)
p.user(sys.argv[3]); p.pass_(sys.argv[4])
{cmds}
p.quit()
print("ok")
"#
        );
        s.python(&script, "pop3s", MARIO)
    };
    pop("p.dele(1)");
    let r = imap.ok("NOOP").await;
    assert!(r.iter().any(|l| l == "* 1 EXPUNGE\r\n"), "{r:?}");
    let r = imap
        .ok("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        .await;
    assert!(r.iter().any(|l| l.contains("both1")) && !r.iter().any(|l| l.contains("both0")));
    // The reverse: expunged through IMAP, gone from the next POP3 session.
    imap.ok("STORE 1 +FLAGS (\\Deleted)").await;
    imap.ok("EXPUNGE").await;
    let out =
        pop("n, size = p.stat(); assert n == 1, n\nassert b'both2' in b''.join(p.retr(1)[1])");
    assert!(out.contains("ok"));
}
