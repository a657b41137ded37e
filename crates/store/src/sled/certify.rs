//! One PEC certification step (PEC.md §6): deliveries, log lines, trace, queue entries and
//! the idempotency key, in one atomic, durable commit.
//!
//! In order: a known idempotency key answers at once; [`SledStore::plan_certification`]
//! writes the bodies and encodes every record outside the commit (identical bytes, such as
//! one envelope delivered to several mailboxes and relayed, are written once and referred to
//! by every record that has them); one transaction over the message trees ([`tx_deliver`]),
//! the PEC trees ([`tx_pec_records`]) and the body index writes all of it;
//! [`SledStore::settle_certified`] then notifies.

use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use sled::{IVec, Transactional};

use super::body_index::{tx_body_new, tx_body_unref};
use super::codec::*;
use super::security_archive::{refuse_security_archive, tx_archive_copies, PlannedCopy};
use super::tx::*;
use super::SledStore;
use crate::bodies::{BlobId, BodyLoc, PreparedBody};
use crate::pec::*;
use crate::types::*;

/// A certification ready to commit: bodies written, ids allocated, records encoded.
struct CertifyPlan {
    /// (mailbox, folder, body, size) of each delivery, in order.
    deliveries: Vec<(MailboxId, FolderId, BlobId, u64)>,
    /// The security-archive copies, kept if they fit.
    archive: Vec<PlannedCopy>,
    /// The bodies written, each with how many records of the step refer to it.
    bodies: Vec<(BlobId, BodyLoc, u32)>,
    log: Vec<LogLine>,
    /// The encoded trace, and whether it waits for another provider.
    trace: Option<(Vec<u8>, bool)>,
    /// New queue entries: key and encoded entry.
    queue: Vec<([u8; 8], Vec<u8>)>,
    /// The queue entry a relay attempt settles: removed (`None`) or rewritten.
    settle: Option<([u8; 8], Option<Vec<u8>>)>,
    dedup_key: Option<Vec<u8>>,
    /// Seconds the dedup key is kept from `now`.
    dedup_keep: i64,
    pec_id: String,
    /// Internal date of the delivered messages.
    now: i64,
}

/// The trees of the PEC records as a transaction sees them: legal log, trace, dedup, dedup
/// expiry, pending, queue.
type PecTrees<'a> = (
    &'a TransactionalTree,
    &'a TransactionalTree,
    &'a TransactionalTree,
    &'a TransactionalTree,
    &'a TransactionalTree,
    &'a TransactionalTree,
);

impl SledStore {
    /// Writes one certification step in one atomic, durable commit: every delivery (no quota
    /// refusal: the engine checked the recipients' space before; receipts and notices are
    /// legal documents and are always stored), the log lines, the trace and the dedup key.
    /// A crash leaves all of it or none of it. The security-archive copies of the step are
    /// kept when they fit, and what became of each comes back with the result (none for a
    /// duplicate).
    pub fn certify(
        &self,
        c: Certification,
    ) -> Result<(Certified, Vec<ArchiveOutcome>), StoreError> {
        if let Some(k) = &c.dedup_key {
            if let Some(v) = self.pec_dedup.get(k).map_err(sled_err)? {
                // The original's transaction is visible before its commit round's fsync:
                // answer the duplicate only once the original is on disk too.
                self.sync()?;
                let pec_id = String::from_utf8_lossy(&v).into_owned();
                return Ok((Certified::Duplicate(pec_id), Vec::new()));
            }
        }
        let (plan, prepared) = self.plan_certification(c)?;
        let mailboxes: Vec<MailboxId> = plan.deliveries.iter().map(|p| p.0).collect();
        let result = self.commit(prepared, move |s| {
            finish(
                (
                    &s.mailboxes,
                    &s.folders,
                    &s.messages,
                    &s.changes,
                    &s.pec_log,
                    &s.pec_trace,
                    &s.pec_dedup,
                    &s.pec_dedup_age,
                    &s.pec_pending,
                    &s.pec_queue,
                    &s.body_index,
                    &s.body_segments,
                )
                    .transaction(
                        |(mbx, fld, msgs, chg, lg, tr, dd, age, pend, q, idx, segs)| {
                            if let Some(k) = &plan.dedup_key {
                                if let Some(v) = dd.get(k)? {
                                    let pec_id = String::from_utf8_lossy(&v).into_owned();
                                    return Ok((Certified::Duplicate(pec_id), Vec::new()));
                                }
                            }
                            let trees = (mbx, fld, msgs, chg);
                            let (archived, dropped) =
                                tx_archive_copies(trees, &plan.archive, plan.now)?;
                            for &(id, loc, refs) in &plan.bodies {
                                // A copy that did not fit refers to nothing.
                                let refs = refs - dropped.get(&id).copied().unwrap_or(0);
                                if refs > 0 {
                                    tx_body_new((idx, segs), &id, loc, refs)?;
                                }
                            }
                            let out = tx_deliver(trees, &plan)?;
                            let settled = tx_pec_records((lg, tr, dd, age, pend, q), &plan)?;
                            if let Some(v) = &settled {
                                let entry: QueueEntry =
                                    dec(v).map_err(ConflictableTransactionError::Abort)?;
                                tx_body_unref((idx, segs), &entry.blob)?;
                            }
                            Ok((Certified::Stored(out), archived))
                        },
                    ),
            )
        });
        self.settle_certified(result, mailboxes)
    }

