//! COPY, MOVE and the folder operations IMAP needs (DELETE, RENAME, SUBSCRIBE), each checked
//! again after reopening the store, so that what a call returned is what is on disk.

mod common;

use common::*;
use pecd_store::*;

/// Everything a mailbox holds, bodies included, for comparing before and after a reopen.
#[derive(Debug, PartialEq)]
struct State {
    mailbox: Mailbox,
    folders: Vec<Folder>,
    messages: Vec<(MessageMeta, Vec<u8>)>,
    changes: Vec<Change>,
}

async fn state(store: &Store, mailbox: MailboxId) -> State {
    let folders = store.folders(mailbox).await.unwrap();
    let mut messages = Vec::new();
    for f in &folders {
        for meta in store.messages(f.id).await.unwrap() {
            let body = store.read_body(meta.clone()).await.unwrap();
            messages.push((meta, body));
        }
    }
    State {
        mailbox: store.mailbox(mailbox).await.unwrap().unwrap(),
        folders,
        messages,
        changes: store.changes_since(mailbox, 0).await.unwrap().changes,
    }
}

/// Drops `store`, reopens its directory and checks that the mailbox reads back the same.
async fn assert_durable(dir: &std::path::Path, store: Store, mailbox: MailboxId) -> Store {
    let before = state(&store, mailbox).await;
    drop(store);
    let store = reopen(dir);
    assert_eq!(state(&store, mailbox).await, before, "state after reopen");
    store
}

async fn folder(store: &Store, mbx: &Mailbox, name: &str) -> Folder {
    store.folder(mbx.id, name).await.unwrap().unwrap()
}

fn kinds(changes: &[Change]) -> Vec<(FolderId, Uid, ChangeKind)> {
    changes
        .iter()
        .map(|c| (c.folder_id, c.uid, c.kind))
        .collect()
}

#[tokio::test]
async fn message_metas_are_point_lookups_in_the_order_given() {
    let (_d, store, mbx) = fresh().await;
    append_n(&store, &mbx, 3).await;
    let inbox = folder(&store, &mbx, "INBOX").await;
    let metas = store
        .message_metas(inbox.id, vec![3, 1, 42, 2])
        .await
        .unwrap();
    assert_eq!(
        metas.iter().map(|m| m.uid).collect::<Vec<_>>(),
        vec![3, 1, 2]
    );
    assert_eq!(store.folder_by_id(inbox.id).await.unwrap(), Some(inbox));
    assert_eq!(store.folder_by_id(u64::MAX).await.unwrap(), None);
}

#[tokio::test]
async fn copy_keeps_flags_and_bodies_readable_after_the_source_is_expunged() {
    let (d, store, mbx) = fresh().await;
    for (subject, flags, keywords) in [
        ("one", Flags::SEEN, vec!["$Label1".to_string()]),
        ("two", Flags::default(), vec![]),
        (
            "three",
            Flags::SEEN.union(Flags::FLAGGED),
            vec!["NonJunk".into()],
        ),
    ] {
        let mut m = msg(subject, 100);
        m.flags = flags;
        m.keywords = keywords;
        m.internal_date = Some(1_700_000_000);
        store.append(mbx.id, "INBOX", m).await.unwrap();
    }
    let (inbox, archive) = (
        folder(&store, &mbx, "INBOX").await,
        folder(&store, &mbx, "Archive").await,
    );
    let start = store.mailbox(mbx.id).await.unwrap().unwrap().modseq;
    let copied = store
        .copy_messages(mbx.id, inbox.id, vec![3, 1], archive.id, false)
        .await
        .unwrap();
    assert_eq!(copied.uidvalidity, archive.uidvalidity);
    assert_eq!(copied.pairs, vec![(1, 1), (3, 2)], "ascending by source");
    assert_eq!(copied.modseq, start + 2);
    let log = store.changes_since(mbx.id, start).await.unwrap().changes;
    assert_eq!(
        kinds(&log),
        vec![
            (archive.id, 1, ChangeKind::Appended),
            (archive.id, 2, ChangeKind::Appended)
        ]
    );

    let sources = store.message_metas(inbox.id, vec![1, 3]).await.unwrap();
    let copies = store.messages(archive.id).await.unwrap();
    for (source, copy) in sources.iter().zip(&copies) {
        assert_eq!(
            (copy.flags, &copy.keywords, copy.internal_date, copy.size),
            (
                source.flags,
                &source.keywords,
                source.internal_date,
                source.size
            )
        );
        assert_eq!(copy.blob, source.blob, "a copy refers to its source's body");
        assert!(copy.modseq > start && copy.folder_id == archive.id);
    }
    let m = store.mailbox(mbx.id).await.unwrap().unwrap();
    assert_eq!((m.used_bytes, m.message_count), (500, 5));
    let archive = folder(&store, &mbx, "Archive").await;
    assert_eq!(
        (
            archive.uidnext,
            archive.message_count,
            archive.size_bytes,
            archive.highestmodseq
        ),
        (3, 2, 200, copied.modseq)
    );
    // Three bodies, five references: the copies share their sources' bodies.
    assert_eq!(body_count(&store).await, 3);
    assert_eq!(store.body_stats().await.unwrap().references, 5);

    store
        .delete_messages(mbx.id, inbox.id, vec![1, 2, 3])
        .await
        .unwrap();
    assert_eq!(body_count(&store).await, 2, "the copies' bodies remain");
    let store = assert_durable(d.path(), store, mbx.id).await;
    let copies = store.messages(archive.id).await.unwrap();
    let body = store.read_body(copies[1].clone()).await.unwrap();
    assert!(body.starts_with(b"From: a@pec.localhost\r\nSubject: three\r\n"));
    assert_eq!(body_count(&store).await, 2, "nothing left for the sweep");
}

