//! The import of one old folder into ours (PROVISIONING.md §9: every message, byte for
//! byte, with flags, keywords and internal date; resumable and idempotent).
//!
//! The sequence for each batch of at most `batch_messages` messages and `batch_bytes`
//! bytes, in ascending UID order:
//! 1. the batch is written down as pending (its UIDs and our folder's UIDNEXT);
//! 2. its bodies are fetched (`BODY.PEEK[]`: the old mailbox is not changed);
//! 3. they are stored in one durable commit ([`pecd_store::Store::append_batch`]);
//! 4. the folder's progress (highest UID stored) and the counters are written, pending
//!    cleared, in one transaction.
//!
//! A run that starts over finds either nothing pending (everything up to the mark is here)
//! or a pending batch, whose messages it looks for among ours from the noted UIDNEXT on
//! ([`already_here`]: same internal date, size and Message-ID) before fetching the rest. When
//! the old folder's UIDVALIDITY changed, UIDs mean nothing any more and the whole folder is
//! matched that way. Memory is bounded by the batch, plus a few words per message of the
//! folder for its UID list.

use std::collections::{HashMap, HashSet};

use pecd_store::{MailboxId, NewMessage, Store, MAX_KEYWORDS, MAX_KEYWORD_LEN};

use crate::folders::{FolderPlan, DELIMITER};
use crate::imap::{Connection, Fetched, ImapError};
use crate::record::{self, FolderProgress, MigrationRecord, Pending};

/// How the import talks to the store and sizes its batches.
pub struct Target<'a> {
    pub store: &'a Store,
    pub mailbox: MailboxId,
    pub batch_messages: usize,
    pub batch_bytes: u64,
    /// `limits.max_message_bytes`: a larger message is reported, not imported.
    pub max_message: u64,
}

