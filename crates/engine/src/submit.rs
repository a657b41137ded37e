//! A user's submission at the Access Point (PEC.md §6.1), and — since every recipient is one
//! of ours — its reception and delivery (§6.3, §6.4) in full, as the same-domain rule asks
//! (§1.3).

use std::borrow::Cow;

use mail_parser::{HeaderValue, MessageParser};
use openssl::sha::Sha256;
use pecd_signer::build::{self, rewrite_original, Document, Facts};
use pecd_signer::mime;
use pecd_signer::smime::SignError;
use pecd_signer::{Destinatario, Moment, ReceiptType};
use pecd_store::{
    Certification, Certified, Delivery, LogEvent, LogRecord, Outbound, RecipientState,
    RecipientTrace, TraceRecord,
};

use crate::delivery::Point;
use crate::{domain_of, off_thread, Engine, EngineError, Recipient, QUARANTINE};

/// What SMTP hands over at the end of DATA of an authenticated session.
pub struct Submission {
    /// The authenticated holder, which SMTP has checked equals MAIL FROM (PEC.md §10.2).
    pub sender: String,
    /// RCPT TO addresses, lower case: ours, other providers' or esterno.
    pub recipients: Vec<String>,
    /// The message as the client sent it.
    pub message: Vec<u8>,
    /// Our `Received:` field(s), CRLF-terminated, prepended to the original.
    pub received: String,
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

/// The headers the Access Point checks (PEC.md §6.1 step 2).
pub(crate) struct Parsed {
    from: Vec<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    bcc: Vec<String>,
    msgid: Option<String>,
    subject: String,
    reply_to: Option<String>,
    receipt: ReceiptType,
}

fn addresses(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Address(a) => a
            .iter()
            .filter_map(|a| a.address())
            .map(str::to_ascii_lowercase)
            .collect(),
        _ => Vec::new(),
    }
}

pub(crate) fn parse(message: &[u8]) -> Parsed {
    let mut p = Parsed {
        from: vec![],
        to: vec![],
        cc: vec![],
        bcc: vec![],
        msgid: None,
        subject: String::new(),
        reply_to: None,
        receipt: ReceiptType::Completa,
    };
    let Some(m) = MessageParser::new().parse_headers(message) else {
        return p;
    };
    for h in m.headers() {
        let name = h.name();
        let v = h.value();
        if name.eq_ignore_ascii_case("From") {
            p.from.extend(addresses(v));
        } else if name.eq_ignore_ascii_case("To") {
            p.to.extend(addresses(v));
        } else if name.eq_ignore_ascii_case("Cc") {
            p.cc.extend(addresses(v));
        } else if name.eq_ignore_ascii_case("Bcc") {
            p.bcc.extend(addresses(v));
        } else if name.eq_ignore_ascii_case("Reply-To") && p.reply_to.is_none() {
            p.reply_to = addresses(v).into_iter().next();
        }
    }
    p.msgid = m.message_id().map(|id| format!("<{id}>"));
    p.subject = m.subject().unwrap_or_default().to_string();
    p.receipt = pecd_signer::mime::header(message, "X-TipoRicevuta")
        .and_then(|v| ReceiptType::parse(&v))
        .unwrap_or_default();
    p
}

/// The formal checks of PEC.md §6.1 step 2 and §10.1–§10.3; the first failure's text.
fn formal_error(s: &Submission, p: &Parsed, max_total: u64) -> Option<String> {
    if p.from.len() != 1 {
        return Some("il campo From deve contenere un solo indirizzo".into());
    }
    if p.from[0] != s.sender {
        return Some(format!(
            "il mittente {} non corrisponde al titolare autenticato {}",
            p.from[0], s.sender
        ));
    }
    if p.to.is_empty() {
        return Some("il campo To non contiene alcun destinatario valido".into());
    }
    if mime::nested_deeper_than(&s.message, mime::MAX_MIME_DEPTH) {
        return Some(format!(
            "parti MIME annidate oltre {} livelli",
            mime::MAX_MIME_DEPTH
        ));
    }
    if !p.bcc.is_empty() {
        return Some("destinatari in copia nascosta (Bcc) non ammessi".into());
    }
    if let Some(hidden) = s
        .recipients
        .iter()
        .find(|r| !p.to.contains(r) && !p.cc.contains(r))
    {
        return Some(format!(
            "il destinatario {hidden} non compare nei campi To o Cc"
        ));
    }
    let total = s.message.len() as u64 * s.recipients.len().max(1) as u64;
    if total > max_total {
        return Some(format!(
            "dimensione del messaggio per numero di destinatari ({total} byte) oltre il \
             limite di {max_total} byte"
        ));
    }
    None
}

/// The idempotency key of a submission: the same holder sending the same bytes to the same
/// recipients (a client retrying after a lost 250) is certified once.
fn dedup_key(s: &Submission) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(b"pecd-submission-v1\0");
    h.update(s.sender.as_bytes());
    for r in &s.recipients {
        h.update(b"\0");
        h.update(r.as_bytes());
    }
    h.update(b"\0\0");
    h.update(&s.message);
    h.finish().to_vec()
}