#[tokio::test]
async fn copy_into_the_same_folder_duplicates_and_move_into_it_is_refused() {
    let (d, store, mbx) = fresh().await;
    append_n(&store, &mbx, 2).await;
    let inbox = folder(&store, &mbx, "INBOX").await;
    let copied = store
        .copy_messages(mbx.id, inbox.id, vec![1, 2], inbox.id, false)
        .await
        .unwrap();
    assert_eq!(copied.pairs, vec![(1, 3), (2, 4)]);
    let inbox = folder(&store, &mbx, "INBOX").await;
    assert_eq!((inbox.message_count, inbox.size_bytes), (4, 400));
    let err = store
        .copy_messages(mbx.id, inbox.id, vec![1], inbox.id, true)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    // Two bodies, each referred to by a message and its copy.
    assert_eq!(body_count(&store).await, 2);
    assert_eq!(store.body_stats().await.unwrap().references, 4);
    assert_durable(d.path(), store, mbx.id).await;
}

#[tokio::test]
async fn move_is_one_atomic_step() {
    let (d, store, mbx) = fresh().await;
    append_n(&store, &mbx, 3).await;
    let (inbox, archive) = (
        folder(&store, &mbx, "INBOX").await,
        folder(&store, &mbx, "Archive").await,
    );
    let before = store.mailbox(mbx.id).await.unwrap().unwrap();
    let bodies: Vec<_> = {
        let metas = store.message_metas(inbox.id, vec![1, 3]).await.unwrap();
        let mut out = Vec::new();
        for meta in metas {
            out.push(store.read_body(meta).await.unwrap());
        }
        out
    };
    let mut notices = store.subscribe();
    let moved = store
        .copy_messages(mbx.id, inbox.id, vec![1, 3], archive.id, true)
        .await
        .unwrap();
    assert_eq!(moved.pairs, vec![(1, 1), (3, 2)]);
    assert_eq!(notices.recv().await.unwrap().modseq, moved.modseq);

    let left: Vec<_> = store.messages(inbox.id).await.unwrap();
    assert_eq!(left.iter().map(|m| m.uid).collect::<Vec<_>>(), vec![2]);
    let arrived = store.messages(archive.id).await.unwrap();
    assert_eq!(
        arrived.iter().map(|m| m.uid).collect::<Vec<_>>(),
        vec![1, 2]
    );
    for (meta, body) in arrived.iter().zip(&bodies) {
        assert_eq!(&store.read_body(meta.clone()).await.unwrap(), body);
    }
    let log = store
        .changes_since(mbx.id, before.modseq)
        .await
        .unwrap()
        .changes;
    assert_eq!(
        kinds(&log),
        vec![
            (archive.id, 1, ChangeKind::Appended),
            (archive.id, 2, ChangeKind::Appended),
            (inbox.id, 1, ChangeKind::Expunged),
            (inbox.id, 3, ChangeKind::Expunged),
        ]
    );
    assert_eq!(log.last().unwrap().modseq, moved.modseq);
    let m = store.mailbox(mbx.id).await.unwrap().unwrap();
    assert_eq!(
        (m.used_bytes, m.message_count),
        (before.used_bytes, before.message_count),
        "a move stays within the mailbox"
    );
    let (inbox, archive) = (
        folder(&store, &mbx, "INBOX").await,
        folder(&store, &mbx, "Archive").await,
    );
    assert_eq!((inbox.message_count, inbox.size_bytes), (1, 100));
    assert_eq!((archive.message_count, archive.size_bytes), (2, 200));
    assert_eq!(inbox.highestmodseq, moved.modseq);
    assert_eq!(
        body_count(&store).await,
        3,
        "a moved message keeps its one body: nothing copied, nothing left behind"
    );
    assert_durable(d.path(), store, mbx.id).await;
}

