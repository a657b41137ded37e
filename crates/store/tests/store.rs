//! The store's contract, through its public async API.

mod common;

use common::*;
use pecd_store::*;

#[tokio::test]
async fn new_mailbox_has_the_special_use_folders() {
    let (_d, store, mbx) = fresh().await;
    let folders = store.folders(mbx.id).await.unwrap();
    let mut names: Vec<_> = folders.iter().map(|f| (f.name.as_str(), f.role)).collect();
    names.sort_by_key(|(n, _)| n.to_string());
    assert_eq!(
        names,
        vec![
            ("Archive", Some(SpecialUse::Archive)),
            ("Drafts", Some(SpecialUse::Drafts)),
            ("INBOX", Some(SpecialUse::Inbox)),
            ("Junk", Some(SpecialUse::Junk)),
            ("Sent", Some(SpecialUse::Sent)),
            ("Trash", Some(SpecialUse::Trash)),
        ]
    );
    let validities: std::collections::HashSet<_> = folders.iter().map(|f| f.uidvalidity).collect();
    assert_eq!(validities.len(), 6, "every folder has its own UIDVALIDITY");
    assert!(folders.iter().all(|f| f.uidnext == 1 && f.subscribed));
    assert!(matches!(
        store.create_mailbox("mario@pec.localhost", "h", 1).await,
        Err(StoreError::Exists(_))
    ));
    assert_eq!(
        store.folder(mbx.id, "inbox").await.unwrap().unwrap().name,
        "INBOX"
    );
}

#[tokio::test]
async fn appends_allocate_uids_and_account_quota() {
    let (_d, store, mbx) = fresh().await;
    let a = store
        .append(mbx.id, "INBOX", msg("one", 1000))
        .await
        .unwrap();
    let b = store
        .append(mbx.id, "inbox", msg("two", 2000))
        .await
        .unwrap();
    let c = store
        .append(mbx.id, "Sent", msg("three", 500))
        .await
        .unwrap();
    assert_eq!((a.uid, b.uid, c.uid), (1, 2, 1));
    assert!(a.modseq < b.modseq && b.modseq < c.modseq);
    let m = store.mailbox(mbx.id).await.unwrap().unwrap();
    assert_eq!((m.used_bytes, m.message_count), (3500, 3));
    let inbox = store.folder(mbx.id, "INBOX").await.unwrap().unwrap();
    assert_eq!(
        (inbox.uidnext, inbox.message_count, inbox.size_bytes),
        (3, 2, 3000)
    );
    assert_eq!(inbox.highestmodseq, b.modseq);
    let metas = store.messages(inbox.id).await.unwrap();
    assert_eq!(metas.iter().map(|m| m.uid).collect::<Vec<_>>(), vec![1, 2]);
    let body = store.read_body(metas[0].clone()).await.unwrap();
    assert!(body.starts_with(b"From: a@pec.localhost\r\nSubject: one\r\n"));
    assert!(matches!(
        store.append(mbx.id, "Nowhere", msg("x", 10)).await,
        Err(StoreError::NoFolder(_))
    ));
}

#[tokio::test]
async fn over_quota_is_refused_and_changes_nothing() {
    let (_d, store, mbx) = fresh().await;
    // Refused by the check before any body is written.
    store
        .append(mbx.id, "INBOX", msg("fits", 1 << 19))
        .await
        .unwrap();
    let err = store
        .append(mbx.id, "INBOX", msg("too big", (1 << 19) + 10))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::OverQuota { .. }), "{err}");
    // Refused inside the transaction: eight appends that each pass the early check, of which
    // only three fit together, so the others reach the transaction's refusal with their body
    // already written.
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .append(mbx.id, "Sent", msg(&format!("race {i}"), (1 << 17) + 1000))
                    .await
            })
        })
        .collect();
    let mut accepted = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => accepted += 1,
            Err(e) => assert!(matches!(e, StoreError::OverQuota { .. }), "{e}"),
        }
    }
    assert_eq!(accepted, 3);
    let m = store.mailbox(mbx.id).await.unwrap().unwrap();
    assert_eq!(m.message_count, 4);
    assert_eq!(
        body_count(&store).await,
        4,
        "refused bodies were not left behind"
    );
}

#[tokio::test]
async fn concurrent_appends_get_distinct_consecutive_uids() {
    let (_d, store, mbx) = fresh().await;
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .append(mbx.id, "INBOX", msg(&i.to_string(), 100))
                    .await
            })
        })
        .collect();
    let mut uids = Vec::new();
    for t in tasks {
        uids.push(t.await.unwrap().unwrap().uid);
    }
    uids.sort();
    assert_eq!(uids, (1..=32).collect::<Vec<_>>());
    let m = store.mailbox(mbx.id).await.unwrap().unwrap();
    assert_eq!(m.used_bytes, 3200);
}

