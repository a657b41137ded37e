//! Certified mail end to end over real sockets (PEC.md §6.1–§6.4): lettre submits, python's
//! imaplib and poplib read, every message pecd emitted is checked by OpenSSL, GnuTLS, the
//! daticert DTD and `pecd verify`.

mod support;

use std::process::Command;

use pecd_signer::inspect::{classify, entity_part};
use pecd_signer::smime::split_signed;
use pecd_signer::{Errore, Kind, ReceiptType};
use support::pec::{assert_valid_pec, decode, imap};
use support::smtp::Conn;
use support::{server, Server, PASSWORD, PECD};

const A: &str = "anna@pec.localhost";
const B: &str = "bruno@pec.localhost";
const C: &str = "carla@pec.localhost";
const SERVICE: &str = "posta-certificata@pec.localhost";

const POP3_DUMP: &str = r#"
import poplib, ssl, sys, json, base64
ca, port, user, pw = sys.argv[1:5]
p = poplib.POP3_SSL('localhost', int(port), context=ssl.create_default_context(cafile=ca))
p.user(user)
p.pass_(pw)
out = []
for i in range(1, len(p.list()[1]) + 1):
    out.append(base64.b64encode(b'\r\n'.join(p.retr(i)[1]) + b'\r\n').decode())
p.quit()
print(json.dumps(out))
"#;

fn pop3(s: &Server, user: &str) -> Vec<Vec<u8>> {
    decode(&s.python(POP3_DUMP, "pop3s", user))
}

fn header(m: &[u8], name: &str) -> String {
    pecd_signer::mime::header(m, name).unwrap_or_default()
}

fn postacert(m: &[u8]) -> Option<Vec<u8>> {
    let (entity, _, _) = split_signed(m).unwrap();
    entity_part(&entity, "postacert.eml")
}

/// Writes the messages to files and runs `pecd verify --json` on them; returns the reports.
fn pecd_verify(s: &Server, messages: &[&Vec<u8>]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "verify".to_string(),
        "--config".into(),
        s.config().display().to_string(),
        "--require-index".into(),
        "--json".into(),
    ];
    for (i, m) in messages.iter().enumerate() {
        let f = dir.path().join(format!("{i}.eml"));
        std::fs::write(&f, m).unwrap();
        args.push(f.display().to_string());
    }
    let out = Command::new(PECD).args(&args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "pecd verify refused: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&text).unwrap()
}

/// The provider of these tests: A, B, C and dario (of pec.example.it, a domain refusing
/// ordinary mail), A's sender limit lifted, the service mailbox readable.
fn certified_server() -> Server {
    let s = server()
        .extra("\n[pec]\nordinary_mail_domains = { \"pec.example.it\" = \"refuse\" }\n")
        .users(&[A, B, C, "dario@pec.example.it"])
        .service_login()
        .start();
    s.json(&["mailbox", "set", A, "--sender-per-minute", "1000"]);
    s
}

/// Submits the offer from A to B (To) and C (Cc) with lettre, a PDF attached; returns the PEC
/// msgid of the 250 reply.
async fn send_offer_with_lettre(s: &Server) -> String {
    use lettre::message::header::ContentType;
    use lettre::message::{Attachment, MultiPart, SinglePart};
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

    let ca = Certificate::from_pem(&std::fs::read(s.ca()).unwrap()).unwrap();
    let tls = TlsParameters::builder("mail.pec.localhost".into())
        .add_root_certificate(ca)
        .build_rustls()
        .unwrap();
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(s.listener("submissions").port())
        .tls(Tls::Wrapper(tls))
        .credentials(Credentials::new(A.into(), PASSWORD.into()))
        .build();
    let email = Message::builder()
        .from(A.parse().unwrap())
        .to(B.parse().unwrap())
        .cc(C.parse().unwrap())
        .subject("Offerta n. 12")
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain(String::from("In allegato l'offerta.")))
                .singlepart(Attachment::new("offerta.pdf".into()).body(
                    b"%PDF-1.4 offerta".to_vec(),
                    ContentType::parse("application/pdf").unwrap(),
                )),
        )
        .unwrap();
    let response = transport.send(email).await.unwrap();
    let text = response.message().collect::<Vec<_>>().join(" ");
    assert_eq!(response.code().to_string(), "250", "{text}");
    text.split_whitespace()
        .find(|w| w.starts_with("pecd."))
        .expect("the PEC msgid in the 250 reply")
        .to_string()
}

