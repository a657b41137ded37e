//! SMTP load generator: the real pecd (release build) on loopback, 10 KB messages submitted
//! over implicit TLS with AUTH by 1, 4 and 16 concurrent connections. Reports messages/s
//! accepted (each answered 250 only once durable) and the p50/p99 latency of one message
//! (MAIL FROM to the 250 after DATA), with throughput as a ratio to the single connection
//! measured in the same run. Target (issue 3): >= 600 messages/s over 4 connections, p99
//! under 50 ms.
//!
//! Every submission is certified (issue 6): acceptance receipt, transport envelope, presa in
//! carico and delivery receipt, four RSA-2048 signatures per message, all durable before the
//! 250. The bench also measures the signer alone and `openssl speed rsa2048` in the same run
//! and reports the certification targets: end-to-end messages/s over 4 connections at least
//! 40 % of (RSA-2048 signatures/s × cores ÷ 4 signatures per message), over 16 at least 50 %.
//!
//! Run: `cargo bench --bench smtp_load` (add `-- --quick` for a short run; `cargo test
//! --benches` runs it in that short form). `SMTP_LOAD_ONLY=16` runs only the 16-connection
//! load, five times longer, for a profiler.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::ClientConfig;

/// The raw SMTP client of the tests: its TLS configuration and SASL encoding.
#[path = "../tests/support/smtp.rs"]
mod client;
mod common;

use common::{start, tls_connect, Pecd};

use common::PASSWORD;

