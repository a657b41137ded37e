//! Durable appends of 10 KB messages: 1 writer against 16 concurrent writers (each its own
//! mailbox, as separate SMTP sessions would be). Every append returns only once durable, so
//! the ratio of the two throughputs shows how well group commit shares fsyncs. After the
//! criterion groups, the disk use of a store of 10 KB messages is printed against its payload,
//! and then the cost of one certified 10 KB message delivered to 10 local mailboxes against
//! one delivered to a single mailbox (store-level certification steps from 4 concurrent
//! writers, as 4 SMTP sessions; time per step and disk bytes added per step, each the median
//! of 3 runs alternating the two cases on fresh stores).
//!
//! Run: `cargo bench --bench durable_append`. Targets: 16 writers >= 5x one writer;
//! disk use <= 1.5x payload; 10 recipients < 2x one recipient in time and in disk.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use pecd_store::{Certification, Delivery, Flags, NewMessage, Store};

const MESSAGE_BYTES: usize = 10 * 1024;

fn message(n: u64) -> NewMessage {
    let mut bytes = format!(
        "From: bench@pec.localhost\r\nTo: someone@pec.localhost\r\nSubject: bench {n}\r\n\r\n"
    )
    .into_bytes();
    while bytes.len() < MESSAGE_BYTES {
        bytes.extend_from_slice(
            b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopq\r\n",
        );
    }
    bytes.truncate(MESSAGE_BYTES);
    NewMessage {
        bytes,
        flags: Flags::default(),
        keywords: vec![],
        internal_date: None,
    }
}

async fn mailboxes(store: &Store, n: usize) -> Vec<u64> {
    let mut ids = Vec::new();
    for i in 0..n {
        let address = format!("writer{i}-{}@pec.localhost", uuid_like());
        ids.push(
            store
                .create_mailbox(&address, "$argon2id$bench", u64::MAX / 2)
                .await
                .unwrap()
                .id,
        );
    }
    ids
}

fn uuid_like() -> u64 {
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// `total` appends spread over the writers; returns the elapsed time.
async fn run(store: &Store, ids: &[u64], total: u64) -> Duration {
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = ids
        .iter()
        .map(|&id| {
            let (store, next) = (store.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= total {
                        break;
                    }
                    store.append(id, "INBOX", message(n)).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    start.elapsed()
}

/// A runtime and an empty store in a temporary directory (kept alive by the caller).
fn fresh_store() -> (tokio::runtime::Runtime, tempfile::TempDir, Store) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    (rt, dir, store)
}

fn durable_append(c: &mut Criterion) {
    let (rt, _dir, store) = fresh_store();
    let mut group = c.benchmark_group("durable_append_10KB");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    for writers in [1usize, 16] {
        let ids = rt.block_on(mailboxes(&store, writers));
        group.bench_with_input(BenchmarkId::new("writers", writers), &writers, |b, _| {
            b.iter_custom(|iters| rt.block_on(run(&store, &ids, iters)))
        });
    }
    group.finish();
}

/// Disk use of 2,000 messages of 10 KB against their payload (allocated blocks, all files).
fn disk_use() {
    let (rt, _dir, store) = fresh_store();
    let (payload, used) = rt.block_on(async {
        let empty = store.disk_usage().await.unwrap();
        let ids = mailboxes(&store, 16).await;
        run(&store, &ids, 2000).await;
        store.sync().await.unwrap();
        let used = store.disk_usage().await.unwrap();
        let stats = store.stats().await.unwrap();
        println!("empty store: {empty} bytes");
        println!(
            "16 writers: {} writes made durable by {} sled fsync rounds ({:.1} per round)",
            stats.committed_writes,
            stats.commits,
            stats.committed_writes as f64 / stats.commits as f64
        );
        (2000 * MESSAGE_BYTES as u64, used)
    });
    println!(
        "disk use: {used} bytes for {payload} bytes of 10 KB messages: {:.2}x payload",
        used as f64 / payload as f64
    );
}

/// `steps` certification steps from 4 concurrent writers, each delivering one 10 KB message to
/// every mailbox of `ids`; returns the elapsed time.
async fn certify_run(store: &Store, ids: &[u64], steps: u64) -> Duration {
    let next = Arc::new(AtomicU64::new(0));
    let ids = Arc::new(ids.to_vec());
    let start = Instant::now();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let (store, next, ids) = (store.clone(), next.clone(), ids.clone());
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= steps {
                        break;
                    }
                    let bytes = pecd_store::Bytes::from(message(n).bytes);
                    let step = Certification {
                        dedup_key: None,
                        dedup_keep_seconds: None,
                        pec_id: format!("bench{n}@pec.localhost"),
                        deliveries: ids
                            .iter()
                            .map(|&mailbox| Delivery {
                                mailbox,
                                folder: "INBOX".into(),
                                bytes: bytes.clone(),
                            })
                            .collect(),
                        log: vec![],
                        trace: None,
                        queue: vec![],
                        queue_settle: None,
                        archive: Vec::new(),
                    };
                    store.certify(step).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    start.elapsed()
}

/// (time per step, disk bytes added per step) of certification steps delivering one message
/// to `recipients` mailboxes, on a fresh store.
fn fanout_once(recipients: usize) -> (Duration, u64) {
    const STEPS: u64 = 400;
    let (rt, _dir, store) = fresh_store();
    rt.block_on(async {
        let ids = mailboxes(&store, recipients).await;
        store.sync().await.unwrap();
        let empty = store.disk_usage().await.unwrap();
        let elapsed = certify_run(&store, &ids, STEPS).await;
        store.sync().await.unwrap();
        let used = store.disk_usage().await.unwrap().saturating_sub(empty);
        (elapsed / STEPS as u32, used / STEPS)
    })
}

/// One message to 10 local recipients against one to a single recipient: time and disk.
fn fanout() {
    let (mut one, mut ten) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        one.push(fanout_once(1));
        ten.push(fanout_once(10));
    }
    let median = |v: &mut Vec<(Duration, u64)>| {
        let mut t: Vec<Duration> = v.iter().map(|x| x.0).collect();
        let mut d: Vec<u64> = v.iter().map(|x| x.1).collect();
        t.sort();
        d.sort();
        (t[t.len() / 2], d[d.len() / 2])
    };
    let ((t1, d1), (t10, d10)) = (median(&mut one), median(&mut ten));
    println!("certified 10 KB to 1 recipient: {t1:?} per step, {d1} disk bytes per step");
    println!("certified 10 KB to 10 recipients: {t10:?} per step, {d10} disk bytes per step");
    println!(
        "10 recipients / 1 recipient: time {:.2}x, disk {:.2}x",
        t10.as_secs_f64() / t1.as_secs_f64(),
        d10 as f64 / d1.max(1) as f64
    );
}

criterion_group!(benches, durable_append);

fn main() {
    benches();
    disk_use();
    fanout();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