/// The sender's INBOX: acceptance, a completa receipt for B (To), a sintetica one for C (Cc);
/// returns the messages and the original the completa receipt carries.
fn assert_sender_receipts(s: &Server, pec_id: &str) -> (Vec<Vec<u8>>, Vec<u8>) {
    let a = imap(s, A, "INBOX");
    assert_eq!(a.len(), 3, "acceptance and two delivery receipts");
    let mut receipts = Vec::new();
    for m in &a {
        let d = assert_valid_pec(m, &s.ca()).expect("daticert");
        assert_eq!(d.identificativo, pec_id);
        receipts.push((classify(m).unwrap(), d));
    }
    assert_eq!(receipts[0].0, Kind::Acceptance);
    assert_eq!(header(&a[0], "Subject"), "ACCETTAZIONE: Offerta n. 12");
    assert_eq!(
        receipts[0]
            .1
            .destinatari
            .iter()
            .map(|d| (d.address.as_str(), d.certificato))
            .collect::<Vec<_>>(),
        [(B, true), (C, true)]
    );
    let by = |who: &str| {
        receipts
            .iter()
            .position(|(_, d)| d.consegna.as_deref() == Some(who))
            .unwrap()
    };
    let (b_receipt, c_receipt) = (by(B), by(C));
    assert_eq!(receipts[b_receipt].0, Kind::Delivery);
    assert_eq!(receipts[b_receipt].1.ricevuta, Some(ReceiptType::Completa));
    assert_eq!(receipts[c_receipt].1.ricevuta, Some(ReceiptType::Sintetica));
    assert!(
        postacert(&a[c_receipt]).is_none(),
        "sintetica carries no original"
    );
    let carried = postacert(&a[b_receipt]).expect("completa carries the original");
    (a, carried)
}

/// The trace says delivered for both; the legal log holds the four events and answers by
/// address and period.
fn assert_trace_and_log(s: &Server, pec_id: &str) {
    let trace = s.json(&["trace", pec_id]);
    let states: Vec<(String, String)> = trace["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["address"].as_str().unwrap().into(),
                r["state"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            (B.into(), "delivered".into()),
            (C.into(), "delivered".into())
        ]
    );
    let log = s.json(&["log", "search", "--msgid", pec_id]);
    let events: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        ["accettazione", "presa-in-carico", "consegna", "consegna"]
    );
    let for_c = s.json(&["log", "search", "--address", C, "--since", "2000-01-01"]);
    assert_eq!(for_c.as_array().unwrap().len(), 3, "{for_c}");
    assert_eq!(
        s.json(&["log", "search", "--until", "2000-01-01"]),
        serde_json::json!([])
    );
}

