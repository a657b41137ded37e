//! The Incoming Point (PEC.md §6.3, §9.3) for mail from outside: envelopes, receipts and
//! notices of other providers, and ordinary mail. Whatever a provider signed is stored byte
//! for byte (only our `Received:` field goes in front), and the trace of our own
//! transactions follows the receipts that come back (§6.5).

use openssl::sha::Sha256;
use pecd_signer::build::{self, Built, Document, Facts};
use pecd_signer::inspect::{self, CheckOptions, Report};
use pecd_signer::{ChainTime, Daticert, Kind, ProviderEntry, ReceiptType};
use pecd_store::{
    Certification, Certified, Delivery, LogEvent, LogRecord, MailboxId, Ricevuta, StateEvent,
    TraceRecord, LOG_RETENTION_SECONDS,
};

use crate::delivery::{Delivered, Point};
use crate::submit::{esteso, log, parse};
use crate::{domain_of, off_thread, Engine, EngineError, Recipient, QUARANTINE};
use pecd_common::config::OrdinaryMail;

/// What became of a message at the Incoming Point.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A valid envelope of another provider: taken in charge, delivered, receipts queued.
    Envelope { pec_id: String },
    /// The same envelope was taken in charge before (the peer retried after a lost reply).
    Duplicate { pec_id: String },
    /// A valid envelope carrying malware: quarantined, rilevazione virus queued (§6.3).
    VirusDetected { pec_id: String, finding: String },
    /// A valid receipt or notice of another provider, delivered unchanged.
    Receipt { kind: Kind },
    /// Delivered inside a busta di anomalia: ordinary mail by policy, or a message signed by a
    /// listed provider that is not formally correct (the reason).
    Anomaly { reason: String },
    /// Ordinary mail the recipients' domain refuses.
    Refused,
    /// Ordinary mail with malware, refused.
    Infected(String),
    /// No recipient has a mailbox here.
    NoMailbox,
    /// MIME containers nested deeper than [`pecd_signer::mime::MAX_MIME_DEPTH`]: refused
    /// before any parser walks it.
    TooDeep,
    /// The same receipt or notice was delivered before (a peer's retry, or a replay).
    RepeatedReceipt { kind: Kind },
    /// A receipt or notice sent to recipients it is not addressed to (its daticert names
    /// another addressee): delivered to nobody.
    Misaddressed,
    /// The addressee of a receipt has no room for it now; the peer should retry.
    MailboxFull,
}

/// What the Incoming Point made of a valid envelope, off the async threads.
enum Handled {
    /// Malware: one rilevazione virus per recipient; the original goes to quarantine.
    Virus {
        finding: String,
        notices: Vec<(String, Built)>,
        original: Vec<u8>,
    },
    /// Taken in charge: the presa in carico and the Delivery Point's work.
    Taken { taking: Built, done: Delivered },
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

/// The key that makes a receipt a repeat: the signed entity (what a replay cannot change)
/// and the mailbox it went to.
fn receipt_key(entity: &[u8], addressee: &str) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(b"pecd-peer-receipt-v1\0");
    h.update(addressee.to_ascii_lowercase().as_bytes());
    h.update(b"\0");
    h.update(entity);
    h.finish().to_vec()
}

/// The facts of one of our transactions, from its trace (for notices we make later).
pub(crate) fn facts_of(t: &TraceRecord) -> Facts {
    Facts {
        pec_id: t.pec_id.clone(),
        msgid: t.msgid.clone(),
        sender: t.sender.clone(),
        destinatari: t
            .destinatari
            .iter()
            .map(|(address, certificato)| pecd_signer::Destinatario {
                address: address.clone(),
                certificato: *certificato,
            })
            .collect(),
        risposte: t.risposte.clone(),
        subject: t.subject.clone(),
        receipt: ReceiptType::parse(&t.receipt).unwrap_or_default(),
    }
}

