//! Builders for every message kind pecd emits (PEC.md §2–§7): outer headers, the text part,
//! daticert.xml, postacert.eml, then the S/MIME seal.
//!
//! The MIME is written by hand rather than with mail-builder: the structure, part order,
//! names and transfer encodings are fixed by the rules (PEC.md §4.1), and the carried
//! original must go in byte for byte (docs/pec-decisions.md).

use crate::daticert::{Daticert, Destinatario};
use crate::kind::{Errore, Kind, ReceiptType};
use crate::mime;
pub use crate::postacert::{rewrite_original, rewrite_original_owned};
use crate::smime::{SignError, Signer};
use crate::time::Moment;

/// Who we are, as written in what we emit.
#[derive(Clone, Debug)]
pub struct Provider {
    /// gestore-emittente (PEC.md §7.2).
    pub name: String,
    /// From of every system message (PEC.md §1.1 "indirizzo del gestore").
    pub service_address: String,
}

/// The facts of one certified transaction, shared by its envelope and every receipt and
/// notice about it (PEC.md §5, §7.2).
#[derive(Clone, Debug)]
pub struct Facts {
    /// identificativo: the PEC msgid, without angle brackets.
    pub pec_id: String,
    /// The client's Message-ID with its angle brackets (PEC.md §5).
    pub msgid: Option<String>,
    /// mittente: the SMTP reverse path.
    pub sender: String,
    /// Every To and Cc recipient, certified or not.
    pub destinatari: Vec<Destinatario>,
    /// risposte: Reply-To of the original, or the sender.
    pub risposte: String,
    /// The decoded original subject.
    pub subject: String,
    /// The delivery-receipt type asked for (X-TipoRicevuta, default completa).
    pub receipt: ReceiptType,
}

/// What to build, with what only that kind needs.
pub enum Document<'a> {
    /// #1 busta di trasporto (§3.1); `original` is the message as rewritten by
    /// [`rewrite_original`].
    Envelope { original: &'a [u8] },
    /// #2 ricevuta di accettazione (§6.1 step 5).
    Acceptance,
    /// #3 avviso di non accettazione (§6.1 step 6); never carries the original.
    NonAcceptance { reason: String },
    /// #4 avviso di non accettazione per virus (§6.1 step 7).
    NonAcceptanceVirus { finding: String },
    /// #5 ricevuta di presa in carico (§6.3), to the sender provider's mailReceipt.
    TakingCharge {
        mail_receipt: String,
        ricezione: Vec<String>,
    },
    /// #9–#11 ricevuta di avvenuta consegna (§6.4); `original` is the envelope's
    /// postacert.eml (completa) or its hash-substituted form (breve, §4.5); not carried
    /// by a sintetica receipt.
    Delivery {
        recipient: String,
        tipo: ReceiptType,
        original: &'a [u8],
    },
    /// #12 avviso di mancata consegna (§6.4, §7.3).
    NonDelivery {
        recipient: String,
        errore: Errore,
        esteso: String,
    },
    /// #7 avviso di rilevazione virus (§6.3), to the sender provider's mailReceipt.
    VirusDetection {
        mail_receipt: String,
        recipient: String,
        esteso: String,
    },
    /// #8 avviso di mancata consegna per virus (§6.5).
    NonDeliveryVirus { recipient: String, esteso: String },
    /// #13 the 12 h warning (`last` false) or the 24 h final notice (§6.6).
    Timeout {
        recipient: String,
        last: bool,
        esteso: String,
    },
}

impl Document<'_> {
    pub fn kind(&self) -> Kind {
        match self {
            Document::Envelope { .. } => Kind::Envelope,
            Document::Acceptance => Kind::Acceptance,
            Document::NonAcceptance { .. } => Kind::NonAcceptance,
            Document::NonAcceptanceVirus { .. } => Kind::NonAcceptanceVirus,
            Document::TakingCharge { .. } => Kind::TakingCharge,
            Document::Delivery { .. } => Kind::Delivery,
            Document::NonDelivery { .. } => Kind::NonDelivery,
            Document::VirusDetection { .. } => Kind::VirusDetection,
            Document::NonDeliveryVirus { .. } => Kind::NonDeliveryVirus,
            Document::Timeout { .. } => Kind::Timeout,
        }
    }
}

