//! The scheduled jobs over 100,000 mailboxes (ARCHITECTURE.md `lifecycle`): the caselle of
//! ten accounts with expiry management on (half with automatic revocation), expiries spread
//! over the next year, and their store mailboxes; then
//!
//! - the first run (every mailbox within three months reported, week notices, the backlog),
//! - one daily run a day later (the steady state: what one day brings),
//! - the same run again at once (nothing due: the floor of a full run), and a scheduler tick
//!   between full scans (the jobs that do not read every mailbox),
//! - the password campaign's CSV over the 100,000 user ids, 13 months on,
//!
//! each timed on its own, with a same-run baseline: reading every casella record once (the
//! floor of any job that looks at every mailbox). Run: `cargo bench --bench lifecycle`.
//! Targets: a daily run and the campaign CSV each under 10 s.

use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;
use pecd_archive::expiry::ExpirySet;
use pecd_archive::model::{Casella, CasellaState, DomainFamily, MailboxType, Services};
use pecd_archive::{caselle, records, Actor, Archive};
use pecd_common::config::Config;
use pecd_lifecycle::Lifecycle;
use pecd_store::Store;

/// 100,000 under `cargo bench`; a smoke-sized 2,000 when `cargo test` runs it.
fn mailboxes() -> u64 {
    if std::env::args().any(|a| a == "--bench") {
        100_000
    } else {
        2_000
    }
}
const ACCOUNTS: u64 = 10;
const BATCH: u64 = 5_000;
const DAY: i64 = 86_400;
const REPORT: &str = "report@pec.localhost";

fn address(i: u64) -> String {
    format!("titolare{i:06}@pec.localhost")
}

fn casella(i: u64, today: NaiveDate, now: i64) -> Casella {
    let account = format!("ACC{}", i % ACCOUNTS);
    Casella {
        address: address(i),
        userid: Some(format!("aa{i:07}")),
        description: format!("Titolare {i}"),
        kind: Some(MailboxType::Standard),
        state: CasellaState::Evasa,
        pending: None,
        request: Some(i / 10 + 1),
        customer: Some("C1".into()),
        account: Some(account),
        family: DomainFamily::Ordinary,
        // Spread over the coming year: about 274 a day.
        expiry: Some(today + chrono::Duration::days(1 + (i % 365) as i64)),
        inserted_at: now,
        activated_at: Some(now),
        massive: false,
        services: Services {
            archive_gb: 1,
            sms: true,
            quota_bytes: 1 << 30,
        },
        revoke_reason: None,
        revoked_at: None,
        purged_at: None,
        history: vec![],
    }
}

/// A configuration whose clock is `days` ahead, with development certificates in `dir`.
fn config(dir: &std::path::Path, days: i64) -> Arc<Config> {
    let mut c = Config::default();
    c.tls.cert = dir.join("server.pem");
    c.tls.key = dir.join("server.key");
    c.signing.cert = dir.join("signer.pem");
    c.signing.key = dir.join("signer.key");
    c.signing.chain = dir.join("ca.pem");
    c.peers.trust_anchors = dir.join("ca.pem");
    c.sms.spool = dir.join("sms");
    c.pec.clock_offset_seconds = days * DAY;
    c.archive.ordinary_parents = vec!["pec.localhost".into()];
    Arc::new(c)
}

/// The job runner of `store` with its clock `days` ahead.
async fn runner(store: &Store, dir: &std::path::Path, days: i64) -> Lifecycle {
    let config = config(dir, days);
    let engine = pecd_engine::Engine::new(config.clone(), store.clone())
        .await
        .unwrap();
    let domains = engine.local_domains().clone();
    let archive = Archive::open(store.clone(), config.clone(), domains)
        .await
        .unwrap();
    Lifecycle::new(archive, engine, config)
}

