//! The bad inputs of the foundation issue, through pecctl and on the raw socket: each refused
//! clearly, and none changes the store.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;

use super::support::*;
use super::{fixture, refused};

const MARIO: &str = "mario@pec.localhost";

/// A server with MARIO, and what `mailbox list` and `mailbox show` say before the refusals.
struct Unchanged {
    s: Server,
    before: (serde_json::Value, serde_json::Value),
}

impl Unchanged {
    fn start() -> Unchanged {
        let s = server().users(&[MARIO]).start();
        let before = snapshot(&s);
        Unchanged { s, before }
    }

    /// The refused requests changed nothing and stored no message.
    fn check(&self) {
        assert_eq!(
            snapshot(&self.s),
            self.before,
            "refused requests changed nothing"
        );
        assert!(self.s.json(&["status"])["messages"] == 0);
    }
}

fn snapshot(s: &Server) -> (serde_json::Value, serde_json::Value) {
    (
        s.json(&["mailbox", "list"]),
        s.json(&["mailbox", "show", MARIO]),
    )
}

/// A greeted connection to the control socket.
fn connect(s: &Server) -> (UnixStream, BufReader<UnixStream>) {
    let sock = UnixStream::connect(s.socket()).unwrap();
    let mut reader = BufReader::new(sock.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let greeting: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(greeting["pecd_control"], 1);
    (sock, reader)
}

fn read_json(reader: &mut BufReader<UnixStream>) -> serde_json::Value {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    serde_json::from_str(&line).unwrap()
}

/// The server closed the connection.
fn closed(reader: &mut BufReader<UnixStream>) -> bool {
    let mut rest = String::new();
    reader.read_line(&mut rest).unwrap_or(0) == 0
}

#[test]
fn mailbox_create_refuses_foreign_malformed_duplicate_and_weak() {
    let u = Unchanged::start();
    // Address outside our domains, malformed address, duplicate, weak password.
    for (address, expect) in [
        ("someone@gmail.com", "not one of ours"),
        ("not an address", "address"),
        (MARIO, "already exists"),
    ] {
        let out = u.s.pecctl(
            &["--json", "mailbox", "create", address, "--password-stdin"],
            &format!("{PASSWORD}\n"),
        );
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            doc["error"]["message"].as_str().unwrap().contains(expect),
            "{doc}"
        );
    }
    let doc = refused(
        &u.s,
        &[
            "mailbox",
            "create",
            "luigi@pec.localhost",
            "--password-stdin",
        ],
        "password\n",
        "weak_password",
    );
    assert_eq!(
        doc["error"]["details"].as_array().unwrap().len(),
        3,
        "{doc}"
    );
    u.check();
}

#[test]
fn mailbox_import_refuses_what_is_not_a_message_and_an_unknown_folder() {
    let u = Unchanged::start();
    // A non-RFC 5322 file and a binary file are refused.
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("image.png");
    std::fs::write(&binary, b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap();
    let out = u.s.pecctl(
        &[
            "--json",
            "mailbox",
            "import",
            MARIO,
            &fixture("notes.txt"),
            binary.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["failed"].as_array().unwrap().len(), 2);
    assert!(
        doc["failed"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["error"]["code"] == "not_rfc5322"),
        "{doc}"
    );
    let out = u.s.pecctl(
        &[
            "mailbox",
            "import",
            MARIO,
            "--folder",
            "Nowhere",
            &fixture("plain-lf.eml"),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no such folder"),
        "{}",
        text(&out)
    );
    u.check();
}

#[test]
fn a_bad_argument_on_the_command_line_is_a_usage_error_and_sends_nothing() {
    let u = Unchanged::start();
    let out =
        u.s.pecctl(&["mailbox", "set", MARIO, "--sender-per-minute", "0"], "");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    u.check();
}

#[test]
fn the_socket_refuses_unknown_commands_bad_arguments_and_oversized_imports() {
    let u = Unchanged::start();
    let (mut sock, mut reader) = connect(&u.s);
    let mut ask = |request: &[u8]| {
        sock.write_all(request).unwrap();
        read_json(&mut reader)
    };
    let r = ask(b"{\"command\":\"mailbox.explode\"}\n");
    assert_eq!(
        (r["ok"].as_bool(), r["error"]["code"].as_str()),
        (Some(false), Some("unknown_command"))
    );
    let r = ask(b"{\"command\":\"mailbox.show\"}\n");
    assert_eq!(r["error"]["code"], "bad_request");
    let r = ask(b"{\"command\":\"mailbox.set\",\"address\":\"mario@pec.localhost\",\"sender_per_minute\":0}\n");
    assert_eq!(r["error"]["code"], "invalid_value");
    let r = ask(b"{\"command\":\"mailbox.import\",\"address\":\"mario@pec.localhost\",\"size\":999999999999}\n");
    assert_eq!(r["error"]["code"], "too_large");
    u.check();
}

#[test]
fn a_line_that_is_not_json_is_answered_then_the_connection_closed() {
    let u = Unchanged::start();
    // It might have announced raw bytes.
    let (mut sock, mut reader) = connect(&u.s);
    sock.write_all(b"this is not json\n").unwrap();
    let r = read_json(&mut reader);
    assert_eq!(r["error"]["code"], "bad_request");
    assert!(closed(&mut reader));
    u.check();
}

#[test]
fn an_oversized_line_is_answered_then_the_connection_closed() {
    let u = Unchanged::start();
    let (mut sock, mut reader) = connect(&u.s);
    let huge = vec![b'x'; 200 * 1024];
    let _ = sock.write_all(&huge);
    let r = read_json(&mut reader);
    assert_eq!(r["error"]["code"], "request_too_long");
    assert!(
        closed(&mut reader),
        "connection closed after an oversized line"
    );
    u.check();
}

#[test]
fn a_client_vanishing_in_the_middle_of_an_import_leaves_nothing_behind() {
    let u = Unchanged::start();
    let (mut sock, reader) = connect(&u.s);
    sock.write_all(b"{\"command\":\"mailbox.import\",\"address\":\"mario@pec.localhost\",\"size\":5000}\nFrom: a@b.it\r\n\r\nhalf").unwrap();
    drop(sock);
    drop(reader);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !u
        .s
        .log()
        .contains("disconnected in the middle of an import")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "server never saw the disconnect"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    u.check();
}