/// A signed message ready to store or send.
#[derive(Clone, Debug)]
pub struct Built {
    pub kind: Kind,
    /// Its Message-ID without angle brackets.
    pub message_id: String,
    pub bytes: Vec<u8>,
}

/// Builds and signs one message about `facts` at the instant `when`: [`prepare`], then
/// [`Unsigned::seal`].
pub fn build(
    signer: &Signer,
    provider: &Provider,
    facts: &Facts,
    doc: &Document<'_>,
    when: Moment,
    message_id: &str,
) -> Result<Built, SignError> {
    prepare(provider, facts, doc, when, message_id).seal(signer)
}

/// A message built but not yet signed: its outer header fields and the MIME entity the
/// signature covers. Preparing is cheap; sealing is the RSA signature, which the caller may
/// run elsewhere (the engine signs the documents of one transaction in parallel).
pub struct Unsigned {
    pub kind: Kind,
    /// Its Message-ID without angle brackets.
    pub message_id: String,
    headers: String,
    entity: Vec<u8>,
    /// The document's temporal reference, its signature's signingTime.
    when: Moment,
}

impl Unsigned {
    /// Signs it (PEC.md §9.1): the complete message, its signingTime the document's
    /// temporal reference.
    pub fn seal(self, signer: &Signer) -> Result<Built, SignError> {
        let bytes = signer.seal_at(&self.headers, &self.entity, self.when.unix())?;
        Ok(Built {
            kind: self.kind,
            message_id: self.message_id,
            bytes,
        })
    }
}

/// Everything of one message about `facts` at the instant `when` but its signature.
pub fn prepare(
    provider: &Provider,
    facts: &Facts,
    doc: &Document<'_>,
    when: Moment,
    message_id: &str,
) -> Unsigned {
    let kind = doc.kind();
    let mut headers = String::new();
    if let Document::Envelope { original } = doc {
        envelope_headers(&mut headers, provider, facts, original, when);
    } else {
        receipt_headers(&mut headers, provider, facts, doc, when, message_id);
    }
    let daticert = daticert(provider, facts, doc, when);
    let text = text(facts, doc, when);
    let carried: Option<&[u8]> = match doc {
        Document::Envelope { original } => Some(original),
        Document::Delivery { tipo, original, .. } if *tipo != ReceiptType::Sintetica => {
            Some(original)
        }
        _ => None,
    };
    let entity = entity(&text, Some(&daticert.to_xml()), carried);
    let message_id = match doc {
        Document::Envelope { .. } => facts.pec_id.clone(),
        _ => message_id.to_string(),
    };
    Unsigned {
        kind,
        message_id,
        headers,
        entity,
        when,
    }
}

/// #6 busta di anomalia (PEC.md §3.3): the whole `received` message as postacert.eml after a
/// text part, no daticert, the received Message-ID kept.
pub fn anomaly(
    signer: &Signer,
    provider: &Provider,
    received: &[u8],
    sender: &str,
    when: Moment,
) -> Result<Built, SignError> {
    prepare_anomaly(provider, received, sender, when).seal(signer)
}

/// [`anomaly`] but its signature.
pub fn prepare_anomaly(
    provider: &Provider,
    received: &[u8],
    sender: &str,
    when: Moment,
) -> Unsigned {
    let received = mime::crlf(received);
    let subject = decoded_subject(&received);
    let shown_sender = shown(sender);
    let mut h = String::new();
    busta_headers(
        &mut h,
        &received,
        &[
            "received",
            "to",
            "cc",
            "return-path",
            "message-id",
            "reply-to",
        ],
        provider,
        sender,
        &format!("{}{subject}", Kind::Anomaly.subject_prefix()),
        when,
    );
    let message_id =
        mime::header(&received, "Message-ID").map(|id| id.trim_matches(['<', '>']).to_string());
    h.push_str("X-Trasporto: errore\r\n");
    let text = format!(
        "Anomalia nel messaggio\r\n\r\nIl giorno {} è stato ricevuto il messaggio \"{subject}\"\r\n\
         proveniente da \"{shown_sender}\".\r\n\
         Il messaggio non è un messaggio di posta elettronica certificata valido:\r\n\
         viene consegnato all'interno di questa busta di anomalia.\r\n",
        when.text()
    );
    Unsigned {
        kind: Kind::Anomaly,
        message_id: message_id.unwrap_or_default(),
        headers: h,
        entity: entity(&text, None, Some(&received)),
        when,
    }
}