#[tokio::test]
async fn missing_uids_are_skipped() {
    let (d, store, mbx) = fresh().await;
    append_n(&store, &mbx, 2).await;
    let (inbox, sent) = (
        folder(&store, &mbx, "INBOX").await,
        folder(&store, &mbx, "Sent").await,
    );
    let copied = store
        .copy_messages(mbx.id, inbox.id, vec![42, 2, 2], sent.id, false)
        .await
        .unwrap();
    assert_eq!(copied.pairs, vec![(2, 1)]);
    let modseq = store.mailbox(mbx.id).await.unwrap().unwrap().modseq;
    for remove_source in [false, true] {
        let none = store
            .copy_messages(mbx.id, inbox.id, vec![7, 8], sent.id, remove_source)
            .await
            .unwrap();
        assert_eq!(
            none,
            Copied {
                uidvalidity: sent.uidvalidity,
                pairs: vec![],
                modseq
            }
        );
    }
    assert_eq!(store.mailbox(mbx.id).await.unwrap().unwrap().modseq, modseq);
    // The copy shares its source's body.
    assert_eq!(body_count(&store).await, 2);
    assert_eq!(store.body_stats().await.unwrap().references, 3);
    let other = store
        .create_mailbox("luigi@pec.localhost", "h", 1 << 20)
        .await
        .unwrap();
    let err = store
        .copy_messages(other.id, inbox.id, vec![1], sent.id, false)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NoFolder(_)),
        "another mailbox's folder: {err}"
    );
    assert_durable(d.path(), store, mbx.id).await;
}

#[tokio::test]
async fn a_copy_over_quota_changes_nothing_and_a_move_needs_no_room() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let mbx = store
        .create_mailbox("mario@pec.localhost", "h", 1000)
        .await
        .unwrap();
    for i in 0..2 {
        store
            .append(mbx.id, "INBOX", msg(&i.to_string(), 300))
            .await
            .unwrap();
    }
    let (inbox, archive) = (
        folder(&store, &mbx, "INBOX").await,
        folder(&store, &mbx, "Archive").await,
    );
    let before = state(&store, mbx.id).await;
    let err = store
        .copy_messages(mbx.id, inbox.id, vec![1, 2], archive.id, false)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::OverQuota {
                used: 600,
                quota: 1000,
                size: 600
            }
        ),
        "{err}"
    );
    assert_eq!(state(&store, mbx.id).await, before);
    assert_eq!(body_count(&store).await, 2, "no link left behind");

    let moved = store
        .copy_messages(mbx.id, inbox.id, vec![1, 2], archive.id, true)
        .await
        .unwrap();
    assert_eq!(moved.pairs.len(), 2);
    let m = store.mailbox(mbx.id).await.unwrap().unwrap();
    assert_eq!((m.used_bytes, m.message_count), (600, 2));
    let copied = store
        .copy_messages(mbx.id, archive.id, vec![1], inbox.id, false)
        .await
        .unwrap();
    assert_eq!(copied.pairs, vec![(1, 3)], "one copy still fits");
    assert_durable(dir.path(), store, mbx.id).await;
}

