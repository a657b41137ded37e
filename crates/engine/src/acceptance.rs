//! Acceptance at the Access Point (PEC.md §6.1 steps 2, 3, 5–7; §10.1–§10.4): the formal
//! checks, the antivirus, the avviso di non accettazione (kind #3) or per virus (#4) with the
//! infected message kept in the security archive, and the ricevuta di accettazione (#2).

use openssl::sha::Sha256;
use pecd_signer::build::{Document, Unsigned};
use pecd_signer::mime;
use pecd_signer::smime::SignError;
use pecd_signer::Moment;
use pecd_store::{Certification, Delivery, LogEvent, LogRecord, MailboxId};

use crate::facts::{esteso, Certifier, Read};
use crate::{legal_log, Scanner, QUARANTINE};

/// What the Access Point was handed: the SMTP envelope and the message.
pub(crate) struct Handed<'a> {
    /// The authenticated holder, equal to MAIL FROM (§10.2).
    pub sender: &'a str,
    /// RCPT TO, lower case.
    pub recipients: &'a [String],
    pub message: &'a [u8],
}

/// Why a submission is not accepted into PEC.
pub(crate) enum Refusal {
    /// A formal check failed (§6.1 step 6): its text.
    Formal(String),
    /// Malware (§6.1 step 7): the finding.
    Virus(String),
}

/// The formal checks of PEC.md §6.1 step 2 and §10.1–§10.3; the first failure's text.
fn formal_error(h: &Handed<'_>, read: &Read<'_>, max_total: u64) -> Option<String> {
    let p = &read.facts;
    if p.from.len() != 1 {
        return Some("il campo From deve contenere un solo indirizzo".into());
    }
    if p.from[0] != h.sender {
        return Some(format!(
            "il mittente {} non corrisponde al titolare autenticato {}",
            p.from[0], h.sender
        ));
    }
    if p.to.is_empty() {
        return Some("il campo To non contiene alcun destinatario valido".into());
    }
    if read.too_deep {
        return Some(format!(
            "parti MIME annidate oltre {} livelli",
            mime::MAX_MIME_DEPTH
        ));
    }
    if !p.bcc.is_empty() {
        return Some("destinatari in copia nascosta (Bcc) non ammessi".into());
    }
    if let Some(hidden) = h
        .recipients
        .iter()
        .find(|r| !p.to.contains(r) && !p.cc.contains(r))
    {
        return Some(format!(
            "il destinatario {hidden} non compare nei campi To o Cc"
        ));
    }
    let total = h.message.len() as u64 * h.recipients.len().max(1) as u64;
    if total > max_total {
        return Some(format!(
            "dimensione del messaggio per numero di destinatari ({total} byte) oltre il \
             limite di {max_total} byte"
        ));
    }
    None
}

/// §6.1 steps 2 and 3: the formal checks, then the antivirus (on the parse the checks read).
pub(crate) fn check(
    h: &Handed<'_>,
    read: &Read<'_>,
    max_total: u64,
    scanner: &dyn Scanner,
) -> Option<Refusal> {
    if let Some(reason) = formal_error(h, read, max_total) {
        return Some(Refusal::Formal(reason));
    }
    let finding = match &read.whole {
        Some(parsed) => scanner.scan_parsed(h.message, parsed),
        None => scanner.scan(h.message),
    };
    finding.map(Refusal::Virus)
}

/// Where the messages of a refusal go.
pub(crate) struct RefusalTo {
    pub sender: MailboxId,
    /// Our service mailbox, whose quarantine keeps an infected submission (§10.4).
    pub service: MailboxId,
    /// Our `Received:` field(s) and the message as submitted.
    pub received: String,
}

/// The step of a refusal (§6.1 steps 6 and 7): the signed avviso for the sender, the infected
/// message in quarantine, the log line.
pub(crate) fn refuse(
    c: &Certifier<'_>,
    refusal: &Refusal,
    h: &Handed<'_>,
    to: RefusalTo,
    when: Moment,
    id: String,
) -> Result<Certification, SignError> {
    let name = &c.provider.name;
    let (doc, event, reason) = match refusal {
        Refusal::Formal(reason) => (
            Document::NonAcceptance {
                reason: esteso("5.7.1", name, reason),
            },
            LogEvent::NonAccettazione,
            reason,
        ),
        Refusal::Virus(f) => (
            Document::NonAcceptanceVirus {
                finding: esteso("5.7.1", name, &format!("virus {f}")),
            },
            LogEvent::NonAccettazioneVirus,
            f,
        ),
    };
    let notice = c.sign(&doc, when, &id)?;
    let mut deliveries = vec![Delivery {
        mailbox: to.sender,
        folder: "INBOX".into(),
        bytes: notice.bytes.into(),
    }];
    if let Refusal::Virus(_) = refusal {
        let mut kept = to.received.into_bytes();
        kept.extend_from_slice(h.message);
        deliveries.push(Delivery {
            mailbox: to.service,
            folder: QUARANTINE.into(),
            bytes: kept.into(),
        });
    }
    Ok(Certification {
        dedup_key: None,
        dedup_keep_seconds: None,
        pec_id: c.facts.pec_id.clone(),
        deliveries,
        log: vec![legal_log::line(
            when,
            event,
            c.facts,
            h.recipients.to_vec(),
            vec![id],
            name,
            reason.clone(),
        )],
        trace: None,
        queue_settle: None,
        archive: Vec::new(),
        queue: vec![],
    })
}

/// The ricevuta di accettazione (§6.1 step 5), to be signed, and its log line, which also
/// names the envelope (the PEC msgid) among what the step generated.
pub(crate) fn receipt(
    c: &Certifier<'_>,
    recipients: &[String],
    when: Moment,
    id: String,
) -> (Unsigned, LogRecord) {
    let acceptance = c.prepare(&Document::Acceptance, when, &id);
    let line = legal_log::line(
        when,
        LogEvent::Accettazione,
        c.facts,
        recipients.to_vec(),
        vec![id, c.facts.pec_id.clone()],
        &c.provider.name,
        String::new(),
    );
    (acceptance, line)
}

/// The idempotency key of a submission: the same holder sending the same bytes to the same
/// recipients (a client retrying after a lost 250) is certified once.
pub(crate) fn dedup_key(h: &Handed<'_>) -> Vec<u8> {
    let mut sha = Sha256::new();
    sha.update(b"pecd-submission-v1\0");
    sha.update(h.sender.as_bytes());
    for r in h.recipients {
        sha.update(b"\0");
        sha.update(r.as_bytes());
    }
    sha.update(b"\0\0");
    sha.update(h.message);
    sha.finish().to_vec()
}
