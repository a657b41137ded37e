//! Durable appends of 10 KB messages: 1 writer against 16 concurrent writers (each its own
//! mailbox, as separate SMTP sessions would be). Every append returns only once durable, so
//! the ratio of the two throughputs shows how well group commit shares fsyncs. After the
//! criterion groups, the disk use of a store of 10 KB messages is printed against its payload.
//!
//! Run: `cargo bench --bench durable_append`. Targets: 16 writers >= 5x one writer;
//! disk use <= 1.5x payload.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use pecd_store::{Flags, NewMessage, Store};

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

criterion_group!(benches, durable_append);

fn main() {
    benches();
    disk_use();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