/// One message of the old folder as listed before its body is fetched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listed {
    pub uid: u32,
    pub size: u32,
    pub date: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Imap(#[from] ImapError),
    #[error("archivio pecd: {0}")]
    Store(#[from] pecd_store::StoreError),
}

/// The old folder's messages, by ascending UID (metadata only), and its UIDVALIDITY.
pub async fn list(
    conn: &mut Connection,
    plan: &FolderPlan,
) -> Result<(u32, Vec<Listed>), ImapError> {
    let (validity, exists) = conn.examine(&plan.source).await?;
    if exists == 0 {
        return Ok((validity, Vec::new()));
    }
    let fetched = conn
        .uid_fetch("1:*", "(UID RFC822.SIZE INTERNALDATE)")
        .await?;
    let mut listed: Vec<Listed> = fetched
        .iter()
        .filter_map(|f| {
            Some(Listed {
                uid: f.uid?,
                size: f.size.unwrap_or(0),
                date: f.internal_date.unwrap_or(0),
            })
        })
        .collect();
    listed.sort_by_key(|l| l.uid);
    listed.dedup_by_key(|l| l.uid);
    Ok((validity, listed))
}

/// How many of `listed` are stored already, from the progress alone (before any matching).
pub fn done_by_mark(progress: &FolderProgress, validity: u32, listed: &[Listed]) -> u64 {
    if progress.uidvalidity != validity {
        return 0;
    }
    listed
        .iter()
        .filter(|l| l.uid <= progress.imported_through)
        .count() as u64
}

/// Imports what of `plan`'s folder is missing here, given its UIDVALIDITY and messages as
/// [`list`] found them; counters go to `record` (entry `index` of its folders), which is
/// saved with each batch.
pub async fn folder(
    conn: &mut Connection,
    target: &Target<'_>,
    plan: &FolderPlan,
    index: usize,
    (validity, listed): (u32, Vec<Listed>),
    record: &mut MigrationRecord,
) -> Result<(), ImportError> {
    let store = target.store;
    let (now_valid, _) = conn.examine(&plan.source).await?;
    if now_valid != validity {
        return Err(ImapError::Lost(format!("UIDVALIDITY of {:?} changed", plan.name)).into());
    }
    let mut progress = record::load_folder(store, &record.address, &plan.name).await?;
    let ours = ensure_folder(store, target.mailbox, plan).await?;
    let mut skip = HashSet::new();
    let todo: Vec<Listed> = if progress.uidvalidity == validity {
        if let Some(p) = progress.pending.take() {
            let wanted: Vec<Listed> = listed
                .iter()
                .filter(|l| p.uids.contains(&l.uid))
                .copied()
                .collect();
            skip = already_here(conn, store, ours, &wanted, p.target_uidnext).await?;
        }
        listed
            .iter()
            .filter(|l| l.uid > progress.imported_through)
            .copied()
            .collect()
    } else {
        if progress.uidvalidity != 0 {
            tracing::warn!(folder = %plan.name, "UIDVALIDITY changed: matching by Message-ID, date and size");
            skip = already_here(conn, store, ours, &listed, 1).await?;
        }
        progress = FolderProgress {
            uidvalidity: validity,
            ..FolderProgress::default()
        };
        listed.clone()
    };
    let status = &mut record.folders[index];
    status.messages_total = listed.len() as u64;
    status.messages_done = (listed.len() - todo.len()) as u64;
    for batch in batches(&todo, target.batch_messages, target.batch_bytes) {
        let mut fetch = Vec::with_capacity(batch.len());
        for l in batch.iter().filter(|l| !skip.contains(&l.uid)) {
            if u64::from(l.size) > target.max_message {
                record.error(format!(
                    "cartella {:?}, UID {}: messaggio di {} byte oltre limits.max_message_bytes, non importato",
                    plan.name, l.uid, l.size
                ));
            } else {
                fetch.push(l.uid);
            }
        }
        let stored = if fetch.is_empty() {
            (0, 0)
        } else {
            let folder = store.folder_by_id(ours).await?;
            progress.pending = Some(Pending {
                uids: fetch.clone(),
                target_uidnext: folder.map_or(1, |f| f.uidnext),
            });
            record::save(store, record, Some((&plan.name, &progress))).await?;
            store_batch(conn, target, plan, &fetch, record).await?
        };
        progress.pending = None;
        progress.imported_through = batch.last().map_or(0, |l| l.uid);
        record.imported += stored.0;
        record.bytes += stored.1;
        record.messages_done += batch.len() as u64;
        record.folders[index].messages_done += batch.len() as u64;
        record.updated_at = chrono::Utc::now().timestamp();
        record::save(store, record, Some((&plan.name, &progress))).await?;
    }
    if todo.is_empty() {
        record::save(store, record, Some((&plan.name, &progress))).await?;
    }
    Ok(())
}

/// Fetches `uids` and stores them in one commit: (messages, bytes) stored. A message gone
/// from the old server meanwhile is simply absent.
async fn store_batch(
    conn: &mut Connection,
    target: &Target<'_>,
    plan: &FolderPlan,
    uids: &[u32],
    record: &mut MigrationRecord,
) -> Result<(u64, u64), ImportError> {
    let mut fetched = match conn.uid_fetch(&uid_set(uids), BODY_ITEMS).await {
        Err(ImapError::Unreadable(_)) => one_by_one(conn, plan, uids, record).await?,
        other => other?,
    };
    fetched.sort_by_key(|f| f.uid);
    let mut messages = Vec::with_capacity(fetched.len());
    let mut bytes = 0;
    for f in fetched {
        let Fetched {
            uid: Some(uid),
            body: Some(body),
            flags,
            keywords,
            internal_date,
            ..
        } = f
        else {
            continue;
        };
        if !uids.contains(&uid) {
            continue;
        }
        bytes += body.len() as u64;
        messages.push(NewMessage {
            bytes: body,
            flags,
            keywords: storable(keywords, &plan.name, uid, record),
            internal_date,
        });
    }
    let n = messages.len() as u64;
    if n > 0 {
        target
            .store
            .append_batch(target.mailbox, &plan.target, messages)
            .await?;
    }
    Ok((n, bytes))
}

/// What is fetched of a message to import.
const BODY_ITEMS: &str = "(UID FLAGS INTERNALDATE BODY.PEEK[])";

/// A batch with a message the server sends in a form we cannot read (a NUL byte in a
/// literal, say), fetched again a message at a time: that one is reported and left out,
/// the others are imported.
async fn one_by_one(
    conn: &mut Connection,
    plan: &FolderPlan,
    uids: &[u32],
    record: &mut MigrationRecord,
) -> Result<Vec<Fetched>, ImapError> {
    let mut out = Vec::with_capacity(uids.len());
    for uid in uids {
        match conn.uid_fetch(&uid.to_string(), BODY_ITEMS).await {
            Ok(mut f) => out.append(&mut f),
            Err(ImapError::Unreadable(e)) => record.error(format!(
                "cartella {:?}, UID {uid}: messaggio illeggibile, non importato ({e})",
                plan.name
            )),
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// The keywords our store keeps (at most [`MAX_KEYWORDS`] of at most [`MAX_KEYWORD_LEN`]
/// bytes); the others are reported.
fn storable(
    keywords: Vec<String>,
    folder: &str,
    uid: u32,
    record: &mut MigrationRecord,
) -> Vec<String> {
    let before = keywords.len();
    let kept: Vec<String> = keywords
        .into_iter()
        .filter(|k| !k.is_empty() && k.len() <= MAX_KEYWORD_LEN)
        .take(MAX_KEYWORDS)
        .collect();
    if kept.len() < before {
        record.error(format!(
            "cartella {folder:?}, UID {uid}: {} parole chiave non importate (troppe o troppo lunghe)",
            before - kept.len()
        ));
    }
    kept
}

/// Our folder for `plan`, made (with the levels above it) when missing.
async fn ensure_folder(
    store: &Store,
    mailbox: MailboxId,
    plan: &FolderPlan,
) -> Result<u64, pecd_store::StoreError> {
    if let Some(f) = store.folder(mailbox, &plan.target).await? {
        return Ok(f.id);
    }
    let levels: Vec<&str> = plan.target.split(DELIMITER).collect();
    for i in 1..levels.len() {
        let parent = levels[..i].join(&DELIMITER.to_string());
        if store.folder(mailbox, &parent).await?.is_none() {
            match store.create_folder(mailbox, &parent, None).await {
                Ok(_) | Err(pecd_store::StoreError::Exists(_)) => {}
                Err(e) => return Err(e),
            }
        }
    }
    match store.create_folder(mailbox, &plan.target, None).await {
        Ok(f) => Ok(f.id),
        Err(pecd_store::StoreError::Exists(_)) => store
            .folder(mailbox, &plan.target)
            .await?
            .map(|f| f.id)
            .ok_or_else(|| pecd_store::StoreError::NoFolder(plan.target.clone())),
        Err(e) => Err(e),
    }
}

/// Which of `wanted` are among our folder's messages from UID `from` on: same internal date,
/// size and Message-ID, each of ours matching at most one.
async fn already_here(
    conn: &mut Connection,
    store: &Store,
    folder: u64,
    wanted: &[Listed],
    from: u32,
) -> Result<HashSet<u32>, ImportError> {
    let mut ours: HashMap<(i64, u64), Vec<pecd_store::MessageMeta>> = HashMap::new();
    for m in store.messages(folder).await? {
        if m.uid >= from {
            ours.entry((m.internal_date, m.size)).or_default().push(m);
        }
    }
    let candidates: Vec<Listed> = wanted
        .iter()
        .filter(|l| ours.contains_key(&(l.date, u64::from(l.size))))
        .copied()
        .collect();
    let mut found = HashSet::new();
    if candidates.is_empty() {
        return Ok(found);
    }
    let mut here: HashMap<(i64, u64, String), usize> = HashMap::new();
    let metas: Vec<_> = candidates
        .iter()
        .filter_map(|l| ours.remove(&(l.date, u64::from(l.size))))
        .flatten()
        .collect();
    for chunk in metas.chunks(256) {
        let bodies = store.read_bodies(chunk.to_vec()).await?;
        for (meta, body) in chunk.iter().zip(bodies) {
            let id = body.map(|b| message_id(&b)).unwrap_or_default();
            *here.entry((meta.internal_date, meta.size, id)).or_default() += 1;
        }
    }
    for chunk in candidates.chunks(500) {
        let uids: Vec<u32> = chunk.iter().map(|l| l.uid).collect();
        let envelopes = conn.uid_fetch(&uid_set(&uids), "(UID ENVELOPE)").await?;
        let ids: HashMap<u32, String> = envelopes
            .into_iter()
            .filter_map(|f| Some((f.uid?, normalize_id(&f.message_id.unwrap_or_default()))))
            .collect();
        for l in chunk {
            let id = ids.get(&l.uid).cloned().unwrap_or_default();
            if let Some(n) = here.get_mut(&(l.date, u64::from(l.size), id)) {
                if *n > 0 {
                    *n -= 1;
                    found.insert(l.uid);
                }
            }
        }
    }
    Ok(found)
}

/// The Message-ID of a stored message, without angle brackets or spaces.
fn message_id(body: &[u8]) -> String {
    let parsed = mail_parser::MessageParser::default().parse_headers(body);
    parsed
        .and_then(|m| m.message_id().map(str::to_string))
        .map(|id| normalize_id(id.as_bytes()))
        .unwrap_or_default()
}

fn normalize_id(id: &[u8]) -> String {
    let text = String::from_utf8_lossy(id);
    text.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_string()
}

/// Consecutive slices of `todo` of at most `max_messages` messages and `max_bytes` bytes
/// (a larger message alone).
fn batches(todo: &[Listed], max_messages: usize, max_bytes: u64) -> Vec<&[Listed]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0u64);
    for (i, l) in todo.iter().enumerate() {
        let size = u64::from(l.size);
        if i > start && (i - start >= max_messages || bytes + size > max_bytes) {
            out.push(&todo[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < todo.len() {
        out.push(&todo[start..]);
    }
    out
}

/// An IMAP sequence set of ascending `uids`, runs collapsed (`1:5,7,9:12`).
pub fn uid_set(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let mut j = i;
        while j + 1 < uids.len() && uids[j + 1] == uids[j] + 1 {
            j += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        if j > i {
            out.push_str(&format!("{}:{}", uids[i], uids[j]));
        } else {
            out.push_str(&uids[i].to_string());
        }
        i = j + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(uid: u32, size: u32) -> Listed {
        Listed { uid, size, date: 0 }
    }

    #[test]
    fn uid_sets_collapse_runs() {
        assert_eq!(uid_set(&[1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
        assert_eq!(uid_set(&[9]), "9");
    }

    #[test]
    fn batches_bound_messages_and_bytes_and_a_large_message_goes_alone() {
        let todo = [l(1, 10), l(2, 10), l(3, 10), l(4, 100), l(5, 10)];
        let sizes: Vec<Vec<u32>> = batches(&todo, 2, 50)
            .iter()
            .map(|b| b.iter().map(|x| x.uid).collect())
            .collect();
        assert_eq!(sizes, vec![vec![1, 2], vec![3], vec![4], vec![5]]);
    }

    #[test]
    fn message_ids_compare_without_brackets() {
        assert_eq!(message_id(b"Message-ID: <a@b.it>\r\n\r\nx"), "a@b.it");
        assert_eq!(normalize_id(b" <a@b.it> "), "a@b.it");
    }
}
