//! The sender side when receipts come back (PEC.md §6.5): a valid receipt or notice of
//! another provider goes, unchanged, to the mailbox it is addressed to, and the
//! per-recipient state of our transaction moves through the state machine of §6.7; a
//! rilevazione virus makes us send our sender the avviso di mancata consegna per virus (#8).

use openssl::sha::Sha256;
use pecd_signer::build::Document;
use pecd_signer::inspect::Report;
use pecd_signer::{Daticert, Kind, ProviderEntry};
use pecd_store::{
    Certification, Certified, Delivery, LogEvent, LogRecord, Ricevuta, StateEvent, TraceRecord,
    LOG_RETENTION_SECONDS,
};

use crate::facts::{esteso, facts_of};
use crate::recipients::RecipientDecision;
use crate::{domain_of, Engine, EngineError, Incoming, Recipient};

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

impl Engine {
    /// A valid receipt or notice of `entry` (PEC.md §6.5): stored unchanged in the mailbox
    /// of its addressee, and our transaction's trace moves on. The addressee is the one the
    /// signed daticert implies: our service mailbox for a presa in carico or a rilevazione
    /// virus, the original sender for the others. A signed receipt is a replayable document,
    /// so RCPT TO decides nothing: other recipients get nothing, the same receipt is
    /// delivered once, and the addressee's quota holds.
    pub(crate) async fn receive_receipt(
        &self,
        entry: ProviderEntry,
        kind: Kind,
        ricevuta: Ricevuta,
        report: Report,
        recipients: Vec<RecipientDecision>,
        message: Vec<u8>,
    ) -> Result<Incoming, EngineError> {
        let d = report.daticert.expect("a valid receipt has daticert");
        let addressee = match kind {
            Kind::TakingCharge | Kind::VirusDetection => self.provider.service_address.clone(),
            _ => d.mittente.clone(),
        };
        let (addressed, strays): (Vec<_>, Vec<_>) = recipients
            .iter()
            .partition(|r| r.address.eq_ignore_ascii_case(&addressee));
        for stray in &strays {
            tracing::warn!(provider = %entry.name, kind = kind.name(), recipient = %stray.address, %addressee, "receipt sent to a recipient it is not addressed to: not delivered");
        }
        let Some(decided) = addressed.first() else {
            return Ok(Incoming::Misaddressed);
        };
        let mailbox = match self.recheck(decided, message.len() as u64).await? {
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
                bytes: message.into(),
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
