//! Certification steps: atomic and durable deliveries with their log lines, trace and
//! idempotency key; log search and retention.

#[allow(dead_code)]
mod common;

use common::*;
use pecd_store::*;

fn record(time: i64, event: LogEvent, pec_id: &str, sender: &str, rcpt: &str) -> LogRecord {
    LogRecord {
        time,
        event,
        pec_id: pec_id.into(),
        msgid: Some(format!("<client-{pec_id}>")),
        sender: sender.into(),
        recipients: vec![rcpt.into()],
        subject: "s".into(),
        generated: vec![],
        provider: "p".into(),
        detail: String::new(),
    }
}

#[tokio::test]
async fn a_step_is_all_or_nothing_durable_and_not_repeated() {
    let (dir, store, mario) = fresh().await;
    let anna = store
        .create_mailbox("anna@pec.localhost", "$argon2id$x", 100)
        .await
        .unwrap();
    let bodies_before = body_count(&store).await;
    let step = Certification {
        dedup_key: Some(b"key-1".to_vec()),
        dedup_keep_seconds: None,
        pec_id: "id1@pec.localhost".into(),
        deliveries: vec![
            Delivery {
                mailbox: mario.id,
                folder: "INBOX".into(),
                bytes: b"Subject: ricevuta\r\n\r\nx\r\n".to_vec().into(),
            },
            // Over anna's 100-byte quota: certification steps are not refused for space.
            Delivery {
                mailbox: anna.id,
                folder: "INBOX".into(),
                bytes: vec![b'x'; 500].into(),
            },
        ],
        log: vec![record(
            1000,
            LogEvent::Accettazione,
            "id1@pec.localhost",
            "mario@pec.localhost",
            "anna@pec.localhost",
        )],
        trace: Some(TraceRecord {
            pec_id: "id1@pec.localhost".into(),
            msgid: None,
            sender: "mario@pec.localhost".into(),
            subject: "s".into(),
            accepted: 1000,
            destinatari: vec![],
            risposte: "mario@pec.localhost".into(),
            receipt: "completa".into(),
            recipients: vec![],
        }),
        queue: vec![],
        queue_settle: None,
        archive: Vec::new(),
    };
    let Certified::Stored(appended) = store.certify(step.clone()).await.unwrap() else {
        panic!("first time is stored");
    };
    assert_eq!(appended.len(), 2);
    assert_eq!(
        store.certify(step.clone()).await.unwrap(),
        Certified::Duplicate("id1@pec.localhost".into())
    );
    // A refused step leaves no body file behind.
    let mut bad = step.clone();
    bad.dedup_key = Some(b"key-2".to_vec());
    bad.deliveries.push(Delivery {
        mailbox: 999,
        folder: "INBOX".into(),
        bytes: b"x".to_vec().into(),
    });
    assert!(store.certify(bad).await.is_err());
    drop(store);
    let store = Store::open(&dir.path().join("store")).unwrap();
    assert_eq!(body_count(&store).await, bodies_before + 2);
    let inbox = store.folder(anna.id, "INBOX").await.unwrap().unwrap();
    assert_eq!(store.messages(inbox.id).await.unwrap().len(), 1);
    assert!(store.trace("id1@pec.localhost").await.unwrap().is_some());
    assert_eq!(
        store.certify(step).await.unwrap(),
        Certified::Duplicate("id1@pec.localhost".into()),
        "the key survives a restart"
    );
}

#[tokio::test]
async fn log_search_by_id_address_and_period_and_retention() {
    let (_dir, store, mario) = fresh().await;
    for (t, id, rcpt) in [
        (100, "a@x", "anna@x"),
        (200, "b@x", "bruno@x"),
        (300, "c@x", "anna@x"),
    ] {
        let step = Certification {
            pec_id: id.into(),
            log: vec![record(
                t,
                LogEvent::Accettazione,
                id,
                "mario@pec.localhost",
                rcpt,
            )],
            deliveries: vec![Delivery {
                mailbox: mario.id,
                folder: "INBOX".into(),
                bytes: b"x".to_vec().into(),
            }],
            ..Default::default()
        };
        store.certify(step).await.unwrap();
    }
    let q = |f: fn(&mut LogQuery)| {
        let mut q = LogQuery::default();
        f(&mut q);
        q
    };
    let ids = |v: Vec<LogRecord>| v.into_iter().map(|r| r.pec_id).collect::<Vec<_>>();
    assert_eq!(
        ids(store
            .log_search(q(|q| q.id = Some("b@x".into())))
            .await
            .unwrap()),
        ["b@x"]
    );
    assert_eq!(
        ids(store
            .log_search(q(|q| q.id = Some("<client-c@x>".into())))
            .await
            .unwrap()),
        ["c@x"]
    );
    assert_eq!(
        ids(store
            .log_search(q(|q| q.address = Some("ANNA@x".into())))
            .await
            .unwrap()),
        ["a@x", "c@x"]
    );
    assert_eq!(
        ids(store
            .log_search(q(|q| {
                q.since = Some(150);
                q.until = Some(300)
            }))
            .await
            .unwrap()),
        ["b@x"]
    );
    assert_eq!(store.prune_log(200).await.unwrap(), 1);
    assert_eq!(
        ids(store.log_search(LogQuery::default()).await.unwrap()),
        ["b@x", "c@x"]
    );
}

