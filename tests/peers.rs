//! Two providers exchanging certified mail (PEC.md §6.2–§6.8, §8, §9.3): each test starts its
//! own X and Y ([`support::peers::TwoProviders`]) and pins one rule.
//!
//! Every message a provider emitted is checked with OpenSSL, GnuTLS and the daticert DTD
//! against the CA of the provider that signed it.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use pecd_signer::build::{self, Document, Facts, Provider};
use pecd_signer::inspect::classify;
use pecd_signer::{Destinatario, Kind, Moment, ReceiptType, Signer};
use support::pec::{assert_valid_pec, imap};
use support::peers::*;
use support::{text, PECD};

/// PEC.md §8.3: each provider reloads the other's exported entry on SIGHUP; `pecctl index`
/// shows it, our own entry marked.
#[test]
fn index_exchange_reloads_on_sighup() {
    let pair = TwoProviders::start();
    let (x, y) = (&pair.x, &pair.y);
    let shown = y.server.json(&["index", "show", "pec.x.test"]);
    assert_eq!(shown["name"], "Provider X");
    assert_eq!(shown["mail_receipt"], X_SERVICE);
    assert_eq!(shown["ours"], false);
    assert_eq!(shown["certificates"][0]["emails"][0], X_SERVICE);
    let human = text(&x.server.pecctl(&["index", "list"], ""));
    assert!(
        human.contains("Provider X (ours)") && human.contains("Provider Y"),
        "{human}"
    );
}

/// PEC.md §6.2–§6.4: X -> Y, bruno exists and ghost does not. bruno gets the envelope, X's
/// service mailbox one presa in carico, anna the acceptance, bruno's ricevuta di avvenuta
/// consegna and ghost's avviso di mancata consegna, all signed by the provider that emits them.
#[tokio::test]
async fn x_to_y_delivery_and_mancata_consegna() {
    let pair = TwoProviders::start();
    let (x, y) = (&pair.x, &pair.y);
    let id = submit(x, ANNA, &[BRUNO, GHOST], "prima prova").await;
    let bruno = wait_inbox(y, BRUNO, 1);
    let envelope = &bruno[0];
    assert_eq!(classify(envelope), Some(Kind::Envelope));
    assert_eq!(header(envelope, "Message-ID").trim_matches(['<', '>']), id);
    let d = assert_valid_pec(envelope, &x.ca()).unwrap();
    assert_eq!(d.identificativo, id);
    assert!(header(envelope, "From").contains(&format!("Per conto di: {ANNA}")));
    // Y's presa in carico reaches X's service mailbox, never a user.
    let service = wait_inbox(x, X_SERVICE, 1);
    let taking = of_kind(&service, Kind::TakingCharge);
    assert_eq!(taking.len(), 1, "one presa in carico for both recipients");
    let d = assert_valid_pec(taking[0], &y.ca()).unwrap();
    assert_eq!(d.ricezione, vec![BRUNO.to_string(), GHOST.to_string()]);
    assert_eq!(d.gestore_emittente, "Provider Y");
    // anna: acceptance (X), delivery receipt for bruno and mancata consegna for ghost (Y).
    let anna = wait_inbox(x, ANNA, 3);
    let acceptance = of_kind(&anna, Kind::Acceptance);
    assert_eq!(acceptance.len(), 1);
    let d = assert_valid_pec(acceptance[0], &x.ca()).unwrap();
    assert!(d.destinatari.iter().all(|d| d.certificato), "{d:?}");
    let delivered = of_kind(&anna, Kind::Delivery);
    assert_eq!(delivered.len(), 1);
    let d = assert_valid_pec(delivered[0], &y.ca()).unwrap();
    assert_eq!(d.consegna.as_deref(), Some(BRUNO));
    assert_eq!(d.ricevuta, Some(ReceiptType::Completa));
    assert_eq!(d.identificativo, id);
    let failed = of_kind(&anna, Kind::NonDelivery);
    assert_eq!(failed.len(), 1);
    let d = assert_valid_pec(failed[0], &y.ca()).unwrap();
    assert_eq!(d.consegna.as_deref(), Some(GHOST));
    assert_eq!(d.errore, pecd_signer::Errore::NoDest);
    wait_state(x, &id, BRUNO, "delivered");
    wait_state(x, &id, GHOST, "error");
    assert_eq!(queue_len(x), 0);
    assert_eq!(queue_len(y), 0);
    verify_with_index(x, delivered[0]);
    let events = log_events(x, &id);
    for e in [
        "accettazione",
        "inoltro",
        "ricevuta-presa-in-carico",
        "ricevuta-avvenuta-consegna",
        "ricevuta-errore-consegna",
    ] {
        assert!(events.iter().any(|x| x == e), "{e} missing from {events:?}");
    }
}

