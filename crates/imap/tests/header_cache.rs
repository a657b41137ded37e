//! SEARCH answers the same with the header cache as without it (`imap.header_cache_bytes =
//! 0`), through APPEND, COPY, MOVE, EXPUNGE in the session and expunges by another session;
//! and the cache follows: entries are added by SEARCH, FETCH, APPEND and COPY (shared with
//! the originals), dropped on expunge.

use std::sync::Arc;

use pecd_common::config::Config;
use pecd_imap::Context;
use pecd_store::{FlagOp, Flags, MailboxId, NewMessage, Store};
use tokio::io::DuplexStream;

mod common;
use common::{serve, Client, MARIO, PASSWORD};

fn message(i: u32) -> NewMessage {
    let subject = [
        "Fattura alpha",
        "=?utf-8?Q?Ricevuta_di_consegna_cos=C3=AC?=",
        "Avviso",
    ];
    NewMessage {
        bytes: format!(
            "From: Mittente {i} <m{i}@pec.example.it>\r\nTo: <mario@pec.localhost>\r\nCc: c{}@example.it\r\nSubject: {} {i}\r\nDate: Mon, 0{} Nov 2026 10:00:00 +0100\r\nMessage-ID: <{i}@test>\r\n\r\nbody text {i}\r\n",
            i % 2,
            subject[i as usize % 3],
            1 + i % 5,
        )
        .into_bytes(),
        flags: Flags::default(),
        keywords: vec![],
        internal_date: None,
    }
}

const SEARCHES: &[&str] = &[
    "UID SEARCH SUBJECT alpha",
    "UID SEARCH SUBJECT \"consegna COS\"",
    "UID SEARCH FROM \"m1\"",
    "UID SEARCH NOT FROM \"mittente 2\"",
    "UID SEARCH OR CC c1 SUBJECT avviso",
    "UID SEARCH HEADER Message-ID \"<3@test>\"",
    "UID SEARCH HEADER X-Absent \"\"",
    "UID SEARCH HEADER cc \"\" UNSEEN",
    "UID SEARCH SENTON 3-Nov-2026",
    "UID SEARCH SENTSINCE 4-Nov-2026 TO mario",
    "UID SEARCH TEXT \"body text 4\"",
    "UID SEARCH BODY text SUBJECT fattura",
    "SEARCH RETURN (COUNT) SUBJECT ricevuta",
];

/// The same session script against a fresh store; returns its transcript of searches.
async fn transcript(cache_bytes: u64) -> (Vec<String>, Arc<Context>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let mbx = store
        .create_mailbox(MARIO, &pecd_common::password::hash(PASSWORD), 1 << 20)
        .await
        .unwrap();
    for i in 1..=9 {
        store.append(mbx.id, "INBOX", message(i)).await.unwrap();
    }
    let mut config = Config::default();
    config.imap.header_cache_bytes = cache_bytes;
    let ctx = Context::new(Arc::new(config), store.clone());
    let out = serve(&ctx, |io| script(&ctx, &store, mbx.id, io)).await;
    (out, ctx)
}

async fn searches(c: &mut Client, out: &mut Vec<String>) {
    for s in SEARCHES {
        out.extend(c.ok(s).await.into_iter().filter(|l| l.starts_with('*')));
    }
}

/// Cached entries (none when disabled).
fn entries(ctx: &Context) -> usize {
    ctx.headers.usage().1
}

async fn script(ctx: &Context, store: &Store, mbx: MailboxId, io: DuplexStream) -> Vec<String> {
    let on = ctx.headers.enabled();
    let mut out = Vec::new();
    let mut c = Client::new(io);
    assert!(c.line().await.starts_with("* OK"));
    c.ok(&format!("LOGIN {MARIO} {PASSWORD}")).await;
    c.ok("SELECT INBOX").await;
    searches(&mut c, &mut out).await;
    assert_eq!(entries(ctx), if on { 9 } else { 0 }, "filled by SEARCH");

    let extra = message(10).bytes;
    c.ok_literal(&format!("APPEND INBOX {{{}+}}\r\n", extra.len()), &extra)
        .await;
    assert_eq!(entries(ctx), if on { 10 } else { 0 }, "filled by APPEND");
    c.ok("NOOP").await;
    searches(&mut c, &mut out).await;

    c.ok("STORE 1:3 +FLAGS.SILENT (\\Deleted)").await;
    out.extend(c.ok("EXPUNGE").await);
    assert_eq!(entries(ctx), if on { 7 } else { 0 }, "dropped on EXPUNGE");
    searches(&mut c, &mut out).await;

    c.ok("COPY 1:4 Trash").await;
    assert_eq!(entries(ctx), if on { 11 } else { 0 }, "shared by COPY");
    // Another session expunges two messages; this one learns of it at its next command.
    let inbox = store.folder(mbx, "INBOX").await.unwrap().unwrap();
    let deleted = FlagOp::Add(Flags::DELETED, vec![]);
    store
        .set_flags(mbx, inbox.id, vec![5, 6], deleted)
        .await
        .unwrap();
    store.expunge(mbx, inbox.id, None).await.unwrap();
    out.extend(c.ok("FETCH 1 (FLAGS)").await);
    searches(&mut c, &mut out).await;
    out.extend(c.ok("NOOP").await);
    assert_eq!(entries(ctx), if on { 9 } else { 0 }, "dropped on sync");

    c.ok("SELECT Trash").await;
    searches(&mut c, &mut out).await;
    assert_eq!(entries(ctx), if on { 9 } else { 0 }, "copies were cached");

    store.append(mbx, "Drafts", message(12)).await.unwrap();
    c.ok("SELECT Drafts").await;
    out.extend(c.ok("FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject)])").await);
    assert_eq!(entries(ctx), if on { 10 } else { 0 }, "filled by FETCH");
    // Not in the transcript: COPYUID carries Trash's UIDVALIDITY, which differs by run.
    c.ok("UID MOVE 1 Trash").await;
    assert_eq!(entries(ctx), if on { 10 } else { 0 }, "moved along");
    c.ok("SELECT Trash").await;
    searches(&mut c, &mut out).await;
    assert_eq!(entries(ctx), if on { 10 } else { 0 }, "nothing read");
    c.ok("LOGOUT").await;
    out
}

#[tokio::test]
async fn search_answers_as_without_the_cache() {
    let (cached, ctx) = transcript(1 << 20).await;
    let (uncached, _) = transcript(0).await;
    assert_eq!(cached, uncached);
    let (bytes, _) = ctx.headers.usage();
    assert!(bytes > 0 && bytes <= 1 << 20);
    // Not vacuous: the searches find messages, and not all of them.
    let hits = |line: &str| cached.iter().filter(|l| l.as_str() == line).count();
    assert!(hits("* SEARCH 1 4 7 10\r\n") >= 1, "{cached:#?}");
    assert!(hits("* SEARCH 3\r\n") >= 1, "{cached:#?}");
    assert!(hits("* SEARCH\r\n") >= 1, "{cached:#?}");
}
