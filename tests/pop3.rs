//! The POP3 service against the real pecd: the rules of CLIENTS.md §2, each pinned by a
//! test, and the clients python poplib, curl and fetchmail (installed by scripts/test.sh).

mod support;

use std::process::Command;

use support::pop3::Pop;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MARIO: &str = "mario@pec.localhost";

/// USER and PASS as `MARIO`, asserting success.
async fn logged_in(s: &Server) -> Pop {
    let (mut p, _) = Pop::connect(s).await;
    let r = p.login(MARIO, PASSWORD).await;
    assert!(r.starts_with("+OK Logged in"), "{r}");
    p
}

fn server_with(messages: &[&[u8]]) -> Server {
    let s = server().start();
    s.create_mailbox(MARIO);
    let dir = tempfile::tempdir().unwrap();
    for (i, m) in messages.iter().enumerate() {
        let file = dir.path().join(format!("{i}.eml"));
        std::fs::write(&file, m).unwrap();
        s.json(&["mailbox", "import", MARIO, file.to_str().unwrap()]);
    }
    s
}

const ONE: &[u8] =
    b"From: a@pec.localhost\r\nSubject: one\r\n\r\n.starts with a dot\r\nline two\r\n";
const TWO: &[u8] = b"From: a@pec.localhost\nSubject: two (LF file)\n\nbody\n";
const HEADERS_ONLY: &[u8] = b"From: a@pec.localhost\r\nSubject: no body\r\n";

#[tokio::test]
async fn capa_golden_before_and_after_login() {
    let s = server_with(&[]);
    let expected = "+OK Capability list follows\r\nUSER\r\nSASL PLAIN\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nEXPIRE NEVER\r\nIMPLEMENTATION pecd\r\n.\r\n";
    let (mut p, greeting) = Pop::connect(&s).await;
    assert_eq!(greeting, "+OK pecd POP3 ready\r\n");
    let first = p.cmd("CAPA").await;
    let rest = p.body().await;
    assert_eq!(
        format!("{first}{}", String::from_utf8(rest).unwrap()),
        expected
    );
}

#[tokio::test]
async fn sizes_count_crlf_and_retr_sends_exactly_that_many_octets_dot_stuffed() {
    let s = server_with(&[ONE, TWO]);
    let mut p = logged_in(&s).await;
    let two_crlf = TWO.len() + TWO.iter().filter(|&&b| b == b'\n').count();
    assert_eq!(
        p.cmd("STAT").await,
        format!("+OK 2 {}\r\n", ONE.len() + two_crlf)
    );
    assert_eq!(p.cmd("LIST 2").await, format!("+OK 2 {two_crlf}\r\n"));
    let r = p.cmd("RETR 1").await;
    assert_eq!(r, format!("+OK {} octets\r\n", ONE.len()));
    let body = p.body().await;
    assert_eq!(
        body,
        b"From: a@pec.localhost\r\nSubject: one\r\n\r\n..starts with a dot\r\nline two\r\n.\r\n"
    );
    // Unstuffed, the lines are exactly the stored octets.
    assert_eq!(body.len() - 1 - 3, ONE.len());
}

/// CLIENTS.md §2 and Dovecot's `oe-ns-eoh`: TOP always ends the headers with a blank line.
#[tokio::test]
async fn oe_ns_eoh_top_ends_headers_with_a_blank_line() {
    let s = server_with(&[ONE, HEADERS_ONLY]);
    let mut p = logged_in(&s).await;
    assert!(p.cmd("TOP 1 1").await.starts_with("+OK"));
    assert_eq!(
        p.body().await,
        b"From: a@pec.localhost\r\nSubject: one\r\n\r\n..starts with a dot\r\n.\r\n"
    );
    assert!(p.cmd("TOP 2 0").await.starts_with("+OK"));
    assert_eq!(
        p.body().await,
        b"From: a@pec.localhost\r\nSubject: no body\r\n\r\n.\r\n"
    );
}

