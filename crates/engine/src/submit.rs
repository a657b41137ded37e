//! A user's submission at the Access Point (PEC.md §6.1): the entry SMTP calls at the end of
//! DATA, and the order of the rules in its one certification step: [`crate::acceptance`]
//! (formal checks, antivirus, ricevuta di accettazione), [`crate::transport_envelope`], and —
//! for every recipient that is one of ours, as the same-domain rule asks (§1.3) —
//! [`crate::taking_charge`] (§6.3) and [`crate::delivery`] (§6.4).

use std::borrow::Cow;
use std::sync::Arc;

use pecd_signer::build::{Facts, Provider};
use pecd_signer::smime::SignError;
use pecd_signer::{mime, Moment, ProviderIndex, Signer};
use pecd_store::{Bytes, Certification, Certified, Delivery, MailboxId, TraceRecord};

use crate::acceptance::{self, Handed, Refusal, RefusalTo};
use crate::delivery::{self, Point};
use crate::facts::{read, Certifier, Ids, Parsed, Read};
use crate::taking_charge::{lost, presa_in_carico};
use crate::transport_envelope;
use crate::{off_thread, Clock, Engine, EngineError, Recipient, RecipientDecision, Scanner};

/// What SMTP hands over at the end of DATA of an authenticated session.
pub struct Submission {
    /// The authenticated holder, which SMTP has checked equals MAIL FROM (PEC.md §10.2).
    pub sender: String,
    /// RCPT TO, as [`Engine::decide_recipient`] decided each: ours, other providers' or
    /// esterno.
    pub recipients: Vec<RecipientDecision>,
    /// The message as the client sent it.
    pub message: Vec<u8>,
    /// Our `Received:` field(s), CRLF-terminated, prepended to the original.
    pub received: String,
}

/// A submission inside the engine: the RCPT TO addresses only.
struct Handover {
    sender: String,
    recipients: Vec<String>,
    message: Vec<u8>,
    received: String,
}

/// The answer to a submission.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted into PEC: the acceptance receipt and every envelope are durable.
    Accepted { pec_id: String },
    /// The same submission was certified before (a retry after a lost reply).
    Duplicate { pec_id: String },
    /// A formal check failed; the avviso di non accettazione is durable (PEC.md §6.1 step 6).
    NotAccepted { reason: String },
    /// Malware; the avviso per virus is durable and the message quarantined (§6.1 step 7).
    Infected { finding: String },
}

impl Engine {
    /// Certifies a submission (PEC.md §6.1) and, every recipient being ours, receives and
    /// delivers it (§6.3, §6.4), all in one durable step that returns before SMTP answers.
    pub async fn submit(&self, s: Submission) -> Result<Outcome, EngineError> {
        // Read again although SMTP read it at MAIL FROM: a holder whose mailbox was deleted
        // since then is refused for good (there is no mailbox for the receipt).
        let sender = self
            .store
            .find_mailbox(&s.sender)
            .await?
            .ok_or_else(|| EngineError::SenderGone(s.sender.clone()))?
            .id;
        let size = (s.received.len() + s.message.len()) as u64 * 2;
        let mut recipients = Vec::with_capacity(s.recipients.len());
        for r in &s.recipients {
            recipients.push((r.address.clone(), self.recheck(r, size).await?));
        }
        let s = Handover {
            sender: s.sender,
            recipients: s.recipients.into_iter().map(|r| r.address).collect(),
            message: s.message,
            received: s.received,
        };
        let ctx = Prepared {
            signer: self.signer.clone(),
            provider: self.provider.clone(),
            scanner: self.scanner.clone(),
            index: self.index(),
            max_total: self.config.pec.max_size_times_recipients,
            hostname: self.config.smtp.hostname.clone(),
            sender_mailbox: sender,
            service: self.service,
            pec_id: self.new_id(self.now()),
            id_base: self.new_id(self.now()),
            clock: self.clock.clone(),
        };
        // Building and signing run off the async threads.
        let (step, outcome) = off_thread(move || ctx.run(s, recipients)).await??;
        // The envelope goes to the sender's security archive only when accepted.
        let accepted = matches!(outcome, Outcome::Accepted { .. });
        match self.commit_with(step, accepted.then_some(sender)).await? {
            Certified::Stored(_) => Ok(outcome),
            Certified::Duplicate(pec_id) => Ok(Outcome::Duplicate { pec_id }),
        }
    }
}

