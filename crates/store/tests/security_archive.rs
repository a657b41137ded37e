//! The security archive (PROVISIONING.md §8) in the store: copies written in the same step
//! as the message they copy, counted in the archive's own size and never in the mailbox's
//! quota, kept only while they fit, durable across a restart, and a folder no other write
//! touches.

#[allow(dead_code)]
mod common;

use common::*;
use pecd_store::*;

/// A step delivering `bytes` to `to`'s INBOX with a copy of each of `copies` (mailbox,
/// bytes) under `limit`.
fn step(
    pec_id: &str,
    to: MailboxId,
    bytes: &[u8],
    copies: &[(MailboxId, &[u8])],
    limit: u64,
) -> Certification {
    Certification {
        pec_id: pec_id.into(),
        deliveries: vec![Delivery {
            mailbox: to,
            folder: "INBOX".into(),
            bytes: bytes.to_vec().into(),
        }],
        archive: copies
            .iter()
            .map(|(m, b)| ArchiveCopy {
                mailbox: *m,
                bytes: b.to_vec().into(),
                limit_bytes: limit,
            })
            .collect(),
        ..Default::default()
    }
}

fn bytes(subject: &str, size: usize) -> Vec<u8> {
    msg(subject, size).bytes
}

#[tokio::test]
async fn a_copy_counts_in_the_archive_size_not_in_the_mailbox_quota() {
    let (_d, store, mario) = fresh().await;
    let m = bytes("one", 300);
    let (done, outcomes) = store
        .certify_archiving(step("a1", mario.id, &m, &[(mario.id, &m)], 1000))
        .await
        .unwrap();
    assert!(matches!(done, Certified::Stored(ref a) if a.len() == 1));
    assert_eq!(outcomes.len(), 1);
    let stored = outcomes[0].stored.clone().expect("fits");
    assert_eq!((outcomes[0].used_bytes, outcomes[0].size), (300, 300));
    let archive = store
        .folder(mario.id, SECURITY_ARCHIVE_FOLDER)
        .await
        .unwrap()
        .expect("created by the first copy");
    assert!(archive.is_security_archive());
    assert_eq!((archive.message_count, archive.size_bytes), (1, 300));
    assert_eq!(stored.folder_id, archive.id);
    let mbx = store.mailbox(mario.id).await.unwrap().unwrap();
    assert_eq!(mbx.used_bytes, 300, "only the INBOX message counts");
    assert_eq!(mbx.message_count, 2);
    // One body for the message and its copy.
    assert_eq!(body_count(&store).await, 1);
    let metas = store.messages(archive.id).await.unwrap();
    assert_eq!(store.read_body(metas[0].clone()).await.unwrap(), m);
}

#[tokio::test]
async fn a_copy_that_does_not_fit_is_not_kept_and_the_step_still_commits() {
    let (_d, store, mario) = fresh().await;
    let anna = store
        .create_mailbox("anna@pec.localhost", "$argon2id$x", 1 << 20)
        .await
        .unwrap();
    let (a, b) = (bytes("a", 600), bytes("b", 500));
    let (_, first) = store
        .certify_archiving(step("s1", mario.id, &a, &[(mario.id, &a)], 1000))
        .await
        .unwrap();
    assert!(first[0].stored.is_some());
    // 600 + 500 > 1000: mario's copy is not kept; anna's archive has room.
    let (done, second) = store
        .certify_archiving(step(
            "s2",
            mario.id,
            &b,
            &[(mario.id, &b), (anna.id, &b)],
            1000,
        ))
        .await
        .unwrap();
    assert!(matches!(done, Certified::Stored(_)));
    assert_eq!(second[0].stored, None);
    assert_eq!((second[0].used_bytes, second[0].limit_bytes), (600, 1000));
    assert!(second[1].stored.is_some());
    let inbox = store.folder(mario.id, "INBOX").await.unwrap().unwrap();
    assert_eq!(inbox.message_count, 2, "the message itself is delivered");
    let archive = store.security_archive(mario.id).await.unwrap();
    assert_eq!((archive.message_count, archive.size_bytes), (1, 600));
    // The body of b is referred to by the delivery and anna's copy only: two references.
    let stats = store.body_stats().await.unwrap();
    assert_eq!((stats.bodies, stats.references), (2, 4));
    // Two copies in one step count together: the second no longer fits.
    let c = bytes("c", 300);
    let (_, third) = store
        .certify_archiving(step(
            "s3",
            anna.id,
            &c,
            &[(anna.id, &c), (anna.id, &c)],
            1000,
        ))
        .await
        .unwrap();
    assert!(third[0].stored.is_some());
    assert_eq!(third[1].stored, None);
    assert_eq!(third[0].used_bytes, 800);
}