/// `pecd verify` on X, with X's index, accepts what Y signed (signer found in the index).
fn verify_with_index(x: &Peer, message: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("r.eml");
    std::fs::write(&f, message).unwrap();
    let out = Command::new(PECD)
        .args([
            "verify",
            "--config",
            x.server.config().to_str().unwrap(),
            "--require-index",
        ])
        .arg(&f)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

/// PEC.md §6.8: the envelope for an esterno recipient leaves as ordinary mail, no receipts
/// come back, the acceptance lists the address as esterno.
#[tokio::test]
async fn esterno_recipient_gets_signed_envelope_as_ordinary_mail() {
    let mut pair = TwoProviders::start();
    let esterno = pair.esterno();
    let x = &pair.x;
    let id_e = submit(x, ANNA, &["mario@esterno.test"], "posta ordinaria").await;
    let (from, rcpts, data) = esterno.join().unwrap();
    assert_eq!(
        (from.as_str(), rcpts),
        (ANNA, vec!["mario@esterno.test".to_string()])
    );
    assert_eq!(classify(&data), Some(Kind::Envelope));
    assert_eq!(
        assert_valid_pec(&data, &x.ca()).unwrap().identificativo,
        id_e
    );
    wait_state(x, &id_e, "mario@esterno.test", "external");
    let anna = wait_inbox(x, ANNA, 1);
    let d = assert_valid_pec(of_kind(&anna, Kind::Acceptance)[0], &x.ca()).unwrap();
    assert_eq!(d.destinatari.len(), 1);
    assert!(!d.destinatari[0].certificato, "{d:?}");
    assert!(log_events(x, &id_e).iter().any(|e| e == "inoltro"));
    assert_eq!(queue_len(x), 0);
}

/// PEC.md §6.3 and §9.3: an envelope signed by a key Y's index does not list (Z's) is not
/// certified mail: bruno gets it in a busta di anomalia and no presa in carico goes out.
#[tokio::test]
async fn forged_envelope_becomes_anomaly() {
    let pair = TwoProviders::start();
    let y = &pair.y;
    let z = Signer::from_pem(&pair.z.cert, &pair.z.key, &[]).unwrap();
    let original = format!(
        "From: {ANNA}\r\nTo: {BRUNO}\r\nSubject: falso\r\nMessage-ID: <forged@client.test>\r\n\r\nfalso\r\n"
    );
    let provider_z = Provider {
        name: "Provider Z".into(),
        service_address: "posta-certificata@pec.z.test".into(),
    };
    let forged = build::build(
        &z,
        &provider_z,
        &facts("forged.1@pec.z.test", "<forged@client.test>", "falso"),
        &Document::Envelope {
            original: original.as_bytes(),
        },
        Moment::now(),
        "",
    )
    .unwrap();
    let reply = send_to_y(&pair, "mx.pec.z.test", forged.bytes).await;
    assert!(reply.starts_with("250"), "{reply}");
    let bruno = wait_inbox(y, BRUNO, 1);
    assert_eq!(classify(&bruno[0]), Some(Kind::Anomaly));
    assert!(
        assert_valid_pec(&bruno[0], &y.ca()).is_none(),
        "no daticert in an anomaly"
    );
    assert_eq!(queue_len(y), 0, "no presa in carico for a forged envelope");
}

/// The transaction of an envelope from anna to bruno.
fn facts(pec_id: &str, msgid: &str, subject: &str) -> Facts {
    Facts {
        pec_id: pec_id.into(),
        msgid: Some(msgid.into()),
        sender: ANNA.into(),
        destinatari: vec![Destinatario {
            address: BRUNO.into(),
            certificato: true,
        }],
        risposte: ANNA.into(),
        subject: subject.into(),
        receipt: ReceiptType::Completa,
    }
}

/// PEC.md §6.2: with Y down the envelope waits in X's queue (attempts and last error
/// recorded, `pecctl queue show`), which survives X's restart; Y comes back and `pecctl queue
/// retry` delivers it.
#[tokio::test]
async fn queue_survives_restart_and_retry_delivers() {
    let mut pair = TwoProviders::start();
    let (x, y) = (&mut pair.x, &mut pair.y);
    y.server.terminate();
    let id2 = submit(x, ANNA, &[BRUNO], "seconda prova").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let q = x.server.json(&["queue", "list"]);
        let q = q.as_array().unwrap();
        if q.len() == 1 && q[0]["attempts"].as_u64().unwrap() >= 1 {
            assert_eq!(q[0]["pec_id"], id2.as_str());
            assert!(!q[0]["last_error"].as_str().unwrap().is_empty());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no failed attempt recorded: {q:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(state_of(&trace(x, &id2), BRUNO), "accepted");
    let qid = x.server.json(&["queue", "list"])[0]["id"].as_u64().unwrap();
    let shown = x.server.json(&["queue", "show", &qid.to_string()]);
    assert_eq!(
        (shown["label"].as_str(), shown["certified"].as_bool()),
        (Some("busta di trasporto"), Some(true))
    );
    assert_eq!(shown["recipients"][0], BRUNO);
    x.restart(0);
    assert_eq!(queue_len(x), 1, "the queue survives a restart");
    y.server.spawn();
    let qid = x.server.json(&["queue", "list"])[0]["id"].as_u64().unwrap();
    x.server.json(&["queue", "retry", &qid.to_string()]);
    let bruno = wait_inbox(y, BRUNO, 1);
    assert_eq!(
        header(&bruno[0], "Message-ID").trim_matches(['<', '>']),
        id2
    );
    assert_valid_pec(&bruno[0], &x.ca()).unwrap();
    wait_state(x, &id2, BRUNO, "delivered");
    let anna = wait_inbox(x, ANNA, 2);
    assert_eq!(of_kind(&anna, Kind::Delivery).len(), 1);
    assert_eq!(queue_len(x), 0);
}

/// PEC.md §2 kinds 7–8, the virus path between providers. X's copy of an envelope is
/// withdrawn from the queue (`pecctl queue delete`), and an infected envelope with the same
/// identificativo, signed with X's key, reaches Y: Y quarantines it and sends a rilevazione
/// virus to X's service mailbox; X tells anna with a mancata consegna per virus.
#[tokio::test]
async fn infected_envelope_is_quarantined_and_the_sender_told() {
    let mut pair = TwoProviders::start();
    pair.y.server.terminate();
    let x = &pair.x;
    let id4 = submit(x, ANNA, &[BRUNO], "quarta prova").await;
    let qid = x.server.json(&["queue", "list"])[0]["id"].as_u64().unwrap();
    let deleted = x.server.json(&["queue", "delete", &qid.to_string()]);
    assert_eq!(deleted["pec_id"], id4.as_str());
    assert_eq!(queue_len(x), 0);
    pair.y.server.spawn();
    let reply = send_to_y(&pair, "mx.pec.x.test", infected_envelope(&pair.x, &id4)).await;
    assert!(reply.contains("virus"), "{reply}");
    let (x, y) = (&pair.x, &pair.y);
    let quarantine = imap(&y.server, Y_SERVICE, "Quarantine");
    assert_eq!(quarantine.len(), 1);
    wait_state(x, &id4, BRUNO, "error");
    let service = x.inbox(X_SERVICE);
    let detections = of_kind(&service, Kind::VirusDetection);
    assert_eq!(detections.len(), 1);
    let d = assert_valid_pec(detections[0], &y.ca()).unwrap();
    assert_eq!(
        (d.consegna.as_deref(), d.identificativo.as_str()),
        (Some(BRUNO), id4.as_str())
    );
    assert_eq!(header(detections[0], "X-Mittente"), ANNA);
    let anna = wait_inbox(x, ANNA, 2);
    let virus = of_kind(&anna, Kind::NonDeliveryVirus);
    assert_eq!(virus.len(), 1);
    let d = assert_valid_pec(virus[0], &x.ca()).unwrap();
    assert_eq!(d.consegna.as_deref(), Some(BRUNO));
    assert_eq!(header(virus[0], "X-VerificaSicurezza"), "errore");
    assert_eq!(y.inbox(BRUNO).len(), 0, "nothing infected delivered");
}

/// An envelope of transaction `id` carrying the EICAR test file, signed with X's key.
fn infected_envelope(x: &Peer, id: &str) -> Vec<u8> {
    let read = |f: &str| std::fs::read(x.dir().join("certs").join(f)).unwrap();
    let x_signer =
        Signer::from_pem(&read("signer.pem"), &read("signer.key"), &read("ca.pem")).unwrap();
    let infected = format!(
        "From: {ANNA}\r\nTo: {BRUNO}\r\nSubject: quarta prova\r\nMessage-ID: <{id}>\r\n\r\n{}\r\n",
        r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    );
    let provider_x = Provider {
        name: "Provider X".into(),
        service_address: X_SERVICE.into(),
    };
    build::build(
        &x_signer,
        &provider_x,
        &facts(id, "<quarta@client.test>", "quarta prova"),
        &Document::Envelope {
            original: infected.as_bytes(),
        },
        Moment::now(),
        "",
    )
    .unwrap()
    .bytes
}

/// PEC.md §6.6 and §6.2: a peer that never answers (Z) gets the 12 h preavviso (4.4.1), then
/// the 24 h avviso di mancata consegna (5.4.1) with the clock moved; the queue gives up after
/// 24 hours too, logged, and no more notices follow.
#[tokio::test]
async fn silent_peer_gets_12h_preavviso_then_24h_mancata_consegna() {
    let mut pair = TwoProviders::start();
    let x = &mut pair.x;
    let id3 = submit(x, ANNA, &[ZENO], "terza prova").await;
    let before = x.inbox(ANNA).len();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(state_of(&trace(x, &id3), ZENO), "accepted");
    assert!(queue_len(x) == 1, "queued for the dead peer");
    x.restart(13 * 3600);
    let anna = wait_inbox(x, ANNA, before + 1);
    let warnings = of_kind(&anna, Kind::Timeout);
    assert_eq!(warnings.len(), 1);
    let d = assert_valid_pec(warnings[0], &x.ca()).unwrap();
    assert_eq!(d.tipo, "preavviso-errore-consegna");
    assert_eq!(d.consegna.as_deref(), Some(ZENO));
    assert!(
        d.errore_esteso
            .as_deref()
            .unwrap_or("")
            .starts_with("4.4.1"),
        "{d:?}"
    );
    let t = trace(x, &id3);
    assert_eq!(state_of(&t, ZENO), "accepted");
    assert_eq!(t["recipients"][0]["warned"], true);
    x.restart(25 * 3600);
    let anna = wait_inbox(x, ANNA, before + 2);
    let notices = of_kind(&anna, Kind::Timeout);
    assert_eq!(notices.len(), 2);
    let d = assert_valid_pec(notices[1], &x.ca()).unwrap();
    assert!(
        d.errore_esteso
            .as_deref()
            .unwrap_or("")
            .starts_with("5.4.1"),
        "{d:?}"
    );
    wait_state(x, &id3, ZENO, "timed-out");
    // The queue gives up after 24 hours too (PEC.md §6.2), logged.
    let deadline = Instant::now() + Duration::from_secs(20);
    while queue_len(x) != 0 {
        assert!(Instant::now() < deadline, "expired message still queued");
        std::thread::sleep(Duration::from_millis(200));
    }
    let events = log_events(x, &id3);
    for e in [
        "preavviso-mancata-consegna",
        "mancata-consegna-tempo",
        "inoltro-scaduto",
    ] {
        assert!(events.iter().any(|x| x == e), "{e} missing from {events:?}");
    }
    // No more notices: the transaction is closed.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(of_kind(&x.inbox(ANNA), Kind::Timeout).len(), 2);
}
