//! Migration import (issue 20): 20,000 messages of 10 KB in a real Dovecot on loopback,
//! imported by the real pecd (release build) through `pecctl migrate start`: messages per
//! second and pecd's peak resident memory (VmHWM), against `mbsync` (isync) copying the same
//! mailbox to a local Maildir in the same run, with its own peak memory (GNU time): with
//! mbsync's default fsync of each message (pecd's batches are durable too), and without.
//!
//! Run: `cargo bench --bench migrate` (`cargo test --benches` runs a short form, 500
//! messages).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../tests/support/config.rs"]
mod config;
#[path = "../tests/migrate/dovecot.rs"]
#[allow(dead_code)]
mod dovecot;

/// What tests/migrate/dovecot.rs needs from the tests' support module.
mod support {
    pub fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    pub fn tool(cmd: &mut std::process::Command) -> String {
        let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        assert!(
            out.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

use dovecot::{Dovecot, OldMessage};

const ADDRESS: &str = "scuola@pec.example.it";
const OLD_PASSWORD: &str = "Vecchia-Pass1!";
const PASSWORD: &str = "Bench-Pass9!";

fn messages(n: usize) -> Vec<OldMessage> {
    let line = "0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789\r\n";
    let body = line.repeat(10 * 1024 / line.len());
    (0..n)
        .map(|i| OldMessage {
            bytes: format!(
                "From: <a{i}@example.it>\r\nTo: <{ADDRESS}>\r\nSubject: load {i}\r\n\
                 Message-ID: <load{i}@old.example.it>\r\n\r\n{body}"
            )
            .into_bytes(),
            flags: if i.is_multiple_of(2) {
                "S".into()
            } else {
                String::new()
            },
            keywords: Vec::new(),
            date: 1_790_000_000 + i as i64,
        })
        .collect()
}

fn pecctl(socket: &Path, args: &[&str], stdin: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pecctl"))
        .arg("--socket")
        .arg(socket)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "pecctl {args:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// A /proc/<pid>/status figure in KiB.
fn proc_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// pecd importing the mailbox: (messages/s, peak RSS KiB, RSS before the import KiB).
fn pecd_import(old: &Dovecot, n: usize) -> (f64, u64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let text = config::ServerConfig::new()
        .extra(&format!(
            "\n[migration]\ndomains = [\"pec.example.it\"]\ncutover = \"2099-01-01T00:00:00+01:00\"\n\
             tls_roots = \"{}\"\n",
            old.ca().display()
        ))
        .render(dir.path());
    std::fs::write(dir.path().join("pecd.toml"), text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pecd"))
        .args(["serve", "--config"])
        .arg(dir.path().join("pecd.toml"))
        .env("RUST_LOG", "warn")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let socket = dir.path().join("pecd.sock");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(Instant::now() < deadline, "pecd did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    pecctl(
        &socket,
        &["mailbox", "create", ADDRESS, "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    let before = proc_kib(child.id(), "VmRSS:");
    let start = Instant::now();
    let out = pecctl(
        &socket,
        &[
            "--json",
            "migrate",
            "start",
            ADDRESS,
            "--from",
            &old.url(),
            "--password-stdin",
        ],
        &format!("{OLD_PASSWORD}\n"),
    );
    let rate = n as f64 / start.elapsed().as_secs_f64();
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["state"], "done", "{doc}");
    assert_eq!(doc["imported"], n as u64, "{doc}");
    let peak = proc_kib(child.id(), "VmHWM:");
    let _ = child.kill();
    let _ = child.wait();
    (rate, peak, before)
}

/// mbsync copying the mailbox to a Maildir, each message fsynced (its default, as pecd's
/// commits are durable) or not: (messages/s, peak RSS KiB).
fn mbsync_copy(old: &Dovecot, n: usize, fsync: bool) -> (f64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let fsync = if fsync { "yes" } else { "no" };
    let rc = format!(
        "FSync {fsync}\n\nIMAPAccount old\nHost localhost\nPort {}\nUser {ADDRESS}\nPass {OLD_PASSWORD}\n\
         SSLType IMAPS\nCertificateFile {}\n\nIMAPStore old-remote\nAccount old\n\n\
         MaildirStore local\nPath {d}/mail/\nInbox {d}/mail/INBOX\n\n\
         Channel copy\nFar :old-remote:\nNear :local:\nPatterns *\nCreate Near\nSync Pull\n\
         SyncState *\n",
        old.port,
        old.ca().display()
    );
    std::fs::write(dir.path().join("mbsyncrc"), rc).unwrap();
    std::fs::create_dir_all(dir.path().join("mail")).unwrap();
    let start = Instant::now();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "maxrss=%M", "mbsync", "-q", "-c"])
        .arg(dir.path().join("mbsyncrc"))
        .arg("-a")
        .output()
        .expect("mbsync (isync) and GNU time");
    let rate = n as f64 / start.elapsed().as_secs_f64();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "mbsync: {err}");
    let copied = std::fs::read_dir(dir.path().join("mail/INBOX/cur"))
        .unwrap()
        .count()
        + std::fs::read_dir(dir.path().join("mail/INBOX/new"))
            .unwrap()
            .count();
    assert_eq!(copied, n, "mbsync copied every message");
    let peak = err
        .lines()
        .find_map(|l| l.strip_prefix("maxrss="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    (rate, peak)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick") || !args.iter().any(|a| a == "--bench");
    let n = if quick { 500 } else { 20_000 };
    let old = Dovecot::start(&[(ADDRESS, OLD_PASSWORD)]);
    old.fill(ADDRESS, "INBOX", &messages(n));
    // A first pass warms Dovecot's indexes and the page cache for both clients alike.
    let (mbsync_rate, mbsync_peak) = mbsync_copy(&old, n, true);
    let (rate, peak, before) = pecd_import(&old, n);
    let (mbsync_rate2, _) = mbsync_copy(&old, n, true);
    let mbsync_rate = mbsync_rate.max(mbsync_rate2);
    let (unsynced, _) = mbsync_copy(&old, n, false);
    println!(
        "migrate: {n} messages of 10 KB from Dovecot on loopback: pecd {rate:.0}/s, mbsync {mbsync_rate:.0}/s (pecd at {:.2}x); mbsync without fsync {unsynced:.0}/s (pecd at {:.2}x)",
        rate / mbsync_rate,
        rate / unsynced
    );
    println!(
        "migrate: peak RSS pecd {:.1} MB (before the import {:.1} MB), mbsync {:.1} MB",
        peak as f64 / 1024.0,
        before as f64 / 1024.0,
        mbsync_peak as f64 / 1024.0
    );
}
