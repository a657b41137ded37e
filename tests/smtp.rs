//! The SMTP service against the real pecd: both listeners, AUTH, sender rules, the per-sender
//! limit, sizes and bounds, durability of what was answered 250, and the client bugs of
//! CLIENTS.md §5 that apply to SMTP, each named after the bug it pins.

mod support;

use std::time::{Duration, Instant};

use support::smtp::{b64, plain, Conn};
use support::*;

const MARIO: &str = "mario@pec.localhost";
const LUIGI: &str = "luigi@pec.localhost";
const USERS: &[&str] = &[MARIO, LUIGI];

fn msg(from: &str, subject: &str) -> String {
    format!("From: <{from}>\r\nTo: <{LUIGI}>, <{MARIO}>\r\nSubject: {subject}\r\nMessage-ID: <{subject}@client.test>\r\n\r\nbody of {subject}\r\n")
}

#[tokio::test]
async fn maddy_761_ehlo_announces_plain_and_login_per_listener_and_auth_state() {
    let s = server().users(USERS).start();
    let (mut c, greeting) = Conn::plain(s.listener("smtp")).await;
    assert!(
        greeting.starts_with("220 mail.pec.localhost ESMTP"),
        "{greeting}"
    );
    let before = c.cmd("EHLO client.test").await;
    assert!(
        before.ends_with("250-CHUNKING\r\n250 STARTTLS\r\n"),
        "{before}"
    );
    assert!(!before.contains("AUTH"), "no AUTH before TLS: {before}");
    let mut c = c.starttls(&s.ca()).await;
    let after = c.cmd("EHLO client.test").await;
    assert!(
        after.ends_with("250-CHUNKING\r\n250 AUTH PLAIN LOGIN\r\n"),
        "{after}"
    );
    assert!(!after.contains("STARTTLS"));
    for ext in [
        "PIPELINING",
        "SIZE 31457280",
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
    ] {
        assert!(
            after.contains(&format!("250-{ext}\r\n")),
            "{ext} in {after}"
        );
    }
    let (mut c, greeting) = Conn::tls(s.listener("submissions"), &s.ca()).await;
    assert!(greeting.starts_with("220 "), "{greeting}");
    let r = c.cmd("EHLO client.test").await;
    assert!(
        r.ends_with("250 AUTH PLAIN LOGIN\r\n") && !r.contains("STARTTLS"),
        "{r}"
    );
    c.login(MARIO, PASSWORD).await;
    let r = c.cmd("EHLO client.test").await;
    assert!(
        r.ends_with("250 CHUNKING\r\n"),
        "no AUTH once authenticated: {r}"
    );
    assert!(c.cmd("STARTTLS").await.starts_with("503 5.5.1"));
}

/// CLIENTS.md §5 bug 2 (Stalwart PR #400) and bug 3 (mox #51): Outlook's AUTH LOGIN needs the
/// exact base64 challenges, and sends the user name as an initial response.
#[tokio::test]
async fn stalwart_pr400_auth_login_challenges_are_exact() {
    let s = server().users(USERS).start();
    let (mut c, _) = Conn::tls(s.listener("submissions"), &s.ca()).await;
    c.cmd("EHLO outlook.test").await;
    assert_eq!(c.cmd("AUTH LOGIN").await, "334 VXNlcm5hbWU6\r\n");
    assert_eq!(c.cmd(&b64(MARIO.as_bytes())).await, "334 UGFzc3dvcmQ6\r\n");
    assert_eq!(
        c.cmd(&b64(PASSWORD.as_bytes())).await,
        "235 2.7.0 Authentication successful\r\n"
    );

    let (mut c, _) = Conn::tls(s.listener("submissions"), &s.ca()).await;
    c.cmd("EHLO outlook.test").await;
    assert_eq!(
        c.cmd(&format!("AUTH LOGIN {}", b64(MARIO.as_bytes())))
            .await,
        "334 UGFzc3dvcmQ6\r\n"
    );
    assert!(c
        .cmd(&b64(PASSWORD.as_bytes()))
        .await
        .starts_with("235 2.7.0"));

    // PLAIN without an initial response gets an empty challenge; `*` cancels any exchange.
    let (mut c, _) = Conn::tls(s.listener("submissions"), &s.ca()).await;
    c.cmd("EHLO client.test").await;
    assert_eq!(c.cmd("AUTH PLAIN").await, "334 \r\n");
    assert_eq!(c.cmd("*").await, "501 5.0.0 Authentication cancelled\r\n");
    assert_eq!(c.cmd("AUTH LOGIN").await, "334 VXNlcm5hbWU6\r\n");
    assert_eq!(c.cmd("*").await, "501 5.0.0 Authentication cancelled\r\n");
    assert_eq!(c.cmd("AUTH PLAIN").await, "334 \r\n");
    assert!(c
        .cmd(&plain(MARIO, PASSWORD))
        .await
        .starts_with("235 2.7.0"));
}