/// CLIENTS.md §2 and Dovecot's `outlook-no-nuls`: a NUL byte is never sent.
#[tokio::test]
async fn outlook_no_nuls_nul_bytes_are_never_sent() {
    // A NUL cannot come in through import; it can through SMTP, from a peer.
    let s = server_with(&[]);
    let (mut c, _) = support::smtp::Conn::plain(s.listener("smtp")).await;
    c.cmd("EHLO peer.test").await;
    c.cmd("MAIL FROM:<x@peer.test>").await;
    c.cmd(&format!("RCPT TO:<{MARIO}>")).await;
    c.cmd("DATA").await;
    c.send(b"From: x@peer.test\r\nSubject: nul\r\n\r\nbefore\0after\r\n.\r\n")
        .await;
    assert!(c.reply().await.starts_with("250"));
    let mut p = logged_in(&s).await;
    p.cmd("RETR 1").await;
    let body = p.body().await;
    assert!(!body.contains(&0), "NUL sent");
    assert!(String::from_utf8_lossy(&body).contains("before after\r\n"));
}

/// CLIENTS.md §5 bug 12 (cyrus-imapd #374): UIDL never changes and is never reused.
#[tokio::test]
async fn cyrus_374_uidl_is_stable_across_sessions_and_restarts_and_never_reused() {
    let mut s = server_with(&[ONE, TWO]);
    let mut p = logged_in(&s).await;
    p.cmd("UIDL").await;
    let first = p.body().await;
    assert!(p.cmd("DELE 2").await.starts_with("+OK"));
    assert_eq!(p.cmd("QUIT").await, "+OK Bye\r\n");
    s.terminate();
    s.spawn();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("three.eml");
    std::fs::write(&file, TWO).unwrap();
    s.json(&["mailbox", "import", MARIO, file.to_str().unwrap()]);
    let mut p = logged_in(&s).await;
    p.cmd("UIDL").await;
    let second = String::from_utf8(p.body().await).unwrap();
    let first = String::from_utf8(first).unwrap();
    let first_lines: Vec<&str> = first.lines().collect();
    let second_lines: Vec<&str> = second.lines().collect();
    assert_eq!(
        first_lines[0], second_lines[0],
        "message 1 keeps its UIDL after a restart"
    );
    let old_two = first_lines[1].split(' ').nth(1).unwrap();
    let new_two = second_lines[1].split(' ').nth(1).unwrap();
    assert_ne!(old_two, new_two, "the deleted message's UIDL is not reused");
}

#[tokio::test]
async fn second_session_gets_in_use_and_deletions_happen_only_at_quit() {
    let s = server_with(&[ONE, TWO]);
    let mut p = logged_in(&s).await;
    let (mut q, _) = Pop::connect(&s).await;
    q.cmd(&format!("USER {MARIO}")).await;
    assert_eq!(
        q.cmd(&format!("PASS {PASSWORD}")).await,
        "-ERR [IN-USE] Mailbox in use by another POP3 session\r\n"
    );
    assert!(p.cmd("DELE 1").await.starts_with("+OK"));
    assert!(
        p.cmd("RETR 1").await.starts_with("-ERR"),
        "deleted messages are hidden"
    );
    assert!(p.cmd("STAT").await.starts_with("+OK 1 "));
    assert!(p.cmd("RSET").await.starts_with("+OK"));
    assert!(p.cmd("STAT").await.starts_with("+OK 2 "));
    assert!(p.cmd("DELE 1").await.starts_with("+OK"));
    drop(p); // gone without QUIT: nothing deleted
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut p = logged_in(&s).await;
    assert!(p.cmd("STAT").await.starts_with("+OK 2 "));
    assert!(p.cmd("DELE 1").await.starts_with("+OK"));
    assert_eq!(p.cmd("QUIT").await, "+OK Bye\r\n");
    let mut rest = [0u8; 8];
    assert_eq!(p.stream.read(&mut rest).await.expect("clean TLS close"), 0);
    assert_eq!(
        s.json(&["mailbox", "show", MARIO])["messages"],
        1,
        "deletion committed at QUIT"
    );
}

