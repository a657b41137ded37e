//! pecctl and the control socket against the real pecd: every command, with --json, and the
//! bad inputs of the foundation issue, each refused clearly and changing nothing.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;

use support::*;

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn mailbox_lifecycle_through_pecctl() {
    let s = server().start();
    s.create_mailbox("Mario.Rossi@PEC.localhost");

    let shown = s.json(&["mailbox", "show", "mario.rossi@pec.localhost"]);
    assert_eq!(shown["address"], "mario.rossi@pec.localhost");
    assert_eq!(shown["state"], "active");
    let folders: Vec<(String, Option<String>)> = shown["folders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().into(),
                f["special_use"].as_str().map(String::from),
            )
        })
        .collect();
    for (name, role) in [
        ("INBOX", None),
        ("Sent", Some("\\Sent")),
        ("Drafts", Some("\\Drafts")),
        ("Trash", Some("\\Trash")),
        ("Junk", Some("\\Junk")),
        ("Archive", Some("\\Archive")),
    ] {
        assert!(
            folders.contains(&(name.to_string(), role.map(String::from))),
            "{name} in {folders:?}"
        );
    }

    // Import: LF file stored in CRLF form, date taken from the Date header.
    let imported = s.json(&[
        "mailbox",
        "import",
        "mario.rossi@pec.localhost",
        &fixture("plain-lf.eml"),
    ]);
    assert_eq!(imported["imported"][0]["uid"], 1);
    assert_eq!(imported["imported"][0]["folder"], "INBOX");
    let lf_len = std::fs::read(fixture("plain-lf.eml")).unwrap().len() as u64;
    let lines = std::fs::read(fixture("plain-lf.eml"))
        .unwrap()
        .iter()
        .filter(|&&b| b == b'\n')
        .count() as u64;
    assert_eq!(
        imported["imported"][0]["size"],
        lf_len + lines,
        "CRLF line endings counted"
    );
    let again = s.json(&[
        "mailbox",
        "import",
        "mario.rossi@pec.localhost",
        "--folder",
        "Archive",
        &fixture("plain-lf.eml"),
    ]);
    assert_eq!(again["imported"][0]["folder"], "Archive");

    let list = s.json(&["mailbox", "list"]);
    assert_eq!(list[0]["messages"], 2);
    assert_eq!(
        list[0]["used_bytes"].as_u64().unwrap(),
        2 * (lf_len + lines)
    );

    // Sender limit override, then back to the default.
    let set = s.json(&[
        "mailbox",
        "set",
        "mario.rossi@pec.localhost",
        "--sender-per-minute",
        "30",
    ]);
    assert_eq!(
        (
            set["sender_per_minute"].as_u64(),
            set["effective_sender_per_minute"].as_u64()
        ),
        (Some(30), Some(30))
    );
    let set = s.json(&[
        "mailbox",
        "set",
        "mario.rossi@pec.localhost",
        "--sender-per-minute",
        "default",
    ]);
    assert!(set["sender_per_minute"].is_null());
    assert_eq!(set["effective_sender_per_minute"], 6);

    // Password change: a weak one is refused with every rule listed; a strong one is taken.
    let out = s.pecctl(
        &[
            "mailbox",
            "passwd",
            "mario.rossi@pec.localhost",
            "--password-stdin",
        ],
        "aaaa\n",
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    for rule in [
        "at least 8 characters",
        "upper-case",
        "digit",
        "special character",
        "repeated more than twice",
    ] {
        assert!(err.contains(rule), "{rule} missing from {err}");
    }
    let out = s.pecctl(
        &[
            "mailbox",
            "passwd",
            "mario.rossi@pec.localhost",
            "--password-stdin",
        ],
        "Nuova-Pass7\n",
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        s.json(&["mailbox", "show", "mario.rossi@pec.localhost"])["password_changed_at"]
            .is_string()
    );

    let status = s.json(&["status"]);
    assert_eq!(
        (status["mailboxes"].as_u64(), status["messages"].as_u64()),
        // The provider's service mailbox (posta-certificata@, PEC.md §1.1) always exists.
        (Some(2), Some(2))
    );
    assert!(status["commits"].as_u64().unwrap() >= 1);

    let deleted = s.json(&["mailbox", "delete", "mario.rossi@pec.localhost"]);
    assert_eq!(deleted["messages"], 2);
    let left = s.json(&["mailbox", "list"]);
    assert!(
        left.as_array()
            .unwrap()
            .iter()
            .all(|m| m["address"] != "mario.rossi@pec.localhost"),
        "{left}"
    );
    let out = s.pecctl(&["mailbox", "show", "mario.rossi@pec.localhost"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no such mailbox"),
        "{}",
        text(&out)
    );
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let s = server().start();
    s.create_mailbox("mario@pec.localhost");
    let snapshot = || {
        (
            s.json(&["mailbox", "list"]),
            s.json(&["mailbox", "show", "mario@pec.localhost"]),
        )
    };
    let before = snapshot();

    // Address outside our domains, malformed address, duplicate, weak password.
    for (address, expect) in [
        ("someone@gmail.com", "not one of ours"),
        ("not an address", "address"),
        ("mario@pec.localhost", "already exists"),
    ] {
        let out = s.pecctl(
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
    let out = s.pecctl(
        &[
            "--json",
            "mailbox",
            "create",
            "luigi@pec.localhost",
            "--password-stdin",
        ],
        "password\n",
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["error"]["code"], "weak_password");
    assert_eq!(
        doc["error"]["details"].as_array().unwrap().len(),
        3,
        "{doc}"
    );

    // A non-RFC 5322 file and a binary file are refused; a good file in the same call lands.
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("image.png");
    std::fs::write(&binary, b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap();
    let out = s.pecctl(
        &[
            "--json",
            "mailbox",
            "import",
            "mario@pec.localhost",
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
    let out = s.pecctl(
        &[
            "mailbox",
            "import",
            "mario@pec.localhost",
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

    // Bad argument on the command line: usage error, nothing sent.
    let out = s.pecctl(
        &[
            "mailbox",
            "set",
            "mario@pec.localhost",
            "--sender-per-minute",
            "0",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));

    // Raw socket: unknown command, malformed JSON, bad arguments, then an oversized line.
    let mut sock = UnixStream::connect(s.socket()).unwrap();
    let mut reader = BufReader::new(sock.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let greeting: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(greeting["pecd_control"], 1);
    let mut ask = |request: &[u8]| {
        sock.write_all(request).unwrap();
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        serde_json::from_str::<serde_json::Value>(&line).unwrap()
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

    // A line that is not JSON might have announced raw bytes: answered, then closed.
    let mut sock = UnixStream::connect(s.socket()).unwrap();
    let mut reader = BufReader::new(sock.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    sock.write_all(b"this is not json\n").unwrap();
    let mut reply = String::new();
    reader.read_line(&mut reply).unwrap();
    let r: serde_json::Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(r["error"]["code"], "bad_request");
    let mut rest = String::new();
    assert_eq!(reader.read_line(&mut rest).unwrap_or(0), 0);

    let mut sock = UnixStream::connect(s.socket()).unwrap();
    let mut reader = BufReader::new(sock.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let huge = vec![b'x'; 200 * 1024];
    let _ = sock.write_all(&huge);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let r: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(r["error"]["code"], "request_too_long");
    let mut rest = String::new();
    assert_eq!(
        reader.read_line(&mut rest).unwrap_or(0),
        0,
        "connection closed after an oversized line"
    );

    // A client that vanishes in the middle of an import leaves nothing behind.
    let mut sock = UnixStream::connect(s.socket()).unwrap();
    let mut greeting = String::new();
    BufReader::new(sock.try_clone().unwrap())
        .read_line(&mut greeting)
        .unwrap();
    sock.write_all(b"{\"command\":\"mailbox.import\",\"address\":\"mario@pec.localhost\",\"size\":5000}\nFrom: a@b.it\r\n\r\nhalf").unwrap();
    drop(sock);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !s.log().contains("disconnected in the middle of an import") {
        assert!(
            std::time::Instant::now() < deadline,
            "server never saw the disconnect"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }

    assert_eq!(snapshot(), before, "refused requests changed nothing");
    assert!(s.json(&["status"])["messages"] == 0);
}

#[test]
fn an_oversized_file_is_refused_and_the_next_one_imported() {
    let s = server()
        .extra("\n[limits]\nmax_message_bytes = 2048\n")
        .users(&["mario@pec.localhost"])
        .start();
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.eml");
    std::fs::write(&big, message("big", 5000)).unwrap();
    // 1,900 bytes with LF endings, over 2,048 once they become CRLF.
    let lf = dir.path().join("lf.eml");
    let mut lf_text = String::from("From: a@pec.localhost\nSubject: lf\n\n");
    while lf_text.len() < 1900 {
        lf_text.push_str("short line\n");
    }
    std::fs::write(&lf, lf_text).unwrap();
    let args = ["--json", "mailbox", "import", "mario@pec.localhost"];
    let files = [
        big.to_str().unwrap(),
        lf.to_str().unwrap(),
        &fixture("plain-lf.eml"),
    ];
    let out = s.pecctl(&[&args[..], &files[..]].concat(), "");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let codes: Vec<_> = doc["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["error"]["code"].clone())
        .collect();
    assert_eq!(codes, vec!["too_large", "too_large"], "{doc}");
    assert_eq!(doc["imported"].as_array().unwrap().len(), 1, "{doc}");
}

#[test]
fn an_import_line_that_cannot_be_parsed_closes_the_connection() {
    let s = server().start();
    s.create_mailbox("mario@pec.localhost");
    let mut sock = UnixStream::connect(s.socket()).unwrap();
    let mut reader = BufReader::new(sock.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    // The body would hold a request; it must not be executed.
    let body = "{\"command\":\"mailbox.delete\",\"address\":\"mario@pec.localhost\"}\n";
    let request = format!(
        "{{\"command\":\"mailbox.import\",\"address\":\"mario@pec.localhost\",\"size\":{},\"flags\":[]}}\n{body}",
        body.len()
    );
    sock.write_all(request.as_bytes()).unwrap();
    let mut reply = String::new();
    reader.read_line(&mut reply).unwrap();
    assert!(reply.contains("bad_request"), "{reply}");
    let mut rest = String::new();
    assert_eq!(
        reader.read_line(&mut rest).unwrap_or(0),
        0,
        "closed, not reading the body as requests"
    );
    // Ours and the provider's service mailbox.
    assert_eq!(s.json(&["mailbox", "list"]).as_array().unwrap().len(), 2);
}

#[test]
fn socket_is_private_and_a_second_pecd_refuses_the_same_data() {
    let mut s = server().start();
    let mode = std::fs::metadata(s.socket()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let certs = s.dir.path().join("certs");
    for f in [
        "ca.pem",
        "ca.key",
        "server.pem",
        "server.key",
        "signer.pem",
        "signer.key",
    ] {
        assert!(certs.join(f).exists(), "{f} created on first start");
    }
    let out = std::process::Command::new(PECD)
        .args(["serve", "--config"])
        .arg(s.config())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("in use by another pecd process"), "{err}");
    assert!(err.contains(&format!("pid {}", s.pid())), "{err}");
    // The first instance is untouched and still answers.
    assert_eq!(s.json(&["status"])["mailboxes"], 1, "the service mailbox");
    let status = s.terminate();
    assert!(status.success(), "clean exit on SIGTERM: {status}");
    assert!(!s.socket().exists(), "socket removed at shutdown");
    assert!(s.log().contains("pecd stopped"));
}

#[test]
fn sigterm_waits_for_an_import_in_flight() {
    let mut s = server().start();
    s.create_mailbox("mario@pec.localhost");
    let body = message("in-flight", 2_000_000);
    let mut sock = UnixStream::connect(s.socket()).unwrap();
    let mut reader = BufReader::new(sock.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let header = format!(
        "{{\"command\":\"mailbox.import\",\"address\":\"mario@pec.localhost\",\"size\":{}}}\n",
        body.len()
    );
    sock.write_all(header.as_bytes()).unwrap();
    sock.write_all(&body[..1000]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    s.signal(libc::SIGTERM);
    std::thread::sleep(std::time::Duration::from_millis(200));
    sock.write_all(&body[1000..]).unwrap();
    let mut reply = String::new();
    reader.read_line(&mut reply).unwrap();
    let r: serde_json::Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(r["ok"], true, "{reply}");
    let status = s.terminate_wait();
    assert!(status.success());
    s.spawn();
    assert_eq!(
        s.json(&["mailbox", "show", "mario@pec.localhost"])["messages"],
        1
    );
}

#[test]
fn bad_configuration_stops_the_start_with_file_and_key() {
    let s = server().prepare();
    let base = ServerConfig::new().render(s.dir.path());
    for (extra, key) in [
        (
            "\n[limits]\nsender_per_minute = \"six\"\n",
            "limits.sender_per_minute",
        ),
        ("\n[limits]\nsendr_per_minute = 6\n", "sendr_per_minute"),
        (
            "\n[limits]\nmax_message_bytes = -5\n",
            "limits.max_message_bytes",
        ),
        ("\nverbose = true\n", "verbose"),
    ] {
        std::fs::write(s.config(), format!("{base}{extra}")).unwrap();
        let out = std::process::Command::new(PECD)
            .args(["serve", "--config"])
            .arg(s.config())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&s.config().display().to_string()),
            "file named: {err}"
        );
        assert!(err.contains(key), "{key} named: {err}");
    }
    let broken = base.replace("[store]", "[store");
    std::fs::write(s.config(), broken).unwrap();
    let out = std::process::Command::new(PECD)
        .args(["serve", "--config"])
        .arg(s.config())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        !s.store_path().exists(),
        "nothing created for a refused configuration"
    );
    let missing = std::process::Command::new(PECD)
        .args(["serve", "--config", "/nonexistent/pecd.toml"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/pecd.toml"));
}
