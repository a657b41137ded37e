//! Reading a PEC message back: classification by the outer type headers, the parts of the
//! signed entity, and the whole check `pecd verify` reports (PEC.md §3.5, §9.3).

use base64::Engine as _;
use openssl::x509::{X509Crl, X509};
use serde::Serialize;

use crate::daticert::Daticert;
use crate::index::{ProviderEntry, ProviderIndex};
use crate::kind::Kind;
use crate::mime;
use crate::smime::{self, ChainTime};

/// A named part of the signed entity, decoded.
pub fn entity_part(entity: &[u8], name: &str) -> Option<Vec<u8>> {
    let ct = mime::header(entity, "Content-Type")?;
    let boundary = mime::parameter(&ct, "boundary")?;
    let body = &entity[mime::body_offset(entity)..];
    for part in smime::multipart_parts(body, &boundary) {
        let part_ct = mime::header(part, "Content-Type").unwrap_or_default();
        let disposition = mime::header(part, "Content-Disposition").unwrap_or_default();
        let named = mime::parameter(&part_ct, "name").as_deref() == Some(name)
            || mime::parameter(&disposition, "filename").as_deref() == Some(name);
        if !named {
            continue;
        }
        let content = &part[mime::body_offset(part)..];
        let cte = mime::header(part, "Content-Transfer-Encoding")
            .unwrap_or_default()
            .to_ascii_lowercase();
        return if cte == "base64" {
            let text: Vec<u8> = content
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD.decode(text).ok()
        } else if cte == "quoted-printable" {
            mail_parser::decoders::quoted_printable::quoted_printable_decode(content)
        } else {
            Some(content.to_vec())
        };
    }
    None
}

/// The kind named by the outer headers (PEC.md §2.1 last paragraph).
pub fn classify(message: &[u8]) -> Option<Kind> {
    Kind::from_headers(
        mime::header(message, "X-Trasporto").as_deref(),
        mime::header(message, "X-Ricevuta").as_deref(),
        mime::header(message, "X-VerificaSicurezza").as_deref(),
    )
}

/// The rfc822Name values of a certificate's subjectAltName, lower case.
pub fn certificate_emails(cert: &X509) -> Vec<String> {
    cert.subject_alt_names()
        .map(|names| {
            names
                .iter()
                .filter_map(|n| n.email().map(str::to_ascii_lowercase))
                .collect()
        })
        .unwrap_or_default()
}

/// How to verify.
pub struct CheckOptions<'a> {
    pub anchors: &'a [X509],
    /// Revocation lists the chain is checked against (none: no revocation check).
    pub crls: &'a [X509Crl],
    pub index: &'a ProviderIndex,
    pub time: ChainTime,
    /// Refuse a signer absent from the index instead of only reporting it.
    pub require_index: bool,
}

/// What `pecd verify` reports for one message.
#[derive(Debug, Serialize)]
pub struct Report {
    pub kind: Option<Kind>,
    pub kind_name: Option<&'static str>,
    pub signature: Result<(), String>,
    pub digest: Option<&'static str>,
    pub protocol: Option<String>,
    pub signing_time: Option<i64>,
    pub canonicalized: bool,
    pub signer_subject: Option<String>,
    pub signer_sha1: Option<String>,
    pub signer_email: Vec<String>,
    pub chain: Result<(), String>,
    pub provider: Option<String>,
    pub from: Option<String>,
    pub daticert: Option<Daticert>,
    /// Problems that make the message invalid.
    pub errors: Vec<String>,
    /// Facts worth reporting that do not make it invalid.
    pub notes: Vec<String>,
    pub valid: bool,
    /// The signed entity (multipart/mixed), exactly as signed, when the signature verified.
    #[serde(skip)]
    pub entity: Option<Vec<u8>>,
    /// The signer's entry of the provider index.
    #[serde(skip)]
    pub entry: Option<ProviderEntry>,
}