#[tokio::test]
async fn bad_commands_and_logins_get_short_errors_that_reveal_nothing() {
    let s = server_with(&[ONE]);
    let (mut p, _) = Pop::connect(&s).await;
    assert_eq!(p.cmd("STAT").await, "-ERR Log in first\r\n");
    assert_eq!(p.cmd("FROB").await, "-ERR Unknown command\r\n");
    assert_eq!(p.cmd("PASS x").await, "-ERR Send USER first\r\n");
    p.cmd(&format!("USER {MARIO}")).await;
    let wrong = p.cmd("PASS Wrong-Pass1!").await;
    p.cmd("USER nobody@pec.localhost").await;
    let unknown = p.cmd(&format!("PASS {PASSWORD}")).await;
    assert_eq!(wrong, "-ERR [AUTH] Authentication failed\r\n");
    assert_eq!(unknown, wrong);
    assert_eq!(p.cmd(&"X".repeat(5000)).await, "-ERR Line too long\r\n");
    // AUTH PLAIN with and without an initial response.
    let plain = support::smtp::plain(MARIO, PASSWORD);
    assert_eq!(p.cmd("AUTH PLAIN").await, "+ \r\n");
    assert!(p.cmd(&plain).await.starts_with("+OK Logged in"));
    assert_eq!(p.cmd("RETR 9").await, "-ERR No such message\r\n");
    assert_eq!(p.cmd("USER again").await, "-ERR Already logged in\r\n");
    assert_eq!(p.cmd("QUIT").await, "+OK Bye\r\n");
    let (mut p, _) = Pop::connect(&s).await;
    assert!(p
        .cmd(&format!("AUTH PLAIN {plain}"))
        .await
        .starts_with("+OK Logged in"));
}

#[tokio::test]
async fn pipelined_commands_are_answered_in_order() {
    let s = server_with(&[ONE, TWO]);
    let (mut p, _) = Pop::connect(&s).await;
    p.stream
        .write_all(
            format!("USER {MARIO}\r\nPASS {PASSWORD}\r\nSTAT\r\nLIST 1\r\nNOOP\r\n").as_bytes(),
        )
        .await
        .unwrap();
    assert!(p.line().await.starts_with("+OK Send PASS"));
    assert!(p.line().await.starts_with("+OK Logged in"));
    assert!(p.line().await.starts_with("+OK 2 "));
    assert_eq!(p.line().await, format!("+OK 1 {}\r\n", ONE.len()));
    assert_eq!(p.line().await, "+OK OK\r\n");
}

#[test]
fn python_poplib_and_curl() {
    let s = server_with(&[ONE, TWO]);
    let script = r#"
import poplib, ssl, sys
ca, port, user, password = sys.argv[1:]
ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False
p = poplib.POP3_SSL("127.0.0.1", int(port), context=ctx)
p.user(user); p.pass_(password)
count, size = p.stat()
assert count == 2, count
lines = p.retr(1)[1]
assert lines[3] == b".starts with a dot", lines
p.dele(2)
assert p.quit().startswith(b"+OK")
print("ok")
"#;
    let out = s.python(script, "pop3s", MARIO);
    assert!(out.contains("ok"));
    let curl = |path: &str| s.curl("pop3s", "pop3s", MARIO, path);
    let out = curl("1");
    assert!(out.contains("Subject: one"), "{out}");
    let list = curl("");
    assert_eq!(
        list.lines().count(),
        1,
        "poplib's DELE was committed at QUIT: {list}"
    );
}

#[test]
fn fetchmail_with_uidl_and_keep_fetches_each_message_once() {
    let s = server_with(&[ONE, TWO]);
    let home = tempfile::tempdir().unwrap();
    let mda_out = home.path().join("delivered");
    let rc = home.path().join("fetchmailrc");
    std::fs::write(
        &rc,
        format!(
            "set no syslog\nset idfile \"{}/fetchids\"\npoll 127.0.0.1 protocol pop3 port {} uidl\n  user \"{MARIO}\" password \"{PASSWORD}\" keep ssl sslcertfile \"{}\" sslcertck sslcommonname mail.pec.localhost\n  mda \"cat >> {}\"\n",
            home.path().display(),
            s.listener("pop3s").port(),
            s.ca().display(),
            mda_out.display()
        ),
    )
    .unwrap();
    let mut perms = std::fs::metadata(&rc).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o600);
    std::fs::set_permissions(&rc, perms).unwrap();
    let run = || {
        Command::new("fetchmail")
            .args(["-f", rc.to_str().unwrap(), "--nodetach", "-v"])
            .env("HOME", home.path())
            .output()
            .expect("fetchmail (scripts/test.sh installs it)")
    };
    let first = run();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&first.stdout),
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(first.status.success(), "{log}");
    let delivered = std::fs::read_to_string(&mda_out).unwrap();
    assert_eq!(delivered.matches("Subject: ").count(), 2, "{delivered}");
    // Second run: `keep` left them on the server, UIDL tells fetchmail they are old.
    let second = run();
    assert_eq!(
        second.status.code(),
        Some(1),
        "fetchmail exits 1 when there is no new mail"
    );
    assert_eq!(
        std::fs::read_to_string(&mda_out)
            .unwrap()
            .matches("Subject: ")
            .count(),
        2
    );
    assert_eq!(
        s.json(&["mailbox", "show", MARIO])["messages"],
        2,
        "keep: nothing deleted"
    );
}

