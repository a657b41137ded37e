//! Hostile mail against the real pecd (the hardening issue): deep MIME nesting, thousands of
//! parts, huge headers and lines, bare CRs, and signed documents replayed or forged by a
//! listed provider. After each attack pecd still answers on every port, and an honest
//! holder's IMAP and SMTP sessions were never kept waiting more than a second.

mod support;

use std::time::{Duration, Instant};

use pecd_signer::build::{self, Document, Facts, Provider};
use pecd_signer::inspect::classify;
use pecd_signer::mime::MAX_MIME_DEPTH;
use pecd_signer::{Destinatario, Kind, Moment, ProviderEntry, ReceiptType, Signer};
use support::imap::Imap;
use support::pec::{assert_valid_pec, provider_identity};
use support::probe::{all_ports_answer, Watch};
use support::smtp::Conn;
use support::{server, Server, PASSWORD};

const MARIO: &str = "mario@pec.localhost";
const LUIGI: &str = "luigi@pec.localhost";
const ANNA: &str = "anna@pec.localhost";
const USERS: &[&str] = &[MARIO, LUIGI, ANNA];
const BOUND: Duration = Duration::from_secs(1);

fn headers(subject: &str) -> String {
    format!(
        "From: {MARIO}\r\nTo: {LUIGI}\r\nSubject: {subject}\r\nMessage-ID: <{subject}@client.test>\r\n\
         Date: Mon, 02 Nov 2026 10:00:00 +0100\r\nX-TipoRicevuta: breve\r\nMIME-Version: 1.0\r\n"
    )
}

/// `multipart/mixed` nested `levels` deep, a named part at the bottom.
fn nested_multipart(subject: &str, levels: usize) -> String {
    let mut m = headers(subject);
    m.push_str("Content-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n");
    for i in 1..levels {
        m.push_str(&format!(
            "--b{}\r\nContent-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n",
            i - 1
        ));
    }
    m.push_str(&format!(
        "--b{0}\r\nContent-Type: text/plain; name=\"fondo.txt\"\r\n\r\nfondo\r\n--b{0}--\r\n",
        levels - 1
    ));
    for i in (0..levels - 1).rev() {
        m.push_str(&format!("--b{i}--\r\n"));
    }
    m
}

/// `message/rfc822` nested `levels` deep.
fn nested_messages(subject: &str, levels: usize) -> String {
    let mut m = headers(subject);
    m.push_str(&"Content-Type: message/rfc822\r\n\r\n".repeat(levels));
    m.push_str("Subject: fondo\r\n\r\nfondo\r\n");
    m
}

/// One multipart with `n` named parts.
fn many_parts(subject: &str, n: usize) -> String {
    let mut m = headers(subject);
    m.push_str("Content-Type: multipart/mixed; boundary=\"p\"\r\n\r\n");
    for i in 0..n {
        m.push_str(&format!(
            "--p\r\nContent-Type: text/plain; name=\"parte{i}.txt\"\r\n\r\nparte {i}\r\n"
        ));
    }
    m.push_str("--p--\r\n");
    m
}

async fn submission(s: &Server) -> Conn {
    let (mut c, _) = Conn::tls(s.listener("submissions"), &s.ca()).await;
    c.login(MARIO, PASSWORD).await;
    c
}

/// Sends `message` over an open session and returns the reply to the end of DATA.
async fn send(c: &mut Conn, from: &str, to: &[&str], message: &str) -> String {
    c.send_message(from, to, message).await
}

/// The end of the server's log, for a failure message.
fn tail(s: &Server) -> String {
    let log = s.log();
    log[log.len().saturating_sub(4000)..].to_string()
}