/// CLIENTS.md §3 (modern-email/defects #14): Outlook has sent `MAIL FROM: <address>` with a
/// space after the colon; it must be accepted.
#[tokio::test]
async fn outlook_extra_space_in_mail_from_is_accepted() {
    let mut s = server().users(USERS).start();
    let (mut c, _) = Conn::tls(s.listener("submissions"), &s.ca()).await;
    c.login(MARIO, PASSWORD).await;
    assert!(c
        .cmd(&format!("MAIL FROM: <{MARIO}>"))
        .await
        .starts_with("250 2.1.0"));
    assert!(c
        .cmd(&format!("RCPT TO: <{LUIGI}>"))
        .await
        .starts_with("250 2.1.5"));
    assert!(c.cmd("DATA").await.starts_with("354"));
    c.send(format!("{}.\r\n", msg(MARIO, "outlook")).as_bytes())
        .await;
    assert!(c.reply().await.starts_with("250 2.0.0"));
    assert_eq!(s.stored_inbox(LUIGI).await.len(), 1);
}

#[tokio::test]
async fn auth_needs_tls_and_right_credentials() {
    let s = server().users(USERS).start();
    let (mut c, _) = Conn::plain(s.listener("smtp")).await;
    c.cmd("EHLO client.test").await;
    let r = c
        .cmd(&format!("AUTH PLAIN {}", plain(MARIO, PASSWORD)))
        .await;
    assert!(r.starts_with("538 5.7.11"), "AUTH before STARTTLS: {r}");
    let mut c = c.starttls(&s.ca()).await;
    c.cmd("EHLO client.test").await;
    let wrong = c
        .cmd(&format!("AUTH PLAIN {}", plain(MARIO, "Wrong-Pass1!")))
        .await;
    let unknown = c
        .cmd(&format!(
            "AUTH PLAIN {}",
            plain("nobody@pec.localhost", PASSWORD)
        ))
        .await;
    assert_eq!(wrong, "535 5.7.8 Authentication credentials invalid\r\n");
    assert_eq!(
        unknown, wrong,
        "the reply never reveals whether the address exists"
    );
    let proxy = b64(format!("{LUIGI}\0{MARIO}\0{PASSWORD}").as_bytes());
    assert!(
        c.cmd(&format!("AUTH PLAIN {proxy}"))
            .await
            .starts_with("501"),
        "no authzid of another mailbox"
    );
    assert!(c.cmd("AUTH CRAM-MD5").await.starts_with("504 5.5.4"));
    // 465 requires AUTH before MAIL.
    let (mut c, _) = Conn::tls(s.listener("submissions"), &s.ca()).await;
    c.cmd("EHLO client.test").await;
    assert!(c
        .cmd(&format!("MAIL FROM:<{MARIO}>"))
        .await
        .starts_with("530 5.7.0"));
}

