//! pecctl and the control socket against the real pecd: one test per command (its result,
//! its `--json` document and its exit code: 0 done, 1 refused, 2 usage), the bad inputs of the
//! foundation issue, each refused clearly and changing nothing, and the socket's own rules.

mod support;

#[path = "control/mailbox.rs"]
mod mailbox;
#[path = "control/records.rs"]
mod records;
#[path = "control/refusals.rs"]
mod refusals;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;

use support::cli::*;
use support::*;

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
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
