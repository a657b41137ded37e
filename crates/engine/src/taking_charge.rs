//! Taking charge of a valid envelope at the Incoming Point (PEC.md §6.3, first two rows):
//! the ricevuta di presa in carico (kind #5) for the sending provider's `mailReceipt`, one
//! builder for both our own submissions (same-domain rule, §1.3; §12 item 20: to our own
//! service mailbox) and other providers' envelopes, then the Delivery Point (§6.4); or,
//! when the envelope carries malware, one avviso di rilevazione virus (#7) per recipient and
//! the original in the security archive (§10.4).

use std::sync::Arc;

use openssl::sha::Sha256;
use pecd_signer::build::{Built, Document, Facts, Provider, Unsigned};
use pecd_signer::inspect::{self, Report};
use pecd_signer::smime::SignError;
use pecd_signer::{Moment, ProviderEntry, ReceiptType, Signer};
use pecd_store::{Certification, Certified, Delivery, LogEvent, LogRecord, LOG_RETENTION_SECONDS};

use crate::delivery::{self, Delivered, Point};
use crate::facts::{esteso, parse, Certifier, Ids};
use crate::recipients::RecipientDecision;
use crate::{legal_log, off_thread, Engine, EngineError, Incoming, Recipient, Scanner, QUARANTINE};

/// The presa in carico of `ricezione` (the recipients we take charge of) for the provider
/// whose `mailReceipt` is `mail_receipt`, to be signed, and its log line naming `gestore`
/// (PEC.md §6.3).
pub(crate) fn presa_in_carico(
    c: &Certifier<'_>,
    mail_receipt: &str,
    ricezione: Vec<String>,
    gestore: &str,
    detail: String,
    when: Moment,
    id: String,
) -> (Unsigned, LogRecord) {
    let doc = Document::TakingCharge {
        mail_receipt: mail_receipt.to_string(),
        ricezione: ricezione.clone(),
    };
    let taking = c.prepare(&doc, when, &id);
    let line = legal_log::line(
        when,
        LogEvent::PresaInCarico,
        c.facts,
        ricezione,
        vec![id],
        gestore,
        detail,
    );
    (taking, line)
}

/// What the Incoming Point made of a valid envelope, off the async threads.
enum Handled {
    /// Malware: one rilevazione virus per recipient; the original goes to quarantine.
    Virus {
        finding: String,
        notices: Vec<(String, Built)>,
        original: Vec<u8>,
    },
    /// Taken in charge: the presa in carico with its log line, the Delivery Point's work
    /// with its receipts signed, and the envelope for the mailboxes.
    Taken {
        taking: Built,
        line: Box<LogRecord>,
        done: Delivered,
        receipts: Vec<Built>,
        envelope: Vec<u8>,
    },
}

/// Everything the blocking part of taking charge of a peer's envelope needs, owned.
struct PeerEnvelope {
    signer: Arc<Signer>,
    provider: Provider,
    scanner: Arc<dyn Scanner>,
    entry: ProviderEntry,
    facts: Facts,
    /// Our RCPT TO recipients with what the Delivery Point finds for each.
    states: Vec<(String, Recipient)>,
    /// The original (postacert.eml) and the envelope as received.
    original: Vec<u8>,
    envelope: Vec<u8>,
    ids: Ids,
    when: Moment,
}

impl PeerEnvelope {
    fn handle(mut self) -> Result<Handled, SignError> {
        let c = Certifier {
            signer: &self.signer,
            provider: &self.provider,
            facts: &self.facts,
        };
        let rcpts: Vec<String> = self.states.iter().map(|(a, _)| a.clone()).collect();
        // §6.3: malware in a valid envelope: one rilevazione virus per recipient to the
        // sending provider, nothing delivered.
        if let Some(finding) = self.scanner.scan(&self.original) {
            let mut unsigned = Vec::new();
            for r in &rcpts {
                let doc = Document::VirusDetection {
                    mail_receipt: self.entry.mail_receipt.clone(),
                    recipient: r.clone(),
                    esteso: esteso("5.7.1", &c.provider.name, &format!("virus {finding}")),
                };
                let id = self.ids.next();
                unsigned.push(c.prepare(&doc, self.when, &id));
            }
            let notices = rcpts.into_iter().zip(c.seal_all(unsigned)?).collect();
            return Ok(Handled::Virus {
                finding,
                notices,
                original: self.original,
            });
        }
        let (taking, line) = presa_in_carico(
            &c,
            &self.entry.mail_receipt,
            rcpts,
            &self.entry.name,
            format!("busta di {}", self.entry.name),
            self.when,
            self.ids.next(),
        );
        let p = parse(&self.original);
        let point = Point {
            provider: &self.provider,
            facts: &self.facts,
            original: &self.original,
            to: &p.to,
            cc: &p.cc,
            when: self.when,
        };
        let mut done = point.deliver(&self.states, &mut || self.ids.next());
        // The presa in carico and every receipt, signed in parallel.
        let mut unsigned = vec![taking];
        unsigned.append(&mut done.receipts);
        let mut signed = c.seal_all(unsigned)?.into_iter();
        let taking = signed.next().ok_or_else(lost)?;
        Ok(Handled::Taken {
            taking,
            line: Box::new(line),
            done,
            receipts: signed.collect(),
            envelope: self.envelope,
        })
    }
}