    /// Writes the bodies (deliveries first, then queued messages; bytes already written for
    /// this step are referred to again, not written twice) and encodes every record of `c`;
    /// the bodies come back to be made durable by the commit.
    fn plan_certification(
        &self,
        c: Certification,
    ) -> Result<(CertifyPlan, Vec<PreparedBody>), StoreError> {
        let mut deliveries = Vec::with_capacity(c.deliveries.len());
        let mut written = Written::default();
        for d in &c.deliveries {
            let folder = self
                .folder(d.mailbox, &d.folder)?
                .ok_or_else(|| StoreError::NoFolder(d.folder.clone()))?;
            refuse_security_archive(&folder, "delivery")?;
            let blob = written.body(self, &d.bytes)?;
            deliveries.push((d.mailbox, folder.id, blob, d.bytes.len() as u64));
        }
        let mut archive = Vec::with_capacity(c.archive.len());
        for a in &c.archive {
            let folder = self.security_archive(a.mailbox)?;
            let blob = written.body(self, &a.bytes)?;
            let (size, limit) = (a.bytes.len() as u64, a.limit_bytes);
            let (mailbox, folder) = (a.mailbox, folder.id);
            archive.push(PlannedCopy {
                mailbox,
                folder,
                blob,
                size,
                limit,
            });
        }
        let log = self.log_lines(&c.log)?;
        let trace = c.trace.as_ref().map(|t| (enc(t), t.open()));
        let mut queue = Vec::with_capacity(c.queue.len());
        for o in &c.queue {
            let blob = written.body(self, &o.bytes)?;
            let id = self.db.generate_id().map_err(sled_err)?;
            queue.push((id.to_be_bytes(), enc(&queue_entry(id, o, blob))));
        }
        let settle = c.queue_settle.as_ref().map(|s| match s {
            QueueSettle::Remove(id) => (id.to_be_bytes(), None),
            QueueSettle::Update(e) => (e.id.to_be_bytes(), Some(enc(e))),
        });
        let now = now();
        let keep = c.dedup_keep_seconds.unwrap_or(self.retention.dedup_seconds);
        let plan = CertifyPlan {
            deliveries,
            archive,
            bodies: written
                .bodies
                .iter()
                .zip(&written.refs)
                .map(|(b, &refs)| (b.id, b.loc, refs))
                .collect(),
            log,
            trace,
            queue,
            settle,
            dedup_key: c.dedup_key,
            dedup_keep: keep,
            pec_id: c.pec_id,
            now,
        };
        Ok((plan, written.bodies))
    }

    /// After the commit: a stored step notifies each delivery's mailbox. A duplicate or a
    /// refused step leaves the bytes it wrote dead (no index entry), for compaction.
    fn settle_certified(
        &self,
        result: Result<(Certified, Vec<ArchiveOutcome>), StoreError>,
        mailboxes: Vec<MailboxId>,
    ) -> Result<(Certified, Vec<ArchiveOutcome>), StoreError> {
        if let Ok((Certified::Stored(appended), archived)) = &result {
            for (mailbox, a) in mailboxes.into_iter().zip(appended) {
                self.notify(mailbox, a.modseq);
            }
            for (o, a) in archived
                .iter()
                .filter_map(|o| Some((o, o.stored.as_ref()?)))
            {
                self.notify(o.mailbox, a.modseq);
            }
        }
        result
    }
}

