//! One PEC certification step (PEC.md §6): deliveries, log lines, trace, queue entries and
//! the idempotency key, in one atomic, durable commit.

use sled::Transactional;

use super::codec::*;
use super::tx::*;
use super::SledStore;
use crate::bodies::BlobId;
use crate::pec::*;
use crate::types::*;

impl SledStore {
    /// Writes one certification step in one atomic, durable commit: every delivery (no quota
    /// refusal: the engine checked the recipients' space before; receipts and notices are
    /// legal documents and are always stored), the log lines, the trace and the dedup key.
    /// A crash leaves all of it or none of it.
    pub fn certify(&self, c: Certification) -> Result<Certified, StoreError> {
        if let Some(k) = &c.dedup_key {
            if let Some(v) = self.pec_dedup.get(k).map_err(sled_err)? {
                return Ok(Certified::Duplicate(
                    String::from_utf8_lossy(&v).into_owned(),
                ));
            }
        }
        let mut plan = Vec::with_capacity(c.deliveries.len());
        let mut prepared = Vec::with_capacity(c.deliveries.len());
        for d in &c.deliveries {
            let folder = self
                .folder(d.mailbox, &d.folder)?
                .ok_or_else(|| StoreError::NoFolder(d.folder.clone()))?;
            let body = self.bodies.prepare(&d.bytes)?;
            plan.push((d.mailbox, folder.id, body.id, d.bytes.len() as u64));
            prepared.push(body);
        }
        let log = self.log_lines(&c.log)?;
        let trace = c.trace.as_ref().map(|t| (enc(t), t.open()));
        let mut queue = Vec::with_capacity(c.queue.len());
        for o in &c.queue {
            let body = self.bodies.prepare(&o.bytes)?;
            let id = self.db.generate_id().map_err(sled_err)?;
            let entry = QueueEntry {
                id,
                pec_id: o.pec_id.clone(),
                sender: o.sender.clone(),
                recipients: o.recipients.clone(),
                domain: o.domain.clone(),
                certified: o.certified,
                label: o.label.clone(),
                size: o.bytes.len() as u64,
                blob: body.id,
                created: o.created,
                next_attempt: o.created,
                attempts: 0,
                last_error: String::new(),
            };
            queue.push((id.to_be_bytes(), enc(&entry)));
            prepared.push(body);
        }
        let settle = c.queue_settle.as_ref().map(|s| match s {
            QueueSettle::Remove(id) => (id.to_be_bytes(), None),
            QueueSettle::Update(e) => (e.id.to_be_bytes(), Some(enc(e))),
        });
        let blobs: Vec<BlobId> = prepared.iter().map(|p| p.id).collect();
        let mailboxes: Vec<MailboxId> = plan.iter().map(|p| p.0).collect();
        let now = now();
        let keep = c.dedup_keep_seconds.unwrap_or(self.retention.dedup_seconds);
        let Certification {
            dedup_key, pec_id, ..
        } = c;
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
                )
                    .transaction(
                        |(mbx, fld, msgs, chg, lg, tr, dd, age, pend, q)| {
                            if let Some(k) = &dedup_key {
                                if let Some(v) = dd.get(k)? {
                                    return Ok((
                                        Certified::Duplicate(
                                            String::from_utf8_lossy(&v).into_owned(),
                                        ),
                                        None,
                                    ));
                                }
                            }
                            let mut out = Vec::with_capacity(plan.len());
                            for &(mailbox_id, folder_id, blob, size) in &plan {
                                let m = tx_mailbox(mbx, mailbox_id)?;
                                let meta = NewRecord {
                                    blob,
                                    size,
                                    internal_date: now,
                                    flags: Flags::default(),
                                    keywords: Vec::new(),
                                };
                                out.push(tx_insert_message(
                                    (mbx, fld, msgs, chg),
                                    m,
                                    folder_id,
                                    meta,
                                )?);
                            }
                            for (key, value) in &log {
                                lg.insert(&key[..], value.clone())?;
                            }
                            if let Some((t, open)) = &trace {
                                tr.insert(pec_id.as_bytes(), t.clone())?;
                                if *open {
                                    pend.insert(pec_id.as_bytes(), &[][..])?;
                                } else {
                                    pend.remove(pec_id.as_bytes())?;
                                }
                            }
                            for (key, value) in &queue {
                                q.insert(&key[..], value.clone())?;
                            }
                            let mut settled = None;
                            match &settle {
                                Some((key, None)) => settled = q.remove(&key[..])?,
                                Some((key, Some(entry))) if q.get(key)?.is_some() => {
                                    q.insert(&key[..], entry.clone())?;
                                }
                                _ => {}
                            }
                            if let Some(k) = &dedup_key {
                                dd.insert(k.clone(), pec_id.as_bytes())?;
                                age.insert(dedup_age_key(now + keep, k), &[][..])?;
                            }
                            Ok((Certified::Stored(out), settled))
                        },
                    ),
            )
        });
        match result {
            Ok((Certified::Stored(appended), settled)) => {
                for (mailbox, a) in mailboxes.into_iter().zip(&appended) {
                    self.notify(mailbox, a.modseq);
                }
                if let Some(v) = settled {
                    let entry: QueueEntry = dec(&v)?;
                    self.bodies.remove(&entry.blob);
                }
                Ok(Certified::Stored(appended))
            }
            Ok((dup, _)) => {
                blobs.iter().for_each(|b| self.bodies.remove(b));
                Ok(dup)
            }
            Err(e) if !e.is_temporary() => {
                blobs.iter().for_each(|b| self.bodies.remove(b));
                Err(e)
            }
            Err(e) => Err(e),
        }
    }
}
