//! Two pecd processes as two providers (PEC.md §6.2–§6.6, §8, §9.3): X (pec.x.test) and Y
//! (pec.y.test), each with the other in its provider index and the other's CA among its trust
//! anchors, and static routes to each other's SMTP port. A third identity, Z, exists only as a
//! key: X lists it (a provider that never answers), Y does not (a forger). X also routes
//! esterno.test to a bare SMTP server a test may start ([`TwoProviders::esterno`]).
//!
//! Every test gets its own pair, in its own temporary directories and on its own ports.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pecd_signer::inspect::classify;
use pecd_signer::{Kind, ProviderEntry};

use super::pec::{imap, provider_identity};
use super::smtp::Conn;
use super::{free_port, server, tool, Server, ServerConfig, PASSWORD, PECD};

pub const ANNA: &str = "anna@pec.x.test";
pub const BRUNO: &str = "bruno@pec.y.test";
pub const GHOST: &str = "ghost@pec.y.test";
pub const ZENO: &str = "zeno@pec.z.test";
pub const X_SERVICE: &str = "posta-certificata@pec.x.test";
pub const Y_SERVICE: &str = "posta-certificata@pec.y.test";

/// One provider: its server and its configuration without the clock offset.
pub struct Peer {
    pub server: Server,
    config: ServerConfig,
}

impl Peer {
    /// A provider on a fixed SMTP port with static `routes`, fast retries and timers; its
    /// index is `providers.ldif` and its trust anchors `anchors.pem` (written later).
    fn new(name: &str, domain: &str, smtp: u16, routes: &[(&str, u16)]) -> Peer {
        let mut config = ServerConfig::new()
            .provider(name, domain)
            .smtp_port(smtp)
            .index()
            .trust_anchors("anchors.pem");
        for (domain, port) in routes {
            config = config.route(domain, format!("127.0.0.1:{port}"));
        }
        let server = server().config(|_| config.clone()).prepare();
        let p = Peer { server, config };
        p.write_config(0);
        p
    }

    fn write_config(&self, offset: i64) {
        self.server
            .write_config(&self.config.clone().extra(&format!(
                "\n[pec]\nclock_offset_seconds = {offset}\ntimer_interval_seconds = 1\n\n\
             [relay]\nretry_initial_seconds = 1\nretry_max_seconds = 2\ninterval_seconds = 1\n\
             timeout_seconds = 10\n"
            )));
    }

    pub fn dir(&self) -> &Path {
        self.server.dir.path()
    }

    /// Our entry as `pecd index export` prints it.
    pub fn export(&self) -> String {
        tool(Command::new(PECD).args([
            "index",
            "export",
            "--config",
            self.server.config().to_str().unwrap(),
        ]))
    }

    pub fn inbox(&self, user: &str) -> Vec<Vec<u8>> {
        imap(&self.server, user, "INBOX")
    }

    pub fn ca(&self) -> PathBuf {
        self.server.ca()
    }

    /// Stops the provider and starts it again with its clock moved by `offset` seconds.
    pub fn restart(&mut self, offset: i64) {
        self.server.terminate();
        self.write_config(offset);
        self.server.spawn();
    }
}

/// Z's signing identity, PEM: X lists it, Y does not.
pub struct Identity {
    pub cert: Vec<u8>,
    pub key: Vec<u8>,
    _dir: tempfile::TempDir,
}

/// X and Y running, each knowing the other (index entry, CA) after a SIGHUP; anna on X and
/// bruno on Y, and both service mailboxes readable with [`PASSWORD`].
pub struct TwoProviders {
    pub x: Peer,
    pub y: Peer,
    pub z: Identity,
    /// Y's SMTP port, for envelopes a test sends to Y itself.
    pub y_port: u16,
    /// The port X routes esterno.test to, held until [`TwoProviders::esterno`] serves it.
    esterno: Option<TcpListener>,
}