#[tokio::test]
async fn queue_and_pending_survive_a_restart_and_leave_with_their_log() {
    let (dir, store, _mario) = fresh().await;
    let waiting = RecipientTrace {
        address: "anna@pec.other".into(),
        certified: true,
        remote: true,
        state: RecipientState::Accepted,
        warned: false,
        updated: 10,
        detail: String::new(),
    };
    let trace = TraceRecord {
        pec_id: "q1@pec.localhost".into(),
        msgid: None,
        sender: "mario@pec.localhost".into(),
        subject: "s".into(),
        accepted: 10,
        destinatari: vec![("anna@pec.other".into(), true)],
        risposte: "mario@pec.localhost".into(),
        receipt: "completa".into(),
        recipients: vec![waiting.clone()],
    };
    let step = Certification {
        pec_id: "q1@pec.localhost".into(),
        trace: Some(trace.clone()),
        queue: vec![Outbound {
            pec_id: "q1@pec.localhost".into(),
            sender: "mario@pec.localhost".into(),
            recipients: vec!["anna@pec.other".into()],
            domain: "pec.other".into(),
            certified: true,
            label: "busta di trasporto".into(),
            created: 10,
            bytes: b"Subject: busta\r\n\r\nbody\r\n".to_vec().into(),
        }],
        ..Default::default()
    };
    assert!(matches!(
        store.certify(step).await.unwrap(),
        Certified::Stored(_)
    ));
    assert_eq!(store.pending().await.unwrap(), vec!["q1@pec.localhost"]);
    drop(store);
    // The body is not swept as unreferenced at start.
    let store = Store::open(&dir.path().join("store")).unwrap();
    let queue = store.queue().await.unwrap();
    assert_eq!(queue.len(), 1);
    let mut entry = queue[0].clone();
    assert_eq!((entry.next_attempt, entry.attempts), (10, 0));
    assert_eq!(
        store.queue_body(entry.clone()).await.unwrap(),
        b"Subject: busta\r\n\r\nbody\r\n"
    );
    entry.attempts = 1;
    entry.next_attempt = 70;
    entry.last_error = "connection refused".into();
    assert!(store.queue_update(entry.clone(), vec![]).await.unwrap());
    assert_eq!(
        store.queue_entry(entry.id).await.unwrap(),
        Some(entry.clone())
    );
    let line = record(
        80,
        LogEvent::Inoltro,
        "q1@pec.localhost",
        "mario@pec.localhost",
        "anna@pec.other",
    );
    let removed = store.queue_remove(entry.id, vec![line]).await.unwrap();
    assert_eq!(removed, Some(entry.clone()));
    assert_eq!(store.queue_remove(entry.id, vec![]).await.unwrap(), None);
    assert!(!store.queue_update(entry, vec![]).await.unwrap(), "gone");
    let q = LogQuery {
        id: Some("q1@pec.localhost".into()),
        ..Default::default()
    };
    assert_eq!(store.log_search(q).await.unwrap().len(), 1);
    // A final state closes the transaction.
    let mut done = trace;
    done.recipients[0].state = RecipientState::Delivered;
    let step = Certification {
        pec_id: "q1@pec.localhost".into(),
        trace: Some(done),
        ..Default::default()
    };
    store.certify(step).await.unwrap();
    assert!(store.pending().await.unwrap().is_empty());
}

