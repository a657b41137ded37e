//! The busta di trasporto (PEC.md §3.1, §6.1 steps 4–5): the recipients classified as
//! certificato or esterno, the original with the PEC msgid, the signed envelope, and its
//! queueing with the original routing data towards other providers and the Internet (§6.2,
//! §6.8), where those recipients start waiting (§6.7).

use pecd_signer::build::{rewrite_original_owned, Document, Unsigned};
use pecd_signer::{Destinatario, Moment, ProviderIndex};
use pecd_store::{Bytes, Outbound, RecipientState, RecipientTrace};

use crate::facts::{Certifier, Parsed};
use crate::{domain_of, Recipient};

/// The daticert recipients (§6.1 step 4): To, Cc and RCPT TO once each, certified when a
/// provider of the index manages the domain.
pub(crate) fn destinatari(p: &Parsed, rcpt: &[String], index: &ProviderIndex) -> Vec<Destinatario> {
    let mut destinatari: Vec<Destinatario> = Vec::new();
    for a in p.to.iter().chain(&p.cc).chain(rcpt) {
        if destinatari.iter().any(|d| &d.address == a) {
            continue;
        }
        destinatari.push(Destinatario {
            address: a.clone(),
            certificato: index.by_domain(domain_of(a)).is_some(),
        });
    }
    destinatari
}

/// The original as the envelope carries it in postacert.eml: our `Received:` in front, the
/// Message-ID replaced by the PEC msgid and `X-Riferimento-Message-ID` added (§6.1 step 5).
/// One buffer, one copy of the message: the fields are rewritten in place.
pub(crate) fn original(c: &Certifier<'_>, received: &str, message: &[u8]) -> Vec<u8> {
    let (pec_id, msgid) = (&c.facts.pec_id, c.facts.msgid.as_deref());
    // Room for the two fields the rewrite adds.
    let added = 64 + pec_id.len() + msgid.map_or(0, str::len);
    let mut original = Vec::with_capacity(received.len() + message.len() + added);
    original.extend_from_slice(received.as_bytes());
    original.extend_from_slice(message);
    rewrite_original_owned(original, pec_id, msgid)
}

/// The envelope, to be signed, with the acceptance's temporal reference.
pub(crate) fn prepare(c: &Certifier<'_>, original: &[u8], when: Moment) -> Unsigned {
    c.prepare(&Document::Envelope { original }, when, "")
}

/// One queued envelope per destination domain, with the original routing data (MAIL FROM the
/// sender, RCPT TO that domain's recipients); ours are not queued (same-domain rule).
pub(crate) fn queue(
    c: &Certifier<'_>,
    envelope: &Bytes,
    recipients: &[(String, Recipient)],
    when: Moment,
) -> Vec<Outbound> {
    let mut queue: Vec<Outbound> = Vec::new();
    for (address, state) in recipients {
        let certified = match state {
            Recipient::Remote => true,
            Recipient::External => false,
            _ => continue,
        };
        let domain = domain_of(address).to_string();
        match queue.iter_mut().find(|o| o.domain == domain) {
            Some(o) => o.recipients.push(address.clone()),
            None => queue.push(Outbound {
                pec_id: c.facts.pec_id.clone(),
                sender: c.facts.sender.clone(),
                recipients: vec![address.clone()],
                domain,
                certified,
                label: "busta di trasporto".into(),
                created: when.unix(),
                bytes: envelope.clone(),
            }),
        }
    }
    queue
}

/// The trace of each relayed recipient (§6.7): a certified one waits for the other
/// provider's receipts, an esterno one gets none (§6.8).
pub(crate) fn relayed_traces(
    recipients: &[(String, Recipient)],
    when: Moment,
) -> Vec<RecipientTrace> {
    let mut traces = Vec::new();
    for (address, state) in recipients {
        let external = match state {
            Recipient::Remote => false,
            Recipient::External => true,
            _ => continue,
        };
        traces.push(RecipientTrace {
            address: address.clone(),
            certified: !external,
            remote: true,
            state: if external {
                RecipientState::External
            } else {
                RecipientState::Accepted
            },
            warned: false,
            updated: when.unix(),
            detail: if external {
                "busta inviata come posta ordinaria".into()
            } else {
                "in attesa della presa in carico".into()
            },
        });
    }
    traces
}