#[tokio::test]
async fn copies_and_the_archive_usage_survive_a_restart() {
    let (d, store, mario) = fresh().await;
    let m = bytes("kept", 200);
    store
        .certify_archiving(step("r1", mario.id, &m, &[(mario.id, &m)], 1000))
        .await
        .unwrap();
    drop(store);
    let store = reopen(d.path());
    let archive = store.security_archive(mario.id).await.unwrap();
    assert_eq!((archive.message_count, archive.size_bytes), (1, 200));
    let metas = store.messages(archive.id).await.unwrap();
    assert_eq!(store.read_body(metas[0].clone()).await.unwrap(), m);
    assert_eq!(
        store.mailbox(mario.id).await.unwrap().unwrap().used_bytes,
        200
    );
}

#[tokio::test]
async fn deleting_the_inbox_message_leaves_the_copy() {
    let (_d, store, mario) = fresh().await;
    let m = bytes("gone", 200);
    store
        .certify_archiving(step("x1", mario.id, &m, &[(mario.id, &m)], 1000))
        .await
        .unwrap();
    let inbox = store.folder(mario.id, "INBOX").await.unwrap().unwrap();
    store
        .delete_messages(mario.id, inbox.id, vec![1])
        .await
        .unwrap();
    assert_eq!(
        store.mailbox(mario.id).await.unwrap().unwrap().used_bytes,
        0
    );
    let archive = store.security_archive(mario.id).await.unwrap();
    let metas = store.messages(archive.id).await.unwrap();
    assert_eq!(metas.len(), 1);
    assert_eq!(store.read_body(metas[0].clone()).await.unwrap(), m);
}

#[tokio::test]
async fn the_archive_refuses_every_write_but_a_certification_copy() {
    let (_d, store, mario) = fresh().await;
    let m = bytes("ro", 200);
    store
        .certify_archiving(step("w1", mario.id, &m, &[(mario.id, &m)], 10_000))
        .await
        .unwrap();
    let archive = store.security_archive(mario.id).await.unwrap();
    let inbox = store.folder(mario.id, "INBOX").await.unwrap().unwrap();
    let invalid = |r: Result<(), StoreError>, what: &str| {
        assert!(matches!(r, Err(StoreError::Invalid(_))), "{what}: {r:?}");
    };
    let id = mario.id;
    let a = archive.id;
    invalid(
        store
            .append(id, SECURITY_ARCHIVE_FOLDER, msg("x", 50))
            .await
            .map(drop),
        "append",
    );
    let seen = FlagOp::Add(Flags::SEEN, vec![]);
    invalid(
        store.set_flags(id, a, vec![1], seen).await.map(drop),
        "store",
    );
    invalid(store.expunge(id, a, None).await.map(drop), "expunge");
    invalid(
        store.delete_messages(id, a, vec![1]).await.map(drop),
        "delete",
    );
    invalid(
        store
            .copy_messages(id, inbox.id, vec![1], a, false)
            .await
            .map(drop),
        "copy into",
    );
    invalid(
        store
            .copy_messages(id, inbox.id, vec![1], a, true)
            .await
            .map(drop),
        "move into",
    );
    invalid(
        store
            .copy_messages(id, a, vec![1], inbox.id, true)
            .await
            .map(drop),
        "move out",
    );
    invalid(store.delete_folder(id, a).await.map(drop), "delete folder");
    invalid(
        store.rename_folder(id, a, "Other").await.map(drop),
        "rename",
    );
    let other = store.create_folder(id, "Other", None).await.unwrap();
    invalid(
        store
            .rename_folder(id, other.id, SECURITY_ARCHIVE_FOLDER)
            .await
            .map(drop),
        "rename onto the name",
    );
    assert_eq!(store.messages(a).await.unwrap().len(), 1);
    assert_eq!(store.messages(a).await.unwrap()[0].flags, Flags::default());
    // COPY out of it is a copy like any other: into the mailbox's quota.
    store
        .copy_messages(id, a, vec![1], inbox.id, false)
        .await
        .unwrap();
    assert_eq!(store.mailbox(id).await.unwrap().unwrap().used_bytes, 400);
}

#[tokio::test]
async fn the_archive_name_is_reserved() {
    let (_d, store, mario) = fresh().await;
    let r = store
        .create_folder(mario.id, SECURITY_ARCHIVE_FOLDER, None)
        .await;
    assert!(matches!(r, Err(StoreError::Invalid(_))), "{r:?}");
    let r = store
        .create_folder(mario.id, "Elsewhere", Some(SpecialUse::SecurityArchive))
        .await;
    assert!(matches!(r, Err(StoreError::Invalid(_))), "{r:?}");
    // A delivery straight into the archive is refused whole.
    let archive = store.security_archive(mario.id).await.unwrap();
    let mut s = step("d1", mario.id, b"Subject: x\r\n\r\nx", &[], 1000);
    s.deliveries[0].folder = archive.name.clone();
    assert!(matches!(
        store.certify(s).await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(
        store.security_archive(mario.id).await.unwrap().id,
        archive.id
    );
}