#[tokio::test]
async fn certified_mail_to_and_cc_end_to_end() {
    let s = certified_server();
    let pec_id = send_offer_with_lettre(&s).await;
    let (a, carried) = assert_sender_receipts(&s, &pec_id);
    // The recipients: the same envelope, unchanged, over IMAP (B) and POP3 (C).
    let b = imap(&s, B, "INBOX");
    let c = pop3(&s, C);
    assert_eq!((b.len(), c.len()), (1, 1));
    assert_eq!(
        b[0], c[0],
        "one envelope, stored unchanged for each recipient"
    );
    let d = assert_valid_pec(&b[0], &s.ca()).unwrap();
    assert_eq!(classify(&b[0]), Some(Kind::Envelope));
    assert_eq!(d.identificativo, pec_id);
    assert_eq!(header(&b[0], "Message-ID"), format!("<{pec_id}>"));
    assert_eq!(
        header(&b[0], "From"),
        format!("\"Per conto di: {A}\" <{SERVICE}>")
    );
    assert_eq!(header(&b[0], "Subject"), "POSTA CERTIFICATA: Offerta n. 12");
    let original = postacert(&b[0]).unwrap();
    assert_eq!(
        original, carried,
        "the completa receipt carries the envelope's original"
    );
    let original = String::from_utf8(original).unwrap();
    assert!(original.starts_with("Received: from "));
    assert!(original.contains(&format!("Message-ID: <{pec_id}>\r\n")));
    assert!(original.contains(&format!(
        "X-Riferimento-Message-ID: {}\r\n",
        d.msgid.clone().unwrap()
    )));
    assert!(original.contains("In allegato l'offerta."));
    assert!(original.contains("filename=\"offerta.pdf\""));

    // Our service mailbox got the presa in carico for both.
    let service = imap(&s, SERVICE, "INBOX");
    assert_eq!(service.len(), 1);
    assert_eq!(classify(&service[0]), Some(Kind::TakingCharge));
    let d = assert_valid_pec(&service[0], &s.ca()).unwrap();
    assert_eq!(d.ricezione, [B, C]);

    // pecd verify accepts everything pecd emitted.
    let all: Vec<&Vec<u8>> = a.iter().chain(&b).chain(&service).collect();
    let reports = pecd_verify(&s, &all);
    assert!(reports
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["report"]["valid"] == true));

    assert_trace_and_log(&s, &pec_id);
}

/// A client that resends after losing the 250 (same holder, same bytes, same recipients) is
/// not certified twice.
#[tokio::test]
async fn a_retried_submission_is_certified_once() {
    let s = certified_server();
    let msg = format!(
        "From: <{A}>\r\nTo: <{B}>\r\nSubject: retry\r\nMessage-ID: <retry@client>\r\n\r\nbody\r\n"
    );
    let (mut c, _) = Conn::tls(s.listener("submissions"), &s.ca()).await;
    c.login(A, PASSWORD).await;
    let first = c.send_message(A, &[B], &msg).await;
    let second = c.send_message(A, &[B], &msg).await;
    assert!(
        first.starts_with("250 2.0.0 Message accepted as pecd."),
        "{first}"
    );
    assert!(second.contains("already certified"), "{second}");
    assert_eq!(
        first.split_whitespace().nth(5),
        second.split_whitespace().nth(5)
    );
    assert_eq!(imap(&s, B, "INBOX").len(), 1);
    assert_eq!(imap(&s, A, "INBOX").len(), 2);
}

/// A's INBOX after the submissions of the test below: four avvisi di non accettazione, one
/// for the virus, then the acceptance, B's delivery receipt and nessuno's mancata consegna,
/// each with the errore its rule requires and none carrying the original.
fn assert_notices_in_order(s: &Server) -> Vec<Vec<u8>> {
    let a = imap(s, A, "INBOX");
    let kinds: Vec<Kind> = a.iter().map(|m| classify(m).unwrap()).collect();
    assert_eq!(
        kinds,
        [
            Kind::NonAcceptance,
            Kind::NonAcceptance,
            Kind::NonAcceptance,
            Kind::NonAcceptance,
            Kind::NonAcceptanceVirus,
            Kind::Acceptance,
            Kind::Delivery,
            Kind::NonDelivery
        ]
    );
    for (m, kind) in a.iter().zip(&kinds) {
        let d = assert_valid_pec(m, &s.ca()).unwrap();
        if matches!(
            kind,
            Kind::NonAcceptance | Kind::NonAcceptanceVirus | Kind::NonDelivery
        ) {
            assert!(
                postacert(m).is_none(),
                "{kind:?} never carries the original"
            );
            assert!(d.errore_esteso.is_some());
        }
        match kind {
            Kind::NonAcceptanceVirus => {
                assert_eq!(d.errore, Errore::Virus);
                assert_eq!(header(m, "X-VerificaSicurezza"), "errore");
            }
            Kind::NonAcceptance => assert_eq!(d.errore, Errore::Altro),
            Kind::NonDelivery => {
                assert_eq!(d.errore, Errore::NoDest);
                assert_eq!(d.consegna.as_deref(), Some("nessuno@pec.localhost"));
                assert!(d.errore_esteso.unwrap().starts_with("5.1.1 - "));
            }
            _ => {}
        }
    }
    a
}

