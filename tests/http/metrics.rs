//! The Prometheus listener: a scrape before and after a certified submission shows the
//! counters of the mail side moving (connections, logins, messages, PEC messages emitted by
//! kind, store commits and signatures).

use super::support::smtp::Conn;
use super::support::*;

const MARIO: &str = "mario@pec.localhost";
const LUIGI: &str = "luigi@pec.localhost";

/// The value of the series `name` exactly as written (labels included), 0 when absent.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

async fn scrape(s: &Server) -> String {
    let addr = s.listener("metrics");
    // The HTTPS client (its TLS set up) speaks plain HTTP to the metrics listener too.
    let client = super::support::https::Https::new(s).client;
    let r = client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("openmetrics-text"));
    r.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn counters_move_after_a_certified_submission() {
    let s = server().users(&[MARIO, LUIGI]).start();
    let before = scrape(&s).await;
    assert!(before.contains("pecd_build_info{version="), "{before}");
    let (mut c, _) = Conn::tls(s.listener("submissions"), &s.ca()).await;
    c.login(MARIO, PASSWORD).await;
    let message = format!(
        "From: <{MARIO}>\r\nTo: <{LUIGI}>\r\nSubject: metriche\r\nMessage-ID: <m-1@client.test>\r\n\r\nbody\r\n"
    );
    let r = c.send_message(MARIO, &[LUIGI], &message).await;
    assert!(r.starts_with("250 "), "{r}");
    let after = scrape(&s).await;
    let moved = |series: &str| value(&after, series) - value(&before, series);
    assert_eq!(
        moved("pecd_messages_total{outcome=\"accepted\",kind=\"submission\"}"),
        1.0,
        "{after}"
    );
    assert!(
        moved("pecd_connections_total{service=\"submissions\"}") >= 1.0,
        "{after}"
    );
    assert!(moved("pecd_logins_total{result=\"ok\"}") >= 1.0, "{after}");
    assert!(
        moved("pecd_pec_emitted_total{kind=\"ricevuta di accettazione\"}") >= 1.0,
        "{after}"
    );
    assert!(
        moved("pecd_pec_emitted_total{kind=\"busta di trasporto\"}") >= 1.0,
        "{after}"
    );
    assert!(moved("pecd_store_commit_seconds_count") >= 1.0, "{after}");
    assert!(moved("pecd_signer_seconds_count") >= 3.0, "{after}");
    assert!(after.contains("pecd_relay_queue_depth "), "{after}");
}