#[tokio::test]
async fn repeated_failed_logins_are_refused_for_a_window_that_expires() {
    // After 5 failures for one login, attempts for it get the reply of a wrong password,
    // the right password included, until a 2-second window ends; the holder is not locked out.
    let s = server()
        .extra("\n[auth]\nfailures_per_login = 5\nblock_seconds = 2\n")
        .users(USERS)
        .start();
    let (mut c, _) = Conn::tls(s.listener("submissions"), &s.ca()).await;
    c.cmd("EHLO attacker.test").await;
    for _ in 0..5 {
        let r = c
            .cmd(&format!("AUTH PLAIN {}", plain(MARIO, "Wrong-Pass1!")))
            .await;
        assert!(r.starts_with("535 5.7.8"), "{r}");
    }
    let r = c
        .cmd(&format!("AUTH PLAIN {}", plain(MARIO, PASSWORD)))
        .await;
    assert_eq!(r, "535 5.7.8 Authentication credentials invalid\r\n");
    assert!(s.log().contains("SMTP authentication failed"));
    assert!(s.log().contains("further attempts refused"));
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (mut c, _) = Conn::tls(s.listener("submissions"), &s.ca()).await;
    c.login(MARIO, PASSWORD).await;
}

#[tokio::test]
async fn spoofed_sender_and_spoofed_from_header_are_refused() {
    let mut s = server().users(USERS).start();
    let (mut c, _) = Conn::tls(s.listener("submissions"), &s.ca()).await;
    c.login(MARIO, PASSWORD).await;
    let r = c
        .send_message(LUIGI, &[LUIGI], &msg(LUIGI, "envelope-spoof"))
        .await;
    assert_eq!(
        r,
        "553 5.7.1 Sender address is not the authenticated mailbox\r\n"
    );
    let r = c
        .send_message(MARIO, &[LUIGI], &msg(LUIGI, "header-spoof"))
        .await;
    // A From header that is not the holder fails the formal checks of PEC.md §6.1: no 250,
    // and an avviso di non accettazione goes to the holder.
    assert!(
        r.starts_with(
            "550 5.7.1 Not accepted into PEC: il mittente luigi@pec.localhost non corrisponde"
        ),
        "{r}"
    );
    let r = c
        .send_message(MARIO, &[LUIGI], &msg(MARIO, "genuine"))
        .await;
    assert!(r.starts_with("250 2.0.0"), "{r}");
    let stored = s.stored_inbox(LUIGI).await;
    assert_eq!(stored.len(), 1);
    assert!(stored[0].contains("Subject: POSTA CERTIFICATA: genuine"));
}

#[tokio::test]
async fn no_relay_and_unauthenticated_mail_only_for_our_domains() {
    let mut s = server().users(USERS).start();
    // A peer delivering to us on port 25 without AUTH.
    let (mut c, _) = Conn::plain(s.listener("smtp")).await;
    c.cmd("EHLO peer.example").await;
    assert!(c
        .cmd("MAIL FROM:<someone@elsewhere.example>")
        .await
        .starts_with("250"));
    let r = c.cmd("RCPT TO:<victim@gmail.com>").await;
    assert_eq!(
        r,
        "550 5.7.1 <victim@gmail.com>: relaying to domains other than ours is not available\r\n"
    );
    assert!(c
        .cmd("RCPT TO:<nobody@pec.localhost>")
        .await
        .starts_with("550 5.1.1"));
    assert!(c
        .cmd(&format!("RCPT TO:<{LUIGI}>"))
        .await
        .starts_with("250 2.1.5"));
    assert!(c.cmd("DATA").await.starts_with("354"));
    c.send(b"From: someone@elsewhere.example\r\nSubject: inbound\r\n\r\nhi\r\n.\r\n")
        .await;
    assert!(c.reply().await.starts_with("250 2.0.0"));
    // Authenticated users cannot relay either (until the relay issue lands).
    let (mut c, _) = Conn::tls(s.listener("submissions"), &s.ca()).await;
    c.login(MARIO, PASSWORD).await;
    let r = c
        .send_message(MARIO, &["friend@example.com"], &msg(MARIO, "out"))
        .await;
    assert!(r.starts_with("550 5.7.1"), "{r}");
    let stored = s.stored_inbox(LUIGI).await;
    assert_eq!(stored.len(), 1);
    assert!(stored[0].contains("Subject: inbound"));
    assert!(stored[0].starts_with("Received: from peer.example ([127.0.0.1])\r\n\tby mail.pec.localhost (pecd) with ESMTP id "));
}