#[tokio::test]
async fn submissions_breaking_the_rules_get_the_notice_the_rules_require() {
    let s = certified_server();
    let (mut c, _) = Conn::tls(s.listener("submissions"), &s.ca()).await;
    c.login(A, PASSWORD).await;
    let plain = |headers: &str, subject: &str| {
        format!("From: <{A}>\r\n{headers}Subject: {subject}\r\nMessage-ID: <{subject}@client>\r\n\r\ncorpo\r\n")
    };
    // §10.1 Bcc; §6.1 spoofed From; hidden recipient; §10.3 size × recipients.
    let cases = [
        (
            plain(&format!("To: <{B}>\r\nBcc: <{C}>\r\n"), "bcc"),
            vec![B, C],
            "Bcc",
        ),
        (
            plain(&format!("To: <{B}>\r\n"), "spoof")
                .replace(&format!("From: <{A}>"), &format!("From: <{C}>")),
            vec![B],
            "non corrisponde",
        ),
        (
            plain(&format!("To: <{B}>\r\n"), "hidden"),
            vec![B, C],
            "non compare",
        ),
        (
            plain(&format!("To: <{B}>, <{C}>\r\n"), "big") + &"x".repeat(16 << 20),
            vec![B, C],
            "oltre il limite",
        ),
    ];
    for (message, rcpts, why) in &cases {
        let r = c.send_message(A, rcpts, message).await;
        assert!(
            r.starts_with("550 5.7.1 Not accepted into PEC"),
            "{why}: {r}"
        );
        assert!(r.contains(why), "{why}: {r}");
    }
    // §6.1 step 7: malware.
    let eicar = plain(&format!("To: <{B}>\r\n"), "virus")
        + "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*\r\n";
    let r = c.send_message(A, &[B], &eicar).await;
    assert!(
        r.starts_with("554 5.7.0 Virus found (Eicar-Test-Signature)"),
        "{r}"
    );
    // §6.4: an unknown mailbox of ours gets a mancata consegna, the others their envelope.
    let r = c
        .send_message(
            A,
            &[B, "nessuno@pec.localhost"],
            &plain(
                &format!("To: <{B}>, <nessuno@pec.localhost>\r\n"),
                "unknown",
            ),
        )
        .await;
    assert!(r.starts_with("250 2.0.0"), "{r}");

    let a = assert_notices_in_order(&s);
    // Nothing of the refused ones reached B; the infected message is in quarantine.
    let b = imap(&s, B, "INBOX");
    assert_eq!(b.len(), 1);
    assert_eq!(header(&b[0], "Subject"), "POSTA CERTIFICATA: unknown");
    let quarantine = imap(&s, SERVICE, "Quarantine");
    assert_eq!(quarantine.len(), 1);
    assert!(String::from_utf8_lossy(&quarantine[0]).contains("EICAR-STANDARD-ANTIVIRUS-TEST-FILE"));
    let all: Vec<&Vec<u8>> = a.iter().chain(&b).collect();
    pecd_verify(&s, &all);
}

