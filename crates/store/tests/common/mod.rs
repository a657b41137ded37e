//! Helpers shared by the store's integration tests.

use pecd_store::*;

pub fn msg(subject: &str, size: usize) -> NewMessage {
    let mut bytes = format!("From: a@pec.localhost\r\nSubject: {subject}\r\n\r\n").into_bytes();
    bytes.resize(size.max(bytes.len()), b'x');
    NewMessage {
        bytes,
        flags: Flags::default(),
        keywords: vec![],
        internal_date: None,
    }
}

pub async fn fresh() -> (tempfile::TempDir, Store, Mailbox) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let mbx = store
        .create_mailbox("mario@pec.localhost", "$argon2id$x", 1 << 20)
        .await
        .unwrap();
    (dir, store, mbx)
}

/// Appends `n` messages of 100 bytes to INBOX.
pub async fn append_n(store: &Store, mbx: &Mailbox, n: usize) {
    for i in 0..n {
        store
            .append(mbx.id, "INBOX", msg(&i.to_string(), 100))
            .await
            .unwrap();
    }
}

/// Distinct message bodies the store keeps (one body may be referred to by many messages).
pub async fn body_count(store: &Store) -> usize {
    store.body_stats().await.unwrap().bodies as usize
}

/// Opens the store of a `fresh` directory again, as pecd does after a restart; the previous
/// `Store` must be dropped first (it holds the directory lock).
pub fn reopen(dir: &std::path::Path) -> Store {
    Store::open(&dir.join("store")).unwrap()
}
