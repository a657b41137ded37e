//! Scripted-server tests of the client: a peer on a loopback socket or an in-memory pipe plays
//! the server side line by line.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::client::session;
use crate::conversation::MAX_LINE;
use crate::reply::{parse_reply_line, Reply};
use crate::transaction::stuff_body;
use crate::{send_batch, ConnectError, Outgoing, RcptOutcome, TlsPolicy};

const T: Duration = Duration::from_secs(5);

/// The scripted server side of a test.
struct Peer<S> {
    io: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Peer<S> {
    fn new(stream: S) -> Self {
        Peer {
            io: BufReader::new(stream),
        }
    }

    async fn say(&mut self, text: &str) {
        let s = self.io.get_mut();
        s.write_all(format!("{text}\r\n").as_bytes()).await.unwrap();
        s.flush().await.unwrap();
    }

    async fn line(&mut self) -> String {
        let mut line = Vec::new();
        self.io.read_until(b'\n', &mut line).await.unwrap();
        assert!(line.ends_with(b"\r\n"), "bad command line {line:?}");
        line.truncate(line.len() - 2);
        String::from_utf8(line).unwrap()
    }

    async fn expect(&mut self, want: &str) {
        assert_eq!(self.line().await, want);
    }

    /// Message content up to the terminating dot line, as received.
    async fn data(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let mut line = Vec::new();
            self.io.read_until(b'\n', &mut line).await.unwrap();
            assert!(line.ends_with(b"\r\n"), "bad data line {line:?}");
            if line == b".\r\n" {
                return out;
            }
            out.extend_from_slice(&line);
        }
    }

    fn into_inner(self) -> S {
        assert!(self.io.buffer().is_empty());
        self.io.into_inner()
    }
}

async fn listen() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    (l, addr)
}

async fn accept(l: &TcpListener) -> Peer<TcpStream> {
    Peer::new(l.accept().await.unwrap().0)
}

fn plain_policy(required: bool) -> TlsPolicy {
    TlsPolicy {
        required,
        roots: Arc::new(rustls::RootCertStore::empty()),
    }
}

/// A batch of one small message from a@a.test to `r`.
fn one(r: &[String]) -> [Outgoing<'_>; 1] {
    [Outgoing {
        sender: "a@a.test",
        recipients: r,
        bytes: b"x\r\n",
    }]
}

