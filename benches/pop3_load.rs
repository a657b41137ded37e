//! POP3 load generator: the real pecd (release build), a 5,000-message maildrop of 10 KB
//! messages, then (a) login + STAT + QUIT sessions over TLS one after another (POP3 allows one
//! session per maildrop), against TLS connect + QUIT without login as the baseline of the same
//! run, and (b) RETR of every
//! message in one session, against NOOP round trips in the same session.
//! Targets (issue 5): login + STAT + QUIT >= 200/s; RETR >= 3,000/s. Issue 15: login + STAT +
//! QUIT at least 2x the rate without the login cache (all but the first login find it warm).
//!
//! Run: `cargo bench --bench pop3_load` (`cargo test --benches` runs a short form).

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::{start, tls_connect, Tls, PASSWORD};
use pecd_control::client::Client;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::ClientConfig;

#[path = "../tests/support/smtp.rs"]
mod client;

const MAILBOX: &str = "sink@pec.localhost";

async fn connect(addr: std::net::SocketAddr, config: &Arc<ClientConfig>) -> (Tls, Vec<u8>) {
    let mut s = tls_connect(addr, config).await;
    let mut buf = Vec::new();
    line(&mut s, &mut buf).await;
    (s, buf)
}

/// `n` sessions one after another (POP3 allows one session per maildrop); with `login`, each
/// logs in and sends STAT before QUIT. Returns sessions per second.
async fn sessions(
    addr: std::net::SocketAddr,
    config: &Arc<ClientConfig>,
    n: usize,
    login: bool,
) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        let (mut s, mut buf) = connect(addr, config).await;
        if login {
            ok(&mut s, &mut buf, &format!("USER {MAILBOX}")).await;
            ok(&mut s, &mut buf, &format!("PASS {PASSWORD}")).await;
            ok(&mut s, &mut buf, "STAT").await;
        }
        ok(&mut s, &mut buf, "QUIT").await;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

async fn line(s: &mut Tls, buf: &mut Vec<u8>) -> Vec<u8> {
    loop {
        if let Some(i) = buf.iter().position(|&b| b == b'\n') {
            return buf.drain(..=i).collect();
        }
        let mut chunk = [0u8; 16384];
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed");
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn ok(s: &mut Tls, buf: &mut Vec<u8>, cmd: &str) {
    s.write_all(format!("{cmd}\r\n").as_bytes()).await.unwrap();
    let l = line(s, buf).await;
    assert!(
        l.starts_with(b"+OK"),
        "{cmd}: {}",
        String::from_utf8_lossy(&l)
    );
}

async fn multiline(s: &mut Tls, buf: &mut Vec<u8>) {
    loop {
        if line(s, buf).await == b".\r\n" {
            return;
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick") || !args.iter().any(|a| a == "--bench");
    let (messages, sessions_count) = if quick { (200, 40) } else { (5000, 400) };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (pecd, addr, ca) = start(0, "pop3s");
    let socket = pecd.socket();
    let config = client::tls_config(&ca);

    // The maildrop, filled over 8 control connections so that group commit shares fsyncs.
    let fill = Instant::now();
    rt.block_on(async {
        let mut body = "From: <a@pec.localhost>\r\nSubject: load\r\n\r\n".to_string();
        while body.len() < 10 * 1024 {
            body.push_str(
                "0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789\r\n",
            );
        }
        let tasks: Vec<_> = (0..8)
            .map(|w| {
                let (socket, body) = (socket.clone(), body.clone());
                tokio::spawn(async move {
                    let mut c = Client::connect(&socket).await.unwrap();
                    for _ in (w..messages).step_by(8) {
                        c.import(MAILBOX, None, body.as_bytes()).await.unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    println!(
        "pop3_load: {messages} messages of 10 KB imported in {:.1} s",
        fill.elapsed().as_secs_f64()
    );

    let baseline = rt.block_on(sessions(addr, &config, sessions_count, false));
    let logins = rt.block_on(sessions(addr, &config, sessions_count, true));
    println!(
        "login+STAT+QUIT on {messages} messages: {logins:.1}/s; TLS connect+QUIT alone: {baseline:.1}/s (login path at {:.2}x of that)",
        logins / baseline
    );

    let (noops, retrs) = rt.block_on(async {
        let (mut s, mut buf) = connect(addr, &config).await;
        ok(&mut s, &mut buf, &format!("USER {MAILBOX}")).await;
        ok(&mut s, &mut buf, &format!("PASS {PASSWORD}")).await;
        let start = Instant::now();
        for _ in 0..messages {
            ok(&mut s, &mut buf, "NOOP").await;
        }
        let noops = messages as f64 / start.elapsed().as_secs_f64();
        let start = Instant::now();
        for n in 1..=messages {
            ok(&mut s, &mut buf, &format!("RETR {n}")).await;
            multiline(&mut s, &mut buf).await;
        }
        let retrs = messages as f64 / start.elapsed().as_secs_f64();
        ok(&mut s, &mut buf, "QUIT").await;
        (noops, retrs)
    });
    println!(
        "RETR of 10 KB: {retrs:.0}/s in one session; NOOP round trips: {noops:.0}/s ({:.2}x)",
        retrs / noops
    );
    common::report_idle_rss("pop3_load", &pecd);
    drop(pecd);
}
