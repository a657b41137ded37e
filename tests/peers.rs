//! Two pecd processes as two providers (PEC.md §6.2–§6.6, §8, §9.3): X (pec.x.test) and Y
//! (pec.y.test), each with the other in its provider index and the other's CA among its trust
//! anchors, and static routes to each other's SMTP port. A third identity, Z, exists only as a
//! key: X lists it (a provider that never answers), Y does not (a forger).
//!
//! Every message a provider emitted is checked with OpenSSL, GnuTLS and the daticert DTD
//! against the CA of the provider that signed it.

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pecd_signer::build::{self, Document, Facts, Provider};
use pecd_signer::inspect::classify;
use pecd_signer::{Destinatario, Kind, Moment, ProviderEntry, ReceiptType, Signer};
use support::pec::{assert_valid_pec, imap, provider_identity};
use support::smtp::Conn;
use support::{text, tool, Server, PASSWORD, PECD};

const ANNA: &str = "anna@pec.x.test";
const BRUNO: &str = "bruno@pec.y.test";
const GHOST: &str = "ghost@pec.y.test";
const ZENO: &str = "zeno@pec.z.test";
const X_SERVICE: &str = "posta-certificata@pec.x.test";
const Y_SERVICE: &str = "posta-certificata@pec.y.test";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One provider's configuration: fixed SMTP port, static routes, fast retries and timers.
fn config(dir: &Path, name: &str, domain: &str, smtp: u16, routes: &str, offset: i64) -> String {
    let d = dir.display();
    format!(
        r#"[provider]
name = "{name}"
domains = ["{domain}"]
service_address = "posta-certificata@{domain}"

[listen]
smtp = "127.0.0.1:{smtp}"
submissions = "127.0.0.1:0"
imaps = "127.0.0.1:0"
pop3s = "127.0.0.1:0"

[tls]
cert = "{d}/certs/server.pem"
key = "{d}/certs/server.key"

[signing]
cert = "{d}/certs/signer.pem"
key = "{d}/certs/signer.key"
chain = "{d}/certs/ca.pem"

[peers]
index = "{d}/providers.ldif"
trust_anchors = "{d}/anchors.pem"
routes = {{ {routes} }}

[store]
path = "{d}/store"

[control]
socket = "{d}/pecd.sock"

[pec]
clock_offset_seconds = {offset}
timer_interval_seconds = 1

[relay]
retry_initial_seconds = 1
retry_max_seconds = 2
interval_seconds = 1
timeout_seconds = 10
"#
    )
}

struct Peer {
    server: Server,
    name: &'static str,
    domain: &'static str,
    smtp: u16,
    routes: String,
}

impl Peer {
    fn new(name: &'static str, domain: &'static str, routes: String, smtp: u16) -> Peer {
        let server = Server::prepare();
        let p = Peer {
            server,
            name,
            domain,
            smtp,
            routes,
        };
        p.write_config(0);
        p
    }

    fn write_config(&self, offset: i64) {
        let dir = self.server.dir.path();
        std::fs::write(
            self.server.config(),
            config(dir, self.name, self.domain, self.smtp, &self.routes, offset),
        )
        .unwrap();
    }

    fn dir(&self) -> &Path {
        self.server.dir.path()
    }

    /// Our entry as `pecd index export` prints it.
    fn export(&self) -> String {
        tool(Command::new(PECD).args([
            "index",
            "export",
            "--config",
            self.server.config().to_str().unwrap(),
        ]))
    }

    fn inbox(&self, user: &str) -> Vec<Vec<u8>> {
        imap(&self.server, user, "INBOX")
    }

    fn ca(&self) -> PathBuf {
        self.server.ca()
    }

    fn restart(&mut self, offset: i64) {
        self.server.terminate();
        self.write_config(offset);
        self.server.spawn();
    }
}

/// Waits until `user`'s INBOX at `p` holds at least `n` messages; returns them.
fn wait_inbox(p: &Peer, user: &str, n: usize) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = p.inbox(user);
        if got.len() >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{user} has {} messages, expected {n}\nX/Y log:\n{}",
            got.len(),
            p.server.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn header(m: &[u8], name: &str) -> String {
    pecd_signer::mime::header(m, name).unwrap_or_default()
}

/// The messages of `list` whose kind is `kind`.
fn of_kind(list: &[Vec<u8>], kind: Kind) -> Vec<&Vec<u8>> {
    list.iter().filter(|m| classify(m) == Some(kind)).collect()
}