async fn send(
    addr: &str,
    policy: &TlsPolicy,
    batch: &[Outgoing<'_>],
) -> Result<Vec<Vec<RcptOutcome>>, ConnectError> {
    send_batch(addr, "127.0.0.1", "client.test", policy, batch, T).await
}

fn rcpts(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn stuffing_and_line_ends() {
    assert_eq!(stuff_body(b""), b"");
    assert_eq!(stuff_body(b"a\r\n"), b"a\r\n");
    assert_eq!(stuff_body(b"a"), b"a\r\n");
    assert_eq!(stuff_body(b".\r\n.."), b"..\r\n...\r\n");
    assert_eq!(stuff_body(b"x\ny.\n.z\rw"), b"x\r\ny.\r\n..z\r\nw\r\n");
}

#[test]
fn reply_lines() {
    assert_eq!(
        parse_reply_line(b"250-mx.test").unwrap(),
        (250, false, "mx.test".to_string())
    );
    assert_eq!(
        parse_reply_line(b"354").unwrap(),
        (354, true, String::new())
    );
    assert!(parse_reply_line(b"25").is_err());
    assert!(parse_reply_line(b"abc hello").is_err());
    assert!(parse_reply_line(b"250x").is_err());
    assert!(parse_reply_line(b"150 nope").is_err());
    let r = Reply {
        code: 550,
        lines: vec!["5.1.1 first".into(), "5.1.1 second".into()],
    };
    assert_eq!(r.text(), "550 5.1.1 first 5.1.1 second");
}

#[test]
fn send_batch_future_is_send() {
    fn is_send<F: Send>(_: &F) {}
    let policy = plain_policy(false);
    let fut = send_batch("127.0.0.1:1", "x", "y", &policy, &[], T);
    is_send(&fut);
}

#[tokio::test]
async fn two_messages_one_connection() {
    let (l, addr) = listen().await;
    let body1: &[u8] = b"Subject: t\r\n\r\n.leading dot\r\nmiddle\r\n..two\r\nno final crlf";
    let want1: &[u8] = b"Subject: t\r\n\r\n..leading dot\r\nmiddle\r\n...two\r\nno final crlf\r\n";
    let body2: &[u8] = b"Subject: u\n\n.x\nend\n";
    let want2: &[u8] = b"Subject: u\r\n\r\n..x\r\nend\r\n";
    let server = tokio::spawn(async move {
        let mut p = accept(&l).await;
        p.say("220 mx.test ESMTP").await;
        p.expect("EHLO client.test").await;
        p.say("250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250 8BITMIME")
            .await;
        p.expect(&format!("MAIL FROM:<alice@a.test> SIZE={}", want1.len()))
            .await;
        p.say("250 2.1.0 Ok").await;
        p.expect("RCPT TO:<bob@b.test>").await;
        p.say("250 2.1.5 Ok").await;
        p.expect("RCPT TO:<nobody@b.test>").await;
        p.say("550-5.1.1 No such user\r\n550 5.1.1 here").await;
        p.expect("RCPT TO:<carol@b.test>").await;
        p.say("250 2.1.5 Ok").await;
        p.expect("DATA").await;
        p.say("354 go ahead").await;
        let d1 = p.data().await;
        p.say("250 2.0.0 Ok: queued as A1").await;
        p.expect(&format!("MAIL FROM:<alice@a.test> SIZE={}", want2.len()))
            .await;
        p.say("250 2.1.0 Ok").await;
        p.expect("RCPT TO:<dave@b.test>").await;
        p.say("250 2.1.5 Ok").await;
        p.expect("DATA").await;
        p.say("354 go ahead").await;
        let d2 = p.data().await;
        p.say("250 2.0.0 Ok: queued as A2").await;
        p.expect("QUIT").await;
        p.say("221 bye").await;
        (d1, d2)
    });
    let r1 = rcpts(&["bob@b.test", "nobody@b.test", "carol@b.test"]);
    let r2 = rcpts(&["dave@b.test"]);
    let batch = [
        Outgoing {
            sender: "alice@a.test",
            recipients: &r1,
            bytes: body1,
        },
        Outgoing {
            sender: "alice@a.test",
            recipients: &r2,
            bytes: body2,
        },
    ];
    let out = send(&addr, &plain_policy(false), &batch).await.unwrap();
    let (d1, d2) = server.await.unwrap();
    assert_eq!(d1, want1);
    assert_eq!(d2, want2);
    let ok1 = RcptOutcome::Delivered("250 2.0.0 Ok: queued as A1".into());
    assert_eq!(
        out,
        vec![
            vec![
                ok1.clone(),
                RcptOutcome::Permanent("550 5.1.1 No such user 5.1.1 here".into()),
                ok1,
            ],
            vec![RcptOutcome::Delivered("250 2.0.0 Ok: queued as A2".into())],
        ]
    );
}

#[tokio::test]
async fn helo_fallback_and_rset_after_aborted_message() {
    let (l, addr) = listen().await;
    let server = tokio::spawn(async move {
        let mut p = accept(&l).await;
        p.say("220 old.test").await;
        p.expect("EHLO client.test").await;
        p.say("502 5.5.2 what?").await;
        p.expect("HELO client.test").await;
        p.say("250 old.test").await;
        p.expect("MAIL FROM:<>").await;
        p.say("250 ok").await;
        p.expect("RCPT TO:<x@b.test>").await;
        p.say("451 4.3.0 try later").await;
        p.expect("RSET").await;
        p.say("250 ok").await;
        p.expect("MAIL FROM:<a@a.test>").await;
        p.say("553 5.7.1 not you").await;
        p.expect("MAIL FROM:<a@a.test>").await;
        p.say("250 ok").await;
        p.expect("RCPT TO:<y@b.test>").await;
        p.say("250 ok").await;
        p.expect("DATA").await;
        p.say("554 5.6.0 no thanks").await;
        p.expect("QUIT").await;
        p.say("221 bye").await;
    });
    let rx = rcpts(&["x@b.test"]);
    let ry = rcpts(&["y@b.test"]);
    let batch = [
        Outgoing {
            sender: "",
            recipients: &rx,
            bytes: b"a\r\n",
        },
        Outgoing {
            sender: "a@a.test",
            recipients: &[],
            bytes: b"skipped\r\n",
        },
        Outgoing {
            sender: "a@a.test",
            recipients: &ry,
            bytes: b"b\r\n",
        },
        Outgoing {
            sender: "a@a.test",
            recipients: &ry,
            bytes: b"c\r\n",
        },
    ];
    let out = send(&addr, &plain_policy(false), &batch).await.unwrap();
    server.await.unwrap();
    assert_eq!(
        out,
        vec![
            vec![RcptOutcome::Temporary("451 4.3.0 try later".into())],
            vec![],
            vec![RcptOutcome::Permanent("553 5.7.1 not you".into())],
            vec![RcptOutcome::Permanent("554 5.6.0 no thanks".into())],
        ]
    );
}

#[tokio::test]
async fn required_tls_without_starttls() {
    let (l, addr) = listen().await;
    let server = tokio::spawn(async move {
        let mut p = accept(&l).await;
        p.say("220 mx.test").await;
        p.expect("EHLO client.test").await;
        p.say("250-mx.test\r\n250 SIZE").await;
        p.expect("QUIT").await;
        p.say("221 bye").await;
    });
    let r = rcpts(&["b@b.test"]);
    let batch = one(&r);
    let err = send(&addr, &plain_policy(true), &batch).await.unwrap_err();
    server.await.unwrap();
    assert!(matches!(err, ConnectError::NoStartTls), "{err:?}");
}

/// A self-signed certificate for the IP address 127.0.0.1 (DER cert, PKCS#8 key).
fn self_signed() -> (Vec<u8>, Vec<u8>) {
    use openssl::asn1::Asn1Time;
    use openssl::bn::BigNum;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::x509::extension::{ExtendedKeyUsage, SubjectAlternativeName};
    use openssl::x509::{X509Builder, X509NameBuilder};

    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "127.0.0.1").unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    let serial = BigNum::from_u32(7).unwrap().to_asn1_integer().unwrap();
    b.set_serial_number(&serial).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    let san = SubjectAlternativeName::new()
        .ip("127.0.0.1")
        .build(&b.x509v3_context(None, None))
        .unwrap();
    b.append_extension(san).unwrap();
    b.append_extension(ExtendedKeyUsage::new().server_auth().build().unwrap())
        .unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    let cert = b.build();
    (cert.to_der().unwrap(), key.private_key_to_pkcs8().unwrap())
}

fn tls_acceptor(cert: &[u8], key: &[u8]) -> tokio_rustls::TlsAcceptor {
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from(cert.to_vec())],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.to_vec())),
    )
    .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