/// Item 10 of the hardening issue: a peer's permanent refusal removed the queue entry in one
/// commit and wrote the avviso di mancata consegna in the next, so a crash between the two
/// lost the notice. The queue change now rides in the notice's own step.
#[tokio::test]
async fn a_relay_refusal_settles_the_queue_in_the_notices_own_commit() {
    let (dir, store, mario) = fresh().await;
    let outbound = |n: u32| Outbound {
        pec_id: format!("r{n}@pec.localhost"),
        sender: "mario@pec.localhost".into(),
        recipients: vec!["a@pec.other".into(), "b@pec.other".into()],
        domain: "pec.other".into(),
        certified: true,
        label: "busta di trasporto".into(),
        created: 10,
        bytes: format!("Subject: busta {n}\r\n\r\nbody\r\n")
            .into_bytes()
            .into(),
    };
    store
        .certify(Certification {
            pec_id: "r@pec.localhost".into(),
            queue: vec![outbound(1), outbound(2)],
            ..Default::default()
        })
        .await
        .unwrap();
    let queue = store.queue().await.unwrap();
    let (first, second) = (queue[0].clone(), queue[1].clone());
    let bodies = body_count(&store).await;
    let notice = |n: u32| Delivery {
        mailbox: mario.id,
        folder: "INBOX".into(),
        bytes: format!("Subject: mancata consegna {n}\r\n\r\nx\r\n")
            .into_bytes()
            .into(),
    };
    // The first entry is done: gone with its body, in the commit that stores the notice.
    store
        .certify(Certification {
            pec_id: first.pec_id.clone(),
            deliveries: vec![notice(1)],
            queue_settle: Some(QueueSettle::Remove(first.id)),
            ..Default::default()
        })
        .await
        .unwrap();
    // The second still waits for one recipient: rewritten, in the same kind of commit.
    let mut waiting = second.clone();
    waiting.recipients = vec!["b@pec.other".into()];
    waiting.attempts = 1;
    store
        .certify(Certification {
            pec_id: second.pec_id.clone(),
            deliveries: vec![notice(2)],
            queue_settle: Some(QueueSettle::Update(waiting.clone())),
            ..Default::default()
        })
        .await
        .unwrap();
    drop(store);
    let store = reopen(dir.path());
    assert_eq!(store.queue().await.unwrap(), vec![waiting.clone()]);
    let inbox = store.folder(mario.id, "INBOX").await.unwrap().unwrap();
    assert_eq!(store.messages(inbox.id).await.unwrap().len(), 2);
    // The removed entry's body went (two notices came in its place).
    assert_eq!(body_count(&store).await, bodies + 2 - 1);
    // An entry an operator deleted meanwhile is not brought back by an update.
    store.queue_remove(waiting.id, vec![]).await.unwrap();
    store
        .certify(Certification {
            pec_id: second.pec_id.clone(),
            queue_settle: Some(QueueSettle::Update(waiting)),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(store.queue().await.unwrap().is_empty());
}

/// A key that stops the replay of a peer's signed document outlives the 7 days of a
/// submission key: it is kept as long as the legal log.
#[tokio::test]
async fn replay_keys_are_kept_as_long_as_the_legal_log() {
    let (_dir, store, mario) = fresh().await;
    let step = |key: &[u8], keep: Option<i64>| Certification {
        dedup_key: Some(key.to_vec()),
        dedup_keep_seconds: keep,
        pec_id: String::from_utf8_lossy(key).into_owned(),
        deliveries: vec![Delivery {
            mailbox: mario.id,
            folder: "INBOX".into(),
            bytes: b"Subject: r\r\n\r\nx\r\n".to_vec().into(),
        }],
        ..Default::default()
    };
    store.certify(step(b"submission", None)).await.unwrap();
    store
        .certify(step(b"receipt", Some(LOG_RETENTION_SECONDS)))
        .await
        .unwrap();
    let now = chrono::Utc::now().timestamp();
    store.prune(now + 8 * 86_400).await.unwrap();
    assert!(matches!(
        store.certify(step(b"submission", None)).await.unwrap(),
        Certified::Stored(_)
    ));
    assert!(matches!(
        store
            .certify(step(b"receipt", Some(LOG_RETENTION_SECONDS)))
            .await
            .unwrap(),
        Certified::Duplicate(_)
    ));
    store.prune(now + LOG_RETENTION_SECONDS + 60).await.unwrap();
    assert!(matches!(
        store
            .certify(step(b"receipt", Some(LOG_RETENTION_SECONDS)))
            .await
            .unwrap(),
        Certified::Stored(_)
    ));
}
