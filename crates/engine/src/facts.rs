//! The facts of one transaction (PEC.md §7, daticert): what the original's headers say (§6.1
//! step 2, §6.4 To/Cc), the facts rebuilt from a stored trace for a notice we send later
//! (§6.5, §6.6), the `errore-esteso` text (§7.2) and the ids of the messages a step generates
//! (§5).

use std::sync::Arc;

use mail_parser::{HeaderValue, Message, MessageParser};
use pecd_signer::build::{self, Built, Document, Facts, Provider, Unsigned};
use pecd_signer::smime::SignError;
use pecd_signer::{mime, Moment, ReceiptType, Signer};
use pecd_store::TraceRecord;

use crate::sign_pool;

/// The headers of an original message the rules look at (PEC.md §6.1 step 2, §6.4).
pub(crate) struct Parsed {
    pub from: Vec<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
    pub msgid: Option<String>,
    pub subject: String,
    pub reply_to: Option<String>,
    pub receipt: ReceiptType,
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

/// A submission read once for the rules and the antivirus: its header facts and, unless its
/// MIME containers nest deeper than [`mime::MAX_MIME_DEPTH`] (which the formal checks
/// refuse), its whole parse, which the scanner walks instead of parsing again.
pub(crate) struct Read<'a> {
    pub facts: Parsed,
    pub whole: Option<mime::Parsed<'a>>,
    pub too_deep: bool,
}

/// Reads `message` once (see [`Read`]).
pub(crate) fn read(message: &[u8]) -> Read<'_> {
    let too_deep = mime::nested_deeper_than(message, mime::MAX_MIME_DEPTH);
    let whole = if too_deep {
        None
    } else {
        mime::parse_full(message)
    };
    let facts = match &whole {
        Some(m) => facts_of_headers(m, message),
        None => parse(message),
    };
    Read {
        facts,
        whole,
        too_deep,
    }
}

/// Reads the headers of `message`; what is missing stays empty.
pub(crate) fn parse(message: &[u8]) -> Parsed {
    match MessageParser::new().parse_headers(message) {
        Some(m) => facts_of_headers(&m, message),
        None => empty(),
    }
}

fn empty() -> Parsed {
    Parsed {
        from: vec![],
        to: vec![],
        cc: vec![],
        bcc: vec![],
        msgid: None,
        subject: String::new(),
        reply_to: None,
        receipt: ReceiptType::Completa,
    }
}

/// The facts in the top-level header of `m`, a parse of `message`.
fn facts_of_headers(m: &Message<'_>, message: &[u8]) -> Parsed {
    let mut p = empty();
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

/// The daticert `errore-esteso` text (PEC.md §7.2): enhanced code, provider, reason.
pub(crate) fn esteso(code: &str, provider: &str, text: &str) -> String {
    format!("{code} - {provider} - {text}")
}

/// The Message-IDs of the receipts and notices one step generates: `<n>.` + a fresh id of
/// ours (PEC.md §5).
pub(crate) struct Ids {
    base: String,
    n: u32,
}

impl Ids {
    pub fn new(base: String) -> Ids {
        Ids { base, n: 0 }
    }

    pub fn next(&mut self) -> String {
        self.n += 1;
        format!("{}.{}", self.n, self.base)
    }
}

/// The facts of a transaction and who certifies them: everything a signed receipt, notice or
/// envelope of that transaction is built from (PEC.md §3, §7).
pub(crate) struct Certifier<'a> {
    pub signer: &'a Arc<Signer>,
    pub provider: &'a Provider,
    pub facts: &'a Facts,
}

impl Certifier<'_> {
    /// Builds `doc` with the temporal reference `when` and Message-ID `id`, unsigned.
    pub fn prepare(&self, doc: &Document<'_>, when: Moment, id: &str) -> Unsigned {
        build::prepare(self.provider, self.facts, doc, when, id)
    }

    /// Builds and signs `doc` (on the signing pool).
    pub fn sign(&self, doc: &Document<'_>, when: Moment, id: &str) -> Result<Built, SignError> {
        sign_pool::seal(self.signer, self.prepare(doc, when, id))
    }

    /// Signs `docs` in parallel on the signing pool; the result keeps their order.
    pub fn seal_all(&self, docs: Vec<Unsigned>) -> Result<Vec<Built>, SignError> {
        sign_pool::seal_all(self.signer, docs)
    }
}
