//! SMTP sessions driven in memory (no sockets): the session is generic over its stream.

use std::sync::Arc;

use pecd_smtp::context::Context;
use pecd_smtp::ehlo::Listener;
use pecd_smtp::session::{End, Session};
use pecd_store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

async fn context() -> (tempfile::TempDir, Arc<Context>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    store
        .create_mailbox("luigi@pec.localhost", "$argon2id$unused", 1 << 20)
        .await
        .unwrap();
    let config = Arc::new(pecd_common::certs::dev_config_in(dir.path()).unwrap());
    let engine = pecd_engine::Engine::new(config.clone(), store.clone())
        .await
        .unwrap();
    (dir, Context::new(config, store, engine))
}

/// Runs one cleartext port-25 session over an in-memory pipe with `input` already sent,
/// then returns everything the server wrote and how the session ended.
async fn converse(ctx: &Context, input: &[u8]) -> (String, End) {
    let (client, server) = tokio::io::duplex(64 * 1024);
    let (mut read, mut write) = tokio::io::split(client);
    write.write_all(input).await.unwrap();
    let peer = "192.0.2.7:40000".parse().unwrap();
    let mut session = Session::new(
        ctx,
        server,
        Listener::Smtp,
        false,
        peer,
        CancellationToken::new(),
    );
    let end = session.run().await.unwrap();
    drop(session);
    drop(write);
    let mut out = String::new();
    read.read_to_string(&mut out).await.unwrap();
    (out, end)
}

#[tokio::test]
async fn a_peer_delivery_pipelined_in_one_write() {
    let (_dir, ctx) = context().await;
    let input = b"EHLO peer.example\r\nMAIL FROM:<a@peer.example>\r\nRCPT TO:<luigi@pec.localhost>\r\nDATA\r\n\
From: a@peer.example\r\nSubject: hi\r\n\r\n..dot-stuffed\r\n.\r\nQUIT\r\n";
    let (out, end) = converse(&ctx, input).await;
    assert_eq!(end, End::Closed);
    let codes: Vec<&str> = out
        .lines()
        .map(|l| &l[..4])
        .filter(|c| !c.ends_with('-'))
        .collect();
    assert_eq!(
        codes,
        vec!["220 ", "250 ", "250 ", "250 ", "354 ", "250 ", "221 "],
        "{out}"
    );
    let m = ctx
        .store
        .find_mailbox("luigi@pec.localhost")
        .await
        .unwrap()
        .unwrap();
    let inbox = ctx.store.folder(m.id, "INBOX").await.unwrap().unwrap();
    let metas = ctx.store.messages(inbox.id).await.unwrap();
    let body = String::from_utf8(ctx.store.read_body(metas[0].clone()).await.unwrap()).unwrap();
    assert!(
        body.starts_with("Received: from peer.example ([192.0.2.7])"),
        "{body}"
    );
    // Ordinary mail reaches the mailbox inside a busta di anomalia (PEC.md §3.3), the
    // received message carried whole and unstuffed.
    assert!(body.contains("\r\nX-Trasporto: errore\r\n"), "{body}");
    assert!(
        body.contains("Subject: hi\r\n\r\n.dot-stuffed\r\n\r\n--"),
        "unstuffed: {body:?}"
    );
}

#[tokio::test]
async fn starttls_ends_the_cleartext_session_and_drops_what_followed() {
    let (_dir, ctx) = context().await;
    let (out, end) = converse(&ctx, b"EHLO x\r\nSTARTTLS\r\nMAIL FROM:<a@b.c>\r\n").await;
    assert_eq!(end, End::StartTls);
    assert!(out.ends_with("220 2.0.0 Ready to start TLS\r\n"), "{out}");
}

#[tokio::test]
async fn commands_out_of_order_get_503_and_unknown_ones_500() {
    let (_dir, ctx) = context().await;
    let (out, _) = converse(&ctx, b"MAIL FROM:<a@b.c>\r\nHELO x\r\nRCPT TO:<luigi@pec.localhost>\r\nDATA\r\nFOO\r\nVRFY luigi\r\nQUIT\r\n").await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[1..],
        [
            "503 5.5.1 Send EHLO or HELO first",
            "250 mail.pec.localhost greets x",
            "503 5.5.1 Need MAIL command first",
            "503 5.5.1 Need MAIL command first",
            "500 5.5.1 Command not recognised",
            "252 2.5.0 Cannot VRFY user, but will accept the message",
            "221 2.0.0 Bye",
        ]
    );
}

/// A holder whose mailbox is deleted between MAIL FROM and the end of DATA is refused for
/// good (550 5.7.1), not told to retry with a blanket 451 4.3.0.
#[tokio::test]
async fn a_sender_mailbox_gone_at_the_end_of_data_is_a_permanent_refusal() {
    use pecd_engine::{EngineError, SenderContext, Submission};
    use pecd_smtp::reply::Reply;
    let (_dir, ctx) = context().await;
    let rcpt = ctx
        .engine
        .decide_recipient(&SenderContext::Holder, "luigi@pec.localhost", &[])
        .await
        .unwrap();
    let err = ctx
        .engine
        .submit(Submission {
            sender: "ghost@pec.localhost".into(),
            recipients: vec![rcpt],
            message: b"From: ghost@pec.localhost\r\nTo: luigi@pec.localhost\r\n\r\nhi\r\n".to_vec(),
            received: String::new(),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::SenderGone(_)), "{err}");
    assert!(!err.is_temporary());
    let mut out = Vec::new();
    Reply::from_engine(&err).write_to(&mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "550 5.7.1 Mailbox no longer exists: it can no longer send\r\n"
    );
}

/// RCPT TO is decided by one engine call; its refusals keep their replies.
#[tokio::test]
async fn ordinary_mail_recipients_are_decided_by_the_engine_at_rcpt() {
    let (_dir, ctx) = context().await;
    let input =
        b"EHLO mx.example\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<nobody@pec.localhost>\r\n\
RCPT TO:<x@elsewhere.example>\r\nRCPT TO:<luigi@pec.localhost>\r\nQUIT\r\n";
    let (out, _) = converse(&ctx, input).await;
    assert!(
        out.contains("550 5.1.1 <nobody@pec.localhost>: no such mailbox\r\n"),
        "{out}"
    );
    assert!(
        out.contains("550 5.7.1 <x@elsewhere.example>: relaying to domains other than ours is not available\r\n"),
        "{out}"
    );
    assert!(out.contains("250 2.1.5 Recipient OK\r\n"), "{out}");
}
