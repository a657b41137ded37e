//! The provider index (PEC.md §8): entries in the IGPEC LDIF schema, looked up by
//! certificate hash and by domain.

use base64::Engine as _;
use openssl::x509::X509;
use serde::Serialize;

use crate::smime::cert_sha1;

/// One provider (PEC.md §8.2 object class `provider`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProviderEntry {
    pub name: String,
    /// providerCertificateHash values, lower-case hex (normalised, §8.3).
    pub hashes: Vec<String>,
    /// providerCertificate;binary values, DER.
    #[serde(skip)]
    pub certificates: Vec<Vec<u8>>,
    pub mail_receipt: String,
    /// managedDomains, lower case.
    pub domains: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IndexError {
    #[error("line {0}: {1}")]
    Syntax(usize, String),
    #[error("entry {0:?}: {1}")]
    Entry(String, String),
}

/// The trusted provider index: every entry of the LDIF file plus our own.
#[derive(Clone, Debug, Default)]
pub struct ProviderIndex {
    entries: Vec<ProviderEntry>,
}

impl ProviderEntry {
    /// Our own entry, made from the signing certificate and the config.
    pub fn own(name: &str, cert: &X509, mail_receipt: &str, domains: &[String]) -> ProviderEntry {
        ProviderEntry {
            name: name.to_string(),
            hashes: vec![cert_sha1(cert)],
            certificates: vec![cert.to_der().unwrap_or_default()],
            mail_receipt: mail_receipt.to_ascii_lowercase(),
            domains: domains.iter().map(|d| d.to_ascii_lowercase()).collect(),
        }
    }

    /// The entry in LDIF (what `pecd index export` prints, PEC.md §8.2).
    pub fn to_ldif(&self) -> String {
        let mut s = format!(
            "dn: providerName={},o=postacert\nobjectClass: top\nobjectClass: provider\n\
             providerName: {}\n",
            self.name, self.name
        );
        for h in &self.hashes {
            s.push_str(&format!("providerCertificateHash: {h}\n"));
        }
        for c in &self.certificates {
            let b64 = base64::engine::general_purpose::STANDARD.encode(c);
            let mut line = format!("providerCertificate;binary:: {b64}");
            // LDIF folds long lines: continuation lines start with one space.
            let mut folded = String::new();
            while line.len() > 76 {
                let rest = line.split_off(76);
                folded.push_str(&line);
                folded.push_str("\n ");
                line = rest;
            }
            folded.push_str(&line);
            s.push_str(&folded);
            s.push('\n');
        }
        s.push_str(&format!("mailReceipt: {}\n", self.mail_receipt));
        for d in &self.domains {
            s.push_str(&format!("managedDomains: {d}\n"));
        }
        s
    }
}

impl ProviderIndex {
    pub fn new(entries: Vec<ProviderEntry>) -> ProviderIndex {
        ProviderIndex { entries }
    }

    /// Parses LDIF text (RFC 2849 subset: comments, folded lines, `::` base64 values).
    /// Entries without `objectClass: provider` (such as `o=postacert` itself) are skipped.
    pub fn parse_ldif(text: &str) -> Result<ProviderIndex, IndexError> {
        let mut entries = Vec::new();
        let mut attrs: Vec<(String, Vec<u8>)> = Vec::new();
        let mut lines: Vec<(usize, String)> = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            if let Some(cont) = raw.strip_prefix(' ') {
                if let Some(last) = lines.last_mut() {
                    last.1.push_str(cont);
                    continue;
                }
            }
            lines.push((n + 1, raw.to_string()));
        }
        lines.push((0, String::new()));
        for (n, line) in lines {
            if line.starts_with('#') {
                continue;
            }
            if line.trim().is_empty() {
                if !attrs.is_empty() {
                    if let Some(e) = entry(&attrs)? {
                        entries.push(e);
                    }
                    attrs.clear();
                }
                continue;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(IndexError::Syntax(
                    n,
                    "expected \"attribute: value\"".into(),
                ));
            };
            let value = if let Some(b64) = value.strip_prefix(':') {
                base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .map_err(|e| IndexError::Syntax(n, format!("base64: {e}")))?
            } else {
                value.trim().as_bytes().to_vec()
            };
            attrs.push((name.trim().to_ascii_lowercase(), value));
        }
        Ok(ProviderIndex { entries })
    }

    pub fn entries(&self) -> &[ProviderEntry] {
        &self.entries
    }

    pub fn push(&mut self, entry: ProviderEntry) {
        self.entries.retain(|e| e.hashes != entry.hashes);
        self.entries.push(entry);
    }

    /// The entry listing `cert` (PEC.md §6.3 step 2): its SHA-1 among the hashes, then the
    /// full certificate compared with the entry's.
    pub fn by_certificate(&self, cert: &X509) -> Option<&ProviderEntry> {
        let hash = cert_sha1(cert);
        let der = cert.to_der().ok()?;
        self.entries
            .iter()
            .find(|e| e.hashes.contains(&hash) && e.certificates.contains(&der))
    }

    /// The provider managing `domain` (PEC.md §6.1 step 4), case-insensitively.
    pub fn by_domain(&self, domain: &str) -> Option<&ProviderEntry> {
        let d = domain.to_ascii_lowercase();
        self.entries.iter().find(|e| e.domains.contains(&d))
    }
}

fn entry(attrs: &[(String, Vec<u8>)]) -> Result<Option<ProviderEntry>, IndexError> {
    let text = |name: &str| -> Vec<String> {
        attrs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| String::from_utf8_lossy(v).trim().to_string())
            .collect()
    };
    let is_provider = text("objectclass")
        .iter()
        .any(|c| c.eq_ignore_ascii_case("provider"));
    if !is_provider {
        return Ok(None);
    }
    let name = text("providername").into_iter().next().unwrap_or_default();
    let bad = |why: &str| IndexError::Entry(name.clone(), why.to_string());
    if name.is_empty() {
        return Err(bad("no providerName"));
    }
    let certificates: Vec<Vec<u8>> = attrs
        .iter()
        .filter(|(n, _)| n == "providercertificate;binary" || n == "providercertificate")
        .map(|(_, v)| v.clone())
        .collect();
    if certificates.is_empty() {
        return Err(bad("no providerCertificate"));
    }
    let mut hashes: Vec<String> = text("providercertificatehash")
        .into_iter()
        .map(|h| h.to_ascii_lowercase().replace(':', ""))
        .collect();
    for der in &certificates {
        let cert = X509::from_der(der).map_err(|e| bad(&format!("certificate: {e}")))?;
        let h = cert_sha1(&cert);
        if !hashes.contains(&h) {
            return Err(bad(&format!(
                "providerCertificateHash does not list the certificate's SHA-1 {h}"
            )));
        }
    }
    hashes.sort();
    hashes.dedup();
    let mail_receipt = text("mailreceipt").into_iter().next().unwrap_or_default();
    if mail_receipt.is_empty() {
        return Err(bad("no mailReceipt"));
    }
    Ok(Some(ProviderEntry {
        name,
        hashes,
        certificates,
        mail_receipt: mail_receipt.to_ascii_lowercase(),
        domains: text("manageddomains")
            .into_iter()
            .map(|d| d.to_ascii_lowercase())
            .collect(),
    }))
}
