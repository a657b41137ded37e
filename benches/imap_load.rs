//! IMAP load generator: the real pecd (release build) with a 10,000-message INBOX and a
//! 5,000-message INBOX, measured against NOOP round trips of the same session in the same run:
//! (a) FETCH of a 50-message header list (what Thunderbird and Outlook send to fill the message
//! list), (b) SELECT of the 5,000-message INBOX, (c) SEARCH over 10,000 messages on flags and on
//! headers (SUBJECT, FROM, HEADER Message-ID), with pecd's RSS after them (the header cache),
//! (d) resident memory per connection with 1,000 connections in IDLE, (e) the header list
//! (ENVELOPE) of 300 PEC-sized messages of 1 MB, first from disk and then from the header
//! cache, against a FETCH of one byte of each message's text, which reads each whole message.
//! Targets (issue 4): FETCH >= 2,000/s, SELECT >= 600/s, < 100 KB per idle connection.
//!
//! Run: `cargo bench --bench imap_load` (`cargo test --benches` runs a short form).

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::{pecctl, start, tls_connect, Tls, PASSWORD};
use pecd_control::client::Client;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::ClientConfig;

#[path = "../tests/support/smtp.rs"]
mod client;

const BIG: &str = "sink@pec.localhost";
const MEDIUM: &str = "medium@pec.localhost";
const LARGE: &str = "large@pec.localhost";

/// One IMAP connection with its read buffer and tag counter.
struct Conn {
    s: Tls,
    buf: Vec<u8>,
    n: u64,
}

impl Conn {
    async fn login(addr: std::net::SocketAddr, config: &Arc<ClientConfig>, user: &str) -> Conn {
        let s = tls_connect(addr, config).await;
        let mut c = Conn {
            s,
            buf: Vec::new(),
            n: 0,
        };
        c.line().await;
        c.cmd(&format!("LOGIN {user} {PASSWORD}")).await;
        c
    }

    async fn line(&mut self) -> Vec<u8> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                return self.buf.drain(..=i).collect();
            }
            let mut chunk = [0u8; 65536];
            let n = self.s.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends a command and reads to its tagged OK; returns the untagged lines seen.
    async fn cmd(&mut self, cmd: &str) -> usize {
        self.n += 1;
        let tag = format!("b{}", self.n);
        self.s
            .write_all(format!("{tag} {cmd}\r\n").as_bytes())
            .await
            .unwrap();
        let mut lines = 0;
        loop {
            let l = self.line().await;
            if l.starts_with(tag.as_bytes()) {
                assert!(
                    l[tag.len()..].starts_with(b" OK"),
                    "{cmd}: {}",
                    String::from_utf8_lossy(&l)
                );
                return lines;
            }
            lines += 1;
        }
    }
}

fn rate(n: usize, start: Instant) -> f64 {
    n as f64 / start.elapsed().as_secs_f64()
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
}