/// Everything the blocking part needs, owned.
struct Prepared {
    signer: Arc<Signer>,
    provider: Provider,
    scanner: Arc<dyn Scanner>,
    index: Arc<ProviderIndex>,
    clock: Arc<dyn Clock>,
    max_total: u64,
    hostname: String,
    sender_mailbox: MailboxId,
    service: MailboxId,
    pec_id: String,
    /// Receipts get `<n>.` + this as their Message-ID.
    id_base: String,
}

impl Prepared {
    fn run(
        self,
        mut s: Handover,
        recipients: Vec<(String, Recipient)>,
    ) -> Result<(Certification, Outcome), SignError> {
        if let Cow::Owned(canonical) = mime::canonical_line_ends(&s.message) {
            s.message = canonical;
        }
        // §10.6: one temporal reference for the acceptance step.
        let accepted_at = Moment::from_unix(self.clock.now());
        // Read once: the header facts, and the parse the antivirus walks.
        let read = read(&s.message);
        let facts = self.facts(&s, &read.facts);
        let c = Certifier {
            signer: &self.signer,
            provider: &self.provider,
            facts: &facts,
        };
        let mut ids = Ids::new(self.id_base.clone());
        let handed = Handed {
            sender: &s.sender,
            recipients: &s.recipients,
            message: &s.message,
        };
        // §6.1 steps 2 and 3: formal checks, then antivirus; failures end here.
        let refused = acceptance::check(&handed, &read, self.max_total, &*self.scanner);
        // The whole parse is done with: freed before the documents are built and signed.
        let Read {
            facts: p, whole, ..
        } = read;
        drop(whole);
        if let Some(refusal) = refused {
            let to = RefusalTo {
                sender: self.sender_mailbox,
                service: self.service,
                received: s.received.clone(),
            };
            let step = acceptance::refuse(&c, &refusal, &handed, to, accepted_at, ids.next())?;
            let outcome = match refusal {
                Refusal::Formal(reason) => Outcome::NotAccepted { reason },
                Refusal::Virus(finding) => Outcome::Infected { finding },
            };
            return Ok((step, outcome));
        }
        let step = self.accept(&c, &s, &p, &recipients, accepted_at, &mut ids)?;
        Ok((
            step,
            Outcome::Accepted {
                pec_id: facts.pec_id,
            },
        ))
    }

    /// The facts of the transaction (PEC.md §7): sender and recipients from the SMTP
    /// envelope, To and Cc only to classify them (§10.2).
    fn facts(&self, s: &Handover, p: &Parsed) -> Facts {
        let msgid = p
            .msgid
            .clone()
            .unwrap_or_else(|| format!("<{}@{}>", uuid::Uuid::new_v4().simple(), self.hostname));
        Facts {
            pec_id: self.pec_id.clone(),
            msgid: Some(msgid),
            sender: s.sender.clone(),
            destinatari: transport_envelope::destinatari(p, &s.recipients, &self.index),
            risposte: p.reply_to.clone().unwrap_or_else(|| s.sender.clone()),
            subject: p.subject.clone(),
            receipt: p.receipt,
        }
    }

