//! HTTPS load generator (issue 18): the real pecd (release build) and reqwest over rustls.
//! (a) 200 clients each logging in as an operator and making one API call every second,
//! sustained: the pairs completed per second and their p50/p99 latency; (b) requests/s of a
//! cheap authenticated GET (`/api/v1/whoami`) by 16 concurrent clients, against the same-run
//! figure of the plain-HTTP `/metrics` endpoint as the baseline.
//!
//! Run: `cargo bench --bench http_load` (`cargo test --benches` runs a short form).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{pecctl, start};

#[path = "../tests/support/smtp.rs"]
mod client;

const OPERATOR: &str = "bench";
const OPERATOR_PASSWORD: &str = "Bench!Passw0rd7";

fn https_client(ca: &std::path::Path) -> reqwest::Client {
    let tls = (*client::tls_config(ca)).clone();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .pool_max_idle_per_host(4)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// One login followed by one API call; returns its latency.
async fn login_and_call(client: &reqwest::Client, base: &str) -> Duration {
    let started = Instant::now();
    let r = client
        .post(format!("{base}/api/v1/login"))
        .json(&serde_json::json!({"userid": OPERATOR, "password": OPERATOR_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc: serde_json::Value = r.json().await.unwrap();
    let token = doc["token"].as_str().unwrap().to_string();
    let r = client
        .get(format!("{base}/api/v1/domains"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let _ = r.bytes().await.unwrap();
    started.elapsed()
}

/// `clients` tasks, each starting a login + call every second for `seconds`; returns the
/// latencies of the pairs completed.
async fn sustained(
    ca: &std::path::Path,
    base: &str,
    clients: usize,
    seconds: u64,
) -> Vec<Duration> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let (client, base) = (https_client(ca), base.to_string());
            tokio::spawn(async move {
                // Spread the clients over the first second.
                tokio::time::sleep(Duration::from_millis((i as u64 * 1000) / clients as u64)).await;
                let mut out = Vec::new();
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                while Instant::now() < deadline {
                    tick.tick().await;
                    out.push(login_and_call(&client, &base).await);
                }
                out
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

/// Requests/s of GET `url` by `clients` concurrent clients for `seconds`.
async fn rate(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    clients: usize,
    seconds: f64,
) -> f64 {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (client, url, token) = (client.clone(), url.to_string(), token.map(str::to_string));
            tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let mut req = client.get(&url);
                    if let Some(t) = &token {
                        req = req.bearer_auth(t);
                    }
                    let r = req.send().await.unwrap();
                    assert_eq!(r.status(), 200);
                    let _ = r.bytes().await.unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick") || !args.iter().any(|a| a == "--bench");
    let (clients, seconds, rate_seconds) = if quick { (10, 2, 0.5) } else { (200, 10, 3.0) };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (pecd, https, ca) = start(0, "https");
    let socket = pecd.socket();
    pecctl(
        &socket,
        &[
            "operator",
            "create",
            OPERATOR,
            "--profile",
            "amministratore",
            "--surname",
            "Bench",
            "--first-name",
            "Load",
            "--password-stdin",
        ],
        &format!("{OPERATOR_PASSWORD}\n"),
    );
    let status: serde_json::Value =
        serde_json::from_str(&pecctl(&socket, &["--json", "status"], "")).unwrap();
    let metrics: std::net::SocketAddr = status["listeners"]["metrics"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let base = format!("https://localhost:{}", https.port());
    let ca = Arc::new(ca);

    let started = Instant::now();
    let mut latencies = rt.block_on(sustained(&ca, &base, clients, seconds));
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let done = latencies.len() as f64 / elapsed;
    println!(
        "http_load: {clients} clients, login + 1 API call each per second for {seconds} s: {done:.1} pairs/s \
         (offered {clients}/s); latency p50 {:.1} ms, p99 {:.1} ms",
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3
    );

    let client = https_client(&ca);
    let token = rt.block_on(async {
        let r = client
            .post(format!("{base}/api/v1/login"))
            .json(&serde_json::json!({"userid": OPERATOR, "password": OPERATOR_PASSWORD}))
            .send()
            .await
            .unwrap();
        r.json::<serde_json::Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string()
    });
    let whoami = rt.block_on(rate(
        &client,
        &format!("{base}/api/v1/whoami"),
        Some(&token),
        16,
        rate_seconds,
    ));
    let scrape = rt.block_on(rate(
        &client,
        &format!("http://{metrics}/metrics"),
        None,
        16,
        rate_seconds,
    ));
    println!(
        "http_load: GET /api/v1/whoami (TLS, authenticated) {whoami:.0}/s; GET /metrics (plain) {scrape:.0}/s \
         (authenticated GET at {:.2}x of the baseline)",
        whoami / scrape
    );
    common::report_idle_rss("http_load", &pecd);
    drop(pecd);
}