/// Every message of `user`'s INBOX with its BODYSTRUCTURE, through the real IMAP service.
async fn fetch_all(s: &Server, user: &str) -> Vec<String> {
    let mut c = Imap::login(s, user).await;
    c.ok("SELECT INBOX").await;
    let r = c.ok("FETCH 1:* (BODYSTRUCTURE BODY.PEEK[])").await;
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_mime_nesting_does_not_stop_the_server() {
    let s = server().users(USERS).start();
    let watch = Watch::start(&s, ANNA).await;
    let mut c = submission(&s).await;
    // The reproduced crash: 20,000 levels of multipart/mixed, breve receipt asked for; and
    // the same depth of attached messages. Not accepted into PEC, with an avviso.
    let deep = nested_multipart("annidato", 20_000);
    assert!(deep.len() > 1_000_000, "{}", deep.len());
    for m in [deep, nested_messages("messaggi", 20_000)] {
        let r = send(&mut c, MARIO, &[LUIGI], &m).await;
        assert!(r.starts_with("550 5.7.1"), "{r}{}", tail(&s));
        assert!(r.contains("annidate"), "{r}");
    }
    // As deep as allowed: certified, breve substituted, served over IMAP.
    for m in [
        nested_multipart("profondo", MAX_MIME_DEPTH),
        nested_messages("profondi", MAX_MIME_DEPTH),
    ] {
        let r = send(&mut c, MARIO, &[LUIGI], &m).await;
        assert!(r.starts_with("250"), "{r}{}", tail(&s));
    }
    // The same shapes as ordinary mail on port 25: refused before any parser walks them.
    let (mut plain, _) = Conn::plain(s.listener("smtp")).await;
    plain.cmd("EHLO attacker.test").await;
    // Also the shapes a first scan read differently from mail-parser: repeated
    // Content-Type fields (the last one counts) and upper-case boundaries.
    let repeated = format!(
        "{}{}Subject: fondo\r\n\r\nfondo\r\n",
        headers("ripetuti"),
        "Content-Type: text/plain\r\nContent-Type: message/rfc822\r\n\r\n".repeat(30_000)
    );
    for m in [
        nested_multipart("ordinaria", 20_000),
        nested_messages("ordinaria2", 20_000),
        nested_multipart("maiuscole", 20_000).replace("b", "B"),
        repeated,
    ] {
        let r = send(&mut plain, "x@attacker.test", &[LUIGI], &m).await;
        assert!(r.starts_with("554 5.6.0"), "{r}{}", tail(&s));
    }
    let r = send(
        &mut plain,
        "x@attacker.test",
        &[LUIGI],
        &nested_messages("ordinaria3", MAX_MIME_DEPTH),
    )
    .await;
    assert!(r.starts_with("250"), "{r}");
    // What was stored is served: BODYSTRUCTURE and BODY[] of every message.
    let luigi = fetch_all(&s, LUIGI).await;
    assert_eq!(
        luigi.iter().filter(|l| l.contains("BODYSTRUCTURE")).count(),
        3,
        "two envelopes and one anomaly"
    );
    let mario = fetch_all(&s, MARIO).await;
    assert!(mario.iter().filter(|l| l.contains("BODYSTRUCTURE")).count() >= 6);
    watch.assert_within(BOUND, "deep nesting").await;
    all_ports_answer(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_parts_huge_headers_and_long_lines() {
    let s = server().users(USERS).start();
    let watch = Watch::start(&s, ANNA).await;
    let mut c = submission(&s).await;
    // Breve with 10,000 named parts: 10,000 hash substitutions.
    let r = send(&mut c, MARIO, &[LUIGI], &many_parts("parti", 10_000)).await;
    assert!(r.starts_with("250"), "{r}");
    // 10,000 header fields, and one field of a megabyte.
    let mut fields = headers("campi");
    for i in 0..10_000 {
        fields.push_str(&format!("X-Campo-{i}: valore {i}\r\n"));
    }
    fields.push_str("\r\ncorpo\r\n");
    let r = send(&mut c, MARIO, &[LUIGI], &fields).await;
    assert!(r.starts_with("250"), "{r}");
    let long_field = format!(
        "{}X-Lungo: {}\r\n\r\ncorpo\r\n",
        headers("lungo"),
        "x".repeat(1 << 20)
    );
    let r = send(&mut c, MARIO, &[LUIGI], &long_field).await;
    assert!(r.starts_with("250") || r.starts_with("550"), "{r}");
    // A megabyte body line without a line end, and a megabyte command line.
    let long_body = format!("{}\r\n{}", headers("riga"), "y".repeat(1 << 20));
    let r = send(&mut c, MARIO, &[LUIGI], &long_body).await;
    assert!(r.starts_with("250") || r.starts_with("550"), "{r}");
    let r = c.cmd(&format!("NOOP {}", "z".repeat(1 << 20))).await;
    assert!(
        r.starts_with('5') || r.is_empty(),
        "{}",
        &r[..r.len().min(200)]
    );
    let luigi = fetch_all(&s, LUIGI).await;
    assert!(luigi.iter().any(|l| l.contains("BODYSTRUCTURE")));
    watch.assert_within(BOUND, "parts, headers and lines").await;
    all_ports_answer(&s).await;
}

/// The regression of item 9: a bare CR kept by DATA was signed as it came, then turned into
/// CRLF by the relay on the way out, so peers saw a broken signature.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_cr_is_made_canonical_before_signing() {
    let s = server().users(USERS).start();
    let mut c = submission(&s).await;
    let message = format!(
        "{}\r\nriga con un CR\rnudo e un LF\nnudo\r\n",
        headers("cr-nudo")
    );
    let r = send(&mut c, MARIO, &[LUIGI], &message).await;
    assert!(r.starts_with("250"), "{r}");
    let luigi = support::pec::imap(&s, LUIGI, "INBOX");
    let envelope = luigi
        .iter()
        .find(|m| classify(m) == Some(Kind::Envelope))
        .expect("the envelope");
    for (i, &b) in envelope.iter().enumerate() {
        match b {
            b'\r' => assert_eq!(envelope.get(i + 1), Some(&b'\n'), "bare CR at {i}"),
            b'\n' => assert_eq!(envelope[i - 1], b'\r', "bare LF at {i}"),
            _ => {}
        }
    }
    assert_valid_pec(envelope, &s.ca()).expect("the envelope verifies");
    let text = String::from_utf8_lossy(envelope);
    assert!(
        text.contains("riga con un CR\r\nnudo e un LF\r\nnudo"),
        "{text}"
    );
}

/// Z: a listed provider (index entry and trust anchor) whose key the test holds, so that it
/// can sign what a hostile or buggy provider would send.
struct PeerZ {
    signer: Signer,
    provider: Provider,
    _dir: tempfile::TempDir,
}

const Z_SERVICE: &str = "posta-certificata@pec.z.test";
const ZENO: &str = "zeno@pec.z.test";

/// A server that lists Z, with `extra` configuration appended.
fn server_listing_z(extra: &str) -> (Server, PeerZ) {
    server_listing_z_for(extra, &["pec.z.test"])
}

/// A server that lists Z as managing `domains`.
fn server_listing_z_for(extra: &str, domains: &[&str]) -> (Server, PeerZ) {
    let s = server()
        .config(|c| c.index().trust_anchors("anchors.pem").extra(extra))
        .users(USERS)
        .start();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = provider_identity(dir.path(), "Provider Z", Z_SERVICE, 30);
    let (cert, key) = (std::fs::read(cert).unwrap(), std::fs::read(key).unwrap());
    let entry = ProviderEntry::own(
        "Provider Z",
        &openssl::x509::X509::from_pem(&cert).unwrap(),
        Z_SERVICE,
        &domains.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
    );
    std::fs::write(s.dir.path().join("providers.ldif"), entry.to_ldif()).unwrap();
    let anchors = [std::fs::read(s.ca()).unwrap(), cert.clone()].concat();
    std::fs::write(s.dir.path().join("anchors.pem"), anchors).unwrap();
    s.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.json(&["index", "list"]).as_array().unwrap().len() != 2 {
        assert!(Instant::now() < deadline, "SIGHUP did not reload the index");
        std::thread::sleep(Duration::from_millis(50));
    }
    let z = PeerZ {
        signer: Signer::from_pem(&cert, &key, &[]).unwrap(),
        provider: Provider {
            name: "Provider Z".into(),
            service_address: Z_SERVICE.into(),
        },
        _dir: dir,
    };
    (s, z)
}

impl PeerZ {
    /// A transaction of `sender` to zeno.
    fn facts(&self, pec_id: &str, sender: &str, to: &str) -> Facts {
        Facts {
            pec_id: pec_id.into(),
            msgid: Some(format!("<{pec_id}>")),
            sender: sender.into(),
            destinatari: vec![Destinatario {
                address: to.into(),
                certificato: true,
            }],
            risposte: sender.into(),
            subject: "prova".into(),
            receipt: ReceiptType::Sintetica,
        }
    }

    /// Z's ricevuta di avvenuta consegna (sintetica) for zeno, in the transaction `pec_id`
    /// of our `MARIO`.
    fn delivery_receipt(&self, pec_id: &str) -> String {
        let facts = self.facts(pec_id, MARIO, ZENO);
        let doc = Document::Delivery {
            recipient: ZENO.into(),
            tipo: ReceiptType::Sintetica,
            original: b"",
        };
        let built = build::build(
            &self.signer,
            &self.provider,
            &facts,
            &doc,
            Moment::now(),
            &format!("r.{pec_id}"),
        )
        .unwrap();
        String::from_utf8(built.bytes).unwrap()
    }

    /// Z's busta di trasporto from `sender` to `to`.
    fn envelope(&self, pec_id: &str, sender: &str, to: &str) -> String {
        let original = format!(
            "From: {sender}\r\nTo: {to}\r\nSubject: prova\r\nMessage-ID: <{pec_id}>\r\n\r\ntesto\r\n"
        );
        let facts = self.facts(pec_id, sender, to);
        let built = build::build(
            &self.signer,
            &self.provider,
            &facts,
            &Document::Envelope {
                original: original.as_bytes(),
            },
            Moment::now(),
            "",
        )
        .unwrap();
        String::from_utf8(built.bytes).unwrap()
    }
}

async fn from_z(s: &Server) -> Conn {
    let (mut c, _) = Conn::plain(s.listener("smtp")).await;
    c.cmd("EHLO mx.pec.z.test").await;
    c
}

fn inbox_kinds(s: &Server, user: &str) -> Vec<Option<Kind>> {
    support::pec::imap(s, user, "INBOX")
        .iter()
        .map(|m| classify(m))
        .collect()
}

/// Item 3: a signed receipt went to whatever RCPT TO said, as often as it was sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_receipt_goes_only_to_its_addressee_and_only_once() {
    let (s, z) = server_listing_z("");
    let receipt = z.delivery_receipt("t1@pec.localhost");
    let mut c = from_z(&s).await;
    // To a holder it does not name: nobody gets it.
    let r = send(&mut c, Z_SERVICE, &[LUIGI], &receipt).await;
    assert!(r.starts_with("550 5.7.1"), "{r}");
    // To its addressee: delivered once, however often it is replayed.
    let r = send(&mut c, Z_SERVICE, &[MARIO], &receipt).await;
    assert!(r.starts_with("250"), "{r}");
    for _ in 0..20 {
        let r = send(&mut c, Z_SERVICE, &[MARIO, LUIGI], &receipt).await;
        assert!(r.starts_with("250") && r.contains("already"), "{r}");
    }
    assert_eq!(inbox_kinds(&s, MARIO), vec![Some(Kind::Delivery)]);
    assert!(inbox_kinds(&s, LUIGI).is_empty());
    all_ports_answer(&s).await;
}

/// Item 3: the addressee's quota holds for receipts too; the peer is told to retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_receipts_respect_the_addressee_quota() {
    let (s, z) =
        server_listing_z("\n[limits]\nmax_message_bytes = 20000\nmailbox_quota_bytes = 30000\n");
    let mut c = from_z(&s).await;
    let mut refused = None;
    for n in 0..40 {
        let receipt = z.delivery_receipt(&format!("q{n}@pec.localhost"));
        let r = send(&mut c, Z_SERVICE, &[MARIO], &receipt).await;
        if !r.starts_with("250") {
            refused = Some(r);
            break;
        }
    }
    let r = refused.expect("the quota stopped the receipts");
    assert!(r.starts_with("452 4.2.2"), "{r}");
    let used: u64 = s.json(&["mailbox", "show", MARIO])["used_bytes"]
        .as_u64()
        .unwrap_or(0);
    assert!(used <= 30000, "{used} bytes over a 30000-byte quota");
}