/// The decoded Subject of a message, empty when absent.
pub fn decoded_subject(message: &[u8]) -> String {
    mail_parser::MessageParser::new()
        .parse_headers(message)
        .and_then(|m| m.subject().map(str::to_string))
        .unwrap_or_default()
}

/// How a busta names its sender: the address, or a placeholder for the null reverse path.
fn shown(sender: &str) -> &str {
    if sender.is_empty() {
        "mittente sconosciuto"
    } else {
        sender
    }
}

/// The headers both buste share (PEC.md §3.1, §3.3): the fields named in `copied` taken
/// unchanged from the carried message, then Date, Subject, `From: "Per conto di: <sender>"
/// <service address>`, and Reply-To with the sender when the carried message had none.
fn busta_headers(
    h: &mut String,
    carried: &[u8],
    copied: &[&str],
    provider: &Provider,
    sender: &str,
    subject: &str,
    when: Moment,
) {
    let mut has_reply_to = false;
    for f in mime::fields(carried) {
        let n = f.name.to_ascii_lowercase();
        if copied.contains(&n.as_str()) {
            h.push_str(&String::from_utf8_lossy(f.raw));
            if !h.ends_with("\r\n") {
                h.push_str("\r\n");
            }
            has_reply_to |= n == "reply-to";
        }
    }
    h.push_str(&format!(
        "Date: {}\r\nSubject: {}\r\nFrom: \"Per conto di: {}\" <{}>\r\n",
        when.rfc5322(),
        mime::header_text(subject),
        shown(sender),
        provider.service_address
    ));
    if !has_reply_to && !sender.is_empty() {
        h.push_str(&format!("Reply-To: {sender}\r\n"));
    }
}

fn envelope_headers(
    h: &mut String,
    provider: &Provider,
    facts: &Facts,
    original: &[u8],
    when: Moment,
) {
    busta_headers(
        h,
        original,
        &["received", "to", "cc", "return-path", "reply-to"],
        provider,
        &facts.sender,
        &format!("{}{}", Kind::Envelope.subject_prefix(), facts.subject),
        when,
    );
    h.push_str(&format!("Message-ID: <{}>\r\n", facts.pec_id));
    if let Some(m) = &facts.msgid {
        h.push_str(&format!("X-Riferimento-Message-ID: {m}\r\n"));
    }
    h.push_str(&format!(
        "X-Trasporto: posta-certificata\r\nX-TipoRicevuta: {}\r\n",
        facts.receipt.as_str()
    ));
}

fn receipt_headers(
    h: &mut String,
    provider: &Provider,
    facts: &Facts,
    doc: &Document<'_>,
    when: Moment,
    message_id: &str,
) {
    let kind = doc.kind();
    let to = match doc {
        Document::TakingCharge { mail_receipt, .. }
        | Document::VirusDetection { mail_receipt, .. } => mail_receipt.as_str(),
        _ => facts.sender.as_str(),
    };
    h.push_str(&format!(
        "Date: {}\r\nSubject: {}\r\nFrom: {}\r\nTo: {to}\r\nMessage-ID: <{message_id}>\r\n",
        when.rfc5322(),
        mime::header_text(&format!("{}{}", kind.subject_prefix(), facts.subject)),
        provider.service_address,
    ));
    if let Some(m) = &facts.msgid {
        h.push_str(&format!("X-Riferimento-Message-ID: {m}\r\n"));
    }
    let (name, value) = kind.type_header();
    h.push_str(&format!("{name}: {value}\r\n"));
    if kind.security_error() {
        h.push_str("X-VerificaSicurezza: errore\r\n");
    }
    if kind == Kind::VirusDetection {
        h.push_str(&format!("X-Mittente: {}\r\n", facts.sender));
    }
}