#[tokio::test]
async fn flags_expunge_and_change_log() {
    let (_d, store, mbx) = fresh().await;
    append_n(&store, &mbx, 3).await;
    let inbox = store.folder(mbx.id, "INBOX").await.unwrap().unwrap();
    let start = store.mailbox(mbx.id).await.unwrap().unwrap().modseq;
    let changed = store
        .set_flags(
            mbx.id,
            inbox.id,
            vec![1, 2, 99],
            FlagOp::Add(Flags::DELETED, vec!["NonJunk".into()]),
        )
        .await
        .unwrap();
    assert_eq!(
        changed.iter().map(|m| m.uid).collect::<Vec<_>>(),
        vec![1, 2],
        "missing uid 99 skipped"
    );
    let again = store
        .set_flags(
            mbx.id,
            inbox.id,
            vec![1],
            FlagOp::Add(Flags::DELETED, vec!["nonjunk".into()]),
        )
        .await
        .unwrap();
    assert!(again.is_empty(), "no-op store changes nothing");
    let removed = store
        .expunge(mbx.id, inbox.id, Some(vec![2, 3]))
        .await
        .unwrap();
    assert_eq!(removed, vec![2]);
    let log = store.changes_since(mbx.id, start).await.unwrap().changes;
    let kinds: Vec<_> = log.iter().map(|c| (c.uid, c.kind)).collect();
    assert_eq!(
        kinds,
        vec![
            (1, ChangeKind::FlagsChanged),
            (2, ChangeKind::FlagsChanged),
            (2, ChangeKind::Expunged)
        ]
    );
    let m = store.mailbox(mbx.id).await.unwrap().unwrap();
    assert_eq!(
        (m.message_count, m.used_bytes, m.modseq),
        (2, 200, log[2].modseq)
    );
    let left = store.messages(inbox.id).await.unwrap();
    assert_eq!(left[0].keywords, vec!["NonJunk".to_string()]);
    assert!(left[0].flags.contains(Flags::DELETED));
}

#[tokio::test]
async fn delete_messages_ignores_flags_and_skips_missing_uids() {
    let (_d, store, mbx) = fresh().await;
    append_n(&store, &mbx, 3).await;
    let inbox = store.folder(mbx.id, "INBOX").await.unwrap().unwrap();
    let removed = store
        .delete_messages(mbx.id, inbox.id, vec![1, 3, 42])
        .await
        .unwrap();
    assert_eq!(removed, vec![1, 3]);
    let left: Vec<_> = store
        .messages(inbox.id)
        .await
        .unwrap()
        .iter()
        .map(|m| m.uid)
        .collect();
    assert_eq!(left, vec![2]);
    let m = store.mailbox(mbx.id).await.unwrap().unwrap();
    assert_eq!((m.message_count, m.used_bytes), (1, 100));
    let kinds: Vec<_> = store
        .changes_since(mbx.id, m.modseq - 2)
        .await
        .unwrap()
        .changes
        .iter()
        .map(|c| (c.uid, c.kind))
        .collect();
    assert_eq!(
        kinds,
        vec![(1, ChangeKind::Expunged), (3, ChangeKind::Expunged)]
    );
}

#[tokio::test]
async fn notices_follow_durable_changes() {
    let (_d, store, mbx) = fresh().await;
    let mut rx = store.subscribe();
    let a = store.append(mbx.id, "INBOX", msg("n", 10)).await.unwrap();
    let notice = rx.recv().await.unwrap();
    assert_eq!(
        notice,
        ChangeNotice {
            mailbox_id: mbx.id,
            modseq: a.modseq
        }
    );
}

#[tokio::test]
async fn reopen_keeps_everything_and_a_second_opener_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let (id, uidvalidity) = {
        let store = Store::open(&path).unwrap();
        let mbx = store
            .create_mailbox("a@pec.localhost", "h", 1 << 20)
            .await
            .unwrap();
        store
            .append(mbx.id, "INBOX", msg("kept", 100))
            .await
            .unwrap();
        let err = Store::open(&path).err().expect("second open must fail");
        assert!(matches!(err, StoreError::Locked(_)), "{err}");
        assert!(
            err.to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        let f = store.folder(mbx.id, "INBOX").await.unwrap().unwrap();
        (mbx.id, f.uidvalidity)
    };
    let store = Store::open(&path).unwrap();
    let mbx = store
        .find_mailbox("A@pec.localhost")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mbx.id, id);
    let f = store.folder(id, "INBOX").await.unwrap().unwrap();
    assert_eq!((f.uidvalidity, f.uidnext), (uidvalidity, 2));
    let next = store.append(id, "INBOX", msg("after", 10)).await.unwrap();
    assert_eq!(next.uid, 2, "UIDs are never reused across restarts");
}

#[tokio::test]
async fn new_folders_get_increasing_uidvalidity() {
    let (_d, store, mbx) = fresh().await;
    let a = store.create_folder(mbx.id, "Clienti", None).await.unwrap();
    assert!(matches!(
        store.create_folder(mbx.id, "Clienti", None).await,
        Err(StoreError::Exists(_))
    ));
    assert!(matches!(
        store.create_folder(mbx.id, "", None).await,
        Err(StoreError::Invalid(_))
    ));
    let b = store
        .create_folder(mbx.id, "Fornitori", None)
        .await
        .unwrap();
    assert!(b.uidvalidity > a.uidvalidity);
}

