//! One fixture per message kind pecd emits (PEC.md §2.1): each is built and signed with the
//! development certificates, then checked by OpenSSL, GnuTLS and the daticert DTD, and by
//! pecd's own verifier against the provider index.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use pecd_signer::build::{self, rewrite_original};
use pecd_signer::inspect::{check, entity_part, CheckOptions};
use pecd_signer::smime::{split_signed, verify};
use pecd_signer::{
    ChainTime, Daticert, Destinatario, Document, Errore, Facts, Kind, Moment, Provider,
    ProviderEntry, ProviderIndex, ReceiptType, Signer,
};
use support::pec::{assert_valid_pec, provider_identity};
use support::tool;

struct Fixture {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    signer: Signer,
    provider: Provider,
    index: ProviderIndex,
    anchors: Vec<openssl::x509::X509>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let config = pecd_common::certs::dev_config_in(dir.path()).unwrap();
    let read = |p: &Path| std::fs::read(p).unwrap();
    let signer = Signer::from_pem(
        &read(&config.signing.cert),
        &read(&config.signing.key),
        &read(&config.signing.chain),
    )
    .unwrap();
    let own = ProviderEntry::own(
        &config.provider.name,
        signer.certificate(),
        &config.provider.service_address,
        &config.provider.domains,
    );
    let anchors = openssl::x509::X509::stack_from_pem(&read(&config.signing.chain)).unwrap();
    Fixture {
        ca: config.signing.chain.clone(),
        provider: Provider {
            name: config.provider.name.clone(),
            service_address: config.provider.service_address.clone(),
        },
        signer,
        index: ProviderIndex::new(vec![own]),
        anchors,
        _dir: dir,
    }
}

const ORIGINAL: &[u8] = b"Received: from client ([127.0.0.1])\r\n\tby mail.pec.localhost (pecd) with ESMTPSA id 1;\r\n\tSun, 22 Nov 2026 10:00:00 +0000\r\n\
From: Mario Rossi <mario@pec.localhost>\r\nTo: anna@pec.localhost\r\nCc: bruno@pec.localhost\r\n\
Subject: Offerta n. 12 \xc3\xa8 pronta\r\nMessage-ID: <a81f3c2e@client.example>\r\nX-TipoRicevuta: breve\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n\
--XX\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nCiao, l'offerta \xc3\xa8 allegata.\r\n\
--XX\r\nContent-Type: application/pdf; name=\"offerta.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n\
--XX--\r\n";

fn facts() -> Facts {
    Facts {
        pec_id: "pecd.20261122110000.0123456789abcdef@pec.localhost".into(),
        msgid: Some("<a81f3c2e@client.example>".into()),
        sender: "mario@pec.localhost".into(),
        destinatari: vec![
            Destinatario {
                address: "anna@pec.localhost".into(),
                certificato: true,
            },
            Destinatario {
                address: "bruno@pec.localhost".into(),
                certificato: true,
            },
        ],
        risposte: "mario@pec.localhost".into(),
        subject: "Offerta n. 12 è pronta".into(),
        receipt: ReceiptType::Breve,
    }
}

fn header(message: &[u8], name: &str) -> String {
    pecd_signer::mime::header(message, name).unwrap_or_default()
}

