//! CONDSTORE and QRESYNC stay correct once the change log has been compacted past what a
//! client knows (RFC 7162 §3.2.5.2, §3.2.10): a resync from below the compaction floor
//! reports as vanished every UID below UIDNEXT that no longer exists, and a session whose
//! view is older than the floor still learns every expunge, append and flag change.

use std::sync::Arc;

use pecd_common::config::Config;
use pecd_imap::Context;
use pecd_store::{FlagOp, Flags, NewMessage, Retention, Store};

mod common;
use common::{serve, Client, MARIO, PASSWORD};

/// Runs `script` as a client of a fresh session, logged in as mario.
async fn with_session<F, Fut>(ctx: &Arc<Context>, script: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = Client>,
{
    serve(ctx, |io| async {
        let mut c = Client::new(io);
        let greeting = c.line().await;
        assert!(greeting.starts_with("* OK"), "{greeting}");
        c.ok(&format!("LOGIN {MARIO} {PASSWORD}")).await;
        let mut c = script(c).await;
        c.ok("LOGOUT").await;
    })
    .await
}

fn message(i: u32) -> NewMessage {
    NewMessage {
        bytes: format!("From: a@pec.localhost\r\nSubject: {i}\r\n\r\nbody {i}\r\n").into_bytes(),
        flags: Flags::default(),
        keywords: vec![],
        internal_date: None,
    }
}

fn fetched_uids(lines: &[String]) -> Vec<u32> {
    lines
        .iter()
        .filter(|l| l.contains(" FETCH ("))
        .map(|l| {
            l.split("UID ")
                .nth(1)
                .unwrap()
                .split([' ', ')'])
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect()
}

#[tokio::test]
async fn qresync_and_lagging_sessions_survive_compaction() {
    let dir = tempfile::tempdir().unwrap();
    // Five entries a mailbox: the changes below compact the log well past the first view.
    let retention = Retention {
        change_log_entries: 5,
        ..Retention::default()
    };
    let store = Store::open_with(
        &dir.path().join("store"),
        retention,
        pecd_store::DEFAULT_CACHE_BYTES,
    )
    .unwrap();
    let mbx = store
        .create_mailbox(MARIO, &pecd_common::password::hash(PASSWORD), 1 << 20)
        .await
        .unwrap();
    for i in 1..=10 {
        store.append(mbx.id, "INBOX", message(i)).await.unwrap();
    }
    let inbox = store.folder(mbx.id, "INBOX").await.unwrap().unwrap();
    let (validity, old) = (inbox.uidvalidity, inbox.highestmodseq);
    let ctx = Context::new(Arc::new(Config::default()), store.clone());

    // A session that looks at INBOX, then stays quiet while the log moves on without it.
    let changes = {
        let store = store.clone();
        move || async move {
            let deleted = FlagOp::Add(Flags::DELETED, vec![]);
            store
                .set_flags(mbx.id, inbox.id, vec![2, 5], deleted)
                .await
                .unwrap();
            assert_eq!(
                store.expunge(mbx.id, inbox.id, None).await.unwrap(),
                vec![2, 5]
            );
            let seen = FlagOp::Add(Flags::SEEN, vec![]);
            store
                .set_flags(mbx.id, inbox.id, vec![3], seen)
                .await
                .unwrap();
            store.append(mbx.id, "INBOX", message(11)).await.unwrap();
            store.append(mbx.id, "INBOX", message(12)).await.unwrap();
            // UID 12 comes and goes while nobody looks: no client ever knew it.
            store
                .delete_messages(mbx.id, inbox.id, vec![12])
                .await
                .unwrap();
            for i in 0..10 {
                let op = if i % 2 == 0 {
                    FlagOp::Add(Flags::FLAGGED, vec![])
                } else {
                    FlagOp::Remove(Flags::FLAGGED, vec![])
                };
                store
                    .set_flags(mbx.id, inbox.id, vec![4], op)
                    .await
                    .unwrap();
            }
        }
    };
    let watcher = store.clone();
    with_session(&ctx, |mut c| async move {
        let r = c.ok("SELECT INBOX").await;
        assert!(r.contains(&"* 10 EXISTS\r\n".to_string()), "{r:?}");
        changes().await;
        let log = watcher.changes_since(mbx.id, old).await.unwrap();
        assert!(!log.complete && log.floor > old, "the log was compacted");
        let r = c.ok("NOOP").await;
        // UIDs 2 and 5 were messages 2 and 5; after the first goes, the second is 4.
        assert!(r.contains(&"* 2 EXPUNGE\r\n".to_string()), "{r:?}");
        assert!(r.contains(&"* 4 EXPUNGE\r\n".to_string()), "{r:?}");
        assert!(r.contains(&"* 9 EXISTS\r\n".to_string()), "{r:?}");
        assert!(
            r.iter()
                .any(|l| l.starts_with("* 2 FETCH") && l.contains("\\Seen")),
            "UID 3's new flags: {r:?}"
        );
        assert!(r.iter().any(|l| l.starts_with("* 3 FETCH")), "UID 4: {r:?}");
        let r = c.ok("UID FETCH 1:* (FLAGS)").await;
        assert_eq!(fetched_uids(&r), vec![1, 3, 4, 6, 7, 8, 9, 10, 11], "{r:?}");
        c
    })
    .await;

    let highest = store
        .folder(mbx.id, "INBOX")
        .await
        .unwrap()
        .unwrap()
        .highestmodseq;
    // A client that last saw INBOX at `old`, below the compaction floor.
    with_session(&ctx, |mut c| async move {
        c.ok("ENABLE QRESYNC").await;
        let r = c
            .ok(&format!("SELECT INBOX (QRESYNC ({validity} {old}))"))
            .await;
        assert!(
            r.contains(&"* VANISHED (EARLIER) 2,5,12\r\n".to_string()),
            "{r:?}"
        );
        // Changed since `old`: exactly the messages whose modseq moved, by their own modseq.
        assert_eq!(fetched_uids(&r), vec![3, 4, 11], "{r:?}");
        assert!(r
            .iter()
            .filter(|l| l.contains(" FETCH ("))
            .all(|l| l.contains("MODSEQ (")));

        // Limited to the UIDs the client says it knows.
        let r = c
            .ok(&format!(
                "SELECT INBOX (QRESYNC ({validity} {old} 1:4,9:*))"
            ))
            .await;
        assert!(
            r.contains(&"* VANISHED (EARLIER) 2,12\r\n".to_string()),
            "{r:?}"
        );
        assert!(r.iter().any(|l| l.starts_with("* OK [CLOSED]")), "{r:?}");

        let r = c
            .ok(&format!(
                "UID FETCH 1:* (FLAGS) (CHANGEDSINCE {old} VANISHED)"
            ))
            .await;
        assert!(
            r.contains(&"* VANISHED (EARLIER) 2,5,12\r\n".to_string()),
            "{r:?}"
        );
        assert_eq!(fetched_uids(&r), vec![3, 4, 11], "{r:?}");
        let r = c
            .ok(&format!(
                "UID FETCH 5:8 (FLAGS) (CHANGEDSINCE {old} VANISHED)"
            ))
            .await;
        assert!(
            r.contains(&"* VANISHED (EARLIER) 5\r\n".to_string()),
            "{r:?}"
        );
        assert!(fetched_uids(&r).is_empty(), "{r:?}");

        // Above the floor the log answers exactly: only the last flag change.
        let r = c
            .ok(&format!(
                "UID FETCH 1:* (FLAGS) (CHANGEDSINCE {} VANISHED)",
                highest - 1
            ))
            .await;
        assert!(!r.iter().any(|l| l.contains("VANISHED")), "{r:?}");
        assert_eq!(fetched_uids(&r), vec![4], "{r:?}");
        c
    })
    .await;
}