fn trusting(cert: &[u8], required: bool) -> TlsPolicy {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls_pki_types::CertificateDer::from(cert.to_vec()))
        .unwrap();
    TlsPolicy {
        required,
        roots: Arc::new(roots),
    }
}

#[tokio::test]
async fn starttls_then_deliver() {
    let (cert, key) = self_signed();
    let acceptor = tls_acceptor(&cert, &key);
    let (l, addr) = listen().await;
    let server = tokio::spawn(async move {
        let mut p = accept(&l).await;
        p.say("220 mx.test").await;
        p.expect("EHLO client.test").await;
        p.say("250-mx.test\r\n250 STARTTLS").await;
        p.expect("STARTTLS").await;
        p.say("220 2.0.0 ready").await;
        let tls = acceptor.accept(p.into_inner()).await.unwrap();
        let mut p = Peer::new(tls);
        p.expect("EHLO client.test").await;
        p.say("250-mx.test\r\n250 SIZE 100000").await;
        p.expect("MAIL FROM:<a@a.test> SIZE=7").await;
        p.say("250 ok").await;
        p.expect("RCPT TO:<b@b.test>").await;
        p.say("250 ok").await;
        p.expect("DATA").await;
        p.say("354 go").await;
        let d = p.data().await;
        p.say("250 2.0.0 queued as T1").await;
        p.expect("QUIT").await;
        p.say("221 bye").await;
        d
    });
    let r = rcpts(&["b@b.test"]);
    let batch = [Outgoing {
        sender: "a@a.test",
        recipients: &r,
        bytes: b"hello\r\n",
    }];
    let out = send_batch(
        &addr,
        "127.0.0.1",
        "client.test",
        &trusting(&cert, true),
        &batch,
        T,
    )
    .await
    .unwrap();
    assert_eq!(server.await.unwrap(), b"hello\r\n");
    assert_eq!(
        out,
        vec![vec![RcptOutcome::Delivered(
            "250 2.0.0 queued as T1".into()
        )]]
    );
}

#[tokio::test]
async fn opportunistic_tls_with_untrusted_cert_fails() {
    let (cert, key) = self_signed();
    let acceptor = tls_acceptor(&cert, &key);
    let (l, addr) = listen().await;
    let server = tokio::spawn(async move {
        let mut p = accept(&l).await;
        p.say("220 mx.test").await;
        p.expect("EHLO client.test").await;
        p.say("250-mx.test\r\n250 STARTTLS").await;
        p.expect("STARTTLS").await;
        p.say("220 2.0.0 ready").await;
        assert!(acceptor.accept(p.into_inner()).await.is_err());
    });
    let r = rcpts(&["b@b.test"]);
    let batch = one(&r);
    let err = send(&addr, &plain_policy(false), &batch).await.unwrap_err();
    server.await.unwrap();
    assert!(matches!(err, ConnectError::Tls(_)), "{err:?}");
}