/// One document of every kind pecd emits (PEC.md §2.1), all of one transaction.
fn every_kind<'a>(original: &'a [u8], breve: &'a [u8]) -> Vec<Document<'a>> {
    vec![
        Document::Envelope { original },
        Document::Acceptance,
        Document::NonAcceptance {
            reason: "Bcc non ammesso".into(),
        },
        Document::NonAcceptanceVirus {
            finding: "Eicar-Test-Signature".into(),
        },
        Document::TakingCharge {
            mail_receipt: "posta-certificata@pec.localhost".into(),
            ricezione: vec!["anna@pec.localhost".into(), "bruno@pec.localhost".into()],
        },
        Document::Delivery {
            recipient: "anna@pec.localhost".into(),
            tipo: ReceiptType::Completa,
            original,
        },
        Document::Delivery {
            recipient: "anna@pec.localhost".into(),
            tipo: ReceiptType::Breve,
            original: breve,
        },
        Document::Delivery {
            recipient: "bruno@pec.localhost".into(),
            tipo: ReceiptType::Sintetica,
            original,
        },
        Document::NonDelivery {
            recipient: "nessuno@pec.localhost".into(),
            errore: Errore::NoDest,
            esteso: "5.1.1 - pecd - casella inesistente".into(),
        },
        Document::VirusDetection {
            mail_receipt: "posta-certificata@pec.example.net".into(),
            recipient: "anna@pec.localhost".into(),
            esteso: "5.7.1 - pecd - virus".into(),
        },
        Document::NonDeliveryVirus {
            recipient: "anna@pec.localhost".into(),
            esteso: "5.7.1 - pecd - virus".into(),
        },
        Document::Timeout {
            recipient: "anna@pec.localhost".into(),
            last: false,
            esteso: "4.4.1 - pecd - nessuna ricevuta entro 12 ore".into(),
        },
        Document::Timeout {
            recipient: "anna@pec.localhost".into(),
            last: true,
            esteso: "5.4.1 - pecd - nessuna ricevuta entro 24 ore".into(),
        },
    ]
}

/// The headers of PEC.md §3: the kind's own, the references and the subject prefix.
fn assert_headers(kind: Kind, bytes: &[u8]) {
    let (name, value) = kind.type_header();
    assert_eq!(header(bytes, name), value, "{kind:?}");
    assert_eq!(
        header(bytes, "X-Riferimento-Message-ID"),
        "<a81f3c2e@client.example>"
    );
    assert_eq!(
        header(bytes, "X-VerificaSicurezza") == "errore",
        kind.security_error()
    );
    let subject = mail_parser::MessageParser::new()
        .parse_headers(bytes)
        .unwrap()
        .subject()
        .unwrap()
        .to_string();
    assert_eq!(
        subject,
        format!("{}Offerta n. 12 è pronta", kind.subject_prefix())
    );
}

/// The daticert of PEC.md §7.
fn assert_daticert(kind: Kind, d: &Daticert, f: &Fixture, facts: &Facts) {
    assert_eq!(Some(d.tipo.as_str()), kind.tipo());
    assert_eq!(d.identificativo, facts.pec_id);
    assert_eq!(d.msgid.as_deref(), Some("<a81f3c2e@client.example>"));
    assert_eq!(
        (d.giorno.as_str(), d.ora.as_str(), d.zona.as_str()),
        ("22/11/2026", "11:00:00", "+0100")
    );
    assert_eq!(d.gestore_emittente, f.provider.name);
}

/// The original each kind carries (PEC.md §3), and the From of each.
fn assert_carried(kind: Kind, d: &Daticert, bytes: &[u8], original: &[u8], facts: &Facts) {
    let (entity, _, protocol) = split_signed(bytes).unwrap();
    assert_eq!(protocol, "application/pkcs7-signature");
    let postacert = entity_part(&entity, "postacert.eml");
    match (kind, &d.ricevuta) {
        (Kind::Envelope, _) => {
            assert_eq!(postacert.as_deref(), Some(original));
            assert_eq!(
                header(bytes, "From"),
                "\"Per conto di: mario@pec.localhost\" <posta-certificata@pec.localhost>"
            );
            assert_eq!(header(bytes, "Message-ID"), format!("<{}>", facts.pec_id));
            assert_eq!(header(bytes, "X-TipoRicevuta"), "breve");
            assert_eq!(header(bytes, "Cc"), "bruno@pec.localhost");
            assert!(header(bytes, "Received").starts_with("from client"));
            assert_eq!(d.ricevuta, Some(ReceiptType::Breve));
        }
        (Kind::Delivery, Some(ReceiptType::Completa)) => {
            assert_eq!(postacert.as_deref(), Some(original))
        }
        (Kind::Delivery, Some(ReceiptType::Breve)) => {
            let p = String::from_utf8(postacert.unwrap()).unwrap();
            assert!(p.contains("offerta.pdf.hash"));
            assert!(!p.contains("JVBERi0xLjQK"));
        }
        _ => assert_eq!(postacert, None, "{kind:?} must not carry the original"),
    }
    if kind != Kind::Envelope {
        assert_eq!(header(bytes, "From"), "posta-certificata@pec.localhost");
    }
}