impl TwoProviders {
    pub fn start() -> TwoProviders {
        let (x_port, y_port) = (free_port(), free_port());
        // Z's route is a port nobody listens on: a peer that never answers.
        let dead = free_port();
        let esterno = TcpListener::bind("127.0.0.1:0").unwrap();
        let esterno_port = esterno.local_addr().unwrap().port();
        let mut x = Peer::new(
            "Provider X",
            "pec.x.test",
            x_port,
            &[
                ("pec.y.test", y_port),
                ("pec.z.test", dead),
                ("esterno.test", esterno_port),
            ],
        );
        let mut y = Peer::new(
            "Provider Y",
            "pec.y.test",
            y_port,
            &[("pec.x.test", x_port)],
        );
        // First start: each makes its development certificates, knowing nobody.
        x.server.spawn();
        y.server.spawn();
        let z = z_identity();
        exchange(&x, &y, &z);
        x.server.create_mailbox(ANNA);
        y.server.create_mailbox(BRUNO);
        x.server.set_password(X_SERVICE);
        y.server.set_password(Y_SERVICE);
        TwoProviders {
            x,
            y,
            z,
            y_port,
            esterno: Some(esterno),
        }
    }

    /// Starts the esterno.test server: it accepts one session and returns what it received.
    pub fn esterno(&mut self) -> std::thread::JoinHandle<Received> {
        esterno_server(self.esterno.take().expect("one esterno session per test"))
    }
}

fn z_identity() -> Identity {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) =
        provider_identity(dir.path(), "Provider Z", "posta-certificata@pec.z.test", 30);
    Identity {
        cert: std::fs::read(cert).unwrap(),
        key: std::fs::read(key).unwrap(),
        _dir: dir,
    }
}

/// Each adds the other's exported entry and CA (X also Z's), then reloads on SIGHUP
/// (PEC.md §8.3); waits until both indexes are in force.
fn exchange(x: &Peer, y: &Peer, z: &Identity) {
    let z_entry = ProviderEntry::own(
        "Provider Z",
        &openssl::x509::X509::from_pem(&z.cert).unwrap(),
        "posta-certificata@pec.z.test",
        &["pec.z.test".to_string()],
    );
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
        [&both[..], &z.cert[..]].concat(),
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
}

/// Waits until `user`'s INBOX at `p` holds at least `n` messages; returns them.
pub fn wait_inbox(p: &Peer, user: &str, n: usize) -> Vec<Vec<u8>> {
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

pub fn header(m: &[u8], name: &str) -> String {
    pecd_signer::mime::header(m, name).unwrap_or_default()
}

/// The messages of `list` whose kind is `kind`.
pub fn of_kind(list: &[Vec<u8>], kind: Kind) -> Vec<&Vec<u8>> {
    list.iter().filter(|m| classify(m) == Some(kind)).collect()
}

/// Submits a message of `from` at `p`; returns the PEC msgid of the 250 reply.
pub async fn submit(p: &Peer, from: &str, to: &[&str], subject: &str) -> String {
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

/// Sends `message` from anna to bruno straight to Y's port 25, as provider `helo`.
pub async fn send_to_y(pair: &TwoProviders, helo: &str, message: Vec<u8>) -> String {
    let addr = format!("127.0.0.1:{}", pair.y_port).parse().unwrap();
    let (mut c, _) = Conn::plain(addr).await;
    c.cmd(&format!("EHLO {helo}")).await;
    c.send_message(ANNA, &[BRUNO], &String::from_utf8(message).unwrap())
        .await
}

pub fn trace(p: &Peer, id: &str) -> serde_json::Value {
    p.server.json(&["trace", id])
}

pub fn state_of(t: &serde_json::Value, address: &str) -> String {
    t["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == address)
        .map(|r| r["state"].as_str().unwrap().to_string())
        .unwrap_or_default()
}

pub fn wait_state(p: &Peer, id: &str, address: &str, state: &str) {
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
pub fn log_events(p: &Peer, id: &str) -> Vec<String> {
    let log = p.server.json(&["log", "search", "--msgid", id]);
    log.as_array()
        .unwrap()
        .iter()
        .map(|r| r["event"].as_str().unwrap().to_string())
        .collect()
}

pub fn queue_len(p: &Peer) -> usize {
    p.server.json(&["queue", "list"]).as_array().unwrap().len()
}

/// What the esterno server received: MAIL FROM, RCPT TO, the message.
pub type Received = (String, Vec<String>, Vec<u8>);

/// A bare SMTP server for an esterno domain (no STARTTLS, as much of the Internet): accepts
/// one session on `listener` and returns what it received.
fn esterno_server(listener: TcpListener) -> std::thread::JoinHandle<Received> {
    use std::io::{BufRead, BufReader, Write};
    std::thread::spawn(move || {
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
                data = read_data(&mut input);
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
    })
}

/// The lines of a DATA phase up to the lone dot, dot-unstuffed.
fn read_data(input: &mut impl std::io::BufRead) -> Vec<u8> {
    let mut data = Vec::new();
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
    data
}