/// Server script for one message, ending after the 354.
async fn one_message_until_data(p: &mut Peer<TcpStream>, rcpt: &str) {
    p.expect("MAIL FROM:<a@a.test>").await;
    p.say("250 ok").await;
    p.expect(&format!("RCPT TO:<{rcpt}>")).await;
    p.say("250 ok").await;
    p.expect("DATA").await;
    p.say("354 go").await;
}

#[tokio::test]
async fn connection_lost_after_first_message() {
    let (l, addr) = listen().await;
    let server = tokio::spawn(async move {
        let mut p = accept(&l).await;
        p.say("220 mx.test").await;
        p.expect("EHLO client.test").await;
        p.say("250 mx.test").await;
        one_message_until_data(&mut p, "b@b.test").await;
        p.data().await;
        p.say("250 2.0.0 queued as L1").await;
        // Hang up without waiting for the next message.
    });
    let r1 = rcpts(&["b@b.test"]);
    let r2 = rcpts(&["c@b.test", "d@b.test"]);
    let batch = [
        Outgoing {
            sender: "a@a.test",
            recipients: &r1,
            bytes: b"one\r\n",
        },
        Outgoing {
            sender: "a@a.test",
            recipients: &r2,
            bytes: b"two\r\n",
        },
        Outgoing {
            sender: "a@a.test",
            recipients: &r1,
            bytes: b"three\r\n",
        },
    ];
    let out = send(&addr, &plain_policy(false), &batch).await.unwrap();
    server.await.unwrap();
    assert_eq!(out.len(), 3);
    assert_eq!(
        out[0],
        vec![RcptOutcome::Delivered("250 2.0.0 queued as L1".into())]
    );
    assert_eq!(out[1].len(), 2);
    assert_eq!(out[2].len(), 1);
    for o in out[1].iter().chain(&out[2]) {
        assert!(
            matches!(o, RcptOutcome::Temporary(t) if t.starts_with("connection lost: ")),
            "{o:?}"
        );
    }
}

#[tokio::test]
async fn connection_lost_before_final_reply() {
    let (l, addr) = listen().await;
    let server = tokio::spawn(async move {
        let mut p = accept(&l).await;
        p.say("220 mx.test").await;
        p.expect("EHLO client.test").await;
        p.say("250 mx.test").await;
        one_message_until_data(&mut p, "b@b.test").await;
        p.data().await;
    });
    let r = rcpts(&["b@b.test"]);
    let batch = [Outgoing {
        sender: "a@a.test",
        recipients: &r,
        bytes: b"one\r\n",
    }];
    let out = send(&addr, &plain_policy(false), &batch).await.unwrap();
    server.await.unwrap();
    assert!(
        matches!(&out[0][0], RcptOutcome::Temporary(t) if t.starts_with("connection lost: ")),
        "{out:?}"
    );
}

#[tokio::test]
async fn greeting_421_is_an_error() {
    let (l, addr) = listen().await;
    let server = tokio::spawn(async move {
        let mut p = accept(&l).await;
        p.say("421 4.3.2 too busy").await;
    });
    let r = rcpts(&["b@b.test"]);
    let batch = one(&r);
    let err = send(&addr, &plain_policy(false), &batch).await.unwrap_err();
    server.await.unwrap();
    match err {
        ConnectError::Greeting(text) => assert_eq!(text, "421 4.3.2 too busy"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn malformed_and_silent_servers() {
    let (l, addr) = listen().await;
    let server = tokio::spawn(async move {
        let mut p = accept(&l).await;
        p.say("hello there").await;
        // Second connection: never says anything until the client gives up.
        let mut q = accept(&l).await;
        let mut sink = Vec::new();
        let _ = q.io.read_to_end(&mut sink).await;
        drop(p);
    });
    let r = rcpts(&["b@b.test"]);
    let batch = one(&r);
    let policy = plain_policy(false);
    let err = send_batch(&addr, "127.0.0.1", "client.test", &policy, &batch, T)
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectError::Protocol(_)), "{err:?}");
    let short = Duration::from_millis(200);
    let err = send_batch(&addr, "127.0.0.1", "client.test", &policy, &batch, short)
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectError::Timeout(_)), "{err:?}");
    server.await.unwrap();
}

#[tokio::test]
async fn overlong_reply_line_is_rejected() {
    let (client, server) = tokio::io::duplex(64 * 1024);
    let srv = tokio::spawn(async move {
        let mut p = Peer::new(server);
        p.say(&format!("220 {}", "x".repeat(MAX_LINE))).await;
        p
    });
    let r = rcpts(&["b@b.test"]);
    let batch = one(&r);
    let policy = plain_policy(false);
    let err = session(
        client,
        "duplex",
        "127.0.0.1",
        "client.test",
        &policy,
        &batch,
        T,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ConnectError::Protocol(_)), "{err:?}");
    drop(srv.await.unwrap());
}
