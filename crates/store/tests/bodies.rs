//! Message bodies in segments: one body referred to by many messages (certified deliveries,
//! copies, relay queue entries), freed with its last reference, compaction of mostly dead
//! segments, the migration from one file per body, and a torn segment tail after a crash.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use pecd_store::*;

/// A certification step delivering `bytes` to the INBOX of each of `mailboxes`.
fn step(pec_id: &str, mailboxes: &[MailboxId], bytes: &[u8], relay: bool) -> Certification {
    Certification {
        dedup_key: None,
        dedup_keep_seconds: None,
        pec_id: pec_id.into(),
        deliveries: mailboxes
            .iter()
            .map(|&mailbox| Delivery {
                mailbox,
                folder: "INBOX".into(),
                bytes: bytes.to_vec().into(),
            })
            .collect(),
        log: vec![],
        trace: None,
        queue: if relay {
            vec![Outbound {
                pec_id: pec_id.into(),
                sender: "mario@pec.localhost".into(),
                recipients: vec!["x@pec.example".into()],
                domain: "pec.example".into(),
                certified: true,
                label: "busta di trasporto".into(),
                created: 1000,
                bytes: bytes.to_vec().into(),
            }]
        } else {
            vec![]
        },
        queue_settle: None,
        archive: Vec::new(),
    }
}

async fn inbox_messages(store: &Store, mailbox: MailboxId) -> Vec<MessageMeta> {
    let inbox = store.folder(mailbox, "INBOX").await.unwrap().unwrap();
    store.messages(inbox.id).await.unwrap()
}

async fn mailboxes(store: &Store, n: usize) -> Vec<MailboxId> {
    let mut out = Vec::new();
    for i in 0..n {
        let m = store
            .create_mailbox(&format!("u{i}@pec.localhost"), "$argon2id$x", 1 << 20)
            .await
            .unwrap();
        out.push(m.id);
    }
    out
}

#[tokio::test]
async fn one_body_for_many_recipients_freed_with_its_last_reference() {
    let (_d, store, _) = fresh().await;
    let users = mailboxes(&store, 3).await;
    let bytes = b"Subject: busta\r\n\r\nthe same envelope for everyone\r\n".to_vec();
    let stored = store
        .certify(step("id1@pec.localhost", &users, &bytes, true))
        .await
        .unwrap();
    assert!(matches!(stored, Certified::Stored(ref a) if a.len() == 3));
    let stats = store.body_stats().await.unwrap();
    assert_eq!((stats.bodies, stats.references), (1, 4), "{stats:?}");
    assert_eq!(stats.live_bytes, bytes.len() as u64);
    assert_eq!(body_count(&store).await, 1);
    for &u in &users[..2] {
        let m = inbox_messages(&store, u).await;
        let inbox = store.folder(u, "INBOX").await.unwrap().unwrap();
        let uids = m.iter().map(|m| m.uid).collect();
        store.delete_messages(u, inbox.id, uids).await.unwrap();
        // Quota is logical: each mailbox counted the message, and gets it back.
        assert_eq!(store.mailbox(u).await.unwrap().unwrap().used_bytes, 0);
    }
    let last = inbox_messages(&store, users[2]).await;
    assert_eq!(store.read_body(last[0].clone()).await.unwrap(), bytes);
    let stats = store.body_stats().await.unwrap();
    assert_eq!((stats.bodies, stats.references), (1, 2));
    let entry = store.queue().await.unwrap().remove(0);
    assert_eq!(store.queue_body(entry.clone()).await.unwrap(), bytes);
    store.queue_remove(entry.id, vec![]).await.unwrap();
    let inbox = store.folder(users[2], "INBOX").await.unwrap().unwrap();
    store
        .delete_messages(users[2], inbox.id, vec![last[0].uid])
        .await
        .unwrap();
    let stats = store.body_stats().await.unwrap();
    assert_eq!(
        (stats.bodies, stats.references, stats.live_bytes),
        (0, 0, 0)
    );
    assert!(store.read_body(last[0].clone()).await.is_err(), "dead");
}

#[tokio::test]
async fn a_copy_shares_its_sources_body() {
    let (_d, store, mbx) = fresh().await;
    store
        .append(mbx.id, "INBOX", msg("shared", 3000))
        .await
        .unwrap();
    let inbox = store.folder(mbx.id, "INBOX").await.unwrap().unwrap();
    let archive = store.folder(mbx.id, "Archive").await.unwrap().unwrap();
    let before = store.body_stats().await.unwrap();
    store
        .copy_messages(mbx.id, inbox.id, vec![1], archive.id, false)
        .await
        .unwrap();
    let after = store.body_stats().await.unwrap();
    assert_eq!((after.bodies, after.references), (1, 2));
    assert_eq!(after.segment_bytes, before.segment_bytes, "no byte written");
    assert_eq!(
        store.mailbox(mbx.id).await.unwrap().unwrap().used_bytes,
        6000,
        "each copy counts against the quota"
    );
    let original = store.read_body(inbox_messages(&store, mbx.id).await[0].clone());
    let original = original.await.unwrap();
    store
        .delete_messages(mbx.id, inbox.id, vec![1])
        .await
        .unwrap();
    let copy = store.messages(archive.id).await.unwrap().remove(0);
    assert_eq!(store.read_body(copy).await.unwrap(), original);
    assert_eq!(store.body_stats().await.unwrap().references, 1);
}

