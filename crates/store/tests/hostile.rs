//! Defence in depth and bounded growth: operations naming another mailbox's folder fail
//! without touching it; the change log, the submission keys and the store's own bookkeeping
//! do not grow without bound.

#[allow(dead_code)]
mod common;

use common::*;
use pecd_store::*;

async fn second_mailbox(store: &Store) -> (Mailbox, Folder) {
    let anna = store
        .create_mailbox("anna@pec.localhost", "$argon2id$x", 1 << 20)
        .await
        .unwrap();
    let inbox = store.folder(anna.id, "INBOX").await.unwrap().unwrap();
    (anna, inbox)
}

#[tokio::test]
async fn flag_and_removal_operations_refuse_another_mailboxs_folder() {
    let (_d, store, mario) = fresh().await;
    let (anna, anna_inbox) = second_mailbox(&store).await;
    append_n(&store, &anna, 2).await;
    store
        .set_flags(
            anna.id,
            anna_inbox.id,
            vec![1, 2],
            FlagOp::Add(Flags::DELETED, vec![]),
        )
        .await
        .unwrap();
    let before = store.mailbox(anna.id).await.unwrap().unwrap();
    let mario_before = store.mailbox(mario.id).await.unwrap().unwrap();

    let flags = store
        .set_flags(
            mario.id,
            anna_inbox.id,
            vec![1],
            FlagOp::Add(Flags::SEEN, vec!["$Junk".into()]),
        )
        .await;
    assert!(matches!(flags, Err(StoreError::NoFolder(_))), "{flags:?}");
    let expunge = store.expunge(mario.id, anna_inbox.id, None).await;
    assert!(
        matches!(expunge, Err(StoreError::NoFolder(_))),
        "{expunge:?}"
    );
    let expunge_uid = store.expunge(mario.id, anna_inbox.id, Some(vec![1])).await;
    assert!(matches!(expunge_uid, Err(StoreError::NoFolder(_))));
    let delete = store
        .delete_messages(mario.id, anna_inbox.id, vec![2])
        .await;
    assert!(matches!(delete, Err(StoreError::NoFolder(_))), "{delete:?}");
    // Nothing to remove is still no licence to name a folder that is not yours.
    let nothing = store.delete_messages(mario.id, anna_inbox.id, vec![]).await;
    assert!(matches!(nothing, Err(StoreError::NoFolder(_))));

    let messages = store.messages(anna_inbox.id).await.unwrap();
    assert_eq!(messages.len(), 2);
    assert!(messages
        .iter()
        .all(|m| m.flags == Flags::DELETED && m.keywords.is_empty()));
    assert_eq!(store.mailbox(anna.id).await.unwrap().unwrap(), before);
    let mario_after = store.mailbox(mario.id).await.unwrap().unwrap();
    assert_eq!(mario_after.modseq, mario_before.modseq);
    // The owner still can.
    assert_eq!(
        store.expunge(anna.id, anna_inbox.id, None).await.unwrap(),
        vec![1, 2]
    );
}

fn small_log(entries: u64) -> Retention {
    Retention {
        change_log_entries: entries,
        ..Retention::default()
    }
}

/// `n` flag changes on message 1 of INBOX, one change-log entry each.
async fn churn(store: &Store, mbx: &Mailbox, n: usize) {
    let inbox = store.folder(mbx.id, "INBOX").await.unwrap().unwrap();
    for i in 0..n {
        let op = if i % 2 == 0 {
            FlagOp::Add(Flags::SEEN, vec![])
        } else {
            FlagOp::Remove(Flags::SEEN, vec![])
        };
        let changed = store
            .set_flags(mbx.id, inbox.id, vec![1], op)
            .await
            .unwrap();
        assert_eq!(changed.len(), 1);
    }
}