/// daticert.xml per kind (PEC.md §7.3 table).
fn daticert(provider: &Provider, facts: &Facts, doc: &Document<'_>, when: Moment) -> Daticert {
    let kind = doc.kind();
    let mut d = Daticert {
        tipo: kind.tipo().unwrap_or_default().to_string(),
        errore: Errore::Nessuno,
        mittente: facts.sender.clone(),
        destinatari: facts.destinatari.clone(),
        risposte: facts.risposte.clone(),
        oggetto: Some(facts.subject.clone()),
        gestore_emittente: provider.name.clone(),
        zona: String::new(),
        giorno: String::new(),
        ora: String::new(),
        identificativo: facts.pec_id.clone(),
        msgid: facts.msgid.clone(),
        ricevuta: None,
        consegna: None,
        ricezione: Vec::new(),
        errore_esteso: None,
    };
    d.set_time(when);
    match doc {
        Document::Envelope { .. } => d.ricevuta = Some(facts.receipt),
        Document::Acceptance => {}
        Document::NonAcceptance { reason } => {
            d.errore = Errore::Altro;
            d.errore_esteso = Some(reason.clone());
        }
        Document::NonAcceptanceVirus { finding } => {
            d.errore = Errore::Virus;
            d.errore_esteso = Some(finding.clone());
        }
        Document::TakingCharge { ricezione, .. } => d.ricezione = ricezione.clone(),
        Document::Delivery {
            recipient, tipo, ..
        } => {
            d.ricevuta = Some(*tipo);
            d.consegna = Some(recipient.clone());
        }
        Document::NonDelivery {
            recipient,
            errore,
            esteso,
        } => {
            d.errore = *errore;
            d.consegna = Some(recipient.clone());
            d.errore_esteso = Some(esteso.clone());
        }
        Document::VirusDetection {
            recipient, esteso, ..
        }
        | Document::NonDeliveryVirus { recipient, esteso } => {
            d.errore = Errore::Virus;
            d.consegna = Some(recipient.clone());
            d.errore_esteso = Some(esteso.clone());
        }
        Document::Timeout {
            recipient,
            last,
            esteso,
        } => {
            d.errore = if *last {
                Errore::Altro
            } else {
                Errore::Nessuno
            };
            d.consegna = Some(recipient.clone());
            d.errore_esteso = Some(esteso.clone());
        }
    }
    d
}

