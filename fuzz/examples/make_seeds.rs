//! Remakes the signed seeds: a fresh development CA and provider certificate (kept in
//! fuzz/fixtures, certificates only), and signed by them every PEC kind into fuzz/corpus/smime
//! and fuzz/corpus/engine_incoming, their daticert.xml into fuzz/corpus/daticert, the
//! provider's index entry into fuzz/corpus/ldif and the carried originals into
//! fuzz/corpus/breve. Run from fuzz/: `cargo run --example make_seeds` (no nightly flags
//! needed). The other corpora are hand-written files.

use std::fs;
use std::path::Path;

use openssl::x509::X509;
use pecd_signer::build::{self, Document, Facts, Provider};
use pecd_signer::inspect::entity_part;
use pecd_signer::smime::split_signed;
use pecd_signer::{Destinatario, Errore, Moment, ProviderEntry, ReceiptType, Signer};

fn main() {
    let out = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = pecd_common::certs::dev_config_in(dir.path()).expect("development certificates");
    let read = |p: &Path| fs::read(p).expect("certificate file");
    let (cert, key, chain) = (
        read(&config.signing.cert),
        read(&config.signing.key),
        read(&config.signing.chain),
    );
    fs::write(out.join("fixtures/ca.pem"), &chain).unwrap();
    fs::write(out.join("fixtures/signer.pem"), &cert).unwrap();
    let signer = Signer::from_pem(&cert, &key, &chain).expect("signer");
    let provider = Provider {
        name: pecd_fuzz::identity::PROVIDER.into(),
        service_address: pecd_fuzz::identity::SERVICE_ADDRESS.into(),
    };
    let facts = Facts {
        pec_id: "opec210.20241104100000.12345.01.1.1@pec.localhost".into(),
        msgid: Some("<a1@pec.localhost>".into()),
        sender: "mario.rossi@pec.localhost".into(),
        destinatari: vec![
            Destinatario {
                address: "luigi@pec.localhost".into(),
                certificato: true,
            },
            Destinatario {
                address: "x@example.org".into(),
                certificato: false,
            },
        ],
        risposte: "mario.rossi@pec.localhost".into(),
        subject: "Offerta n° 7".into(),
        receipt: ReceiptType::Completa,
    };
    let original = build::rewrite_original(
        pecd_fuzz::MESSAGES[1],
        &facts.pec_id,
        facts.msgid.as_deref(),
    );
    let esteso = "5.1.1 - pecd: casella inesistente".to_string();
    let docs: Vec<(&str, Document<'_>)> = vec![
        (
            "envelope",
            Document::Envelope {
                original: &original,
            },
        ),
        ("acceptance", Document::Acceptance),
        (
            "non-acceptance",
            Document::NonAcceptance {
                reason: "destinatario non valido".into(),
            },
        ),
        (
            "taking-charge",
            Document::TakingCharge {
                mail_receipt: "posta-certificata@pec.localhost".into(),
                ricezione: vec!["luigi@pec.localhost".into()],
            },
        ),
        (
            "delivery-completa",
            Document::Delivery {
                recipient: "luigi@pec.localhost".into(),
                tipo: ReceiptType::Completa,
                original: &original,
            },
        ),
        (
            "non-delivery",
            Document::NonDelivery {
                recipient: "luigi@pec.localhost".into(),
                errore: Errore::NoDest,
                esteso: esteso.clone(),
            },
        ),
        (
            "virus-detection",
            Document::VirusDetection {
                mail_receipt: "posta-certificata@pec.localhost".into(),
                recipient: "luigi@pec.localhost".into(),
                esteso: esteso.clone(),
            },
        ),
        (
            "timeout",
            Document::Timeout {
                recipient: "luigi@pec.localhost".into(),
                last: true,
                esteso,
            },
        ),
    ];
    let when = Moment::now();
    let dirs = ["smime", "engine_incoming", "daticert", "ldif", "breve"];
    for d in dirs {
        fs::create_dir_all(out.join("corpus").join(d)).unwrap();
    }
    let write = |name: &str, bytes: &[u8]| {
        let (smime, engine, daticert) = (
            out.join("corpus/smime").join(format!("{name}.eml")),
            out.join("corpus/engine_incoming")
                .join(format!("{name}.bin")),
            out.join("corpus/daticert").join(format!("{name}.xml")),
        );
        fs::write(smime, bytes).unwrap();
        // engine_incoming: one byte of RCPT TO choice first (luigi@pec.localhost).
        let mut e = vec![0x01];
        e.extend_from_slice(bytes);
        fs::write(engine, e).unwrap();
        if let Some(xml) = split_signed(bytes)
            .ok()
            .and_then(|(entity, _, _)| entity_part(&entity, "daticert.xml"))
        {
            fs::write(daticert, xml).unwrap();
        }
    };
    for (i, (name, doc)) in docs.iter().enumerate() {
        let built = build::build(
            &signer,
            &provider,
            &facts,
            doc,
            when,
            &format!("{i}.seed@pec.localhost"),
        )
        .expect("build");
        write(name, &built.bytes);
    }
    let anomaly = build::anomaly(
        &signer,
        &provider,
        pecd_fuzz::MESSAGES[0],
        "a@peer.example",
        when,
    )
    .expect("anomaly");
    write("anomaly", &anomaly.bytes);
    fs::write(out.join("corpus/breve/postacert.eml"), &original).unwrap();
    let cert = X509::from_pem(&cert).unwrap();
    let entries = [
        ProviderEntry::own(
            pecd_fuzz::identity::PROVIDER,
            &cert,
            pecd_fuzz::identity::SERVICE_ADDRESS,
            &["pec.localhost".to_string(), "pec.example.it".to_string()],
        ),
        ProviderEntry::own(
            "Altro Gestore S.p.A.",
            &cert,
            "posta-certificata@pec.altro.it",
            &["pec.altro.it".to_string()],
        ),
    ];
    let ldif: String = entries.iter().map(|e| e.to_ldif() + "\n").collect();
    fs::write(out.join("corpus/ldif/index.ldif"), ldif).unwrap();
}