    /// §6.1 step 5: the ricevuta di accettazione, the envelope queued for other providers,
    /// and for our own recipients the presa in carico and the Delivery Point's work, in one
    /// step with the transaction's trace.
    fn accept(
        &self,
        c: &Certifier<'_>,
        s: &Handover,
        p: &Parsed,
        recipients: &[(String, Recipient)],
        accepted_at: Moment,
        ids: &mut Ids,
    ) -> Result<Certification, SignError> {
        let facts = c.facts;
        let to_sender = |bytes: Vec<u8>| Delivery {
            mailbox: self.sender_mailbox,
            folder: "INBOX".into(),
            bytes: bytes.into(),
        };
        // The original once, shared by the envelope and the completa receipts.
        let original = transport_envelope::original(c, &s.received, &s.message);
        let (acceptance, accepted_line) =
            acceptance::receipt(c, &s.recipients, accepted_at, ids.next());
        let envelope = transport_envelope::prepare(c, &original, accepted_at);
        let mut unsigned = vec![acceptance, envelope];
        let mut logs = vec![accepted_line];

        // §6.3: our Incoming Point takes charge of the envelope for every recipient of ours
        // (§12 item 20: the presa in carico is emitted, to our own service mailbox), with
        // its own temporal reference.
        let received_at = Moment::from_unix(self.clock.now());
        let local: Vec<String> = recipients
            .iter()
            .filter(|(_, r)| !matches!(r, Recipient::Remote | Recipient::External))
            .map(|(a, _)| a.clone())
            .collect();
        let taking_charge = !local.is_empty();
        if taking_charge {
            let (taking, line) = presa_in_carico(
                c,
                &self.provider.service_address,
                local,
                &self.provider.name,
                String::new(),
                received_at,
                ids.next(),
            );
            unsigned.push(taking);
            logs.push(line);
        }

        // §6.4: the Delivery Point stores the envelope unchanged and emits one receipt or
        // notice per recipient; remote recipients wait for the other provider (§6.6).
        let point = Point {
            provider: &self.provider,
            facts,
            original: &original,
            to: &p.to,
            cc: &p.cc,
            when: received_at,
        };
        let mut done = point.deliver(recipients, &mut || ids.next());
        unsigned.append(&mut done.receipts);
        // Every document of the step, signed in parallel.
        let mut signed = c.seal_all(unsigned)?.into_iter();
        let (acceptance, envelope) = (signed.next(), signed.next());
        let (acceptance, envelope) = acceptance.zip(envelope).ok_or_else(lost)?;
        let mut deliveries = vec![to_sender(acceptance.bytes)];
        if taking_charge {
            let taking = signed.next().ok_or_else(lost)?;
            deliveries.push(Delivery {
                mailbox: self.service,
                folder: "INBOX".into(),
                bytes: taking.bytes.into(),
            });
        }
        // One envelope buffer for the queue and every local recipient's delivery.
        let envelope = Bytes::from(envelope.bytes);
        let queue = transport_envelope::queue(c, &envelope, recipients, accepted_at);
        deliveries.extend(delivery::envelopes(&done.stored, &envelope));
        deliveries.extend(signed.map(|b| to_sender(b.bytes)));
        logs.extend(done.logs);
        let mut trace = done.trace;
        trace.extend(transport_envelope::relayed_traces(recipients, accepted_at));
        Ok(Certification {
            dedup_key: Some(acceptance::dedup_key(&Handed {
                sender: &s.sender,
                recipients: &s.recipients,
                message: &s.message,
            })),
            dedup_keep_seconds: None,
            pec_id: facts.pec_id.clone(),
            deliveries,
            log: logs,
            trace: Some(TraceRecord {
                pec_id: facts.pec_id.clone(),
                msgid: facts.msgid.clone(),
                sender: facts.sender.clone(),
                subject: facts.subject.clone(),
                accepted: accepted_at.unix(),
                destinatari: facts
                    .destinatari
                    .iter()
                    .map(|d| (d.address.clone(), d.certificato))
                    .collect(),
                risposte: facts.risposte.clone(),
                receipt: facts.receipt.as_str().into(),
                recipients: trace,
            }),
            queue,
            queue_settle: None,
            archive: Vec::new(),
        })
    }
}