#[tokio::test]
async fn delete_mailbox_removes_everything() {
    let (d, store, mbx) = fresh().await;
    store
        .append(mbx.id, "INBOX", msg("gone", 100))
        .await
        .unwrap();
    let other = store
        .create_mailbox("luigi@pec.localhost", "h", 1 << 20)
        .await
        .unwrap();
    store
        .append(other.id, "INBOX", msg("stays", 100))
        .await
        .unwrap();
    store.delete_mailbox(mbx.id).await.unwrap();
    assert!(store
        .find_mailbox("mario@pec.localhost")
        .await
        .unwrap()
        .is_none());
    assert!(store.folders(mbx.id).await.unwrap().is_empty());
    assert!(store
        .changes_since(mbx.id, 0)
        .await
        .unwrap()
        .changes
        .is_empty());
    let list = store.list_mailboxes().await.unwrap();
    assert_eq!(
        list.iter().map(|m| m.address.as_str()).collect::<Vec<_>>(),
        vec!["luigi@pec.localhost"]
    );
    assert_eq!(
        body_count(&store).await,
        1,
        "only luigi's body remains on disk"
    );
    drop(store);
    let store = reopen(d.path());
    let stats = store.stats().await.unwrap();
    assert_eq!(
        (stats.mailboxes, stats.messages, stats.used_bytes),
        (1, 1, 100)
    );
}

#[tokio::test]
async fn a_rename_moves_the_address_and_refuses_one_in_use() {
    let (_d, store, mbx) = fresh().await;
    let other = store
        .create_mailbox("luigi@pec.localhost", "h", 1)
        .await
        .unwrap();
    assert!(matches!(
        store.rename_mailbox(mbx.id, "LUIGI@pec.localhost").await,
        Err(StoreError::Exists(_))
    ));
    assert_eq!(
        store
            .find_mailbox("mario@pec.localhost")
            .await
            .unwrap()
            .unwrap()
            .id,
        mbx.id,
        "a refused rename changes nothing"
    );
    let renamed = store
        .rename_mailbox(mbx.id, "Mario.Rossi@pec.localhost")
        .await
        .unwrap();
    assert_eq!(renamed.address, "mario.rossi@pec.localhost");
    assert!(store
        .find_mailbox("mario@pec.localhost")
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        store
            .find_mailbox("mario.rossi@pec.localhost")
            .await
            .unwrap()
            .unwrap()
            .id,
        mbx.id
    );
    assert_eq!(
        store
            .find_mailbox("luigi@pec.localhost")
            .await
            .unwrap()
            .unwrap()
            .id,
        other.id
    );
    let q = store.set_quota(mbx.id, 12345).await.unwrap();
    assert_eq!(q.quota_bytes, 12345);
}

#[tokio::test]
async fn a_batch_is_appended_in_order_with_its_flags_or_not_at_all() {
    let (_d, store, mbx) = fresh().await;
    let mut batch = Vec::new();
    for (i, (flags, keyword)) in [
        (Flags::SEEN, "$Forwarded"),
        (Flags::FLAGGED, "Urgente"),
        (Flags::default(), ""),
    ]
    .into_iter()
    .enumerate()
    {
        let mut m = msg(&format!("b{i}"), 1000);
        m.flags = flags;
        m.keywords = if keyword.is_empty() {
            vec![]
        } else {
            vec![keyword.to_string()]
        };
        m.internal_date = Some(1_790_000_000 + i as i64);
        batch.push(m);
    }
    let appended = store
        .append_batch(mbx.id, "Sent", batch.clone())
        .await
        .unwrap();
    assert_eq!(
        appended.iter().map(|a| a.uid).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    let folder = store.folder(mbx.id, "Sent").await.unwrap().unwrap();
    let metas = store.messages(folder.id).await.unwrap();
    for (meta, m) in metas.iter().zip(&batch) {
        assert_eq!(
            (meta.flags, &meta.keywords, Some(meta.internal_date)),
            (m.flags, &m.keywords, m.internal_date)
        );
        assert_eq!(store.read_body(meta.clone()).await.unwrap(), m.bytes);
    }
    let used = store.mailbox(mbx.id).await.unwrap().unwrap().used_bytes;
    assert_eq!(used, 3000);

    // Over the quota as a whole (1 MiB): nothing of it is stored.
    let big: Vec<NewMessage> = (0..3).map(|i| msg(&format!("big{i}"), 400_000)).collect();
    assert!(matches!(
        store.append_batch(mbx.id, "Sent", big).await,
        Err(StoreError::OverQuota { .. })
    ));
    assert_eq!(store.messages(folder.id).await.unwrap().len(), 3);
    assert_eq!(
        store.mailbox(mbx.id).await.unwrap().unwrap().used_bytes,
        used
    );
}