pub(crate) fn esteso(code: &str, provider: &str, text: &str) -> String {
    format!("{code} - {provider} - {text}")
}

pub(crate) fn log(
    when: Moment,
    event: LogEvent,
    facts: &Facts,
    recipients: Vec<String>,
    generated: Vec<String>,
    provider: &str,
    detail: String,
) -> LogRecord {
    LogRecord {
        time: when.unix(),
        event,
        pec_id: facts.pec_id.clone(),
        msgid: facts.msgid.clone(),
        sender: facts.sender.clone(),
        recipients,
        subject: facts.subject.clone(),
        generated,
        provider: provider.into(),
        detail,
    }
}

impl Engine {
    /// Certifies a submission (PEC.md §6.1) and, every recipient being ours, receives and
    /// delivers it (§6.3, §6.4), all in one durable step that returns before SMTP answers.
    pub async fn submit(&self, s: Submission) -> Result<Outcome, EngineError> {
        let sender = self
            .store
            .find_mailbox(&s.sender)
            .await?
            .ok_or_else(|| EngineError::Setup(format!("sender mailbox {} is gone", s.sender)))?
            .id;
        let size = (s.received.len() + s.message.len()) as u64 * 2;
        let mut recipients = Vec::with_capacity(s.recipients.len());
        for r in &s.recipients {
            recipients.push((r.clone(), self.recipient_state(r, size).await?));
        }
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
        match self.commit(step).await? {
            Certified::Stored(_) => Ok(outcome),
            Certified::Duplicate(pec_id) => Ok(Outcome::Duplicate { pec_id }),
        }
    }
}

/// Everything the blocking part needs, owned.
struct Prepared {
    signer: std::sync::Arc<pecd_signer::Signer>,
    provider: pecd_signer::Provider,
    scanner: std::sync::Arc<dyn crate::Scanner>,
    index: std::sync::Arc<pecd_signer::ProviderIndex>,
    clock: std::sync::Arc<dyn crate::Clock>,
    max_total: u64,
    hostname: String,
    sender_mailbox: pecd_store::MailboxId,
    service: pecd_store::MailboxId,
    pec_id: String,
    /// Receipts get `<n>.` + this as their Message-ID.
    id_base: String,
}