impl Engine {
    /// Takes a message arriving without AUTH (PEC.md §6.3): `message` already has our
    /// `Received:` field in front; `recipients` are RCPT TO addresses of our domains with
    /// their mailbox when it exists.
    pub async fn receive(
        &self,
        sender: &str,
        recipients: Vec<(String, Option<MailboxId>)>,
        message: Vec<u8>,
    ) -> Result<Incoming, EngineError> {
        let anchors = self.anchors();
        let crls = self.crls();
        let index = self.index();
        // Both scans read the whole message: off the async threads.
        let (report, message) = off_thread(move || {
            if pecd_signer::mime::nested_deeper_than(&message, pecd_signer::mime::MAX_MIME_DEPTH) {
                return (None, message);
            }
            let opts = CheckOptions {
                anchors: &anchors,
                crls: &crls,
                index: &index,
                time: ChainTime::Now,
                require_index: true,
            };
            (Some(inspect::check(&message, &opts)), message)
        })
        .await?;
        let Some(report) = report else {
            tracing::warn!(sender, "incoming message nested too deep: refused");
            return Ok(Incoming::TooDeep);
        };
        // §6.3 steps 1–3: no signature, an unknown signer or an invalid one: ordinary mail.
        let Some(entry) = report
            .entry
            .clone()
            .filter(|_| report.signature.is_ok() && report.chain.is_ok())
        else {
            let why = report.errors.first().cloned().unwrap_or_default();
            return self
                .receive_ordinary(sender, &recipients, message, true, why)
                .await;
        };
        // What we sign never reaches us over SMTP (our own recipients are served inside the
        // same step), so our signature arriving from outside is a replay of a document we
        // gave someone: it must not count as a receipt or an envelope again.
        // Ours: the current signing certificate, or any certificate of an entry of the index
        // that is us by name or by one of our domains (a previous key after a rotation).
        let own = entry.name.eq_ignore_ascii_case(&self.provider.name)
            || entry
                .domains
                .iter()
                .any(|d| self.config.provider.serves_domain(d))
            || report
                .signer_sha1
                .as_ref()
                .is_some_and(|h| self.own_hashes().contains(h));
        if own {
            let reason = "firmato da questo gestore: non proviene da un altro gestore".to_string();
            tracing::warn!(
                sender,
                "a message signed with our own key arrived from outside"
            );
            return self
                .receive_ordinary(sender, &recipients, message, false, reason)
                .await;
        }
        // Step 4: signed by a listed provider but not formally correct.
        let kind = report.kind.filter(|k| *k != Kind::Anomaly);
        let (Some(kind), true) = (kind, report.valid) else {
            let reason = if report.errors.is_empty() {
                "busta di anomalia di un altro gestore".to_string()
            } else {
                report.errors.join("; ")
            };
            tracing::warn!(provider = %entry.name, %reason, "message of a provider not formally correct");
            return self
                .receive_ordinary(sender, &recipients, message, false, reason)
                .await;
        };
        // A receipt or notice carries one of the X-Ricevuta values (PEC.md §2.1); the
        // envelope is the one valid kind that does not.
        if let Some(ricevuta) = Ricevuta::parse(kind.type_header().1) {
            self.receive_receipt(entry, kind, ricevuta, report, recipients, message)
                .await
        } else {
            let listed = |a: &str| {
                report.daticert.as_ref().is_some_and(|d| {
                    d.destinatari
                        .iter()
                        .any(|x| x.certificato && x.address.eq_ignore_ascii_case(a))
                })
            };
            // §9.3: a provider sends envelopes only for senders of the domains it manages.
            let mittente = report
                .daticert
                .as_ref()
                .map(|d| d.mittente.clone())
                .unwrap_or_default();
            if !entry
                .domains
                .iter()
                .any(|x| x.eq_ignore_ascii_case(domain_of(&mittente)))
            {
                let reason = format!(
                    "the sender {mittente} is not in a domain managed by {}",
                    entry.name
                );
                tracing::warn!(provider = %entry.name, %reason, "envelope not formally correct");
                return self
                    .receive_ordinary(sender, &recipients, message, false, reason)
                    .await;
            }
            if let Some((stray, _)) = recipients.iter().find(|(a, _)| !listed(a)) {
                let reason = format!("{stray} is not a certified recipient of the envelope");
                tracing::warn!(provider = %entry.name, %reason, "envelope not formally correct");
                return self
                    .receive_ordinary(sender, &recipients, message, false, reason)
                    .await;
            }
            self.take_charge(entry, report, recipients, message).await
        }
    }