#[tokio::test]
async fn a_burst_of_seven_sees_the_seventh_refused_on_either_port() {
    let s = server().users(USERS).start();
    let (mut a, _) = Conn::tls(s.listener("submissions"), &s.ca()).await;
    a.login(MARIO, PASSWORD).await;
    let (b, _) = Conn::plain(s.listener("smtp")).await;
    let mut b = b.starttls(&s.ca()).await;
    b.login(MARIO, PASSWORD).await;
    for i in 0..6 {
        let c = if i % 2 == 0 { &mut a } else { &mut b };
        let r = c
            .send_message(MARIO, &[LUIGI], &msg(MARIO, &format!("burst{i}")))
            .await;
        assert!(r.starts_with("250 2.0.0"), "message {i}: {r}");
    }
    let refused = "550 5.7.1 MAIL from: \"<mario@pec.localhost>\" blocked \"Class Of Service\" - Too much traffic from this sender\r\n";
    assert_eq!(a.cmd(&format!("MAIL FROM:<{MARIO}>")).await, refused);
    assert_eq!(b.cmd(&format!("MAIL FROM:<{MARIO}>")).await, refused);
    // Another sender is unaffected.
    let (mut l, _) = Conn::tls(s.listener("submissions"), &s.ca()).await;
    l.login(LUIGI, PASSWORD).await;
    assert!(l
        .send_message(LUIGI, &[MARIO], &msg(LUIGI, "other"))
        .await
        .starts_with("250"));
    // One more every 10 seconds.
    tokio::time::sleep(Duration::from_millis(10_100)).await;
    assert!(a
        .send_message(MARIO, &[LUIGI], &msg(MARIO, "after10s"))
        .await
        .starts_with("250"));
    assert_eq!(a.cmd(&format!("MAIL FROM:<{MARIO}>")).await, refused);
    // The per-mailbox override lifts the limit at once, and `default` restores it.
    s.json(&["mailbox", "set", MARIO, "--sender-per-minute", "20"]);
    for i in 0..8 {
        let r = b
            .send_message(MARIO, &[LUIGI], &msg(MARIO, &format!("lifted{i}")))
            .await;
        assert!(r.starts_with("250"), "lifted {i}: {r}");
    }
    s.json(&["mailbox", "set", MARIO, "--sender-per-minute", "default"]);
    for i in 0..6 {
        assert!(b
            .send_message(MARIO, &[LUIGI], &msg(MARIO, &format!("restored{i}")))
            .await
            .starts_with("250"));
    }
    assert_eq!(b.cmd(&format!("MAIL FROM:<{MARIO}>")).await, refused);
}

#[tokio::test]
async fn over_limit_code_451_keeps_the_text() {
    let s = server()
        .extra("\n[limits]\nsender_per_minute = 1\nsender_over_limit_code = 451\n")
        .users(USERS)
        .start();
    let (mut c, _) = Conn::tls(s.listener("submissions"), &s.ca()).await;
    c.login(MARIO, PASSWORD).await;
    assert!(c
        .send_message(MARIO, &[LUIGI], &msg(MARIO, "one"))
        .await
        .starts_with("250"));
    assert_eq!(
        c.cmd(&format!("MAIL FROM:<{MARIO}>")).await,
        "451 4.7.1 MAIL from: \"<mario@pec.localhost>\" blocked \"Class Of Service\" - Too much traffic from this sender\r\n"
    );
}