#[test]
fn every_kind_verifies_with_openssl_gnutls_and_the_dtd() {
    let f = fixture();
    let facts = facts();
    let when = Moment::from_unix(1_795_341_600); // 2026-11-22 11:00:00 +0100
    let original = rewrite_original(ORIGINAL, &facts.pec_id, facts.msgid.as_deref());
    let breve = pecd_signer::breve::substitute(&original);
    let docs = every_kind(&original, &breve);
    let options = CheckOptions {
        anchors: &f.anchors,
        crls: &[],
        index: &f.index,
        time: ChainTime::Now,
        require_index: true,
    };
    let mut kinds = Vec::new();
    for (n, doc) in docs.iter().enumerate() {
        let built = build::build(
            &f.signer,
            &f.provider,
            &facts,
            doc,
            when,
            &format!("r{n}@pec.localhost"),
        )
        .unwrap();
        let kind = doc.kind();
        kinds.push(kind);
        let d = assert_valid_pec(&built.bytes, &f.ca).expect("daticert");
        assert_headers(kind, &built.bytes);
        assert_daticert(kind, &d, &f, &facts);
        // Our own verifier agrees (PEC.md §9.3).
        let report = check(&built.bytes, &options);
        assert!(report.valid, "{kind:?}: {:?}", report.errors);
        assert_eq!(report.kind, Some(kind));
        assert_eq!(report.digest, Some("sha256"));
        assert_eq!(report.provider.as_deref(), Some(f.provider.name.as_str()));
        assert_carried(kind, &d, &built.bytes, &original, &facts);
    }
    // The identifiers of §5: the original inside the envelope carries the PEC msgid.
    assert!(String::from_utf8_lossy(&original).contains(&format!(
        "X-Riferimento-Message-ID: <a81f3c2e@client.example>\r\nMessage-ID: <{}>\r\n",
        facts.pec_id
    )));
    for k in Kind::ALL {
        assert!(
            kinds.contains(&k) || k == Kind::Anomaly,
            "{k:?} has no fixture"
        );
    }
}

#[test]
fn anomaly_envelope_has_no_daticert_and_keeps_the_message_id() {
    let f = fixture();
    let received = b"Received: from mx.example.com\r\nFrom: someone@example.com\r\nTo: anna@pec.localhost\r\nSubject: ciao\r\nMessage-ID: <ordinary@example.com>\r\n\r\nplain mail\r\n";
    let built = build::anomaly(
        &f.signer,
        &f.provider,
        received,
        "someone@example.com",
        Moment::now(),
    )
    .unwrap();
    assert_eq!(assert_valid_pec(&built.bytes, &f.ca), None);
    assert_eq!(header(&built.bytes, "X-Trasporto"), "errore");
    assert_eq!(header(&built.bytes, "Message-ID"), "<ordinary@example.com>");
    assert_eq!(header(&built.bytes, "Subject"), "ANOMALIA MESSAGGIO: ciao");
    assert_eq!(header(&built.bytes, "Reply-To"), "someone@example.com");
    let (entity, _, _) = split_signed(&built.bytes).unwrap();
    assert_eq!(
        entity_part(&entity, "postacert.eml").as_deref(),
        Some(&received[..])
    );
    let report = check(
        &built.bytes,
        &CheckOptions {
            anchors: &f.anchors,
            crls: &[],
            index: &f.index,
            time: ChainTime::Now,
            require_index: true,
        },
    );
    assert!(report.valid, "{:?}", report.errors);
    assert_eq!(report.kind, Some(Kind::Anomaly));
}