/// Item 4: a provider may only send envelopes of senders in the domains it manages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_envelope_for_a_sender_outside_its_domains_is_an_anomaly() {
    let (s, z) = server_listing_z("");
    let mut c = from_z(&s).await;
    let forged = z.envelope("f1@pec.z.test", "ceo@pec.altro.test", LUIGI);
    let r = send(&mut c, "ceo@pec.altro.test", &[LUIGI], &forged).await;
    assert!(r.starts_with("250"), "{r}");
    assert_eq!(inbox_kinds(&s, LUIGI), vec![Some(Kind::Anomaly)]);
    // Z's own sender is fine: taken in charge and delivered.
    let honest = z.envelope("f2@pec.z.test", ZENO, LUIGI);
    let r = send(&mut c, ZENO, &[LUIGI], &honest).await;
    assert!(r.contains("taken in charge"), "{r}");
    assert_eq!(
        inbox_kinds(&s, LUIGI),
        vec![Some(Kind::Anomaly), Some(Kind::Envelope)]
    );
}

/// Item 5: two From (or type) fields let the checks and the client read different values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_fields_in_a_peer_message_are_an_anomaly() {
    let (s, z) = server_listing_z("");
    let mut c = from_z(&s).await;
    let envelope = z.envelope("d1@pec.z.test", ZENO, LUIGI);
    for (n, extra) in [
        "From: \"Banca\" <avvisi@banca.test>\r\n",
        "X-Trasporto: errore\r\n",
        "Subject: altro oggetto\r\n",
    ]
    .iter()
    .enumerate()
    {
        // The outer header is not signed: a second field after the first.
        let tampered = envelope.replacen("\r\n", &format!("\r\n{extra}"), 1);
        let r = send(&mut c, ZENO, &[LUIGI], &tampered).await;
        assert!(r.starts_with("250"), "{r}");
        let kinds = inbox_kinds(&s, LUIGI);
        assert_eq!(kinds.len(), n + 1);
        assert_eq!(kinds[n], Some(Kind::Anomaly), "{extra}");
    }
}

