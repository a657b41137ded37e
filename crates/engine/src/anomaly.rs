//! The busta di anomalia (PEC.md §3.3; §6.3 last two rows): ordinary mail, or a message
//! signed by a listed provider that is not formally correct, is refused by the recipient
//! domain's policy (§12 item 9) or delivered wrapped in an anomaly envelope to each recipient
//! with a mailbox. No receipt ever goes back for it.

use pecd_common::config::OrdinaryMail;
use pecd_signer::build;
use pecd_store::{Bytes, Certification, Delivery, LogEvent, LogRecord, MailboxId};

use crate::recipients::RecipientDecision;

use crate::{off_thread, Engine, EngineError, Incoming, Recipient};

impl Engine {
    /// Ordinary mail, or a provider's message that is not formally correct (PEC.md §6.3 last
    /// two rows): by policy (`policy_applies`) refused, or wrapped in a busta di anomalia for
    /// each recipient with a mailbox.
    pub(crate) async fn receive_ordinary(
        &self,
        sender: &str,
        recipients: &[RecipientDecision],
        message: Vec<u8>,
        policy_applies: bool,
        reason: String,
    ) -> Result<Incoming, EngineError> {
        // Each recipient by its own mailbox state and, for ordinary mail, its own policy (a
        // reverse path of a PEC domain skipped these checks at RCPT).
        let mut existing: Vec<(String, MailboxId)> = Vec::new();
        let mut refused = false;
        for d in recipients {
            if let Recipient::Active(m) = self.recheck(d, message.len() as u64).await? {
                if policy_applies && d.policy == OrdinaryMail::Refuse {
                    refused = true;
                } else {
                    existing.push((d.address.clone(), m));
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
            let unsigned = build::prepare_anomaly(&provider, &canonical, &sender_owned, when);
            let built = crate::sign_pool::seal(&signer, unsigned)?;
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
        let bytes = Bytes::from(built.bytes);
        let step = Certification {
            pec_id: id.clone(),
            deliveries: existing
                .iter()
                .map(|(_, m)| Delivery {
                    mailbox: *m,
                    folder: "INBOX".into(),
                    bytes: bytes.clone(),
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
        self.commit(step).await?;
        Ok(Incoming::Anomaly { reason })
    }
}