async fn expect<S: AsyncReadExt + Unpin>(s: &mut S, buf: &mut Vec<u8>, code: &str) {
    loop {
        if let Some(end) = find_reply_end(buf) {
            let reply: Vec<u8> = buf.drain(..end).collect();
            assert!(
                reply.starts_with(code.as_bytes()),
                "expected {code}: {}",
                String::from_utf8_lossy(&reply)
            );
            return;
        }
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed");
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn find_reply_end(buf: &[u8]) -> Option<usize> {
    let mut start = 0;
    while let Some(i) = buf[start..].iter().position(|&b| b == b'\n') {
        if buf.len() >= start + 4 && buf[start + 3] == b' ' {
            return Some(start + i + 1);
        }
        start += i + 1;
    }
    None
}

/// What one connection saw: when its AUTH was accepted, and each message's latency and end.
struct Sent {
    logged_in: Instant,
    latencies: Vec<Duration>,
    ends: Vec<Instant>,
}

/// One connection sending `count` messages.
async fn connection(
    addr: std::net::SocketAddr,
    config: Arc<ClientConfig>,
    sender: String,
    count: usize,
) -> Sent {
    let mut s = tls_connect(addr, &config).await;
    let mut buf = Vec::new();
    expect(&mut s, &mut buf, "220").await;
    s.write_all(b"EHLO bench\r\n").await.unwrap();
    expect(&mut s, &mut buf, "250").await;
    let auth = client::plain(&sender, PASSWORD);
    s.write_all(format!("AUTH PLAIN {auth}\r\n").as_bytes())
        .await
        .unwrap();
    expect(&mut s, &mut buf, "235").await;
    let logged_in = Instant::now();
    let mut body = format!("From: <{sender}>\r\nTo: <sink@pec.localhost>\r\nSubject: load\r\n\r\n");
    while body.len() < 10 * 1024 {
        body.push_str(
            "0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789\r\n",
        );
    }
    let mut latencies = Vec::with_capacity(count);
    let mut ends = Vec::with_capacity(count);
    for _ in 0..count {
        let start = Instant::now();
        // Pipelined as a real client would (RFC 2920): MAIL, RCPT, DATA in one write.
        s.write_all(
            format!("MAIL FROM:<{sender}>\r\nRCPT TO:<sink@pec.localhost>\r\nDATA\r\n").as_bytes(),
        )
        .await
        .unwrap();
        expect(&mut s, &mut buf, "250").await;
        expect(&mut s, &mut buf, "250").await;
        expect(&mut s, &mut buf, "354").await;
        s.write_all(body.as_bytes()).await.unwrap();
        s.write_all(b".\r\n").await.unwrap();
        expect(&mut s, &mut buf, "250").await;
        latencies.push(start.elapsed());
        ends.push(Instant::now());
    }
    s.write_all(b"QUIT\r\n").await.unwrap();
    Sent {
        logged_in,
        latencies,
        ends,
    }
}

/// Messages/s while every connection was logged in and sending: from the last AUTH accepted
/// to the first connection done (the logins' argon2 and the stragglers left out).
fn steady_rate(sent: &[Sent]) -> Option<f64> {
    let from = sent.iter().map(|s| s.logged_in).max()?;
    let to = sent.iter().filter_map(|s| s.ends.last().copied()).min()?;
    let n = sent
        .iter()
        .flat_map(|s| &s.ends)
        .filter(|&&e| e > from && e <= to)
        .count();
    let window = to.checked_duration_since(from)?.as_secs_f64();
    (window > 0.0 && n > 0).then(|| n as f64 / window)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` does not: run short then.
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick") || !args.iter().any(|a| a == "--bench");
    let mut per_connection_total = if quick { 48 } else { 1600 };
    // `SMTP_LOAD_ONLY=N`: only the N-connection run, five times longer, and nothing else
    // (for a profiler attached to the whole run).
    let only: Option<usize> = std::env::var("SMTP_LOAD_ONLY")
        .ok()
        .and_then(|v| v.parse().ok());
    if only.is_some() {
        per_connection_total *= 5;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (pecd, addr, ca) = start(16, "submissions");
    let config = client::tls_config(&ca);
    let mut baseline = None;
    let (mut four, mut sixteen, mut sixteen_steady) = (0.0, 0.0, None);
    println!("smtp_load: 10 KB messages over implicit TLS with AUTH, pipelined MAIL/RCPT/DATA");
    let runs = match only {
        Some(n) => vec![n],
        None => vec![1usize, 4, 16],
    };
    for connections in runs {
        let count = (per_connection_total / connections).max(3);
        let start = Instant::now();
        let sent: Vec<Sent> = rt.block_on(async {
            let tasks: Vec<_> = (0..connections)
                .map(|i| {
                    tokio::spawn(connection(
                        addr,
                        config.clone(),
                        format!("sender{i}@pec.localhost"),
                        count,
                    ))
                })
                .collect();
            let mut all = Vec::new();
            for t in tasks {
                all.push(t.await.unwrap());
            }
            all
        });
        let elapsed = start.elapsed();
        let mut latencies: Vec<Duration> = sent.iter().flat_map(|s| s.latencies.clone()).collect();
        latencies.sort();
        let rate = latencies.len() as f64 / elapsed.as_secs_f64();
        let base = *baseline.get_or_insert(rate);
        match connections {
            4 => four = rate,
            16 => sixteen = rate,
            _ => {}
        }
        println!(
            "{connections:>2} connections: {:>5} messages in {:>6.2} s = {rate:>7.1} msg/s ({:.2}x one connection), p50 {:>6.2} ms, p99 {:>6.2} ms",
            latencies.len(),
            elapsed.as_secs_f64(),
            rate / base,
            percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
            percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
        );
        if connections == 16 {
            sixteen_steady = steady_rate(&sent);
        }
        if let Some(steady) = steady_rate(&sent).filter(|_| connections > 1) {
            println!(
                "{connections:>2} connections: {steady:>7.1} msg/s while all were logged in and sending ({:.2}x the whole run, whose window includes the TLS handshakes and first logins)",
                steady / rate
            );
        }
    }
    if only.is_some() {
        return;
    }
    certification_cost(&ca, quick, four, (sixteen, sixteen_steady));
    idle_memory(&rt, &pecd, addr, config, if quick { 50 } else { 1000 });
    common::report_idle_rss("smtp_load", &pecd);
    drop(pecd);
}

/// RSA-2048 signatures per second of one core, from `openssl speed rsa2048`.
fn openssl_speed(seconds: &str) -> Option<f64> {
    let out = std::process::Command::new("openssl")
        .args(["speed", "-seconds", seconds, "rsa2048"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("rsa 2048 bits"))?;
    line.split_whitespace().nth(5)?.parse().ok()
}

/// The signer alone (one thread: build and sign an acceptance receipt), `openssl speed` in
/// the same run, and the target for end-to-end certified messages/s.
fn certification_cost(
    ca: &std::path::Path,
    quick: bool,
    four_connections: f64,
    (sixteen, sixteen_steady): (f64, Option<f64>),
) {
    use pecd_signer::{build, Destinatario, Document, Facts, Moment, Provider, Signer};
    let dir = ca.parent().unwrap();
    let read = |n: &str| std::fs::read(dir.join(n)).unwrap();
    let signer =
        Signer::from_pem(&read("signer.pem"), &read("signer.key"), &read("ca.pem")).unwrap();
    let provider = Provider {
        name: "bench".into(),
        service_address: "posta-certificata@pec.localhost".into(),
    };
    let facts = Facts {
        pec_id: "pecd.1.bench@pec.localhost".into(),
        msgid: Some("<bench@client>".into()),
        sender: "sender0@pec.localhost".into(),
        destinatari: vec![Destinatario {
            address: "sink@pec.localhost".into(),
            certificato: true,
        }],
        risposte: "sender0@pec.localhost".into(),
        subject: "load".into(),
        receipt: Default::default(),
    };
    let original = vec![b'x'; 10 * 1024];
    let n = if quick { 30 } else { 600 };
    let start = Instant::now();
    for i in 0..n {
        let doc = if i % 2 == 0 {
            Document::Acceptance
        } else {
            Document::Envelope {
                original: &original,
            }
        };
        build::build(
            &signer,
            &provider,
            &facts,
            &doc,
            Moment::now(),
            "r@pec.localhost",
        )
        .unwrap();
    }
    let signer_rate = n as f64 / start.elapsed().as_secs_f64();
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get()) as f64;
    let Some(rsa) = openssl_speed(if quick { "1" } else { "3" }) else {
        println!("certification: signer alone {signer_rate:.0} messages signed/s (openssl speed unavailable)");
        return;
    };
    let target = 0.4 * rsa * cores / 4.0;
    println!(
        "certification: openssl speed rsa2048 {rsa:.0} sign/s per core x {cores} cores; pecd signer alone (MIME + daticert + CMS, one thread) {signer_rate:.0} sign/s ({:.2}x openssl)",
        signer_rate / rsa
    );
    println!(
        "certification: 4 connections {four_connections:.1} certified msg/s (4 signatures each) = {:.2}x the target of 40% x {rsa:.0} x {cores} / 4 = {target:.1} msg/s",
        four_connections / target
    );
    let target16 = 0.5 * rsa * cores / 4.0;
    println!(
        "certification: 16 connections {sixteen:.1} certified msg/s = {:.2}x the target of 50% x {rsa:.0} x {cores} / 4 = {target16:.1} msg/s",
        sixteen / target16
    );
    if let Some(steady) = sixteen_steady {
        println!(
            "certification: 16 connections while all were logged in and sending {steady:.1} msg/s = {:.2}x that target",
            steady / target16
        );
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// RSS of pecd before and after `n` idle TLS connections that have said EHLO.
fn idle_memory(
    rt: &tokio::runtime::Runtime,
    pecd: &Pecd,
    addr: std::net::SocketAddr,
    config: Arc<ClientConfig>,
    n: usize,
) {
    let pid = pecd.child.id();
    let before = rss_kib(pid);
    let held = rt.block_on(async {
        let mut held = Vec::with_capacity(n);
        for _ in 0..n {
            let mut s = tls_connect(addr, &config).await;
            let mut buf = Vec::new();
            expect(&mut s, &mut buf, "220").await;
            s.write_all(b"EHLO idle\r\n").await.unwrap();
            expect(&mut s, &mut buf, "250").await;
            held.push(s);
        }
        held
    });
    std::thread::sleep(Duration::from_millis(500));
    let after = rss_kib(pid);
    println!(
        "idle connections: {n} TLS sessions after EHLO: pecd RSS {before} KiB -> {after} KiB, {:.1} KiB per connection",
        after.saturating_sub(before) as f64 / n as f64
    );
    drop(held);
}
