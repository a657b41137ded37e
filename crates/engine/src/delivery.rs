//! The Delivery Point (PEC.md §6.4), shared by our own submissions (same-domain rule) and by
//! envelopes of other providers: the envelope goes into each mailbox unchanged, and each
//! recipient gets one signed receipt or notice for the sender. The receipts come out
//! unsigned: the caller signs them with the rest of its step, in parallel.

use pecd_signer::build::{self, Document, Facts, Provider, Unsigned};
use pecd_signer::{breve, Errore, Kind, Moment, ReceiptType};
use pecd_store::{Bytes, Delivery, LogEvent, LogRecord, MailboxId, RecipientState, RecipientTrace};

use crate::facts::esteso;
use crate::{legal_log, Recipient};

pub(crate) struct Point<'a> {
    pub provider: &'a Provider,
    pub facts: &'a Facts,
    /// The original as carried in postacert.eml.
    pub original: &'a [u8],
    /// To and Cc of the original, lower case: a Cc-only recipient gets a sintetica receipt.
    pub to: &'a [String],
    pub cc: &'a [String],
    /// The temporal reference of the delivery step (PEC.md §10.6).
    pub when: Moment,
}

#[derive(Default)]
pub(crate) struct Delivered {
    /// The active mailboxes the envelope goes into, unchanged.
    pub stored: Vec<MailboxId>,
    /// One receipt or notice per recipient, for the sender, to be signed.
    pub receipts: Vec<Unsigned>,
    pub logs: Vec<LogRecord>,
    pub trace: Vec<RecipientTrace>,
}

impl Point<'_> {
    /// Delivers to our recipients (others are skipped); `next_id` names each receipt.
    pub fn deliver(
        &self,
        recipients: &[(String, Recipient)],
        next_id: &mut dyn FnMut() -> String,
    ) -> Delivered {
        let facts = self.facts;
        let breve_original =
            (facts.receipt == ReceiptType::Breve).then(|| breve::substitute(self.original));
        let mut out = Delivered::default();
        for (address, state) in recipients {
            let (doc, state_name, detail) = match state {
                Recipient::Remote | Recipient::External => continue,
                Recipient::Active(mailbox) => {
                    out.stored.push(*mailbox);
                    let cc_only = self.cc.contains(address) && !self.to.contains(address);
                    let tipo = facts.receipt.for_recipient(cc_only);
                    let carried = match tipo {
                        ReceiptType::Breve => breve_original.as_deref().unwrap_or(self.original),
                        _ => self.original,
                    };
                    (
                        Document::Delivery {
                            recipient: address.clone(),
                            tipo,
                            original: carried,
                        },
                        RecipientState::Delivered,
                        format!("ricevuta di avvenuta consegna {}", tipo.as_str()),
                    )
                }
                other => {
                    let (errore, code, text) = match other {
                        Recipient::Missing => (Errore::NoDest, "5.1.1", "casella inesistente"),
                        Recipient::Revoked => (Errore::Altro, "5.2.1", "casella disattivata"),
                        Recipient::NotMigrated => (
                            Errore::Altro,
                            "5.2.1",
                            "casella non migrata dal precedente gestore",
                        ),
                        _ => (Errore::Altro, "5.2.2", "casella piena"),
                    };
                    let esteso = esteso(code, &self.provider.name, text);
                    (
                        Document::NonDelivery {
                            recipient: address.clone(),
                            errore,
                            esteso: esteso.clone(),
                        },
                        RecipientState::Error,
                        esteso,
                    )
                }
            };
            let id = next_id();
            let built = build::prepare(self.provider, facts, &doc, self.when, &id);
            out.logs.push(legal_log::line(
                self.when,
                if built.kind == Kind::Delivery {
                    LogEvent::Consegna
                } else {
                    LogEvent::MancataConsegna
                },
                facts,
                vec![address.clone()],
                vec![id],
                &self.provider.name,
                detail.clone(),
            ));
            out.receipts.push(built);
            out.trace.push(RecipientTrace {
                address: address.clone(),
                certified: true,
                remote: false,
                state: state_name,
                warned: false,
                updated: self.when.unix(),
                detail,
            });
        }
        out
    }
}

/// The envelope into each of `mailboxes`, byte for byte: every delivery shares the one
/// buffer, and the store writes it once.
pub(crate) fn envelopes(mailboxes: &[MailboxId], envelope: &Bytes) -> Vec<Delivery> {
    mailboxes
        .iter()
        .map(|mailbox| Delivery {
            mailbox: *mailbox,
            folder: "INBOX".into(),
            bytes: envelope.clone(),
        })
        .collect()
}
