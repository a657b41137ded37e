//! Certificate revocation (PEC.md §6.3 step 3, §9.3 step 4) and the SIGHUP reloads that go
//! with it: `peers.crls` and `pecd verify --crls`, an envelope of a peer whose certificate a
//! CRL revokes arriving at port 25, and the TLS server certificate replaced without a restart.
//!
//! The peer P (pec.p.test) exists only as a CA made with the openssl command and a signing
//! identity it issued; its envelopes are built with `pecd_signer` and sent over plain SMTP.

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use openssl::x509::{X509Crl, X509};
use pecd_signer::build::{self, Document, Facts, Provider};
use pecd_signer::inspect::classify;
use pecd_signer::{Destinatario, Kind, Moment, ProviderEntry, ReceiptType, Signer};
use rustls_pki_types::ServerName;
use support::pec::imap;
use support::smtp::{tls_config, Conn};
use support::{server, text, tool, Server, ServerConfig, PECD};

const LUIGI: &str = "luigi@pec.localhost";
const MARIO: &str = "mario@pec.p.test";
const P_SERVICE: &str = "posta-certificata@pec.p.test";

/// A CA made with the openssl command in its own directory, with the tiny `openssl ca`
/// database that `-revoke` and `-gencrl` need.
struct TestCa {
    dir: PathBuf,
}

impl TestCa {
    fn new(parent: &Path, name: &str) -> TestCa {
        let ca = TestCa {
            dir: parent.join(name),
        };
        std::fs::create_dir(&ca.dir).unwrap();
        std::fs::write(ca.file("index.txt"), "").unwrap();
        std::fs::write(ca.file("crlnumber"), "01\n").unwrap();
        std::fs::write(
            ca.file("ca.cnf"),
            format!(
                "[ca]\ndefault_ca = test\n[test]\ndatabase = {}\ncrlnumber = {}\n\
                 default_md = sha256\ndefault_crl_days = 30\n",
                ca.path("index.txt"),
                ca.path("crlnumber")
            ),
        )
        .unwrap();
        openssl(&format!(
            "req -x509 -newkey rsa:2048 -nodes -days 30 -subj /O={name}/CN={name}-CA \
             -addext basicConstraints=critical,CA:TRUE \
             -addext keyUsage=critical,keyCertSign,cRLSign -keyout {} -out {}",
            ca.path("ca.key"),
            ca.path("ca.pem")
        ));
        ca
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn path(&self, name: &str) -> String {
        self.file(name).to_str().unwrap().to_string()
    }

    /// A certificate with serial `serial` and subjectAltName `san`: its certificate and key
    /// files.
    fn issue(&self, serial: u32, subject: &str, san: &str) -> (PathBuf, PathBuf) {
        let (key, csr, cert) = (
            self.file(&format!("{serial}.key")),
            self.path(&format!("{serial}.csr")),
            self.file(&format!("{serial}.pem")),
        );
        openssl(&format!(
            "req -newkey rsa:2048 -nodes -subj {subject} -addext subjectAltName={san} \
             -keyout {} -out {csr}",
            key.display()
        ));
        openssl(&format!(
            "x509 -req -in {csr} -CA {} -CAkey {} -set_serial {serial} -days 30 \
             -copy_extensions copy -out {}",
            self.path("ca.pem"),
            self.path("ca.key"),
            cert.display()
        ));
        (cert, key)
    }

    fn revoke(&self, cert: &Path) {
        openssl(&format!(
            "ca -config {} -revoke {} -keyfile {} -cert {}",
            self.path("ca.cnf"),
            cert.display(),
            self.path("ca.key"),
            self.path("ca.pem")
        ));
    }

    /// The CRL of everything revoked so far, PEM.
    fn crl(&self) -> Vec<u8> {
        let out = self.path("crl.pem");
        openssl(&format!(
            "ca -config {} -gencrl -keyfile {} -cert {} -out {out}",
            self.path("ca.cnf"),
            self.path("ca.key"),
            self.path("ca.pem")
        ));
        std::fs::read(out).unwrap()
    }
}

/// Runs the openssl command; `args` split on spaces (temp paths have none).
fn openssl(args: &str) {
    tool(Command::new("openssl").args(args.split_whitespace()));
}

/// The peer P: its CA and the signing identity the CA issued.
struct Peer {
    ca: TestCa,
    cert: PathBuf,
    signer: Signer,
}

impl Peer {
    fn new(dir: &Path) -> Peer {
        let ca = TestCa::new(dir, "ProviderP");
        let (cert, key) = ca.issue(
            0x5001,
            "/O=ProviderP/CN=posta-certificata",
            &format!("email:{P_SERVICE}"),
        );
        let signer = Signer::from_pem(
            &std::fs::read(&cert).unwrap(),
            &std::fs::read(&key).unwrap(),
            &std::fs::read(ca.file("ca.pem")).unwrap(),
        )
        .unwrap();
        Peer { ca, cert, signer }
    }