#[tokio::test]
async fn the_change_log_is_compacted_and_says_where_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(
        &dir.path().join("store"),
        small_log(20),
        pecd_store::DEFAULT_CACHE_BYTES,
    )
    .unwrap();
    let mbx = store
        .create_mailbox("mario@pec.localhost", "$argon2id$x", 1 << 20)
        .await
        .unwrap();
    append_n(&store, &mbx, 3).await;
    churn(&store, &mbx, 200).await;
    let m = store.mailbox(mbx.id).await.unwrap().unwrap();
    // 6 folders, 3 appends and 200 flag changes: every one has a modseq.
    assert_eq!(m.modseq, 209);

    let all = store.changes_since(mbx.id, 0).await.unwrap();
    assert!(!all.complete, "the log no longer reaches modseq 0");
    assert!(all.floor > 0 && all.floor < m.modseq, "{}", all.floor);
    // Bounded: at most the retention plus a quarter, and never less than the retention.
    let kept = all.changes.len() as u64;
    assert!((20..=26).contains(&kept), "{kept} entries kept");
    assert_eq!(kept, m.modseq - all.floor);
    assert_eq!(all.changes.first().unwrap().modseq, all.floor + 1);
    assert_eq!(all.changes.last().unwrap().modseq, m.modseq);

    // A reader within the retention gets every change, and is told so.
    let recent = store.changes_since(mbx.id, m.modseq - 20).await.unwrap();
    assert!(recent.complete);
    assert_eq!(recent.changes.len(), 20);
    let at_floor = store.changes_since(mbx.id, all.floor).await.unwrap();
    assert!(at_floor.complete);
    let below = store.changes_since(mbx.id, all.floor - 1).await.unwrap();
    assert!(!below.complete);

    // The floor survives a restart; deleting the mailbox takes it along.
    drop(store);
    let store = Store::open_with(
        &dir.path().join("store"),
        small_log(20),
        pecd_store::DEFAULT_CACHE_BYTES,
    )
    .unwrap();
    assert_eq!(
        store.changes_since(mbx.id, 0).await.unwrap().floor,
        all.floor
    );
    store.delete_mailbox(mbx.id).await.unwrap();
    let gone = store.changes_since(mbx.id, 0).await.unwrap();
    assert_eq!(
        (gone.floor, gone.complete, gone.changes.len()),
        (0, true, 0)
    );
}

#[tokio::test]
async fn prune_compacts_logs_written_under_a_larger_retention() {
    let (dir, store, mbx) = fresh().await;
    append_n(&store, &mbx, 1).await;
    churn(&store, &mbx, 60).await;
    let m = store.mailbox(mbx.id).await.unwrap().unwrap();
    assert!(store.changes_since(mbx.id, 0).await.unwrap().complete);
    drop(store);

    let store = Store::open_with(
        &dir.path().join("store"),
        small_log(10),
        pecd_store::DEFAULT_CACHE_BYTES,
    )
    .unwrap();
    let pruned = store.prune(chrono::Utc::now().timestamp()).await.unwrap();
    assert_eq!(pruned.changes as u64, m.modseq - 10);
    let log = store.changes_since(mbx.id, 0).await.unwrap();
    assert_eq!((log.floor, log.changes.len()), (m.modseq - 10, 10));
    // Nothing more to do the second time.
    let again = store.prune(chrono::Utc::now().timestamp()).await.unwrap();
    assert_eq!(again, Pruned::default());
}

fn submission(key: &str, pec_id: &str) -> Certification {
    Certification {
        dedup_key: Some(key.as_bytes().to_vec()),
        pec_id: pec_id.into(),
        ..Certification::default()
    }
}

#[tokio::test]
async fn submission_keys_expire_after_their_window() {
    let (dir, store, _) = fresh().await;
    let now = chrono::Utc::now().timestamp();
    for i in 0..1200 {
        let step = submission(&format!("key-{i}"), &format!("id{i}@pec.localhost"));
        assert!(matches!(
            store.certify(step).await.unwrap(),
            Certified::Stored(_)
        ));
    }
    let retry = submission("key-7", "other@pec.localhost");
    assert_eq!(
        store.certify(retry.clone()).await.unwrap(),
        Certified::Duplicate("id7@pec.localhost".into())
    );
    // Within the window nothing goes.
    assert_eq!(store.prune(now + 6 * 86_400).await.unwrap().dedup_keys, 0);
    assert!(matches!(
        store.certify(retry.clone()).await.unwrap(),
        Certified::Duplicate(_)
    ));
    // A week and a bit later every key has gone (in several batches), and survives a
    // restart gone.
    let later = now + DEFAULT_DEDUP_SECONDS + 120;
    assert_eq!(store.prune(later).await.unwrap().dedup_keys, 1200);
    drop(store);
    let store = reopen(dir.path());
    assert_eq!(store.prune(later).await.unwrap().dedup_keys, 0);
    assert!(matches!(
        store.certify(retry.clone()).await.unwrap(),
        Certified::Stored(_)
    ));
    // Recorded again, the key counts from its new recording.
    assert_eq!(store.prune(now + 86_400).await.unwrap().dedup_keys, 0);
    assert!(matches!(
        store.certify(retry).await.unwrap(),
        Certified::Duplicate(_)
    ));
}

#[test]
fn open_refuses_a_retention_that_keeps_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    assert!(matches!(
        Store::open_with(&path, small_log(0), pecd_store::DEFAULT_CACHE_BYTES),
        Err(StoreError::Invalid(_))
    ));
    let no_window = Retention {
        dedup_seconds: 0,
        ..Retention::default()
    };
    assert!(matches!(
        Store::open_with(&path, no_window, pecd_store::DEFAULT_CACHE_BYTES),
        Err(StoreError::Invalid(_))
    ));
}