#[tokio::test]
async fn compaction_keeps_live_bodies_and_frees_space() {
    let (d, store, mbx) = fresh().await;
    for i in 0..20 {
        store
            .append(mbx.id, "INBOX", msg(&format!("m{i}"), 20_000 + i))
            .await
            .unwrap();
    }
    drop(store);
    // A new open seals the segment: the next writes go to a new one.
    let store = reopen(d.path());
    let inbox = store.folder(mbx.id, "INBOX").await.unwrap().unwrap();
    store
        .delete_messages(mbx.id, inbox.id, (1..=15).collect())
        .await
        .unwrap();
    let kept: Vec<(MessageMeta, Vec<u8>)> = {
        let mut out = Vec::new();
        for m in store.messages(inbox.id).await.unwrap() {
            let body = store.read_body(m.clone()).await.unwrap();
            out.push((m, body));
        }
        out
    };
    let before = store.body_stats().await.unwrap();
    let disk_before = store.disk_usage().await.unwrap();
    assert_eq!(store.compact_bodies().await.unwrap(), 1);
    let after = store.body_stats().await.unwrap();
    assert_eq!(after.live_bytes, before.live_bytes);
    assert!(
        after.segment_bytes < before.segment_bytes / 3,
        "{before:?} -> {after:?}"
    );
    assert!(store.disk_usage().await.unwrap() < disk_before);
    for (meta, body) in &kept {
        assert_eq!(&store.read_body(meta.clone()).await.unwrap(), body);
    }
    assert_eq!(
        store.compact_bodies().await.unwrap(),
        0,
        "the current one stays"
    );
    drop(store);
    let store = reopen(d.path());
    for (meta, body) in &kept {
        assert_eq!(&store.read_body(meta.clone()).await.unwrap(), body);
    }
    assert_eq!(
        store.prune(0).await.unwrap().segments,
        0,
        "nothing mostly dead"
    );
}

/// Writes the store at `root` back into the previous layout, as the old code left it: one
/// file per body under `bodies/<first byte>/<id in hex>` (256 shard directories), no body
/// index, no segments.
fn to_legacy_layout(root: &Path, bodies: &BTreeMap<[u8; 16], Vec<u8>>) {
    let hex = |id: &[u8; 16]| id.iter().map(|b| format!("{b:02x}")).collect::<String>();
    for shard in 0..=255u8 {
        std::fs::create_dir_all(root.join(format!("bodies/{shard:02x}"))).unwrap();
    }
    for (id, bytes) in bodies {
        let path = root.join(format!("bodies/{:02x}/{}", id[0], hex(id)));
        std::fs::write(path, bytes).unwrap();
    }
    std::fs::remove_dir_all(root.join("bodies/segments")).unwrap();
    let db = sled::open(root.join("meta")).unwrap();
    assert!(db.drop_tree("body_index").unwrap());
    assert!(db.drop_tree("body_segments").unwrap());
    db.flush().unwrap();
}

/// Every message body and queued body of the store, by blob id.
async fn all_bodies(store: &Store, users: &[MailboxId]) -> BTreeMap<[u8; 16], Vec<u8>> {
    let mut out = BTreeMap::new();
    for &u in users {
        for f in store.folders(u).await.unwrap() {
            for m in store.messages(f.id).await.unwrap() {
                out.insert(m.blob, store.read_body(m).await.unwrap());
            }
        }
    }
    for e in store.queue().await.unwrap() {
        out.insert(e.blob, store.queue_body(e).await.unwrap());
    }
    out
}

#[tokio::test]
async fn a_store_of_one_file_per_body_is_migrated_byte_identical() {
    let (d, store, mbx) = fresh().await;
    let mut users = mailboxes(&store, 2).await;
    users.push(mbx.id);
    append_n(&store, &mbx, 5).await;
    store
        .append(mbx.id, "INBOX", msg("large", 200_000))
        .await
        .unwrap();
    for (i, &u) in users.iter().enumerate() {
        let bytes = format!("Subject: ricevuta {i}\r\n\r\nbody\r\n").into_bytes();
        let id = format!("id{i}@pec.localhost");
        store
            .certify(step(&id, &[u], &bytes, i == 0))
            .await
            .unwrap();
    }
    let expected = all_bodies(&store, &users).await;
    drop(store);
    let root = d.path().join("store");
    to_legacy_layout(&root, &expected);
    // What an interrupted write of the old code left: a temporary file, an orphan body.
    std::fs::write(root.join("bodies/00/0123.tmp"), b"half").unwrap();
    std::fs::write(
        root.join(format!("bodies/ab/ab{}", "0".repeat(30))),
        b"orphan",
    )
    .unwrap();
    let store = reopen(d.path());
    assert_eq!(all_bodies(&store, &users).await, expected);
    let stats = store.body_stats().await.unwrap();
    assert_eq!(stats.bodies as usize, expected.len());
    let left: Vec<_> = std::fs::read_dir(root.join("bodies"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec!["segments"], "the old layout is gone");
    drop(store);
    // A migration killed after its commit, before deleting the files, is finished by the
    // next open: the files go, the bodies and their counts stay.
    let again: BTreeMap<_, _> = expected
        .iter()
        .take(3)
        .map(|(k, v)| (*k, v.clone()))
        .collect();
    for (id, bytes) in &again {
        let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let dir = root.join(format!("bodies/{:02x}", id[0]));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(hex), bytes).unwrap();
    }
    let store = reopen(d.path());
    assert_eq!(all_bodies(&store, &users).await, expected);
    assert_eq!(store.body_stats().await.unwrap(), stats);
    assert_eq!(std::fs::read_dir(root.join("bodies")).unwrap().count(), 1);
}