    /// P's entry for our provider index.
    fn ldif(&self) -> String {
        let cert = X509::from_pem(&std::fs::read(&self.cert).unwrap()).unwrap();
        ProviderEntry::own("Provider P", &cert, P_SERVICE, &["pec.p.test".to_string()]).to_ldif()
    }

    /// An envelope of P for `LUIGI`, with PEC msgid `pec_id`.
    fn envelope(&self, pec_id: &str) -> Vec<u8> {
        let original = format!(
            "From: {MARIO}\r\nTo: {LUIGI}\r\nSubject: {pec_id}\r\n\
             Message-ID: <{pec_id}@client.test>\r\n\r\nciao\r\n"
        );
        let facts = Facts {
            pec_id: pec_id.to_string(),
            msgid: Some(format!("<{pec_id}@client.test>")),
            sender: MARIO.into(),
            destinatari: vec![Destinatario {
                address: LUIGI.into(),
                certificato: true,
            }],
            risposte: MARIO.into(),
            subject: pec_id.to_string(),
            receipt: ReceiptType::Completa,
        };
        let provider = Provider {
            name: "Provider P".into(),
            service_address: P_SERVICE.into(),
        };
        let doc = Document::Envelope {
            original: original.as_bytes(),
        };
        build::build(&self.signer, &provider, &facts, &doc, Moment::now(), "")
            .unwrap()
            .bytes
    }
}

/// The test configuration with `[peers]` trusting P and reading the CRLs of `crls`.
fn config_with_peer(crls: &[&Path]) -> ServerConfig {
    ServerConfig::new()
        .index()
        .trust_anchors("ProviderP/ca.pem")
        .crls(crls)
        .route("pec.p.test", "127.0.0.1:9")
}

fn pecd_verify(args: &[&str]) -> std::process::Output {
    Command::new(PECD)
        .arg("verify")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn pecd_verify_refuses_a_revoked_signer() {
    let s = server().prepare();
    let dir = s.dir.path();
    let p = Peer::new(dir);
    let message = dir.join("envelope.eml");
    std::fs::write(&message, p.envelope("crl.1@pec.p.test")).unwrap();
    let empty = dir.join("empty.crl");
    std::fs::write(&empty, p.ca.crl()).unwrap();
    p.ca.revoke(&p.cert);
    // The revoking list in DER, the other form a CRL distribution point serves.
    let revoked = dir.join("revoked.crl");
    let der = X509Crl::from_pem(&p.ca.crl()).unwrap().to_der().unwrap();
    std::fs::write(&revoked, der).unwrap();
    let (config, anchors) = (s.config(), p.ca.path("ca.pem"));
    let (config, message) = (config.to_str().unwrap(), message.to_str().unwrap());
    let base = ["--config", config, "--trust-anchors", &anchors];

    let out = pecd_verify(&[&base[..], &[message]].concat());
    assert!(out.status.success(), "no CRL: valid\n{}", text(&out));
    let out = pecd_verify(&[&base[..], &["--crls", empty.to_str().unwrap(), message]].concat());
    assert!(
        out.status.success(),
        "a CRL without it: valid\n{}",
        text(&out)
    );

    let out = pecd_verify(&[&base[..], &["--crls", revoked.to_str().unwrap(), message]].concat());
    assert!(!out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("NOT VALID"), "{stdout}");
    assert!(
        stdout.contains("chain:      certificate revoked: "),
        "{stdout}"
    );

    // The configuration key applies when --config is given and no --crls.
    s.write_config(&config_with_peer(&[&empty, &revoked]));
    let out = pecd_verify(&["--config", config, "--json", message]);
    assert!(!out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let chain = report[0]["report"]["chain"]["Err"]
        .as_str()
        .unwrap_or_default();
    assert!(chain.starts_with("certificate revoked"), "{report}");

    // A list that does not parse is an error naming the file, not a silent pass.
    std::fs::write(&empty, "garbage").unwrap();
    let out = pecd_verify(&["--config", config, message]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("empty.crl"),
        "{}",
        text(&out)
    );
}

/// Waits until the pecd log holds `needle` at least `n` times.
/// Sends SIGHUP and waits for one more `needle` in the log than before: every SIGHUP logs
/// the outcome of each reload, so a bare count would see the earlier signals' lines.
fn sighup_and_wait(s: &Server, needle: &str) {
    let before = s.log().matches(needle).count();
    s.signal(libc::SIGHUP);
    wait_log(s, needle, before + 1);
}

fn wait_log(s: &Server, needle: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.log().matches(needle).count() < n {
        assert!(
            Instant::now() < deadline,
            "{needle:?} not logged {n} times:\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until `LUIGI`'s INBOX holds `n` messages; returns the last one.
fn wait_inbox(s: &Server, n: usize) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut got = imap(s, LUIGI, "INBOX");
        if got.len() >= n {
            return got.pop().unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "{n} messages expected:\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

async fn send_from_peer(s: &Server, message: Vec<u8>) {
    let (mut c, _) = Conn::plain(s.listener("smtp")).await;
    c.cmd("EHLO mx.pec.p.test").await;
    let reply = c
        .send_message(MARIO, &[LUIGI], &String::from_utf8(message).unwrap())
        .await;
    assert!(reply.starts_with("250"), "{reply}");
}

/// The leaf certificate a TLS listener serves, verified against `ca`.
async fn served_leaf(addr: SocketAddr, ca: &Path) -> std::io::Result<Vec<u8>> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let connector = tokio_rustls::TlsConnector::from(tls_config(ca));
    let tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await?;
    Ok(tls.get_ref().1.peer_certificates().unwrap()[0].to_vec())
}

fn first_der(pem: &Path) -> Vec<u8> {
    X509::from_pem(&std::fs::read(pem).unwrap())
        .unwrap()
        .to_der()
        .unwrap()
}

#[tokio::test]
async fn revoked_peer_envelope_is_an_anomaly_and_sighup_reloads_crls_and_tls() {
    let mut s = server().prepare();
    let dir = s.dir.path().to_path_buf();
    let p = Peer::new(&dir);
    let crl = dir.join("peer.crl");
    std::fs::write(&crl, p.ca.crl()).unwrap();
    std::fs::write(dir.join("providers.ldif"), p.ldif()).unwrap();
    s.write_config(&config_with_peer(&[&crl]));
    s.spawn();
    s.create_mailbox(LUIGI);

    // With P's (empty) list loaded, P's envelope is taken in charge.
    send_from_peer(&s, p.envelope("crl.1@pec.p.test")).await;
    assert_eq!(classify(&wait_inbox(&s, 1)), Some(Kind::Envelope));

    // The operator's job fetches a list revoking P's certificate and signals pecd.
    p.ca.revoke(&p.cert);
    std::fs::write(&crl, p.ca.crl()).unwrap();
    sighup_and_wait(&s, "revocation lists reloaded");
    send_from_peer(&s, p.envelope("crl.2@pec.p.test")).await;
    assert_eq!(classify(&wait_inbox(&s, 2)), Some(Kind::Anomaly));
    let log = s.json(&["log", "search", "--address", LUIGI]).to_string();
    assert!(log.contains("certificate revoked"), "{log}");

    // A list that no longer parses: logged, and the revoking one stays in force.
    std::fs::write(&crl, "<html>502 Bad Gateway</html>").unwrap();
    sighup_and_wait(&s, "SIGHUP: reload failed");
    assert!(s.log().contains("peer.crl"), "{}", s.log());
    send_from_peer(&s, p.envelope("crl.3@pec.p.test")).await;
    assert_eq!(classify(&wait_inbox(&s, 3)), Some(Kind::Anomaly));

    // TLS: every listener serves the development certificate.
    let (server_pem, server_key) = (dir.join("certs/server.pem"), dir.join("certs/server.key"));
    let old = first_der(&server_pem);
    let listeners = ["submissions", "imaps", "pop3s"].map(|l| s.listener(l));
    for addr in listeners {
        assert_eq!(served_leaf(addr, &s.ca()).await.unwrap(), old);
    }
    // A renewed certificate from another CA, new serial and subject.
    let renewal = TestCa::new(&dir, "Renewal");
    let (new_cert, new_key) = renewal.issue(0x7777, "/CN=renewed", "DNS:localhost");
    let new = first_der(&new_cert);
    assert_ne!(new, old);

    // The certificate written, the key not yet: they do not match, the old pair stays.
    std::fs::copy(&new_cert, &server_pem).unwrap();
    sighup_and_wait(&s, "SIGHUP: TLS certificate not reloaded");
    assert_eq!(served_leaf(listeners[0], &s.ca()).await.unwrap(), old);

    std::fs::copy(&new_key, &server_key).unwrap();
    sighup_and_wait(&s, "SIGHUP: TLS certificate reloaded");
    let renewal_ca = renewal.file("ca.pem");
    for addr in listeners {
        assert_eq!(served_leaf(addr, &renewal_ca).await.unwrap(), new);
        assert!(
            served_leaf(addr, &s.ca()).await.is_err(),
            "old CA no longer"
        );
    }
    assert!(s.terminate().success());
}