/// Classifies and verifies one message (PEC.md §9.3, §3.5): signature, chain, signer in
/// the index, From against the certificate, daticert `tipo` against the type header.
pub fn check(message: &[u8], opts: &CheckOptions<'_>) -> Report {
    let kind = classify(message);
    // The first From field, as the type headers are the first of theirs; a second one makes
    // the message invalid below (repeated_fields).
    let from = mail_parser::MessageParser::new()
        .parse_headers(message)
        .and_then(|m| {
            m.headers()
                .iter()
                .find(|h| h.name == mail_parser::HeaderName::From)
                .and_then(|h| h.value().as_address())
                .and_then(|a| a.first())
                .and_then(|a| a.address())
                .map(str::to_ascii_lowercase)
        });
    let mut r = Report {
        kind,
        kind_name: kind.map(Kind::name),
        signature: Err("not checked".into()),
        digest: None,
        protocol: None,
        signing_time: None,
        canonicalized: false,
        signer_subject: None,
        signer_sha1: None,
        signer_email: Vec::new(),
        chain: Err("not checked".into()),
        provider: None,
        from,
        daticert: None,
        errors: Vec::new(),
        notes: Vec::new(),
        valid: false,
        entity: None,
        entry: None,
    };
    if kind.is_none() {
        r.errors
            .push("no X-Trasporto or X-Ricevuta header with a PEC value".into());
    }
    r.errors.extend(repeated_fields(message));
    let verified = match smime::verify_with_crls(message, opts.anchors, opts.crls, opts.time) {
        Ok(v) => v,
        Err(e) => {
            r.signature = Err(e.to_string());
            r.errors.push(format!("signature: {e}"));
            return r;
        }
    };
    r.signature = Ok(());
    r.digest = Some(verified.digest);
    r.protocol = Some(verified.protocol.clone());
    r.signing_time = verified.signing_time;
    r.canonicalized = verified.canonicalized;
    if verified.canonicalized {
        r.notes
            .push("the file had LF line ends; checked in canonical CRLF form".into());
    }
    r.signer_subject = Some(subject_line(&verified.signer));
    r.signer_sha1 = Some(verified.signer_sha1.clone());
    r.signer_email = certificate_emails(&verified.signer);
    r.chain = verified.chain.clone();
    if let Err(e) = &verified.chain {
        r.errors.push(format!("certificate chain: {e}"));
    }
    match opts.index.by_certificate(&verified.signer) {
        Some(entry) => {
            r.provider = Some(entry.name.clone());
            r.entry = Some(entry.clone());
            if let Some(domain) = r.from.as_deref().and_then(|f| f.rsplit_once('@')) {
                if !entry.domains.iter().any(|d| d == domain.1) {
                    r.notes.push(format!(
                        "From domain {} is not among the provider's managedDomains",
                        domain.1
                    ));
                }
            }
        }
        None if opts.require_index => r
            .errors
            .push("the signer is not in the provider index".into()),
        None => r
            .notes
            .push("the signer is not in the provider index".into()),
    }
    match &r.from {
        Some(f) if r.signer_email.contains(f) => {}
        Some(f) => r.errors.push(format!(
            "From {f} is not the certificate's e-mail address ({})",
            r.signer_email.join(", ")
        )),
        None => r.errors.push("no From address".into()),
    }
    if let Some(kind) = kind {
        match (kind.tipo(), entity_part(&verified.entity, "daticert.xml")) {
            (None, Some(_)) => r
                .errors
                .push("an anomaly envelope must not carry daticert.xml".into()),
            (None, None) => {}
            (Some(_), None) => r.errors.push("no daticert.xml in the signed part".into()),
            (Some(tipo), Some(xml)) => match Daticert::parse(&xml) {
                Ok(d) => {
                    if d.tipo != tipo {
                        r.errors.push(format!(
                            "daticert tipo {:?} does not match the header ({tipo})",
                            d.tipo
                        ));
                    }
                    r.errors.extend(header_mismatches(message, kind, &d));
                    r.daticert = Some(d);
                }
                Err(e) => r.errors.push(e.to_string()),
            },
        }
    }
    r.valid = r.errors.is_empty();
    r.entity = Some(verified.entity);
    r
}

/// The outer fields a PEC message carries at most once (PEC.md §3.1–§3.3). With two of one,
/// our checks and the holder's client could read different values (the From we compare with
/// the certificate and the one the client shows, the type we classify by and the one a
/// filter sees), so a repeated field makes the message invalid: an anomaly on reception.
const SINGLE_FIELDS: [&str; 8] = [
    "From",
    "To",
    "Subject",
    "Message-ID",
    "X-Trasporto",
    "X-Ricevuta",
    "X-Riferimento-Message-ID",
    "X-VerificaSicurezza",
];

fn repeated_fields(message: &[u8]) -> Vec<String> {
    let fields = mime::fields(message);
    SINGLE_FIELDS
        .iter()
        .filter(|name| {
            fields
                .iter()
                .filter(|f| f.name.eq_ignore_ascii_case(name))
                .count()
                > 1
        })
        .map(|name| format!("the {name} field appears more than once"))
        .collect()
}

/// The outer header against the signed daticert (PEC.md §3.5, §5): an envelope's
/// Message-ID is the identificativo, and `X-Riferimento-Message-ID` is the msgid.
fn header_mismatches(message: &[u8], kind: Kind, d: &Daticert) -> Vec<String> {
    let bare = |v: &str| v.trim().trim_matches(['<', '>']).to_string();
    let mut errors = Vec::new();
    if kind == Kind::Envelope {
        let id = mime::header(message, "Message-ID").map(|v| bare(&v));
        if id.as_deref() != Some(d.identificativo.as_str()) {
            errors.push(format!(
                "Message-ID {} is not the daticert identificativo {}",
                id.unwrap_or_default(),
                d.identificativo
            ));
        }
    }
    let riferimento = mime::header(message, "X-Riferimento-Message-ID").map(|v| bare(&v));
    if let (Some(h), Some(m)) = (riferimento, d.msgid.as_deref().map(bare)) {
        if h != m {
            errors.push(format!(
                "X-Riferimento-Message-ID <{h}> is not the daticert msgid <{m}>"
            ));
        }
    }
    errors
}

fn subject_line(cert: &X509) -> String {
    smime::name_line(cert.subject_name())
}