/// A signed document the signing pool did not give back.
pub(crate) fn lost() -> SignError {
    SignError::Material("a signed document is missing".into())
}

/// The key that makes a peer's retried envelope a duplicate.
fn envelope_key(pec_id: &str, recipients: &[String]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(b"pecd-peer-envelope-v1\0");
    h.update(pec_id.as_bytes());
    for r in recipients {
        h.update(b"\0");
        h.update(r.as_bytes());
    }
    h.finish().to_vec()
}

impl Engine {
    /// A valid envelope of `entry` (PEC.md §6.3 first two rows, §6.4).
    pub(crate) async fn take_charge(
        &self,
        entry: ProviderEntry,
        report: Report,
        recipients: Vec<RecipientDecision>,
        message: Vec<u8>,
    ) -> Result<Incoming, EngineError> {
        let d = report.daticert.expect("a valid envelope has daticert");
        let entity = report.entity.unwrap_or_default();
        let original = inspect::entity_part(&entity, "postacert.eml").unwrap_or_default();
        let rcpts: Vec<String> = recipients.iter().map(|r| r.address.clone()).collect();
        let facts = Facts {
            pec_id: d.identificativo.clone(),
            msgid: d.msgid.clone(),
            sender: d.mittente.clone(),
            destinatari: d.destinatari.clone(),
            risposte: d.risposte.clone(),
            subject: d.oggetto.clone().unwrap_or_default(),
            receipt: pecd_signer::mime::header(&message, "X-TipoRicevuta")
                .and_then(|v| ReceiptType::parse(&v))
                .unwrap_or_default(),
        };
        let mut states = Vec::with_capacity(rcpts.len());
        for r in &recipients {
            states.push((
                r.address.clone(),
                self.recheck(r, message.len() as u64).await?,
            ));
        }
        let when = self.now();
        let work = PeerEnvelope {
            signer: self.signer.clone(),
            provider: self.provider.clone(),
            scanner: self.scanner.clone(),
            entry: entry.clone(),
            facts: facts.clone(),
            states,
            original,
            envelope: message,
            ids: Ids::new(self.new_id(when)),
            when,
        };
        let handled = off_thread(move || work.handle()).await??;

        let mut step = Certification {
            dedup_key: Some(envelope_key(&facts.pec_id, &rcpts)),
            dedup_keep_seconds: Some(LOG_RETENTION_SECONDS),
            pec_id: facts.pec_id.clone(),
            ..Default::default()
        };
        let outcome = self
            .add_handled(&mut step, &entry, &facts, when, handled)
            .await?;
        match self.commit(step).await? {
            Certified::Stored(_) => Ok(outcome),
            Certified::Duplicate(pec_id) => Ok(Incoming::Duplicate { pec_id }),
        }
    }

    /// Adds what the Incoming Point made of a peer's envelope to its step: the notices and
    /// receipts routed to their addressees, the log lines, the quarantine.
    async fn add_handled(
        &self,
        step: &mut Certification,
        entry: &ProviderEntry,
        facts: &Facts,
        when: Moment,
        handled: Handled,
    ) -> Result<Incoming, EngineError> {
        Ok(match handled {
            Handled::Virus {
                finding,
                notices,
                original,
            } => {
                for (recipient, notice) in notices {
                    self.route(
                        &entry.mail_receipt,
                        &facts.pec_id,
                        "rilevazione virus",
                        notice.bytes,
                    )
                    .await?
                    .add_to(step);
                    step.log.push(legal_log::line(
                        when,
                        LogEvent::RilevazioneVirus,
                        facts,
                        vec![recipient],
                        vec![notice.message_id],
                        &entry.name,
                        format!("virus {finding}"),
                    ));
                }
                // The security archive keeps what the antivirus stopped (PEC.md §10.4).
                step.deliveries.push(Delivery {
                    mailbox: self.service,
                    folder: QUARANTINE.into(),
                    bytes: original.into(),
                });
                Incoming::VirusDetected {
                    pec_id: facts.pec_id.clone(),
                    finding,
                }
            }
            Handled::Taken {
                taking,
                line,
                done,
                receipts,
                envelope,
            } => {
                self.route(
                    &entry.mail_receipt,
                    &facts.pec_id,
                    "presa in carico",
                    taking.bytes,
                )
                .await?
                .add_to(step);
                step.log.push(*line);
                step.deliveries
                    .extend(delivery::envelopes(&done.stored, &envelope.into()));
                for receipt in receipts {
                    self.route(
                        &facts.sender,
                        &facts.pec_id,
                        receipt.kind.name(),
                        receipt.bytes,
                    )
                    .await?
                    .add_to(step);
                }
                step.log.extend(done.logs);
                Incoming::Envelope {
                    pec_id: facts.pec_id.clone(),
                }
            }
        })
    }
}