async fn populate(store: &Store, archive: &Archive) {
    let (today, now) = (archive.today(), archive.now());
    let began = Instant::now();
    for first in (0..mailboxes()).step_by(BATCH as usize) {
        archive
            .transaction(move |tx| {
                for i in first..(first + BATCH).min(mailboxes()) {
                    caselle::save(tx, &casella(i, today, now), None)?;
                }
                Ok(())
            })
            .await
            .unwrap();
    }
    // The store mailboxes, many at a time so that commits share their rounds.
    let hash = pecd_common::password::hash("Pec-Strong9!");
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in 0..64u64 {
        let (store, hash) = (store.clone(), hash.clone());
        tasks.spawn(async move {
            for i in (chunk..mailboxes()).step_by(64) {
                store
                    .create_mailbox(&address(i), &hash, 1 << 30)
                    .await
                    .unwrap();
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    store.create_mailbox(REPORT, &hash, 1 << 30).await.unwrap();
    println!(
        "setup: {} caselle and store mailboxes in {:.1} s",
        mailboxes(),
        began.elapsed().as_secs_f64()
    );
    for a in 0..ACCOUNTS {
        let set = ExpirySet {
            customer: "C1".into(),
            account: format!("ACC{a}"),
            enabled: true,
            report: Some(REPORT.into()),
            auto_revoke: Some(a % 2 == 0),
        };
        // The accounts exist for the setting's check.
        let acc = pecd_archive::model::Account {
            code: format!("ACC{a}"),
            customer: "C1".into(),
            description: "rivenditore".into(),
            userid_prefix: Some("aa".into()),
            userids_assigned: 0,
            created_at: now,
        };
        archive
            .transaction(move |tx| records::put(tx, &acc))
            .await
            .unwrap();
        archive.set_expiry_config(&Actor::Admin, set).await.unwrap();
    }
}

/// Runs the jobs once (`full`: with those that read every mailbox), prints the time and
/// what they did, returns the seconds.
async fn timed_run(what: &str, l: &Lifecycle, full: bool) -> f64 {
    let began = Instant::now();
    let r = l.run_scheduled(full).await.unwrap();
    let t = began.elapsed().as_secs_f64();
    let mut jobs: std::collections::BTreeMap<&str, usize> = Default::default();
    for i in &r.done {
        *jobs.entry(i.job.as_str()).or_default() += 1;
    }
    println!(
        "{what}: {t:.2} s, {} done {jobs:?}, {} errors",
        r.done.len(),
        r.errors.len()
    );
    t
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    pecd_common::certs::ensure_dev_certificates(&config(&certs, 0)).unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    rt.block_on(async {
        let day0 = runner(&store, &certs, 0).await;
        populate(&store, day0.archive()).await;
        let baseline = {
            let began = Instant::now();
            let all = records::load_all::<Casella>(&store, b"", usize::MAX)
                .await
                .unwrap();
            assert_eq!(all.len() as u64, mailboxes());
            began.elapsed().as_secs_f64()
        };
        println!("baseline: every casella read once: {baseline:.2} s");
        timed_run("first run (backlog)", &day0, true).await;
        let day1 = runner(&store, &certs, 1).await;
        let daily = timed_run("daily run, a day later", &day1, true).await;
        let again = timed_run("the same full run again (nothing due)", &day1, true).await;
        let tick = timed_run("a scheduler tick between scans", &day1, false).await;
        let later = runner(&store, &certs, 400).await;
        let began = Instant::now();
        let report = later
            .archive()
            .password_campaign(&Actor::Admin, None)
            .await
            .unwrap();
        let csv = report.csv();
        let campaign = began.elapsed().as_secs_f64();
        println!(
            "campaign CSV over {} user ids: {campaign:.2} s, {} rows, {} bytes",
            mailboxes(),
            report.rows.len(),
            csv.len()
        );
        let verdict = |t: f64| if t < 10.0 { "ok" } else { "OVER TARGET" };
        println!(
            "daily run {daily:.2} s = {:.1}x the baseline (target < 10 s: {}); full run with nothing due {again:.2} s = {:.1}x; tick between scans {:.1} ms; campaign {campaign:.2} s = {:.1}x (target < 10 s: {})",
            daily / baseline,
            verdict(daily),
            again / baseline,
            tick * 1e3,
            campaign / baseline,
            verdict(campaign)
        );
    });
}