#[tokio::test]
async fn pipelined_commands_in_one_packet_are_answered_in_order() {
    let mut s = server().users(USERS).start();
    let (mut c, _) = Conn::tls(s.listener("submissions"), &s.ca()).await;
    c.login(MARIO, PASSWORD).await;
    let body = msg(MARIO, "pipelined").replace("To: ", "To: <nobody@pec.localhost>, ");
    let batch = format!(
        "MAIL FROM:<{MARIO}>\r\nRCPT TO:<{LUIGI}>\r\nRCPT TO:<nobody@pec.localhost>\r\nDATA\r\n"
    );
    c.send(batch.as_bytes()).await;
    assert!(c.reply().await.starts_with("250 2.1.0"));
    assert!(c.reply().await.starts_with("250 2.1.5"));
    // An authenticated holder may name any mailbox of our domains: an unknown one gets an
    // avviso di mancata consegna after acceptance (PEC.md §6.4), not an SMTP refusal.
    assert!(c.reply().await.starts_with("250 2.1.5"));
    assert!(c.reply().await.starts_with("354"));
    c.send(format!("{body}.\r\nNOOP\r\nQUIT\r\n").as_bytes())
        .await;
    assert!(c.reply().await.starts_with("250 2.0.0 Message accepted"));
    assert!(c.reply().await.starts_with("250 2.0.0 OK"));
    assert_eq!(c.reply().await, "221 2.0.0 Bye\r\n");
    assert_eq!(s.stored_inbox(LUIGI).await.len(), 1);
    let receipts = s.stored_inbox(MARIO).await;
    let kinds: Vec<&str> = receipts
        .iter()
        .filter_map(|m| m.lines().find_map(|l| l.strip_prefix("X-Ricevuta: ")))
        .collect();
    assert_eq!(
        kinds,
        ["accettazione", "avvenuta-consegna", "errore-consegna"]
    );
}

#[tokio::test]
async fn max_size_plus_one_is_refused_and_the_connection_stays_usable() {
    let mut s = server()
        .extra("\n[limits]\nmax_message_bytes = 2048\n")
        .users(USERS)
        .start();
    let (mut c, _) = Conn::tls(s.listener("submissions"), &s.ca()).await;
    c.login(MARIO, PASSWORD).await;
    assert!(c.cmd("EHLO x").await.contains("250-SIZE 2048\r\n"));
    let r = c.cmd(&format!("MAIL FROM:<{MARIO}> SIZE=2049")).await;
    assert_eq!(
        r,
        "552 5.3.4 Message size exceeds the limit of 2048 bytes\r\n"
    );
    let mut big = msg(MARIO, "big");
    big.push_str(&"x".repeat(2049 - big.len()));
    assert_eq!(big.len(), 2049);
    let r = c.send_message(MARIO, &[LUIGI], &big).await;
    assert!(r.starts_with("552 5.3.4"), "{r}");
    assert!(
        c.cmd("NOOP").await.starts_with("250"),
        "connection still usable"
    );
    let mut fits = msg(MARIO, "fits");
    fits.push_str(&"y".repeat(2048 - 2 - fits.len()));
    assert!(c
        .send_message(MARIO, &[LUIGI], &fits)
        .await
        .starts_with("250"));
    // BDAT (CHUNKING) with the same limit.
    assert!(c
        .cmd(&format!("MAIL FROM:<{MARIO}>"))
        .await
        .starts_with("250"));
    assert!(c
        .cmd(&format!("RCPT TO:<{LUIGI}>"))
        .await
        .starts_with("250"));
    let chunk = msg(MARIO, "bdat");
    c.send(format!("BDAT {} LAST\r\n{chunk}", chunk.len()).as_bytes())
        .await;
    assert!(c.reply().await.starts_with("250 2.0.0 Message accepted"));
    let stored = s.stored_inbox(LUIGI).await;
    assert_eq!(stored.len(), 2);
    // The envelope carries the BDAT bytes (Message-ID replaced by the PEC msgid, PEC.md §4.3).
    let body_start = chunk.find("\r\n\r\n").unwrap();
    assert!(
        stored[1].contains(&chunk[body_start..]),
        "BDAT bytes stored exactly"
    );
    assert!(stored[1].contains("X-Riferimento-Message-ID: <bdat@client.test>\r\n"));
}