async fn submit(p: &Peer, from: &str, to: &[&str], subject: &str) -> String {
    let addr = p.server.listener("submissions");
    let (mut c, _) = Conn::tls(addr, &p.ca()).await;
    c.login(from, PASSWORD).await;
    let message = format!(
        "From: {from}\r\nTo: {}\r\nSubject: {subject}\r\nMessage-ID: <{}@client.test>\r\n\
         Date: Sun, 22 Nov 2026 10:00:00 +0100\r\n\r\nCorpo del messaggio {subject}.\r\n",
        to.join(", "),
        subject.replace(' ', "-")
    );
    let reply = c.send_message(from, to, &message).await;
    assert!(reply.starts_with("250"), "{reply}");
    reply
        .split_whitespace()
        .find(|w| w.starts_with("pecd."))
        .expect("the reply names the PEC msgid")
        .to_string()
}

fn trace(p: &Peer, id: &str) -> serde_json::Value {
    p.server.json(&["trace", id])
}

fn state_of(t: &serde_json::Value, address: &str) -> String {
    t["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == address)
        .map(|r| r["state"].as_str().unwrap().to_string())
        .unwrap_or_default()
}

fn wait_state(p: &Peer, id: &str, address: &str, state: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while state_of(&trace(p, id), address) != state {
        assert!(
            Instant::now() < deadline,
            "{address} never reached {state}: {}\n{}",
            trace(p, id),
            p.server.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The events of the legal log about one transaction, oldest first.
fn log_events(p: &Peer, id: &str) -> Vec<String> {
    let log = p.server.json(&["log", "search", "--msgid", id]);
    log.as_array()
        .unwrap()
        .iter()
        .map(|r| r["event"].as_str().unwrap().to_string())
        .collect()
}

/// A bare SMTP server for an esterno domain (no STARTTLS, as much of the Internet): accepts
/// one session and returns MAIL FROM, RCPT TO and the message it received.
/// What the esterno server received: MAIL FROM, RCPT TO, the message.
type Received = (String, Vec<String>, Vec<u8>);

fn esterno_server() -> (u16, std::thread::JoinHandle<Received>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut out = stream.try_clone().unwrap();
        let mut input = BufReader::new(stream);
        let (mut from, mut rcpts, mut data) = (String::new(), Vec::new(), Vec::new());
        out.write_all(b"220 mx.esterno.test ESMTP\r\n").unwrap();
        loop {
            let mut line = String::new();
            if input.read_line(&mut line).unwrap() == 0 {
                break;
            }
            let upper = line.to_ascii_uppercase();
            let reply: &[u8] = if upper.starts_with("EHLO") {
                b"250-mx.esterno.test\r\n250 8BITMIME\r\n"
            } else if upper.starts_with("MAIL FROM:") {
                from = line[10..].trim().trim_matches(['<', '>']).to_string();
                b"250 2.1.0 ok\r\n"
            } else if upper.starts_with("RCPT TO:") {
                rcpts.push(line[8..].trim().trim_matches(['<', '>']).to_string());
                b"250 2.1.5 ok\r\n"
            } else if upper.starts_with("DATA") {
                out.write_all(b"354 go ahead\r\n").unwrap();
                loop {
                    let mut l = Vec::new();
                    input.read_until(b'\n', &mut l).unwrap();
                    if l == b".\r\n" {
                        break;
                    }
                    let unstuffed = if l.starts_with(b"..") {
                        &l[1..]
                    } else {
                        &l[..]
                    };
                    data.extend_from_slice(unstuffed);
                }
                b"250 2.0.0 queued\r\n"
            } else if upper.starts_with("QUIT") {
                out.write_all(b"221 bye\r\n").unwrap();
                break;
            } else {
                b"250 ok\r\n"
            };
            out.write_all(reply).unwrap();
        }
        (from, rcpts, data)
    });
    (port, handle)
}

fn queue_len(p: &Peer) -> usize {
    p.server.json(&["queue", "list"]).as_array().unwrap().len()
}

#[tokio::test]
async fn two_providers_exchange_certified_mail() {
    let (x_port, y_port) = (free_port(), free_port());
    // Z's route is a port nobody listens on: a peer that never answers.
    let dead = free_port();
    let (esterno_port, esterno) = esterno_server();
    let mut x = Peer::new(
        "Provider X",
        "pec.x.test",
        format!(
            "\"pec.y.test\" = \"127.0.0.1:{y_port}\", \"pec.z.test\" = \"127.0.0.1:{dead}\", \
             \"esterno.test\" = \"127.0.0.1:{esterno_port}\""
        ),
        x_port,
    );
    let mut y = Peer::new(
        "Provider Y",
        "pec.y.test",
        format!("\"pec.x.test\" = \"127.0.0.1:{x_port}\""),
        y_port,
    );
    // First start: each makes its development certificates, knowing nobody.
    x.server.spawn();
    y.server.spawn();
    let z_dir = tempfile::tempdir().unwrap();
    let (z_cert, z_key) = provider_identity(
        z_dir.path(),
        "Provider Z",
        "posta-certificata@pec.z.test",
        30,
    );
    let (z_cert, z_key) = (
        std::fs::read(z_cert).unwrap(),
        std::fs::read(z_key).unwrap(),
    );
    let z_entry = ProviderEntry::own(
        "Provider Z",
        &openssl::x509::X509::from_pem(&z_cert).unwrap(),
        "posta-certificata@pec.z.test",
        &["pec.z.test".to_string()],
    );
    // Each adds the other's exported entry and CA, then reloads on SIGHUP (PEC.md §8.3).
    std::fs::write(
        x.dir().join("providers.ldif"),
        format!("{}\n{}", y.export(), z_entry.to_ldif()),
    )
    .unwrap();
    std::fs::write(y.dir().join("providers.ldif"), x.export()).unwrap();
    let both = [
        std::fs::read(x.ca()).unwrap(),
        std::fs::read(y.ca()).unwrap(),
    ]
    .concat();
    std::fs::write(
        x.dir().join("anchors.pem"),
        [&both[..], &z_cert[..]].concat(),
    )
    .unwrap();
    std::fs::write(y.dir().join("anchors.pem"), &both).unwrap();
    x.server.signal(libc::SIGHUP);
    y.server.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(10);
    while x.server.json(&["index", "list"]).as_array().unwrap().len() != 3
        || y.server.json(&["index", "list"]).as_array().unwrap().len() != 2
    {
        assert!(Instant::now() < deadline, "SIGHUP did not reload the index");
        std::thread::sleep(Duration::from_millis(50));
    }
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

    x.server.create_mailbox(ANNA);
    y.server.create_mailbox(BRUNO);
    for (p, service) in [(&x, X_SERVICE), (&y, Y_SERVICE)] {
        let out = p.server.pecctl(
            &["mailbox", "passwd", service, "--password-stdin"],
            &format!("{PASSWORD}\n"),
        );
        assert!(out.status.success(), "{}", text(&out));
    }

    // 1. X -> Y: bruno exists, ghost does not.
    let id = submit(&x, ANNA, &[BRUNO, GHOST], "prima prova").await;
    let bruno = wait_inbox(&y, BRUNO, 1);
    let envelope = &bruno[0];
    assert_eq!(classify(envelope), Some(Kind::Envelope));
    assert_eq!(header(envelope, "Message-ID").trim_matches(['<', '>']), id);
    let d = assert_valid_pec(envelope, &x.ca()).unwrap();
    assert_eq!(d.identificativo, id);
    assert!(header(envelope, "From").contains(&format!("Per conto di: {ANNA}")));
    // Y's presa in carico reaches X's service mailbox, never a user.
    let service = wait_inbox(&x, X_SERVICE, 1);
    let taking = of_kind(&service, Kind::TakingCharge);
    assert_eq!(taking.len(), 1, "one presa in carico for both recipients");
    let d = assert_valid_pec(taking[0], &y.ca()).unwrap();
    assert_eq!(d.ricezione, vec![BRUNO.to_string(), GHOST.to_string()]);
    assert_eq!(d.gestore_emittente, "Provider Y");
    // anna: acceptance (X), delivery receipt for bruno and mancata consegna for ghost (Y).
    let anna = wait_inbox(&x, ANNA, 3);
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
    wait_state(&x, &id, BRUNO, "delivered");
    wait_state(&x, &id, GHOST, "error");
    assert_eq!(queue_len(&x), 0);
    assert_eq!(queue_len(&y), 0);
    // pecd verify on X, with X's index, accepts what Y signed (signer found in the index).
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("r.eml");
    std::fs::write(&f, delivered[0]).unwrap();
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
    let events = log_events(&x, &id);
    for e in [
        "accettazione",
        "inoltro",
        "ricevuta-presa-in-carico",
        "ricevuta-avvenuta-consegna",
        "ricevuta-errore-consegna",
    ] {
        assert!(events.iter().any(|x| x == e), "{e} missing from {events:?}");
    }

    // 1b. An esterno recipient (PEC.md §6.8): the envelope leaves as ordinary mail, no
    // receipts come back, the acceptance lists the address as esterno.
    let id_e = submit(&x, ANNA, &["mario@esterno.test"], "posta ordinaria").await;
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
    wait_state(&x, &id_e, "mario@esterno.test", "external");
    let anna = wait_inbox(&x, ANNA, 4);
    let d = assert_valid_pec(of_kind(&anna, Kind::Acceptance)[1], &x.ca()).unwrap();
    assert_eq!(d.destinatari.len(), 1);
    assert!(!d.destinatari[0].certificato, "{d:?}");
    assert!(log_events(&x, &id_e).iter().any(|e| e == "inoltro"));
    assert_eq!(queue_len(&x), 0);

    // 2. A forged envelope (signed by a key Y does not list) arriving at Y: anomaly.
    let z = Signer::from_pem(&z_cert, &z_key, &[]).unwrap();
    let original = format!(
        "From: {ANNA}\r\nTo: {BRUNO}\r\nSubject: falso\r\nMessage-ID: <forged@client.test>\r\n\r\nfalso\r\n"
    );
    let facts = Facts {
        pec_id: "forged.1@pec.z.test".into(),
        msgid: Some("<forged@client.test>".into()),
        sender: ANNA.into(),
        destinatari: vec![Destinatario {
            address: BRUNO.into(),
            certificato: true,
        }],
        risposte: ANNA.into(),
        subject: "falso".into(),
        receipt: ReceiptType::Completa,
    };
    let provider_z = Provider {
        name: "Provider Z".into(),
        service_address: "posta-certificata@pec.z.test".into(),
    };
    let forged = build::build(
        &z,
        &provider_z,
        &facts,
        &Document::Envelope {
            original: original.as_bytes(),
        },
        Moment::now(),
        "",
    )
    .unwrap();
    let (c, _) = Conn::plain(format!("127.0.0.1:{y_port}").parse().unwrap()).await;
    let mut c = c;
    c.cmd("EHLO mx.pec.z.test").await;
    let reply = c
        .send_message(ANNA, &[BRUNO], &String::from_utf8(forged.bytes).unwrap())
        .await;
    assert!(reply.starts_with("250"), "{reply}");
    let bruno = wait_inbox(&y, BRUNO, 2);
    assert_eq!(classify(&bruno[1]), Some(Kind::Anomaly));
    assert!(
        assert_valid_pec(&bruno[1], &y.ca()).is_none(),
        "no daticert in an anomaly"
    );
    assert_eq!(queue_len(&y), 0, "no presa in carico for a forged envelope");

    // 3. Y down: the envelope waits in X's queue, which survives X's restart; Y comes back.
    y.server.terminate();
    let id2 = submit(&x, ANNA, &[BRUNO], "seconda prova").await;
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
    assert_eq!(state_of(&trace(&x, &id2), BRUNO), "accepted");
    let qid = x.server.json(&["queue", "list"])[0]["id"].as_u64().unwrap();
    let shown = x.server.json(&["queue", "show", &qid.to_string()]);
    assert_eq!(
        (shown["label"].as_str(), shown["certified"].as_bool()),
        (Some("busta di trasporto"), Some(true))
    );
    assert_eq!(shown["recipients"][0], BRUNO);
    x.restart(0);
    assert_eq!(queue_len(&x), 1, "the queue survives a restart");
    y.server.spawn();
    let qid = x.server.json(&["queue", "list"])[0]["id"].as_u64().unwrap();
    x.server.json(&["queue", "retry", &qid.to_string()]);
    let bruno = wait_inbox(&y, BRUNO, 3);
    assert_eq!(
        header(&bruno[2], "Message-ID").trim_matches(['<', '>']),
        id2
    );
    assert_valid_pec(&bruno[2], &x.ca()).unwrap();
    wait_state(&x, &id2, BRUNO, "delivered");
    let anna = wait_inbox(&x, ANNA, 6);
    assert_eq!(of_kind(&anna, Kind::Delivery).len(), 2);
    assert_eq!(queue_len(&x), 0);

    // 3b. The virus path between providers (PEC.md §2 kinds 7–8). X's copy of an envelope is
    // withdrawn from the queue (`pecctl queue delete`), and an infected envelope with the same
    // identificativo, signed with X's key, reaches Y: Y quarantines it and sends a rilevazione
    // virus to X's service mailbox; X tells anna with a mancata consegna per virus.
    y.server.terminate();
    let id4 = submit(&x, ANNA, &[BRUNO], "quarta prova").await;
    let qid = x.server.json(&["queue", "list"])[0]["id"].as_u64().unwrap();
    let deleted = x.server.json(&["queue", "delete", &qid.to_string()]);
    assert_eq!(deleted["pec_id"], id4.as_str());
    assert_eq!(queue_len(&x), 0);
    y.server.spawn();
    let read = |f: &str| std::fs::read(x.dir().join("certs").join(f)).unwrap();
    let x_signer =
        Signer::from_pem(&read("signer.pem"), &read("signer.key"), &read("ca.pem")).unwrap();
    let infected = format!(
        "From: {ANNA}\r\nTo: {BRUNO}\r\nSubject: quarta prova\r\nMessage-ID: <{id4}>\r\n\r\n{}\r\n",
        r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    );
    let facts = Facts {
        pec_id: id4.clone(),
        msgid: Some("<quarta@client.test>".into()),
        sender: ANNA.into(),
        destinatari: vec![Destinatario {
            address: BRUNO.into(),
            certificato: true,
        }],
        risposte: ANNA.into(),
        subject: "quarta prova".into(),
        receipt: ReceiptType::Completa,
    };
    let provider_x = Provider {
        name: "Provider X".into(),
        service_address: X_SERVICE.into(),
    };
    let envelope = build::build(
        &x_signer,
        &provider_x,
        &facts,
        &Document::Envelope {
            original: infected.as_bytes(),
        },
        Moment::now(),
        "",
    )
    .unwrap();
    let (mut c, _) = Conn::plain(format!("127.0.0.1:{y_port}").parse().unwrap()).await;
    c.cmd("EHLO mx.pec.x.test").await;
    let reply = c
        .send_message(ANNA, &[BRUNO], &String::from_utf8(envelope.bytes).unwrap())
        .await;
    assert!(reply.contains("virus"), "{reply}");
    let quarantine = imap(&y.server, Y_SERVICE, "Quarantine");
    assert_eq!(quarantine.len(), 1);
    wait_state(&x, &id4, BRUNO, "error");
    let service = x.inbox(X_SERVICE);
    let detections = of_kind(&service, Kind::VirusDetection);
    assert_eq!(detections.len(), 1);
    let d = assert_valid_pec(detections[0], &y.ca()).unwrap();
    assert_eq!(
        (d.consegna.as_deref(), d.identificativo.as_str()),
        (Some(BRUNO), id4.as_str())
    );
    assert_eq!(header(detections[0], "X-Mittente"), ANNA);
    let anna = wait_inbox(&x, ANNA, 8);
    let virus = of_kind(&anna, Kind::NonDeliveryVirus);
    assert_eq!(virus.len(), 1);
    let d = assert_valid_pec(virus[0], &x.ca()).unwrap();
    assert_eq!(d.consegna.as_deref(), Some(BRUNO));
    assert_eq!(header(virus[0], "X-VerificaSicurezza"), "errore");
    assert_eq!(y.inbox(BRUNO).len(), 3, "nothing infected delivered");

    // 4. A peer that never answers: 12 h warning, then the 24 h notice (clock moved).
    let id3 = submit(&x, ANNA, &[ZENO], "terza prova").await;
    let before = x.inbox(ANNA).len();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(state_of(&trace(&x, &id3), ZENO), "accepted");
    assert!(queue_len(&x) == 1, "queued for the dead peer");
    x.restart(13 * 3600);
    let anna = wait_inbox(&x, ANNA, before + 1);
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
    let t = trace(&x, &id3);
    assert_eq!(state_of(&t, ZENO), "accepted");
    assert_eq!(t["recipients"][0]["warned"], true);
    x.restart(25 * 3600);
    let anna = wait_inbox(&x, ANNA, before + 2);
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
    wait_state(&x, &id3, ZENO, "timed-out");
    // The queue gives up after 24 hours too (PEC.md §6.2), logged.
    let deadline = Instant::now() + Duration::from_secs(20);
    while queue_len(&x) != 0 {
        assert!(Instant::now() < deadline, "expired message still queued");
        std::thread::sleep(Duration::from_millis(200));
    }
    let events = log_events(&x, &id3);
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