#[tokio::test]
async fn concurrent_copies_and_expunges_leave_counters_and_bodies_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let mbx = store
        .create_mailbox("mario@pec.localhost", "h", 1000)
        .await
        .unwrap();
    append_n(&store, &mbx, 1).await;
    let (inbox, archive) = (
        folder(&store, &mbx, "INBOX").await,
        folder(&store, &mbx, "Archive").await,
    );
    // Each copy passes the early check alone; together only nine fit, so the others are
    // refused inside the transaction, after their body link was made.
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .copy_messages(mbx.id, inbox.id, vec![1], archive.id, false)
                    .await
            })
        })
        .collect();
    let mut accepted = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(c) => accepted += c.pairs.len(),
            Err(e) => assert!(matches!(e, StoreError::OverQuota { .. }), "{e}"),
        }
    }
    assert_eq!(accepted, 9);
    // One body; the message and its nine copies refer to it, refused copies do not.
    assert_eq!(body_count(&store).await, 1);
    assert_eq!(
        store.body_stats().await.unwrap().references,
        10,
        "refused copies left no reference"
    );

    // A move racing an expunge of some of the same messages: each message ends up in exactly
    // one place, and every body file on disk belongs to a message.
    let moving = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .copy_messages(mbx.id, archive.id, (1..=9).collect(), inbox.id, true)
                .await
        })
    };
    let removed = store
        .delete_messages(mbx.id, archive.id, vec![2, 4, 6, 8])
        .await
        .unwrap();
    let moved = moving.await.unwrap().unwrap();
    let moved_sources: Vec<Uid> = moved.pairs.iter().map(|p| p.0).collect();
    assert!(moved_sources.iter().all(|u| !removed.contains(u)));
    assert_eq!(moved_sources.len() + removed.len(), 9);
    let m = store.mailbox(mbx.id).await.unwrap().unwrap();
    let (inbox, archive) = (
        folder(&store, &mbx, "INBOX").await,
        folder(&store, &mbx, "Archive").await,
    );
    assert_eq!(archive.message_count, 0);
    assert_eq!(
        m.message_count,
        u64::from(inbox.message_count + archive.message_count)
    );
    assert_eq!(m.used_bytes, inbox.size_bytes + archive.size_bytes);
    assert_eq!(
        store.body_stats().await.unwrap().references,
        m.message_count,
        "every body reference belongs to a message"
    );
    assert_durable(dir.path(), store, mbx.id).await;
}

#[tokio::test]
async fn delete_folder_frees_quota_and_refuses_system_folders() {
    let (d, store, mbx) = fresh().await;
    let clienti = store.create_folder(mbx.id, "Clienti", None).await.unwrap();
    let roma = store
        .create_folder(mbx.id, "Clienti/Roma", None)
        .await
        .unwrap();
    for i in 0..2 {
        store
            .append(mbx.id, "Clienti", msg(&i.to_string(), 300))
            .await
            .unwrap();
    }
    append_n(&store, &mbx, 1).await;
    let start = store.mailbox(mbx.id).await.unwrap().unwrap().modseq;
    let mut notices = store.subscribe();

    let deleted = store.delete_folder(mbx.id, clienti.id).await.unwrap();
    assert_eq!(
        (deleted.id, deleted.name.as_str(), deleted.message_count),
        (clienti.id, "Clienti", 2)
    );
    let log = store.changes_since(mbx.id, start).await.unwrap().changes;
    assert_eq!(
        kinds(&log),
        vec![
            (clienti.id, 1, ChangeKind::Expunged),
            (clienti.id, 2, ChangeKind::Expunged),
            (clienti.id, 0, ChangeKind::FolderDeleted),
        ]
    );
    assert_eq!(notices.recv().await.unwrap().modseq, log[2].modseq);
    let m = store.mailbox(mbx.id).await.unwrap().unwrap();
    assert_eq!((m.used_bytes, m.message_count), (100, 1));
    assert!(store.folder(mbx.id, "Clienti").await.unwrap().is_none());
    assert!(store.folder_by_id(clienti.id).await.unwrap().is_none());
    assert!(store.messages(clienti.id).await.unwrap().is_empty());
    assert_eq!(
        folder(&store, &mbx, "Clienti/Roma").await,
        roma,
        "folders below it stay"
    );
    assert_eq!(body_count(&store).await, 1);

    for name in ["INBOX", "Trash", "Sent"] {
        let f = folder(&store, &mbx, name).await;
        let err = store.delete_folder(mbx.id, f.id).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::Invalid(t) if t.contains("system folder")),
            "{name}: {err}"
        );
    }
    assert!(matches!(
        store.delete_folder(mbx.id, clienti.id).await,
        Err(StoreError::NoFolder(_))
    ));
    let store = assert_durable(d.path(), store, mbx.id).await;
    let again = store.create_folder(mbx.id, "Clienti", None).await.unwrap();
    assert!(
        again.uidvalidity > clienti.uidvalidity,
        "a reused name gets a new UIDVALIDITY"
    );
    let stats = store.stats().await.unwrap();
    assert_eq!((stats.messages, stats.used_bytes), (1, 100));
}