    /// A valid envelope of `entry` (PEC.md §6.3 first two rows, §6.4).
    async fn take_charge(
        &self,
        entry: ProviderEntry,
        report: Report,
        recipients: Vec<(String, Option<MailboxId>)>,
        message: Vec<u8>,
    ) -> Result<Incoming, EngineError> {
        let d = report.daticert.expect("a valid envelope has daticert");
        let entity = report.entity.unwrap_or_default();
        let original = inspect::entity_part(&entity, "postacert.eml").unwrap_or_default();
        let rcpts: Vec<String> = recipients.iter().map(|(a, _)| a.clone()).collect();
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
        for r in &rcpts {
            states.push((
                r.clone(),
                self.recipient_state(r, message.len() as u64).await?,
            ));
        }
        let when = self.now();
        let signer = self.signer.clone();
        let provider = self.provider.clone();
        let scanner = self.scanner.clone();
        let id_base = self.new_id(when);
        let mail_receipt = entry.mail_receipt.clone();
        let blocking_facts = facts.clone();
        let blocking_rcpts = rcpts.clone();
        let handled = off_thread(move || {
            let (facts, rcpts) = (blocking_facts, blocking_rcpts);
            let mut n = 0;
            let mut next_id = || {
                n += 1;
                format!("{n}.{id_base}")
            };
            // §6.3: malware in a valid envelope: one rilevazione virus per recipient to the
            // sending provider, nothing delivered.
            if let Some(finding) = scanner.scan(&original) {
                let mut notices = Vec::new();
                for r in &rcpts {
                    let doc = Document::VirusDetection {
                        mail_receipt: mail_receipt.clone(),
                        recipient: r.clone(),
                        esteso: esteso("5.7.1", &provider.name, &format!("virus {finding}")),
                    };
                    let id = next_id();
                    notices.push((
                        r.clone(),
                        build::build(&signer, &provider, &facts, &doc, when, &id)?,
                    ));
                }
                return Ok::<_, pecd_signer::smime::SignError>(Handled::Virus {
                    finding,
                    notices,
                    original,
                });
            }
            let taking_id = next_id();
            let taking = build::build(
                &signer,
                &provider,
                &facts,
                &Document::TakingCharge {
                    mail_receipt: mail_receipt.clone(),
                    ricezione: rcpts,
                },
                when,
                &taking_id,
            )?;
            let p = parse(&original);
            let point = Point {
                signer: &signer,
                provider: &provider,
                facts: &facts,
                original: &original,
                envelope: &message,
                to: &p.to,
                cc: &p.cc,
                when,
            };
            let done = point.deliver(&states, &mut next_id)?;
            Ok(Handled::Taken { taking, done })
        })
        .await??;

        let mut step = Certification {
            dedup_key: Some(envelope_key(&facts.pec_id, &rcpts)),
            dedup_keep_seconds: Some(LOG_RETENTION_SECONDS),
            pec_id: facts.pec_id.clone(),
            ..Default::default()
        };
        let outcome = match handled {
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
                    .add_to(&mut step);
                    step.log.push(log(
                        when,
                        LogEvent::RilevazioneVirus,
                        &facts,
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
                    bytes: original,
                });
                Incoming::VirusDetected {
                    pec_id: facts.pec_id.clone(),
                    finding,
                }
            }
            Handled::Taken { taking, done } => {
                self.route(
                    &entry.mail_receipt,
                    &facts.pec_id,
                    "presa in carico",
                    taking.bytes,
                )
                .await?
                .add_to(&mut step);
                step.log.push(log(
                    when,
                    LogEvent::PresaInCarico,
                    &facts,
                    rcpts.clone(),
                    vec![taking.message_id],
                    &entry.name,
                    format!("busta di {}", entry.name),
                ));
                step.deliveries.extend(done.stored);
                for receipt in done.receipts {
                    self.route(
                        &facts.sender,
                        &facts.pec_id,
                        receipt.kind.name(),
                        receipt.bytes,
                    )
                    .await?
                    .add_to(&mut step);
                }
                step.log.extend(done.logs);
                Incoming::Envelope {
                    pec_id: facts.pec_id.clone(),
                }
            }
        };
        self.commit_incoming(step, outcome).await
    }

    /// A valid receipt or notice of `entry` (PEC.md §6.5): stored unchanged in the mailbox
    /// of its addressee, and our transaction's trace moves on. The addressee is the one the
    /// signed daticert implies: our service mailbox for a presa in carico or a rilevazione
    /// virus, the original sender for the others. A signed receipt is a replayable document,
    /// so RCPT TO decides nothing: other recipients get nothing, the same receipt is
    /// delivered once, and the addressee's quota holds.
    async fn receive_receipt(
        &self,
        entry: ProviderEntry,
        kind: Kind,
        ricevuta: Ricevuta,
        report: Report,
        recipients: Vec<(String, Option<MailboxId>)>,
        message: Vec<u8>,
    ) -> Result<Incoming, EngineError> {
        let d = report.daticert.expect("a valid receipt has daticert");
        let addressee = match kind {
            Kind::TakingCharge | Kind::VirusDetection => self.provider.service_address.clone(),
            _ => d.mittente.clone(),
        };
        let (addressed, strays): (Vec<_>, Vec<_>) = recipients
            .iter()
            .partition(|(a, _)| a.eq_ignore_ascii_case(&addressee));
        for (stray, _) in &strays {
            tracing::warn!(provider = %entry.name, kind = kind.name(), recipient = %stray, %addressee, "receipt sent to a recipient it is not addressed to: not delivered");
        }
        if addressed.is_empty() {
            return Ok(Incoming::Misaddressed);
        }
        let mailbox = match self
            .recipient_state(&addressee, message.len() as u64)
            .await?
        {
            Recipient::Active(m) => m,
            Recipient::Full if !addressee.eq_ignore_ascii_case(&self.provider.service_address) => {
                return Ok(Incoming::MailboxFull)
            }
            // A legal document for a mailbox that is gone or revoked (or our own service
            // mailbox): kept in the service mailbox, and the trace still moves on.
            _ => self.service,
        };
        let when = self.now();
        let mut step = Certification {
            dedup_keep_seconds: Some(LOG_RETENTION_SECONDS),
            dedup_key: Some(receipt_key(
                report.entity.as_deref().unwrap_or(&message),
                &addressee,
            )),
            pec_id: d.identificativo.clone(),
            deliveries: vec![Delivery {
                mailbox,
                folder: "INBOX".into(),
                bytes: message,
            }],
            ..Default::default()
        };
        step.log.push(LogRecord {
            time: when.unix(),
            event: LogEvent::Ricevuta(ricevuta),
            pec_id: d.identificativo.clone(),
            msgid: d.msgid.clone(),
            sender: d.mittente.clone(),
            recipients: vec![addressee.to_ascii_lowercase()],
            subject: d.oggetto.clone().unwrap_or_default(),
            generated: vec![],
            provider: entry.name.clone(),
            detail: receipt_detail(&d),
        });
        let _guard = self.lock_trace(&d.identificativo).await;
        if let Some(mut trace) = self.store.trace(&d.identificativo).await? {
            if self.is_local(&trace.sender) && d.mittente.eq_ignore_ascii_case(&trace.sender) {
                self.advance_trace(&mut trace, kind, &d, &entry, &mut step)
                    .await?;
                step.trace = Some(trace);
            }
        }
        match self.commit(step).await? {
            Certified::Stored(_) => Ok(Incoming::Receipt { kind }),
            Certified::Duplicate(_) => Ok(Incoming::RepeatedReceipt { kind }),
        }
    }

    /// Moves our trace on after a receipt from another provider (PEC.md §6.7); a receipt after
    /// a final state changes nothing (§12).
    async fn advance_trace(
        &self,
        trace: &mut TraceRecord,
        kind: Kind,
        d: &Daticert,
        entry: &ProviderEntry,
        step: &mut Certification,
    ) -> Result<(), EngineError> {
        let when = self.now();
        let facts = facts_of(trace);
        let addressed: Vec<String> = match kind {
            Kind::TakingCharge => d.ricezione.clone(),
            _ => d.consegna.clone().into_iter().collect(),
        };
        for address in addressed {
            let address = address.to_ascii_lowercase();
            // A provider speaks only for the recipients of its own domains.
            if !entry.domains.iter().any(|d| d == domain_of(&address)) {
                tracing::warn!(provider = %entry.name, %address, "receipt about a recipient of another provider ignored");
                continue;
            }
            let event = match kind {
                Kind::TakingCharge => StateEvent::PresaInCarico,
                Kind::Delivery => StateEvent::AvvenutaConsegna,
                Kind::NonDelivery | Kind::VirusDetection => StateEvent::ErroreConsegna,
                _ => continue,
            };
            // A receipt after a final state (or a second presa in carico) is delivered but
            // moves nothing (PEC.md §6.7, §12).
            let Some(r) = trace
                .recipients
                .iter_mut()
                .find(|r| r.address == address && r.open() && r.allows(event))
            else {
                continue;
            };
            let detail = match kind {
                Kind::TakingCharge => format!("presa in carico da {}", entry.name),
                Kind::VirusDetection => {
                    // §6.5: we tell our sender with an avviso di mancata consegna per virus.
                    let doc = Document::NonDeliveryVirus {
                        recipient: address.clone(),
                        esteso: d.errore_esteso.clone().unwrap_or_else(|| {
                            esteso(
                                "5.7.1",
                                &entry.name,
                                "virus rilevato dal gestore del destinatario",
                            )
                        }),
                    };
                    self.notify_sender(
                        step,
                        &facts,
                        doc,
                        LogEvent::MancataConsegnaVirus,
                        &address,
                        receipt_detail(d),
                    )
                    .await?;
                    format!("virus: {}", receipt_detail(d))
                }
                _ => receipt_detail(d),
            };
            if let Err(illegal) = r.apply(event, when.unix(), detail) {
                tracing::error!(pec_id = %trace.pec_id, error = %illegal, "receipt applied to a recipient that no longer waits");
            }
        }
        Ok(())
    }

    /// Ordinary mail, or a provider's message that is not formally correct (PEC.md §6.3 last
    /// two rows): by policy (`policy_applies`) refused, or wrapped in a busta di anomalia for
    /// each recipient with a mailbox.
    pub(crate) async fn receive_ordinary(
        &self,
        sender: &str,
        recipients: &[(String, Option<MailboxId>)],
        message: Vec<u8>,
        policy_applies: bool,
        reason: String,
    ) -> Result<Incoming, EngineError> {
        // Each recipient by its own mailbox state and, for ordinary mail, its own policy (a
        // reverse path of a PEC domain skipped these checks at RCPT).
        let mut existing: Vec<(String, MailboxId)> = Vec::new();
        let mut refused = false;
        for (address, _) in recipients {
            if let Recipient::Active(m) =
                self.recipient_state(address, message.len() as u64).await?
            {
                if policy_applies && self.ordinary_policy(address) == OrdinaryMail::Refuse {
                    refused = true;
                } else {
                    existing.push((address.clone(), m));
                }
            }
        }
        if existing.is_empty() {
            return Ok(if refused {
                Incoming::Refused
            } else {
                Incoming::NoMailbox
            });
        }
        let signer = self.signer.clone();
        let provider = self.provider.clone();
        let scanner = self.scanner.clone();
        let sender_owned = sender.to_string();
        let when = self.now();
        let (finding, built, message) = off_thread(move || {
            if let Some(f) = scanner.scan(&message) {
                return Ok::<_, pecd_signer::smime::SignError>((Some(f), None, message));
            }
            // Signed as it will travel: a bare CR would not survive SMTP (see
            // canonical_line_ends).
            let canonical = pecd_signer::mime::canonical_line_ends(&message);
            let built = build::anomaly(&signer, &provider, &canonical, &sender_owned, when)?;
            Ok((None, Some(built), message))
        })
        .await??;
        if let Some(f) = finding {
            tracing::warn!(sender, finding = %f, "ordinary mail with malware refused");
            return Ok(Incoming::Infected(f));
        }
        let built = built.expect("built when clean");
        let subject = build::decoded_subject(&message);
        let id = if built.message_id.is_empty() {
            self.new_id(when)
        } else {
            built.message_id.clone()
        };
        let detail = if reason.is_empty() {
            "posta ordinaria consegnata in una busta di anomalia".to_string()
        } else {
            format!("busta di anomalia: {reason}")
        };
        let step = Certification {
            pec_id: id.clone(),
            deliveries: existing
                .iter()
                .map(|(_, m)| Delivery {
                    mailbox: *m,
                    folder: "INBOX".into(),
                    bytes: built.bytes.clone(),
                })
                .collect(),
            log: vec![LogRecord {
                time: when.unix(),
                event: LogEvent::Anomalia,
                pec_id: id,
                msgid: Some(format!("<{}>", built.message_id))
                    .filter(|_| !built.message_id.is_empty()),
                sender: sender.to_string(),
                recipients: existing.iter().map(|(a, _)| a.clone()).collect(),
                subject,
                generated: vec![],
                provider: self.provider.name.clone(),
                detail: detail.clone(),
            }],
            ..Default::default()
        };
        self.store.certify(step).await?;
        Ok(Incoming::Anomaly { reason })
    }

    /// Writes a step; a duplicate envelope is reported as such.
    async fn commit_incoming(
        &self,
        step: Certification,
        outcome: Incoming,
    ) -> Result<Incoming, EngineError> {
        match self.commit(step).await? {
            Certified::Stored(_) => Ok(outcome),
            Certified::Duplicate(pec_id) => Ok(Incoming::Duplicate { pec_id }),
        }
    }
}

/// What a receipt says, for the log and the trace.
fn receipt_detail(d: &Daticert) -> String {
    let mut s = format!("{} da {}", d.tipo, d.gestore_emittente);
    if let Some(e) = &d.errore_esteso {
        s.push_str(": ");
        s.push_str(e);
    }
    s
}