/// The bodies a certification step wrote, with how many of its records refer to each.
#[derive(Default)]
struct Written<'a> {
    bodies: Vec<PreparedBody>,
    /// The bytes of each body, to find a repeat.
    bytes: Vec<&'a [u8]>,
    refs: Vec<u32>,
}

impl<'a> Written<'a> {
    /// The body holding `bytes`: one more reference to one this step already wrote with the
    /// same bytes, or a new one.
    fn body(&mut self, store: &SledStore, bytes: &'a [u8]) -> Result<BlobId, StoreError> {
        // Clones of one `Bytes` share their memory: the pointer answers before the bytes.
        let same = |b: &&[u8]| std::ptr::eq(*b, bytes) || *b == bytes;
        if let Some(i) = self.bytes.iter().position(same) {
            self.refs[i] += 1;
            return Ok(self.bodies[i].id);
        }
        let body = store.bodies.prepare(bytes)?;
        let id = body.id;
        self.bodies.push(body);
        self.bytes.push(bytes);
        self.refs.push(1);
        Ok(id)
    }
}

/// A new queue entry for `o`, due at once.
fn queue_entry(id: u64, o: &Outbound, blob: BlobId) -> QueueEntry {
    QueueEntry {
        id,
        pec_id: o.pec_id.clone(),
        sender: o.sender.clone(),
        recipients: o.recipients.clone(),
        domain: o.domain.clone(),
        certified: o.certified,
        label: o.label.clone(),
        size: o.bytes.len() as u64,
        blob,
        created: o.created,
        next_attempt: o.created,
        attempts: 0,
        last_error: String::new(),
    }
}

/// Inserts every delivery of the plan, unflagged and dated now; one [`Appended`] each.
fn tx_deliver(trees: MessageTrees, plan: &CertifyPlan) -> TxResult<Vec<Appended>> {
    let (mbx, ..) = trees;
    let mut out = Vec::with_capacity(plan.deliveries.len());
    for &(mailbox_id, folder_id, blob, size) in &plan.deliveries {
        let m = tx_mailbox(mbx, mailbox_id)?;
        let meta = NewRecord {
            blob,
            size,
            internal_date: plan.now,
            flags: Flags::default(),
            keywords: Vec::new(),
        };
        out.push(tx_insert_message(trees, m, folder_id, meta)?);
    }
    Ok(out)
}

/// Writes the log lines, the trace (and its place among the pending), the queue entries,
/// the settled queue entry and the dedup key with its expiry. Returns the queue entry the
/// step removed, as it was.
fn tx_pec_records(
    (lg, tr, dd, age, pend, q): PecTrees,
    plan: &CertifyPlan,
) -> TxResult<Option<IVec>> {
    let pec_id = plan.pec_id.as_bytes();
    for (key, value) in &plan.log {
        lg.insert(&key[..], value.clone())?;
    }
    if let Some((t, open)) = &plan.trace {
        tr.insert(pec_id, t.clone())?;
        if *open {
            pend.insert(pec_id, &[][..])?;
        } else {
            pend.remove(pec_id)?;
        }
    }
    for (key, value) in &plan.queue {
        q.insert(&key[..], value.clone())?;
    }
    let mut settled = None;
    match &plan.settle {
        Some((key, None)) => settled = q.remove(&key[..])?,
        Some((key, Some(entry))) => {
            if let Some(stored) = q.get(key)? {
                q.insert(&key[..], keep_blob(&stored, entry)?)?;
            }
        }
        _ => {}
    }
    if let Some(k) = &plan.dedup_key {
        dd.insert(k.clone(), pec_id)?;
        age.insert(dedup_age_key(plan.now + plan.dedup_keep, k), &[][..])?;
    }
    Ok(settled)
}

/// `entry` (an encoded queue entry) with the body of the `stored` one: the caller rewrites
/// what an attempt changed, never which body the entry refers to, so that the body's
/// reference count, kept in the same transactions, cannot drift.
pub(super) fn keep_blob(stored: &[u8], entry: &[u8]) -> TxResult<Vec<u8>> {
    let stored: QueueEntry = dec(stored).map_err(ConflictableTransactionError::Abort)?;
    let mut entry: QueueEntry = dec(entry).map_err(ConflictableTransactionError::Abort)?;
    entry.blob = stored.blob;
    Ok(enc(&entry))
}