/// A passphrase of `len` bytes that meets the password policy (no character three times in
/// a row) and has a space in it, as passphrases do.
fn passphrase(len: usize) -> String {
    let mut p = String::from("Lunga frase-9 ");
    let mut i = 0u32;
    while p.len() < len {
        p.push(char::from(b'a' + (i % 26) as u8));
        i += 1;
    }
    p
}

/// Review item "POP3 limits": POP3 alone refused passwords over 256 bytes, and its 1 KiB
/// pre-login line could not carry AUTH PLAIN with an authorization identity and a long
/// password, so a holder with a long passphrase could use IMAP and SMTP but not POP3.
#[tokio::test]
async fn pop3_limits_long_password_logs_in_over_user_pass_and_auth_plain() {
    let s = server().start();
    const LUIGI: &str = "luigi@pec.localhost";
    let long = passphrase(300);
    let longest = passphrase(1024);
    for (address, password) in [(MARIO, &long), (LUIGI, &longest)] {
        let out = s.pecctl(
            &["mailbox", "create", address, "--password-stdin"],
            &format!("{password}\n"),
        );
        assert!(out.status.success(), "create {address}: {}", text(&out));
    }

    let (mut p, _) = Pop::connect(&s).await;
    assert!(p.cmd(&format!("USER {MARIO}")).await.starts_with("+OK"));
    let r = p.cmd(&format!("PASS {long}")).await;
    assert!(r.starts_with("+OK Logged in"), "USER/PASS: {r}");
    assert_eq!(p.cmd("QUIT").await, "+OK Bye\r\n");

    let (mut p, _) = Pop::connect(&s).await;
    let plain = support::smtp::plain(MARIO, &long);
    let r = p.cmd(&format!("AUTH PLAIN {plain}")).await;
    assert!(r.starts_with("+OK Logged in"), "AUTH PLAIN: {r}");
    assert_eq!(p.cmd("QUIT").await, "+OK Bye\r\n");

    // The longest password, over AUTH PLAIN with an authorization identity, in one line and
    // after a "+ " challenge; and over USER/PASS.
    let with_authz = support::smtp::b64(format!("{LUIGI}\0{LUIGI}\0{longest}").as_bytes());
    assert!(with_authz.len() > 1024);
    let (mut p, _) = Pop::connect(&s).await;
    let r = p.cmd(&format!("AUTH PLAIN {with_authz}")).await;
    assert!(r.starts_with("+OK Logged in"), "AUTH PLAIN, authzid: {r}");
    assert_eq!(p.cmd("QUIT").await, "+OK Bye\r\n");
    let (mut p, _) = Pop::connect(&s).await;
    assert_eq!(p.cmd("AUTH PLAIN").await, "+ \r\n");
    let r = p.cmd(&with_authz).await;
    assert!(r.starts_with("+OK Logged in"), "AUTH PLAIN, challenge: {r}");
    assert_eq!(p.cmd("QUIT").await, "+OK Bye\r\n");
    let (mut p, _) = Pop::connect(&s).await;
    assert!(p.cmd(&format!("USER {LUIGI}")).await.starts_with("+OK"));
    let r = p.cmd(&format!("PASS {longest}")).await;
    assert!(r.starts_with("+OK Logged in"), "PASS 1024: {r}");
    assert_eq!(p.cmd("QUIT").await, "+OK Bye\r\n");

    // Past the bound, still a short refusal.
    let (mut p, _) = Pop::connect(&s).await;
    p.cmd(&format!("USER {LUIGI}")).await;
    assert_eq!(
        p.cmd(&format!("PASS {}", passphrase(1025))).await,
        "-ERR Password too long\r\n"
    );
}