/// The human-readable part (PEC.md §4.2): Italian, legal local time with offset, subject,
/// sender, recipients concerned, outcome, identifier.
fn text(facts: &Facts, doc: &Document<'_>, when: Moment) -> String {
    let head = format!(
        "Il giorno {} il messaggio\r\n\"{}\" proveniente da \"{}\"\r\n",
        when.text(),
        facts.subject,
        facts.sender
    );
    let list = |only_certified: bool| -> String {
        facts
            .destinatari
            .iter()
            .filter(|d| d.certificato || !only_certified)
            .map(|d| {
                let t = if d.certificato {
                    "posta certificata"
                } else {
                    "posta ordinaria"
                };
                format!("  {} (\"{t}\")\r\n", d.address)
            })
            .collect()
    };
    let body = match doc {
        Document::Envelope { .. } => format!(
            "Messaggio di posta certificata\r\n\r\n{head}ed indirizzato a:\r\n{}\
             è stato inviato ed è allegato a questa busta (postacert.eml).\r\n",
            list(false)
        ),
        Document::Acceptance => format!(
            "Ricevuta di accettazione\r\n\r\n{head}ed indirizzato a:\r\n{}\
             è stato accettato dal sistema ed inoltrato.\r\n",
            list(false)
        ),
        Document::NonAcceptance { reason } => format!(
            "Avviso di non accettazione\r\n\r\n{head}non è stato accettato per il seguente \
             errore formale:\r\n  {reason}\r\n"
        ),
        Document::NonAcceptanceVirus { finding } => format!(
            "Avviso di non accettazione per virus\r\n\r\n{head}non è stato accettato perché \
             contiene un virus:\r\n  {finding}\r\n"
        ),
        Document::TakingCharge { ricezione, .. } => format!(
            "Ricevuta di presa in carico\r\n\r\n{head}è stato preso in carico per i \
             destinatari:\r\n{}",
            ricezione
                .iter()
                .map(|r| format!("  {r}\r\n"))
                .collect::<String>()
        ),
        Document::Delivery {
            recipient, tipo, ..
        } => format!(
            "Ricevuta di avvenuta consegna ({})\r\n\r\n{head}ed indirizzato a \"{recipient}\"\r\n\
             è stato consegnato nella casella di destinazione.\r\n",
            tipo.as_str()
        ),
        Document::NonDelivery {
            recipient, esteso, ..
        } => format!(
            "Avviso di mancata consegna\r\n\r\n{head}ed indirizzato a \"{recipient}\"\r\n\
             non è stato consegnato per il seguente errore:\r\n  {esteso}\r\n"
        ),
        Document::VirusDetection {
            recipient, esteso, ..
        } => format!(
            "Avviso di rilevazione virus\r\n\r\n{head}ed indirizzato a \"{recipient}\"\r\n\
             contiene un virus e non è stato consegnato:\r\n  {esteso}\r\n"
        ),
        Document::NonDeliveryVirus { recipient, esteso } => format!(
            "Avviso di mancata consegna per virus\r\n\r\n{head}ed indirizzato a \"{recipient}\"\r\n\
             non è stato consegnato perché contiene un virus:\r\n  {esteso}\r\n"
        ),
        Document::Timeout {
            recipient,
            last,
            esteso,
        } => {
            let outcome = if *last {
                "non è stato consegnato entro 24 ore dall'invio: la trasmissione è conclusa \
                 con esito negativo"
            } else {
                "non ha ricevuto ricevute entro 12 ore dall'invio: la consegna potrebbe \
                 ancora avvenire"
            };
            format!(
                "Avviso di mancata consegna per superamento dei tempi massimi\r\n\r\n{head}\
                 ed indirizzato a \"{recipient}\"\r\n{outcome}.\r\n  {esteso}\r\n"
            )
        }
    };
    format!("{body}Identificativo messaggio: {}\r\n", facts.pec_id)
}

/// The signed multipart/mixed entity (PEC.md §4.1): text first, then daticert.xml, then
/// postacert.eml, names and dispositions as observed.
fn entity(text: &str, daticert: Option<&str>, carried: Option<&[u8]>) -> Vec<u8> {
    let inside = carried.unwrap_or_default();
    let b = mime::boundary("pec", inside);
    let mut e = Vec::with_capacity(inside.len() + 4096);
    e.extend_from_slice(
        format!(
            "Content-Type: multipart/mixed; boundary=\"{b}\"\r\n\r\n\
             This is a multi-part message in MIME format.\r\n\r\n--{b}\r\n\
             Content-Type: text/plain; charset=\"iso-8859-1\"\r\n\
             Content-Transfer-Encoding: quoted-printable\r\n\r\n{}\r\n",
            mime::qp_latin1(text)
        )
        .as_bytes(),
    );
    if let Some(x) = daticert {
        e.extend_from_slice(
            format!(
                "--{b}\r\nContent-Type: application/xml; name=\"daticert.xml\"\r\n\
                 Content-Transfer-Encoding: base64\r\n\
                 Content-Disposition: inline; filename=\"daticert.xml\"\r\n\r\n{}",
                mime::base64_lines(x.as_bytes())
            )
            .as_bytes(),
        );
    }
    if let Some(m) = carried {
        let cte = if m.iter().any(|&b| b >= 0x80) {
            "8bit"
        } else {
            "7bit"
        };
        e.extend_from_slice(
            format!(
                "--{b}\r\nContent-Type: message/rfc822; name=\"postacert.eml\"\r\n\
                 Content-Transfer-Encoding: {cte}\r\n\
                 Content-Disposition: inline; filename=\"postacert.eml\"\r\n\r\n"
            )
            .as_bytes(),
        );
        // The CRLF before the closing delimiter belongs to the delimiter (RFC 2046 §5.1.1),
        // so the carried message keeps its own last line end.
        e.extend_from_slice(m);
        e.extend_from_slice(b"\r\n");
    }
    e.extend_from_slice(format!("--{b}--\r\n").as_bytes());
    e
}