#[tokio::test]
async fn a_full_mailbox_gets_an_avviso_di_mancata_consegna() {
    let s = server()
        .extra("\n[limits]\nmax_message_bytes = 65536\nmailbox_quota_bytes = 131072\n")
        .start();
    for m in [A, B] {
        s.create_mailbox(m);
    }
    let filler = s.dir.path().join("filler.eml");
    std::fs::write(
        &filler,
        format!(
            "From: <x@example.com>\r\nTo: <{B}>\r\nSubject: filler\r\n\r\n{}\r\n",
            "x".repeat(60_000)
        ),
    )
    .unwrap();
    let f = filler.to_str().unwrap();
    s.json(&["mailbox", "import", B, f, f]);
    let (mut c, _) = Conn::tls(s.listener("submissions"), &s.ca()).await;
    c.login(A, PASSWORD).await;
    let msg = format!(
        "From: <{A}>\r\nTo: <{B}>\r\nSubject: piena\r\n\r\n{}\r\n",
        "y".repeat(10_000)
    );
    assert!(c.send_message(A, &[B], &msg).await.starts_with("250"));
    let a = imap(&s, A, "INBOX");
    assert_eq!(
        a.iter().map(|m| classify(m).unwrap()).collect::<Vec<_>>(),
        [Kind::Acceptance, Kind::NonDelivery]
    );
    let d = assert_valid_pec(&a[1], &s.ca()).unwrap();
    assert_eq!(d.errore, Errore::Altro);
    assert!(d.errore_esteso.unwrap().starts_with("5.2.2 - "));
    assert_eq!(imap(&s, B, "INBOX").len(), 2, "only the fillers");
}

/// PEC.md §6.3 last row and §12 item 9: ordinary mail for an open domain arrives inside a
/// busta di anomalia; a closed domain refuses it; one transaction holds one policy.
#[tokio::test]
async fn ordinary_mail_is_wrapped_or_refused_by_domain_policy() {
    let s = certified_server();
    let ordinary = format!("From: <amico@example.com>\r\nTo: <{B}>\r\nSubject: ciao\r\nMessage-ID: <ciao@example.com>\r\n\r\nposta ordinaria\r\n");
    let (mut c, _) = Conn::plain(s.listener("smtp")).await;
    c.cmd("EHLO mx.example.com").await;
    let r = c.send_message("amico@example.com", &[B], &ordinary).await;
    assert!(r.starts_with("250"), "{r}");
    let r = c
        .send_message("amico@example.com", &["dario@pec.example.it"], &ordinary)
        .await;
    assert_eq!(
        r,
        "550 5.7.1 This mailbox accepts certified mail (PEC) only\r\n"
    );
    assert!(c
        .cmd("MAIL FROM:<amico@example.com>")
        .await
        .starts_with("250"));
    assert!(c.cmd(&format!("RCPT TO:<{B}>")).await.starts_with("250"));
    assert!(c
        .cmd("RCPT TO:<dario@pec.example.it>")
        .await
        .starts_with("452 4.5.3"));
    c.cmd("RSET").await;
    let b = imap(&s, B, "INBOX");
    assert_eq!(b.len(), 1);
    assert_eq!(classify(&b[0]), Some(Kind::Anomaly));
    assert_eq!(
        assert_valid_pec(&b[0], &s.ca()),
        None,
        "no daticert in an anomaly"
    );
    assert_eq!(header(&b[0], "Message-ID"), "<ciao@example.com>");
    assert_eq!(header(&b[0], "Subject"), "ANOMALIA MESSAGGIO: ciao");
    let carried = String::from_utf8(postacert(&b[0]).unwrap()).unwrap();
    assert!(carried.starts_with("Received: from mx.example.com"));
    assert!(carried.contains(&ordinary), "carried whole");
    pecd_verify(&s, &[&b[0]]);
    let log = s.json(&["log", "search", "--address", B]);
    assert_eq!(log[0]["event"], "anomalia");
}