/// Our own documents replayed to us from outside are not receipts or envelopes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_signed_documents_replayed_from_outside_are_an_anomaly() {
    let s = server().users(USERS).start();
    let mut c = submission(&s).await;
    let r = send(
        &mut c,
        MARIO,
        &[LUIGI],
        &format!("{}\r\nciao\r\n", headers("mio")),
    )
    .await;
    assert!(r.starts_with("250"), "{r}");
    let mario = support::pec::imap(&s, MARIO, "INBOX");
    let receipt = mario
        .iter()
        .find(|m| classify(m) == Some(Kind::Delivery))
        .expect("mario's delivery receipt")
        .clone();
    let (mut plain, _) = Conn::plain(s.listener("smtp")).await;
    plain.cmd("EHLO attacker.test").await;
    let r = send(
        &mut plain,
        "x@attacker.test",
        &[ANNA],
        &String::from_utf8(receipt).unwrap(),
    )
    .await;
    assert!(r.starts_with("250"), "{r}");
    assert_eq!(inbox_kinds(&s, ANNA), vec![Some(Kind::Anomaly)]);
}

/// An entry of the index that manages one of our domains is us (say, our previous key after
/// a rotation, under another name): what it signed is not a receipt from outside either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_domains_in_another_index_entry_count_as_our_own_signature() {
    let (s, z) = server_listing_z_for("", &["pec.localhost"]);
    let mut c = from_z(&s).await;
    let receipt = z.delivery_receipt("rot1@pec.localhost");
    let r = send(&mut c, Z_SERVICE, &[MARIO], &receipt).await;
    assert!(r.starts_with("250"), "{r}");
    assert_eq!(inbox_kinds(&s, MARIO), vec![Some(Kind::Anomaly)]);
}