/// RFC 3207 §4.2 (the STARTTLS command-injection class): plaintext pipelined after STARTTLS
/// must be thrown away, not executed inside the TLS session.
#[tokio::test]
async fn starttls_discards_plaintext_pipelined_after_it() {
    let s = server().users(USERS).start();
    let (mut c, _) = Conn::plain(s.listener("smtp")).await;
    c.cmd("EHLO client.test").await;
    c.send(b"STARTTLS\r\nNOOP injected\r\n").await;
    assert!(c.reply().await.starts_with("220 2.0.0"));
    let support::smtp::Stream::Plain(tcp) = c.stream else {
        unreachable!()
    };
    let tls = tokio_rustls::TlsConnector::from(support::smtp::tls_config(&s.ca()));
    let name = rustls_pki_types::ServerName::try_from("mail.pec.localhost").unwrap();
    let mut stream = tls.connect(name, tcp).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(b"EHLO client.test\r\n").await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = stream.read(&mut buf).await.unwrap();
    let first = String::from_utf8_lossy(&buf[..n]);
    assert!(
        first.starts_with("250-mail.pec.localhost"),
        "no reply to the injected NOOP: {first}"
    );
}

#[tokio::test]
async fn recipients_per_message_are_bounded() {
    let s = server()
        .extra("\n[smtp]\nmax_recipients = 2\n")
        .users(USERS)
        .start();
    let (mut c, _) = Conn::tls(s.listener("submissions"), &s.ca()).await;
    c.login(MARIO, PASSWORD).await;
    c.cmd(&format!("MAIL FROM:<{MARIO}>")).await;
    assert!(c
        .cmd(&format!("RCPT TO:<{LUIGI}>"))
        .await
        .starts_with("250"));
    assert!(c
        .cmd(&format!("RCPT TO:<{MARIO}>"))
        .await
        .starts_with("250"));
    assert_eq!(
        c.cmd("RCPT TO:<third@pec.localhost>").await,
        "452 4.5.3 Too many recipients (at most 2 per message)\r\n"
    );
}

#[tokio::test]
async fn a_10000_byte_command_line_is_refused_and_the_connection_stays_usable() {
    let s = server().users(USERS).start();
    let (mut c, _) = Conn::plain(s.listener("smtp")).await;
    c.cmd("EHLO client.test").await;
    let long = format!("MAIL FROM:<{}@pec.localhost>", "a".repeat(10_000));
    assert_eq!(
        c.cmd(&long).await,
        "500 5.5.2 Line too long (at most 4096 bytes)\r\n"
    );
    assert!(c.cmd("NOOP").await.starts_with("250 2.0.0"));
}