/// What real providers send: SHA-1, `application/x-pkcs7-signature`, often saved with LF line
/// ends. The verifier accepts all of it (PEC.md §9.1) and refuses a tampered copy.
#[test]
fn sha1_x_pkcs7_and_lf_only_files_verify() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let content = dir.path().join("content.txt");
    std::fs::write(
        &content,
        "Content-Type: text/plain\r\n\r\nfirmato con SHA-1\r\n",
    )
    .unwrap();
    let signed = dir.path().join("signed.eml");
    let (signer_pem, key_pem) = provider_identity(
        dir.path(),
        "Old Provider",
        "posta-certificata@old.example",
        2,
    );
    tool(Command::new("openssl").args([
        "smime",
        "-sign",
        "-md",
        "sha1",
        "-in",
        content.to_str().unwrap(),
        "-signer",
        signer_pem.to_str().unwrap(),
        "-inkey",
        key_pem.to_str().unwrap(),
        "-out",
        signed.to_str().unwrap(),
    ]));
    let mut bytes = b"From: posta-certificata@old.example\r\nX-Ricevuta: accettazione\r\n".to_vec();
    bytes.extend(std::fs::read(&signed).unwrap());
    let bytes = bytes.replace_crlf();
    assert!(String::from_utf8_lossy(&bytes).contains("x-pkcs7-signature"));
    let anchors =
        vec![openssl::x509::X509::from_pem(&std::fs::read(&signer_pem).unwrap()).unwrap()];
    let v = verify(&bytes, &anchors, ChainTime::Now).expect("verifies");
    assert_eq!(v.digest, "sha1");
    assert!(v.canonicalized);
    assert!(v.chain.is_ok(), "{:?}", v.chain);
    assert!(v.signing_time.is_some());
    // Not in our index: reported, and refused only when the index is required.
    let mut options = CheckOptions {
        anchors: &anchors,
        crls: &[],
        index: &f.index,
        time: ChainTime::Now,
        require_index: false,
    };
    let r = check(&bytes, &options);
    assert!(r
        .notes
        .iter()
        .any(|n| n.contains("not in the provider index")));
    assert!(r.errors.iter().all(|e| !e.contains("index")));
    options.require_index = true;
    assert!(!check(&bytes, &options).valid);
    // One changed byte in the signed text breaks it.
    let tampered = String::from_utf8(bytes.clone())
        .unwrap()
        .replace("firmato con SHA-1", "firmato con SHA-2");
    assert!(verify(tampered.as_bytes(), &anchors, ChainTime::Now).is_err());
}

/// A certificate that has expired since verifies at its signing time only
/// (`pecd verify --at-signing-time`, PEC.md §12 item 2).
#[test]
fn chain_time_can_be_the_signing_time() {
    let f = fixture();
    let facts = facts();
    let built = build::build(
        &f.signer,
        &f.provider,
        &facts,
        &Document::Acceptance,
        Moment::now(),
        "x@pec.localhost",
    )
    .unwrap();
    let far_future = Moment::now().unix() + 50 * 365 * 86400;
    let later = verify(&built.bytes, &f.anchors, ChainTime::At(far_future)).unwrap();
    assert!(later.chain.is_err(), "expired by then");
    let at_signing = verify(&built.bytes, &f.anchors, ChainTime::SigningTime).unwrap();
    assert!(at_signing.chain.is_ok(), "{:?}", at_signing.chain);
}

/// The signature's signingTime is the document's temporal reference (the instant its
/// daticert and text give), not the moment the signing pool got to it.
#[test]
fn signing_time_is_the_documents_temporal_reference() {
    let f = fixture();
    let facts = facts();
    let when = Moment::from_unix(Moment::now().unix() - 3 * 86400 + 17);
    let built = build::build(
        &f.signer,
        &f.provider,
        &facts,
        &Document::Acceptance,
        when,
        "x@pec.localhost",
    )
    .unwrap();
    let v = verify(&built.bytes, &f.anchors, ChainTime::Now).unwrap();
    assert_eq!(v.signing_time, Some(when.unix()));
}

trait ReplaceCrlf {
    fn replace_crlf(&self) -> Vec<u8>;
}

impl ReplaceCrlf for Vec<u8> {
    /// The file as saved by a tool that writes LF line ends.
    fn replace_crlf(&self) -> Vec<u8> {
        String::from_utf8_lossy(self)
            .replace("\r\n", "\n")
            .into_bytes()
    }
}
