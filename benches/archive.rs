//! The provisioning archive's mailbox search (PROVISIONING.md §4) over 100,000 caselle: by
//! part of the address and by user id, and the CSV report of one account's 10,000
//! mailboxes (an intermediario of that account searching without criteria). The caselle are
//! written straight through the archive's records API (batched transactions) into a
//! temporary store; after the criterion groups the figures are printed against the targets.
//!
//! Run: `cargo bench --bench archive`. Targets: search < 50 ms, report < 2 s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use pecd_archive::mailboxes::search::{csv, SearchQuery};
use pecd_archive::model::{
    Casella, CasellaState, DomainFamily, MailboxType, Operator, Profile, Services,
};
use pecd_archive::{caselle, Actor, Archive};
use pecd_common::config::Config;
use pecd_common::domains::LocalDomains;
use pecd_store::Store;

const MAILBOXES: u64 = 100_000;
const PER_ACCOUNT: u64 = 10_000;
const BATCH: u64 = 5_000;

fn casella(i: u64, start: i64) -> Casella {
    Casella {
        address: format!("titolare{i:06}@pec.localhost"),
        userid: Some(format!("aa{i:07}")),
        description: format!("Titolare numero {i}"),
        kind: Some(MailboxType::Standard),
        state: CasellaState::Evasa,
        pending: None,
        request: Some(1 + i / 10),
        customer: Some("C1".into()),
        account: Some(format!("ACC{}", i / PER_ACCOUNT)),
        family: DomainFamily::Ordinary,
        expiry: chrono::NaiveDate::from_ymd_opt(2030, 1, 1),
        inserted_at: start,
        // One activation a minute, about 70 days in all.
        activated_at: Some(start + i as i64 * 60),
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

struct Setup {
    rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
    archive: Archive,
    reseller: Actor,
}

fn setup() -> Setup {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let config = Arc::new(Config::default());
    let domains = Arc::new(LocalDomains::new(&config.provider.domains));
    let archive = rt.block_on(Archive::open(store, config, domains)).unwrap();
    let began = Instant::now();
    let start = 1_735_689_600; // 2025-01-01
    rt.block_on(async {
        for first in (0..MAILBOXES).step_by(BATCH as usize) {
            archive
                .transaction(move |tx| {
                    for i in first..(first + BATCH).min(MAILBOXES) {
                        caselle::save(tx, &casella(i, start), None)?;
                    }
                    Ok(())
                })
                .await
                .unwrap();
        }
    });
    println!(
        "setup: {MAILBOXES} caselle written in {:.1} s",
        began.elapsed().as_secs_f64()
    );
    let reseller = Actor::Operator(Box::new(Operator {
        userid: "int3".into(),
        surname: "Verdi".into(),
        first_name: "Ugo".into(),
        profile: Profile::Intermediario,
        customer: Some("C1".into()),
        account: Some("ACC3".into()),
        cli_pattern: None,
        acc_pattern: None,
        may_choose_type: false,
        may_manage_massive: false,
        password_hash: String::new(),
        password_changed_at: 0,
        created_at: 0,
    }));
    Setup {
        rt,
        _dir: dir,
        archive,
        reseller,
    }
}

fn by_address() -> SearchQuery {
    SearchQuery {
        address: Some("titolare04217".into()),
        ..Default::default()
    }
}

fn by_userid() -> SearchQuery {
    SearchQuery {
        userid: Some("aa0073519".into()),
        ..Default::default()
    }
}

/// One search; returns the rows found.
fn search(s: &Setup, actor: &Actor, q: &SearchQuery) -> usize {
    s.rt.block_on(s.archive.search(actor, q))
        .unwrap()
        .rows
        .len()
}

/// The reseller's CSV report; returns its size in bytes.
fn report(s: &Setup) -> usize {
    let r =
        s.rt.block_on(s.archive.search(&s.reseller, &SearchQuery::default()))
            .unwrap();
    assert_eq!(r.rows.len() as u64, PER_ACCOUNT);
    csv(&r.rows).len()
}

fn archive_search(c: &mut Criterion, s: &Setup) {
    let mut g = c.benchmark_group("mailbox_search_100k");
    g.sample_size(20);
    g.bench_function("by_address_part", |b| {
        b.iter(|| assert_eq!(search(s, &Actor::Admin, &by_address()), 10))
    });
    g.bench_function("by_userid", |b| {
        b.iter(|| assert_eq!(search(s, &Actor::Admin, &by_userid()), 1))
    });
    // Baseline of the same run: walking every casella key in the store, what the search by
    // address part did before it kept the addresses in memory.
    g.bench_function("baseline_key_walk", |b| {
        b.iter(|| {
            let keys =
                s.rt.block_on(s.archive.store().record_keys("casella", b""))
                    .unwrap();
            assert_eq!(keys.len() as u64, MAILBOXES);
        })
    });
    g.finish();
    let mut g = c.benchmark_group("mailbox_report_10k");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.bench_function("csv_of_one_account", |b| b.iter(|| report(s)));
    g.finish();
}

/// The median of `runs` timings of `f`.
fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut t: Vec<Duration> = (0..runs)
        .map(|_| {
            let began = Instant::now();
            f();
            began.elapsed()
        })
        .collect();
    t.sort();
    t[t.len() / 2]
}

fn figures(s: &Setup) {
    let address = median(11, || {
        search(s, &Actor::Admin, &by_address());
    });
    let userid = median(11, || {
        search(s, &Actor::Admin, &by_userid());
    });
    let mut bytes = 0;
    let csv_time = median(5, || bytes = report(s));
    let verdict = |t: Duration, target: Duration| if t < target { "ok" } else { "OVER TARGET" };
    println!(
        "search by address part over {MAILBOXES}: {:.1} ms (target < 50 ms: {})",
        address.as_secs_f64() * 1e3,
        verdict(address, Duration::from_millis(50))
    );
    println!(
        "search by user id over {MAILBOXES}: {:.2} ms (target < 50 ms: {})",
        userid.as_secs_f64() * 1e3,
        verdict(userid, Duration::from_millis(50))
    );
    println!(
        "CSV report of one account's {PER_ACCOUNT} mailboxes: {:.0} ms, {bytes} bytes (target < 2 s: {})",
        csv_time.as_secs_f64() * 1e3,
        verdict(csv_time, Duration::from_secs(2))
    );
}

fn benches() {
    let s = setup();
    let mut c = Criterion::default().configure_from_args();
    archive_search(&mut c, &s);
    figures(&s);
}

fn main() {
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