#[tokio::test]
async fn a_disconnect_in_the_middle_of_data_leaves_nothing_behind() {
    let mut s = server().users(USERS).start();
    let (mut c, _) = Conn::tls(s.listener("submissions"), &s.ca()).await;
    c.login(MARIO, PASSWORD).await;
    c.cmd(&format!("MAIL FROM:<{MARIO}>")).await;
    c.cmd(&format!("RCPT TO:<{LUIGI}>")).await;
    assert!(c.cmd("DATA").await.starts_with("354"));
    c.send(msg(MARIO, "half").as_bytes()).await;
    drop(c);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !s.log().contains("client left during DATA") {
        assert!(
            Instant::now() < deadline,
            "server never noticed the disconnect"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(s.stored_inbox(LUIGI).await.is_empty());
}

/// CLIENTS.md §5 bug 11 (Stalwart #567): QUIT must answer and close TLS cleanly.
#[tokio::test]
async fn stalwart_567_quit_replies_221_and_closes_tls_cleanly() {
    let s = server().users(USERS).start();
    let (mut c, _) = Conn::tls(s.listener("submissions"), &s.ca()).await;
    c.cmd("EHLO client.test").await;
    assert_eq!(c.cmd("QUIT").await, "221 2.0.0 Bye\r\n");
    let mut rest = [0u8; 16];
    // rustls reports a missing close_notify as an error; a clean close reads 0.
    assert_eq!(c.read_some(&mut rest).await.expect("clean TLS close"), 0);
}

#[tokio::test]
async fn received_header_and_generated_message_id() {
    let mut s = server().users(USERS).start();
    let (mut c, _) = Conn::tls(s.listener("submissions"), &s.ca()).await;
    c.login(MARIO, PASSWORD).await;
    let without_id = format!("From: <{MARIO}>\r\nTo: <{LUIGI}>\r\nSubject: no id\r\n\r\nx\r\n");
    assert!(c
        .send_message(MARIO, &[LUIGI], &without_id)
        .await
        .starts_with("250"));
    assert!(c
        .send_message(MARIO, &[LUIGI], &msg(MARIO, "with-id"))
        .await
        .starts_with("250"));
    let stored = s.stored_inbox(LUIGI).await;
    // The envelope copies our Received: field (PEC.md §3.1) and carries the original with it.
    assert!(stored[0].starts_with("Received: from client.test ([127.0.0.1])\r\n\tby mail.pec.localhost (pecd) with ESMTPSA id "));
    // A client without Message-ID gets one generated at the Access Point, kept as its
    // X-Riferimento-Message-ID (PEC.md §12 item 3).
    assert!(
        stored[0].contains("@mail.pec.localhost>\r\nMessage-ID: <pecd."),
        "{}",
        stored[0]
    );
    assert!(stored[1].contains("X-Riferimento-Message-ID: <with-id@client.test>\r\n"));
}

#[tokio::test]
async fn bounds_connections_per_ip_and_idle_timeout() {
    let s = server()
        .extra("\n[smtp]\nmax_connections_per_ip = 2\nidle_timeout_seconds = 1\n")
        .users(USERS)
        .start();
    let (_a, _) = Conn::plain(s.listener("smtp")).await;
    let (_b, _) = Conn::plain(s.listener("smtp")).await;
    let (mut c, greeting) = Conn::plain(s.listener("smtp")).await;
    assert_eq!(
        greeting,
        "421 4.7.0 Too many connections from your address; try again later\r\n"
    );
    assert_eq!(c.reply().await, "", "then closed");
    // Each listener counts its own (a flood of port 25 never shuts submission); on 465 the
    // refusal comes over TLS.
    let (_sa, greeting) = Conn::tls(s.listener("submissions"), &s.ca()).await;
    assert!(greeting.starts_with("220"), "{greeting}");
    let (_sb, _) = Conn::tls(s.listener("submissions"), &s.ca()).await;
    let (mut d, greeting) = Conn::tls(s.listener("submissions"), &s.ca()).await;
    assert!(greeting.starts_with("421 4.7.0"), "{greeting}");
    assert_eq!(d.reply().await, "");
    // The two idle ones time out, which frees the slots.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (mut e, greeting) = Conn::plain(s.listener("smtp")).await;
    assert!(greeting.starts_with("220"), "{greeting}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        e.reply().await,
        "421 4.4.2 Idle timeout, closing connection\r\n"
    );
}