#[tokio::test]
async fn a_torn_segment_tail_is_ignored_and_never_appended_to() {
    let (d, store, mbx) = fresh().await;
    append_n(&store, &mbx, 3).await;
    let before = store.body_stats().await.unwrap();
    drop(store);
    // A crash in the middle of a write: bytes past the last committed body, no index entry.
    let segments = d.path().join("store/bodies/segments");
    let last = std::fs::read_dir(&segments)
        .unwrap()
        .map(|e| e.unwrap().path())
        .max()
        .unwrap();
    let mut torn = std::fs::read(&last).unwrap();
    torn.extend_from_slice(&[0xAB; 777]);
    std::fs::write(&last, torn).unwrap();
    let store = reopen(d.path());
    append_n(&store, &mbx, 3).await;
    let after = store.body_stats().await.unwrap();
    assert_eq!(
        after.segments,
        before.segments + 1,
        "a new segment after the open"
    );
    assert_eq!(after.live_bytes, 6 * 100);
    let inbox = store.folder(mbx.id, "INBOX").await.unwrap().unwrap();
    for m in store.messages(inbox.id).await.unwrap() {
        let body = store.read_body(m.clone()).await.unwrap();
        assert_eq!(body, msg(&((m.uid - 1) % 3).to_string(), 100).bytes);
    }
    // The torn segment is mostly live; its dead tail waits until it is mostly dead.
    store
        .delete_messages(mbx.id, inbox.id, vec![1, 2, 3])
        .await
        .unwrap();
    assert_eq!(store.compact_bodies().await.unwrap(), 1);
    assert_eq!(store.body_stats().await.unwrap().segments, 1);
}

#[tokio::test]
async fn readers_racing_compaction_read_the_right_bytes() {
    let (d, store, mbx) = fresh().await;
    for i in 0..40 {
        store
            .append(mbx.id, "INBOX", msg(&format!("r{i}"), 8_000 + i))
            .await
            .unwrap();
    }
    drop(store);
    let store = reopen(d.path());
    let inbox = store.folder(mbx.id, "INBOX").await.unwrap().unwrap();
    let gone: Vec<Uid> = (1..=40).filter(|u| u % 4 != 0).collect();
    store.delete_messages(mbx.id, inbox.id, gone).await.unwrap();
    let metas = store.messages(inbox.id).await.unwrap();
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (store, metas) = (store.clone(), metas.clone());
            tokio::spawn(async move {
                for _ in 0..20 {
                    for m in &metas {
                        let body = store.read_body(m.clone()).await.unwrap();
                        let i = m.uid as usize - 1;
                        assert_eq!(body, msg(&format!("r{i}"), 8_000 + i).bytes);
                    }
                }
            })
        })
        .collect();
    assert_eq!(store.compact_bodies().await.unwrap(), 1);
    for r in readers {
        r.await.unwrap();
    }
}

/// Regression (review of the body index): rewriting a queue entry never changes which body
/// it refers to, so a caller that hands back an entry with another blob id cannot make the
/// reference counts drift.
#[tokio::test]
async fn a_queue_update_keeps_the_entry_s_body() {
    let (_d, store, _) = fresh().await;
    let users = mailboxes(&store, 1).await;
    let bytes = b"Subject: busta\r\n\r\nrelayed\r\n".to_vec();
    store
        .certify(step("id-q@pec.localhost", &users, &bytes, true))
        .await
        .unwrap();
    let mut entry = store.queue().await.unwrap().remove(0);
    let blob = entry.blob;
    entry.blob = [0; 16];
    entry.attempts += 1;
    assert!(store.queue_update(entry, vec![]).await.unwrap());
    let entry = store.queue().await.unwrap().remove(0);
    assert_eq!((entry.blob, entry.attempts), (blob, 1));
    assert_eq!(store.queue_body(entry).await.unwrap(), bytes);
    let stats = store.body_stats().await.unwrap();
    assert_eq!((stats.bodies, stats.references), (1, 2), "{stats:?}");
}