impl Prepared {
    fn run(
        self,
        mut s: Submission,
        recipients: Vec<(String, Recipient)>,
    ) -> Result<(Certification, Outcome), SignError> {
        if let Cow::Owned(canonical) = mime::canonical_line_ends(&s.message) {
            s.message = canonical;
        }
        // §10.6: one temporal reference for the acceptance step.
        let accepted_at = Moment::from_unix(self.clock.now());
        let p = parse(&s.message);
        let msgid = p
            .msgid
            .clone()
            .unwrap_or_else(|| format!("<{}@{}>", uuid::Uuid::new_v4().simple(), self.hostname));
        let mut destinatari: Vec<Destinatario> = Vec::new();
        for a in p.to.iter().chain(&p.cc).chain(s.recipients.iter()) {
            if destinatari.iter().any(|d| &d.address == a) {
                continue;
            }
            destinatari.push(Destinatario {
                address: a.clone(),
                certificato: self.index.by_domain(domain_of(a)).is_some(),
            });
        }
        let facts = Facts {
            pec_id: self.pec_id.clone(),
            msgid: Some(msgid),
            sender: s.sender.clone(),
            destinatari,
            risposte: p.reply_to.clone().unwrap_or_else(|| s.sender.clone()),
            subject: p.subject.clone(),
            receipt: p.receipt,
        };
        let mut counter = 0;
        let mut next_id = || {
            counter += 1;
            format!("{counter}.{}", self.id_base)
        };
        let rcpts: Vec<String> = s.recipients.clone();
        let to_sender = |bytes: Vec<u8>| Delivery {
            mailbox: self.sender_mailbox,
            folder: "INBOX".into(),
            bytes,
        };

        // §6.1 steps 2 and 3: formal checks, then antivirus; failures end here.
        let failure = match formal_error(&s, &p, self.max_total) {
            Some(reason) => Some((
                Document::NonAcceptance {
                    reason: esteso("5.7.1", &self.provider.name, &reason),
                },
                reason,
                false,
            )),
            None => self.scanner.scan(&s.message).map(|f| {
                (
                    Document::NonAcceptanceVirus {
                        finding: esteso("5.7.1", &self.provider.name, &format!("virus {f}")),
                    },
                    f,
                    true,
                )
            }),
        };
        if let Some((doc, reason, virus)) = failure {
            let id = next_id();
            let notice =
                build::build(&self.signer, &self.provider, &facts, &doc, accepted_at, &id)?;
            let mut deliveries = vec![to_sender(notice.bytes)];
            if virus {
                let mut kept = s.received.clone().into_bytes();
                kept.extend_from_slice(&s.message);
                deliveries.push(Delivery {
                    mailbox: self.service,
                    folder: QUARANTINE.into(),
                    bytes: kept,
                });
            }
            let event = if virus {
                LogEvent::NonAccettazioneVirus
            } else {
                LogEvent::NonAccettazione
            };
            let step = Certification {
                dedup_key: None,
                dedup_keep_seconds: None,
                pec_id: facts.pec_id.clone(),
                deliveries,
                log: vec![log(
                    accepted_at,
                    event,
                    &facts,
                    rcpts,
                    vec![id],
                    &self.provider.name,
                    reason.clone(),
                )],
                trace: None,
                queue_settle: None,
                queue: vec![],
            };
            let outcome = if virus {
                Outcome::Infected { finding: reason }
            } else {
                Outcome::NotAccepted { reason }
            };
            return Ok((step, outcome));
        }

        // §6.1 step 5: the PEC msgid, the rewritten original, acceptance and envelope.
        let mut original = s.received.clone().into_bytes();
        original.extend_from_slice(&s.message);
        let original = rewrite_original(&original, &facts.pec_id, facts.msgid.as_deref());
        let acceptance_id = next_id();
        let acceptance = build::build(
            &self.signer,
            &self.provider,
            &facts,
            &Document::Acceptance,
            accepted_at,
            &acceptance_id,
        )?;
        let envelope = build::build(
            &self.signer,
            &self.provider,
            &facts,
            &Document::Envelope {
                original: &original,
            },
            accepted_at,
            "",
        )?;
        let mut deliveries = vec![to_sender(acceptance.bytes)];
        let mut logs = vec![log(
            accepted_at,
            LogEvent::Accettazione,
            &facts,
            rcpts.clone(),
            vec![acceptance_id, facts.pec_id.clone()],
            &self.provider.name,
            String::new(),
        )];

        // §6.3: our Incoming Point takes charge of the envelope for every recipient (§12 item
        // 20: the presa in carico is emitted, to our own service mailbox), with its own
        // temporal reference.
        let received_at = Moment::from_unix(self.clock.now());
        let local: Vec<String> = recipients
            .iter()
            .filter(|(_, r)| !matches!(r, Recipient::Remote | Recipient::External))
            .map(|(a, _)| a.clone())
            .collect();
        if !local.is_empty() {
            let taking_id = next_id();
            let taking = build::build(
                &self.signer,
                &self.provider,
                &facts,
                &Document::TakingCharge {
                    mail_receipt: self.provider.service_address.clone(),
                    ricezione: local.clone(),
                },
                received_at,
                &taking_id,
            )?;
            deliveries.push(Delivery {
                mailbox: self.service,
                folder: "INBOX".into(),
                bytes: taking.bytes,
            });
            logs.push(log(
                received_at,
                LogEvent::PresaInCarico,
                &facts,
                local,
                vec![taking_id],
                &self.provider.name,
                String::new(),
            ));
        }
        // §6.2, §6.8: one queued envelope per destination domain, with the original routing
        // data (MAIL FROM the sender, RCPT TO that domain's recipients).
        let mut queue: Vec<Outbound> = Vec::new();
        for (address, state) in &recipients {
            let certified = match state {
                Recipient::Remote => true,
                Recipient::External => false,
                _ => continue,
            };
            let domain = domain_of(address).to_string();
            match queue.iter_mut().find(|o| o.domain == domain) {
                Some(o) => o.recipients.push(address.clone()),
                None => queue.push(Outbound {
                    pec_id: facts.pec_id.clone(),
                    sender: s.sender.clone(),
                    recipients: vec![address.clone()],
                    domain,
                    certified,
                    label: "busta di trasporto".into(),
                    created: accepted_at.unix(),
                    bytes: envelope.bytes.clone(),
                }),
            }
        }

        // §6.4: the Delivery Point stores the envelope unchanged and emits one receipt or
        // notice per recipient; remote recipients wait for the other provider (§6.6).
        let point = Point {
            signer: &self.signer,
            provider: &self.provider,
            facts: &facts,
            original: &original,
            envelope: &envelope.bytes,
            to: &p.to,
            cc: &p.cc,
            when: received_at,
        };
        let done = point.deliver(&recipients, &mut next_id)?;
        deliveries.extend(done.stored);
        deliveries.extend(done.receipts.into_iter().map(|b| to_sender(b.bytes)));
        logs.extend(done.logs);
        let mut trace = done.trace;
        for (address, state) in &recipients {
            let external = match state {
                Recipient::Remote => false,
                Recipient::External => true,
                _ => continue,
            };
            trace.push(RecipientTrace {
                address: address.clone(),
                certified: !external,
                remote: true,
                state: if external {
                    RecipientState::External
                } else {
                    RecipientState::Accepted
                },
                warned: false,
                updated: accepted_at.unix(),
                detail: if external {
                    "busta inviata come posta ordinaria".into()
                } else {
                    "in attesa della presa in carico".into()
                },
            });
        }
        let step = Certification {
            dedup_key: Some(dedup_key(&s)),
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
        };
        Ok((
            step,
            Outcome::Accepted {
                pec_id: facts.pec_id,
            },
        ))
    }
}