async fn fill(socket: &std::path::Path, user: &str, count: usize) {
    let tasks: Vec<_> = (0..8)
        .map(|w| {
            let socket = socket.to_path_buf();
            let user = user.to_string();
            tokio::spawn(async move {
                let mut c = Client::connect(&socket).await.unwrap();
                for i in (w..count).step_by(8) {
                    let mut body = format!(
                        "From: Mittente {i} <m{i}@pec.example.it>\r\nTo: <{user}>\r\nSubject: Fattura numero {i}\r\nDate: Mon, 02 Nov 2026 10:00:00 +0100\r\nMessage-ID: <{i}@bench>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                    );
                    while body.len() < 10 * 1024 {
                        body.push_str("0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789\r\n");
                    }
                    c.import(&user, None, body.as_bytes()).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

/// `count` messages of about 1 MB into `user`'s INBOX: a PEC envelope's header and a 1 MB
/// base64 attachment.
async fn fill_large(socket: &std::path::Path, user: &str, count: usize) {
    let attachment =
        "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n"
            .repeat(1 << 20 >> 6);
    let mut c = Client::connect(socket).await.unwrap();
    for i in 0..count {
        let mut received = String::new();
        for hop in 0..12 {
            received.push_str(&format!(
                "Received: from relay{hop}.pec.example.it (relay{hop}.pec.example.it [192.0.2.{hop}])\r\n\tby mx.pec.example.it with ESMTPS id {i}x{hop}; Mon, 02 Nov 2026 10:00:00 +0100\r\n"
            ));
        }
        let body = format!(
            "{received}Date: Mon, 02 Nov 2026 10:00:00 +0100\r\nFrom: \"Per conto di: m{i}@pec.example.it\" <posta-certificata@pec.example.it>\r\nReply-To: m{i}@pec.example.it\r\nTo: <{user}>\r\nSubject: POSTA CERTIFICATA: Atto numero {i}\r\nMessage-ID: <opec{i}.large@pec.example.it>\r\nX-Trasporto: posta-certificata\r\nX-Riferimento-Message-ID: <{i}@bench>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n\
             --b{i}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nMessaggio di posta certificata\r\n\
             --b{i}\r\nContent-Type: application/pdf; name=atto.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n{attachment}--b{i}--\r\n"
        );
        c.import(user, None, body.as_bytes()).await.unwrap();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick") || !args.iter().any(|a| a == "--bench");
    let (big, medium, rounds, idlers, large) = if quick {
        (300, 200, 20, 50, 20)
    } else {
        (10_000, 5_000, 500, 1_000, 300)
    };
    let rounds = std::env::var("IMAP_LOAD_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(rounds);
    let idlers = std::env::var("IMAP_LOAD_IDLERS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(idlers);
    raise_fd_limit();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (pecd, addr, ca) = start(0, "imaps");
    let socket = pecd.socket();
    for user in [MEDIUM, LARGE] {
        pecctl(
            &socket,
            &["mailbox", "create", user, "--password-stdin"],
            &format!("{PASSWORD}\n"),
        );
    }
    let config = client::tls_config(&ca);
    let started = Instant::now();
    rt.block_on(async {
        fill(&socket, BIG, big).await;
        fill(&socket, MEDIUM, medium).await;
        fill_large(&socket, LARGE, large).await;
    });
    println!(
        "imap_load: {big} + {medium} messages of 10 KB imported in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let pid = pecd.child.id();
    println!("pecd RSS after the import: {} KiB", rss_kib(pid));
    rt.block_on(async {
        let mut c = Conn::login(addr, &config, BIG).await;
        c.cmd("SELECT INBOX").await;
        let t = Instant::now();
        for _ in 0..rounds {
            c.cmd("NOOP").await;
        }
        let noop = rate(rounds, t);

        let t = Instant::now();
        for r in 0..rounds {
            let first = 1 + (r * 50) % (big - 50);
            let lines = c
                .cmd(&format!(
                    "UID FETCH {first}:{} (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Subject Date Message-ID Content-Type)])",
                    first + 49
                ))
                .await;
            assert!(lines >= 50);
        }
        let fetch = rate(rounds, t);
        println!(
            "FETCH of a 50-message header list: {fetch:.0}/s (target 2,000/s); NOOP round trips {noop:.0}/s ({:.2}x)",
            fetch / noop
        );

        let searches = (rounds / 10).max(5);
        let t = Instant::now();
        for _ in 0..searches {
            c.cmd("UID SEARCH UNSEEN UNDELETED").await;
        }
        let flag_search = rate(searches, t);
        let t = Instant::now();
        for i in 0..searches {
            c.cmd(&format!("UID SEARCH SUBJECT \"numero {}\"", i * 7)).await;
        }
        let header_search = rate(searches, t);
        println!(
            "SEARCH over {big} messages: flags {flag_search:.1}/s, SUBJECT {header_search:.2}/s; NOOP {noop:.0}/s"
        );
        let t = Instant::now();
        for i in 0..searches {
            c.cmd(&format!("UID SEARCH FROM \"m{}@pec\"", i * 11)).await;
        }
        let from_search = rate(searches, t);
        let t = Instant::now();
        for i in 0..searches {
            c.cmd(&format!("UID SEARCH HEADER Message-ID \"<{}@bench>\"", i * 13))
                .await;
        }
        let id_search = rate(searches, t);
        println!(
            "SEARCH over {big} messages: FROM {from_search:.2}/s, HEADER Message-ID {id_search:.2}/s; pecd RSS {} KiB",
            rss_kib(pid)
        );

        let mut m = Conn::login(addr, &config, MEDIUM).await;
        let t = Instant::now();
        for _ in 0..rounds {
            m.cmd("EXAMINE INBOX").await;
        }
        let select = rate(rounds, t);
        println!(
            "SELECT of a {medium}-message INBOX: {select:.0}/s (target 600/s); NOOP round trips {noop:.0}/s ({:.2}x)",
            select / noop
        );

        // (e) The header list of large messages: the first time from disk (the import does not
        // fill the header cache), then from the cache; against one byte of each text.
        let mut l = Conn::login(addr, &config, LARGE).await;
        l.cmd("EXAMINE INBOX").await;
        let list = format!("FETCH 1:{large} (UID ENVELOPE)");
        let t = Instant::now();
        assert!(l.cmd(&list).await >= large);
        let cold = t.elapsed().as_secs_f64();
        let passes = (rounds / 50).max(3);
        let t = Instant::now();
        for _ in 0..passes {
            l.cmd(&list).await;
        }
        let cached = t.elapsed().as_secs_f64() / passes as f64;
        let t = Instant::now();
        for _ in 0..passes {
            l.cmd(&format!("FETCH 1:{large} (UID BODY.PEEK[TEXT]<0.1>)"))
                .await;
        }
        let whole = t.elapsed().as_secs_f64() / passes as f64;
        println!(
            "ENVELOPE of {large} messages of 1 MB: from disk {:.1} ms ({:.1}x faster than reading the messages), from the header cache {:.2} ms ({:.0}x); reading each message {:.1} ms",
            cold * 1e3,
            whole / cold,
            cached * 1e3,
            whole / cached,
            whole * 1e3
        );
    });

    if std::env::var_os("IMAP_LOAD_SKIP_IDLE").is_some() {
        return;
    }
    // Memory: connections logged in, INBOX selected, in IDLE.
    let before = rss_kib(pid);
    let conns = rt.block_on(async {
        let mut conns = Vec::with_capacity(idlers);
        for _ in 0..idlers {
            let mut c = Conn::login(addr, &config, MEDIUM).await;
            c.s.write_all(b"i SELECT Drafts\r\n").await.unwrap();
            while !c.line().await.starts_with(b"i OK") {}
            c.s.write_all(b"d IDLE\r\n").await.unwrap();
            assert!(c.line().await.starts_with(b"+"));
            conns.push(c);
        }
        conns
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    let after = rss_kib(pid);
    println!(
        "{idlers} connections in IDLE: pecd RSS {before} KiB -> {after} KiB, {:.1} KiB per connection (target < 100 KB; Dovecot ~2 MB)",
        (after.saturating_sub(before)) as f64 / idlers as f64
    );
    drop(conns);
    common::report_idle_rss("imap_load", &pecd);
}