#[tokio::test]
async fn rename_moves_children_and_keeps_ids_and_messages() {
    let (d, store, mbx) = fresh().await;
    let mut created = Vec::new();
    for name in ["Old", "Old/Child", "Old/Child/Deep", "Older", "Other"] {
        created.push(store.create_folder(mbx.id, name, None).await.unwrap());
    }
    store
        .append(mbx.id, "Old/Child", msg("kept", 100))
        .await
        .unwrap();
    let start = store.mailbox(mbx.id).await.unwrap().unwrap().modseq;

    let renamed = store
        .rename_folder(mbx.id, created[0].id, "New")
        .await
        .unwrap();
    assert_eq!(
        (renamed.id, renamed.name.as_str(), renamed.uidvalidity),
        (created[0].id, "New", created[0].uidvalidity)
    );
    for (old, new) in [
        (&created[0], "New"),
        (&created[1], "New/Child"),
        (&created[2], "New/Child/Deep"),
        (&created[3], "Older"),
    ] {
        let f = folder(&store, &mbx, new).await;
        assert_eq!((f.id, f.uidvalidity), (old.id, old.uidvalidity), "{new}");
    }
    for gone in ["Old", "Old/Child", "Old/Child/Deep"] {
        assert!(
            store.folder(mbx.id, gone).await.unwrap().is_none(),
            "{gone}"
        );
    }
    let child = folder(&store, &mbx, "New/Child").await;
    assert_eq!((child.message_count, child.uidnext), (1, 2));
    let metas = store.messages(child.id).await.unwrap();
    assert!(store
        .read_body(metas[0].clone())
        .await
        .unwrap()
        .starts_with(b"From: a@pec.localhost\r\nSubject: kept\r\n"));
    let log = store.changes_since(mbx.id, start).await.unwrap().changes;
    assert_eq!(
        kinds(&log),
        vec![
            (created[0].id, 0, ChangeKind::FolderRenamed),
            (created[1].id, 0, ChangeKind::FolderRenamed),
            (created[2].id, 0, ChangeKind::FolderRenamed),
        ]
    );

    let (inbox, sent) = (
        folder(&store, &mbx, "INBOX").await,
        folder(&store, &mbx, "Sent").await,
    );
    let taken = [
        (created[4].id, "New"),
        (created[4].id, "Other"),
        (created[4].id, "inbox"),
    ];
    for (id, name) in taken {
        let err = store.rename_folder(mbx.id, id, name).await.unwrap_err();
        assert!(matches!(err, StoreError::Exists(_)), "{name}: {err}");
    }
    let invalid = [
        (renamed.id, "New/Below", "below itself"),
        (renamed.id, "bad\nname", "folder name"),
        (inbox.id, "Posta", "INBOX is a system folder"),
        (sent.id, "Inviata", "Sent is a system folder"),
    ];
    for (id, name, why) in invalid {
        let err = store.rename_folder(mbx.id, id, name).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::Invalid(t) if t.contains(why)),
            "{name}: {err}"
        );
    }
    assert_eq!(
        store.mailbox(mbx.id).await.unwrap().unwrap().modseq,
        log[2].modseq,
        "refused renames change nothing"
    );
    assert_durable(d.path(), store, mbx.id).await;
}

#[tokio::test]
async fn subscriptions_are_durable() {
    let (d, store, mbx) = fresh().await;
    let junk = folder(&store, &mbx, "Junk").await;
    let modseq = store.mailbox(mbx.id).await.unwrap().unwrap().modseq;
    let off = store.set_subscribed(mbx.id, junk.id, false).await.unwrap();
    assert!(!off.subscribed);
    assert_eq!(
        store.mailbox(mbx.id).await.unwrap().unwrap().modseq,
        modseq,
        "not a change of the folder's contents"
    );
    let store = assert_durable(d.path(), store, mbx.id).await;
    assert!(!folder(&store, &mbx, "Junk").await.subscribed);
    let on = store.set_subscribed(mbx.id, junk.id, true).await.unwrap();
    assert!(on.subscribed);
    let other = store
        .create_mailbox("luigi@pec.localhost", "h", 1 << 20)
        .await
        .unwrap();
    assert!(matches!(
        store.set_subscribed(other.id, junk.id, false).await,
        Err(StoreError::NoFolder(_))
    ));
    let store = assert_durable(d.path(), store, mbx.id).await;
    assert!(folder(&store, &mbx, "Junk").await.subscribed);
}
