//! S/MIME multipart/signed with the provider certificate (PEC.md §9): signing what pecd emits
//! and verifying what anyone sent.

use base64::Engine as _;
use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::hash::MessageDigest;
use openssl::pkcs7::{Pkcs7, Pkcs7Flags};
use openssl::pkey::{PKey, Private};
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509VerifyParam;
use openssl::x509::{CrlStatus, X509Crl, X509RevokedRef, X509StoreContext, X509};

use crate::mime;

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("signing certificate or key: {0}")]
    Material(String),
    #[error("signing failed: {0}")]
    Sign(#[from] openssl::error::ErrorStack),
}

/// The provider's signing identity: certificate, key and the issuer chain placed in every
/// signature (PEC.md §9.1: the provider certificate must be inside the SignedData).
pub struct Signer {
    cert: X509,
    key: PKey<Private>,
    chain: Stack<X509>,
    /// The DER writer's template of this identity (RSA and EC keys), else OpenSSL's CMS.
    template: Option<crate::cms::Template>,
}

impl Signer {
    /// From PEM: the signing certificate, its private key, and the issuer chain (any number
    /// of certificates, possibly none).
    pub fn from_pem(cert: &[u8], key: &[u8], chain: &[u8]) -> Result<Signer, SignError> {
        let cert = X509::from_pem(cert).map_err(|e| SignError::Material(e.to_string()))?;
        let key =
            PKey::private_key_from_pem(key).map_err(|e| SignError::Material(e.to_string()))?;
        if !cert
            .public_key()
            .map(|p| p.public_eq(&key))
            .unwrap_or(false)
        {
            return Err(SignError::Material(
                "the key does not belong to the certificate".into(),
            ));
        }
        let mut stack = Stack::new()?;
        if !chain.is_empty() {
            for c in X509::stack_from_pem(chain).map_err(|e| SignError::Material(e.to_string()))? {
                stack.push(c)?;
            }
        }
        let template = crate::cms::Template::new(&cert, &key, &stack)?;
        Ok(Signer {
            cert,
            key,
            chain: stack,
            template,
        })
    }

    pub fn certificate(&self) -> &X509 {
        &self.cert
    }

    /// A detached CMS SignedData (DER) over `content`, SHA-256, with the certificate and the
    /// chain included and the signed attributes contentType, signingTime and messageDigest
    /// (PEC.md §9.1, §12 item 1), written by [`crate::cms`] for RSA and EC keys.
    pub fn sign_detached(&self, content: &[u8]) -> Result<Vec<u8>, SignError> {
        self.sign_detached_at(content, system_now())
    }

    /// [`Signer::sign_detached`] with signingTime `unix`: the temporal reference of the
    /// document signed, so that the signature and the daticert tell the same instant. The
    /// OpenSSL fallback (keys neither RSA nor EC) signs at the system's time.
    pub fn sign_detached_at(&self, content: &[u8], unix: i64) -> Result<Vec<u8>, SignError> {
        if let Some(t) = &self.template {
            return Ok(t.sign(&self.key, content, unix)?);
        }
        self.sign_with_openssl(content)
    }

    /// The same SignedData by OpenSSL's `CMS_sign` (which also adds smimeCapabilities): for
    /// keys the DER writer does not handle, and as the reference in tests.
    pub fn sign_with_openssl(&self, content: &[u8]) -> Result<Vec<u8>, SignError> {
        let cms = CmsContentInfo::sign(
            Some(&self.cert),
            Some(&self.key),
            Some(&self.chain),
            Some(content),
            CMSOptions::DETACHED | CMSOptions::BINARY,
        )?;
        Ok(cms.to_der()?)
    }

    /// The complete signed message: `headers` (each field ended by CRLF, without
    /// MIME-Version and Content-Type), then a multipart/signed whose first part is `entity`
    /// (a MIME entity in canonical CRLF form, signed as it is) and whose second part is the
    /// detached signature (PEC.md §4.1, §9.1).
    pub fn seal(&self, headers: &str, entity: &[u8]) -> Result<Vec<u8>, SignError> {
        self.seal_at(headers, entity, system_now())
    }

    /// [`Signer::seal`] with signingTime `unix` ([`Signer::sign_detached_at`]).
    pub fn seal_at(&self, headers: &str, entity: &[u8], unix: i64) -> Result<Vec<u8>, SignError> {
        let entity = mime::crlf(entity);
        let signature = self.sign_detached_at(&entity, unix)?;
        let b = mime::boundary("sig", &entity);
        let mut out = Vec::with_capacity(entity.len() + signature.len() * 2 + 1024);
        out.extend_from_slice(headers.as_bytes());
        out.extend_from_slice(
            format!(
                "MIME-Version: 1.0\r\nContent-Type: multipart/signed; \
                 protocol=\"application/pkcs7-signature\"; micalg=\"sha-256\";\r\n\
                 \tboundary=\"{b}\"\r\n\r\n\
                 This is an S/MIME signed message\r\n\r\n--{b}\r\n"
            )
            .as_bytes(),
        );
        out.extend_from_slice(&entity);
        out.extend_from_slice(
            format!(
                "\r\n--{b}\r\nContent-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\n\
                 Content-Transfer-Encoding: base64\r\n\
                 Content-Disposition: attachment; filename=\"smime.p7s\"\r\n\
                 Content-Description: S/MIME Cryptographic Signature\r\n\r\n{}\r\n--{b}--\r\n",
                mime::base64_lines(&signature).trim_end()
            )
            .as_bytes(),
        );
        Ok(out)
    }
}

/// The system's time in Unix seconds.
fn system_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub fn cert_sha1(cert: &X509) -> String {
    cert.digest(MessageDigest::sha1())
        .map(|d| d.iter().map(|b| format!("{b:02x}")).collect())
        .unwrap_or_default()
}

/// The instant certificate validity is judged at (PEC.md §12 item 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainTime {
    /// Now: the Incoming Point verifies on arrival.
    Now,
    /// The signingTime attribute of the signature (archive re-verification of old messages
    /// whose certificates have expired since).
    SigningTime,
    /// A fixed instant (Unix seconds), for tests.
    At(i64),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("not an S/MIME multipart/signed message")]
    NotSigned,
    #[error("malformed multipart/signed: {0}")]
    Malformed(String),
    #[error("the signature does not match the signed content: {0}")]
    BadSignature(String),
}

/// What a successful signature check found (PEC.md §9.3 steps 1–4).
pub struct Verified {
    /// The exact bytes of the signed part (the multipart/mixed entity).
    pub entity: Vec<u8>,
    pub signer: X509,
    /// SHA-1 of the signer certificate, lower-case hex (index lookup key).
    pub signer_sha1: String,
    /// `sha1`, `sha256` or `other`.
    pub digest: &'static str,
    /// The protocol parameter as sent (`application/pkcs7-signature` or the `x-` form).
    pub protocol: String,
    pub signing_time: Option<i64>,
    /// Chain validation against the anchors at the chosen time: `Ok` or the reason.
    pub chain: Result<(), String>,
    /// Whether the file had bare LF line ends and was made canonical before checking.
    pub canonicalized: bool,
}

/// Verifies a multipart/signed message (PEC.md §9.3): splits it, checks the signature over
/// the first part's exact bytes (SHA-1 and SHA-256; `pkcs7-signature` and
/// `x-pkcs7-signature`), and validates the signer's chain against `anchors` at `time`. A file
/// stored with LF-only line ends is made canonical (CRLF) first. A bad chain is reported in
/// [`Verified::chain`], not as an error, so callers can say both what was signed and why the
/// signer is not trusted.
pub fn verify(message: &[u8], anchors: &[X509], time: ChainTime) -> Result<Verified, VerifyError> {
    verify_with_crls(message, anchors, &[], time)
}

/// [`verify`], and every certificate of the validated chain is also checked against the
/// revocation lists of `crls` its issuer signed (PEC.md §9.3 step 4).
pub fn verify_with_crls(
    message: &[u8],
    anchors: &[X509],
    crls: &[X509Crl],
    time: ChainTime,
) -> Result<Verified, VerifyError> {
    let canonical = mime::crlf(message);
    let canonicalized = canonical.len() != message.len();
    let (entity, signature, protocol) = split_signed(&canonical)?;
    if let Some(oid) = unsupported_digest(&signature) {
        return Err(VerifyError::BadSignature(format!(
            "unsupported digest algorithm (OID bytes {})",
            oid.iter().map(|b| format!("{b:02x}")).collect::<String>()
        )));
    }
    let mut cms = CmsContentInfo::from_der(&signature)
        .map_err(|e| VerifyError::Malformed(format!("signature part is not CMS: {e}")))?;
    cms.verify(
        None,
        None,
        Some(&entity),
        None,
        CMSOptions::NO_SIGNER_CERT_VERIFY | CMSOptions::BINARY,
    )
    .map_err(|e| VerifyError::BadSignature(e.to_string()))?;
    let p7 = Pkcs7::from_der(&signature)
        .map_err(|e| VerifyError::Malformed(format!("signature part: {e}")))?;
    let included: Vec<X509> = p7
        .signed()
        .and_then(|s| s.certificates())
        .map(|s| s.iter().map(|c| c.to_owned()).collect())
        .unwrap_or_default();
    let empty = Stack::new().map_err(|e| VerifyError::Malformed(e.to_string()))?;
    let signer = p7
        .signers(&empty, Pkcs7Flags::empty())
        .ok()
        .and_then(|s| s.iter().next().map(|c| c.to_owned()))
        .ok_or_else(|| VerifyError::Malformed("no signer certificate in the signature".into()))?;
    let signing_time = crate::cms::signing_time_of(&signature);
    let at = match time {
        ChainTime::Now => None,
        ChainTime::SigningTime => signing_time,
        ChainTime::At(t) => Some(t),
    };
    let chain = validate_chain(&signer, &included, anchors, crls, at);
    Ok(Verified {
        entity,
        signer_sha1: cert_sha1(&signer),
        signer,
        digest: digest_of(&signature),
        protocol,
        signing_time,
        chain,
        canonicalized,
    })
}

/// Splits a multipart/signed into the exact bytes of its first part, the DER signature of
/// its second part, and the protocol parameter (RFC 1847 §2.1).
pub fn split_signed(message: &[u8]) -> Result<(Vec<u8>, Vec<u8>, String), VerifyError> {
    let ct = mime::header(message, "Content-Type").ok_or(VerifyError::NotSigned)?;
    if !ct
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("multipart/signed")
    {
        return Err(VerifyError::NotSigned);
    }
    let boundary = mime::parameter(&ct, "boundary")
        .ok_or_else(|| VerifyError::Malformed("no boundary".into()))?;
    let protocol = mime::parameter(&ct, "protocol").unwrap_or_default();
    let p = protocol.to_ascii_lowercase();
    if p != "application/pkcs7-signature" && p != "application/x-pkcs7-signature" {
        return Err(VerifyError::Malformed(format!(
            "unsupported protocol {protocol:?}"
        )));
    }
    let body_start = mime::body_offset(message);
    let body = &message[body_start..];
    let parts = multipart_parts(body, &boundary);
    if parts.len() < 2 {
        return Err(VerifyError::Malformed("fewer than two parts".into()));
    }
    let entity = parts[0].to_vec();
    let sig_part = parts[1];
    let sig_body = &sig_part[mime::body_offset(sig_part)..];
    let cte = mime::header(sig_part, "Content-Transfer-Encoding")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let signature = if cte == "base64" || cte.is_empty() && !sig_body.starts_with(&[0x30]) {
        let text: Vec<u8> = sig_body
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| VerifyError::Malformed(format!("signature base64: {e}")))?
    } else {
        sig_body.to_vec()
    };
    Ok((entity, signature, protocol))
}

/// The body parts of a multipart body: the bytes between delimiter lines, the CRLF before
/// each delimiter belonging to the delimiter (RFC 2046 §5.1.1).
pub fn multipart_parts<'a>(body: &'a [u8], boundary: &str) -> Vec<&'a [u8]> {
    let delim = format!("--{boundary}");
    let d = delim.as_bytes();
    // Offsets of delimiter lines: (start of the CRLF before it or of the line, end of line).
    let mut lines: Vec<(usize, usize, bool)> = Vec::new();
    let mut i = 0;
    while i < body.len() {
        let line_end = memchr::memchr(b'\n', &body[i..]).map_or(body.len(), |p| i + p + 1);
        let line = &body[i..line_end];
        if line.starts_with(d) {
            let rest = &line[d.len()..];
            let close = rest.starts_with(b"--");
            let tail = if close { &rest[2..] } else { rest };
            if tail.iter().all(|b| b.is_ascii_whitespace()) {
                let start = if i >= 2 && &body[i - 2..i] == b"\r\n" {
                    i - 2
                } else {
                    i
                };
                lines.push((start, line_end, close));
                if close {
                    break;
                }
            }
        }
        i = line_end;
    }
    lines
        .windows(2)
        .filter(|w| !w[0].2)
        .map(|w| &body[w[0].1..w[1].0.max(w[0].1)])
        .collect()
}

/// Whether OpenSSL knows the digest algorithm of a DER OID (content octets): CMS_verify in
/// OpenSSL 3.0 leaks its content BIO when a SignedData names a digest it cannot fetch (found
/// by the `smime` fuzz target), so such a signature is refused before it gets there. The
/// question goes to OpenSSL's own table, so that whatever it verifies (aliases such as a
/// signature OID written as the digest included) still verifies. `None`: the OID does not
/// decode, and OpenSSL is left to judge.
fn digest_known(oid: &[u8]) -> Option<bool> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    for (i, &b) in oid.iter().enumerate() {
        if value > u64::MAX >> 7 {
            return None;
        }
        value = (value << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            arcs.push(value);
            value = 0;
        } else if i + 1 == oid.len() {
            return None;
        }
    }
    let (&first, rest) = arcs.split_first()?;
    let (a, b) = match first {
        0..=39 => (0, first),
        40..=79 => (1, first - 40),
        _ => (2, first - 80),
    };
    let mut dotted = format!("{a}.{b}");
    for arc in rest {
        dotted.push_str(&format!(".{arc}"));
    }
    let object = openssl::asn1::Asn1Object::from_str(&dotted).ok()?;
    Some(MessageDigest::from_nid(object.nid()).is_some())
}

/// One DER element: its tag, its content and what follows it. `None` for what DER does not
/// allow here (indefinite lengths, lengths over 4 bytes, truncation).
fn der_element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | b as usize);
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The element of `der` with tag `want`: content and rest; `None` for any other.
fn der_expect(der: &[u8], want: u8) -> Option<(&[u8], &[u8])> {
    let (tag, content, rest) = der_element(der)?;
    (tag == want).then_some((content, rest))
}

/// The OID of an AlgorithmIdentifier element.
fn algorithm_oid(element: &[u8]) -> Option<&[u8]> {
    let (algorithm, _) = der_expect(element, 0x30)?;
    der_expect(algorithm, 0x06).map(|(oid, _)| oid)
}

/// The first digest algorithm a DER CMS SignedData names (in digestAlgorithms or a
/// SignerInfo) that OpenSSL does not know. A structure this walk cannot follow (BER from a
/// peer, another content type, any surprise) is left to OpenSSL: `None`.
fn unsupported_digest(der: &[u8]) -> Option<Vec<u8>> {
    const SIGNED_DATA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02];
    const SEQUENCE: u8 = 0x30;
    const SET: u8 = 0x31;
    let unknown = |oid: &[u8]| digest_known(oid) == Some(false);
    let (content_info, _) = der_expect(der, SEQUENCE)?;
    let (content_type, rest) = der_expect(content_info, 0x06)?;
    if content_type != SIGNED_DATA {
        return None;
    }
    let (explicit, _) = der_expect(rest, 0xA0)?;
    let (signed_data, _) = der_expect(explicit, SEQUENCE)?;
    let (_version, rest) = der_expect(signed_data, 0x02)?;
    let (mut digests, mut rest) = der_expect(rest, SET)?;
    while !digests.is_empty() {
        let (_, _, next) = der_element(digests)?;
        let oid = algorithm_oid(digests)?;
        if unknown(oid) {
            return Some(oid.to_vec());
        }
        digests = next;
    }
    // encapContentInfo, then the optional [0] certificates and [1] CRLs, then signerInfos.
    let (_, after) = der_expect(rest, SEQUENCE)?;
    rest = after;
    let mut signer_infos = loop {
        let (tag, content, after) = der_element(rest)?;
        match tag {
            SET => break content,
            0xA0 | 0xA1 => rest = after,
            _ => return None,
        }
    };
    while !signer_infos.is_empty() {
        let (info, next) = der_expect(signer_infos, SEQUENCE)?;
        let (_version, after) = der_expect(info, 0x02)?;
        let (_, _sid, after) = der_element(after)?;
        let oid = algorithm_oid(after)?;
        if unknown(oid) {
            return Some(oid.to_vec());
        }
        signer_infos = next;
    }
    None
}

fn digest_of(der: &[u8]) -> &'static str {
    const SHA256: &[u8] = &[
        0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
    ];
    const SHA1: &[u8] = &[0x06, 0x05, 0x2B, 0x0E, 0x03, 0x02, 0x1A];
    match (mime::find(der, SHA256), mime::find(der, SHA1)) {
        (Some(a), Some(b)) if b < a => "sha1",
        (Some(_), _) => "sha256",
        (None, Some(_)) => "sha1",
        (None, None) => "other",
    }
}

/// The revocation lists of one file: one or more PEM `X509 CRL` blocks, or one DER list.
pub fn parse_crls(bytes: &[u8]) -> Result<Vec<X509Crl>, String> {
    const BEGIN: &[u8] = b"-----BEGIN X509 CRL-----";
    if mime::find(bytes, BEGIN).is_none() {
        return X509Crl::from_der(bytes)
            .map(|crl| vec![crl])
            .map_err(|e| format!("neither a PEM nor a DER revocation list: {e}"));
    }
    let mut crls = Vec::new();
    let mut rest = bytes;
    while let Some(start) = mime::find(rest, BEGIN) {
        rest = &rest[start..];
        let after = &rest[BEGIN.len()..];
        let next = mime::find(after, BEGIN).map_or(rest.len(), |n| BEGIN.len() + n);
        let crl = X509Crl::from_pem(&rest[..next])
            .map_err(|e| format!("revocation list {}: {e}", crls.len() + 1))?;
        crls.push(crl);
        rest = &rest[next..];
    }
    Ok(crls)
}

/// Checks a validated chain (leaf first, trust anchor last) for revoked certificates. Each
/// certificate below the anchor is looked up in every list that names its issuer and carries
/// that issuer's signature; a certificate whose issuer has no such list is not checked
/// (docs/pec-decisions.md, "Certificate revocation"). Judged at `at`, an entry revoked after
/// that instant does not count (archive re-verification at signingTime); a list past its
/// nextUpdate still counts, since revocation is final.
fn revocation(chain: &[X509], crls: &[X509Crl], at: Option<i64>) -> Result<(), String> {
    if crls.is_empty() {
        return Ok(());
    }
    for pair in chain.windows(2) {
        let (cert, issuer) = (&pair[0], &pair[1]);
        let Ok(key) = issuer.public_key() else {
            continue;
        };
        let name = cert.issuer_name().to_der().unwrap_or_default();
        let lists = crls.iter().filter(|crl| {
            crl.issuer_name().to_der().ok().as_ref() == Some(&name)
                && crl.verify(&key).unwrap_or(false)
        });
        for crl in lists {
            if let CrlStatus::Revoked(entry) = crl.get_by_cert(cert) {
                if revoked_by(entry, at) {
                    let serial = cert
                        .serial_number()
                        .to_bn()
                        .and_then(|n| n.to_hex_str().map(|h| h.to_string()))
                        .unwrap_or_default();
                    return Err(format!(
                        "certificate revoked: {} (serial {serial}, revoked {})",
                        name_line(cert.subject_name()),
                        entry.revocation_date()
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Whether a CRL entry is in force at `at` (now when `None`).
fn revoked_by(entry: &X509RevokedRef, at: Option<i64>) -> bool {
    let Some(at) = at else {
        return true;
    };
    openssl::asn1::Asn1Time::from_unix(at as _)
        .ok()
        .and_then(|t| entry.revocation_date().compare(&t).ok())
        .is_none_or(|o| o.is_le())
}

/// A certificate name as `key=value, …` (reports and errors).
pub(crate) fn name_line(name: &openssl::x509::X509NameRef) -> String {
    name.entries()
        .map(|e| {
            let key = e.object().nid().short_name().unwrap_or("?");
            let value = e.data().to_string().unwrap_or_default();
            format!("{key}={value}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn validate_chain(
    signer: &X509,
    included: &[X509],
    anchors: &[X509],
    crls: &[X509Crl],
    at: Option<i64>,
) -> Result<(), String> {
    let run = || -> Result<Result<(), String>, openssl::error::ErrorStack> {
        let mut builder = X509StoreBuilder::new()?;
        if anchors.is_empty() {
            builder.set_default_paths()?;
        }
        for a in anchors {
            builder.add_cert(a.clone())?;
        }
        if let Some(t) = at {
            let mut param = X509VerifyParam::new()?;
            param.set_time(t as _);
            builder.set_param(&param)?;
        }
        let store = builder.build();
        let mut untrusted = Stack::new()?;
        for c in included {
            untrusted.push(c.clone())?;
        }
        let mut ctx = X509StoreContext::new()?;
        ctx.init(&store, signer, &untrusted, |c| {
            if !c.verify_cert()? {
                return Ok(Err(c.error().error_string().to_string()));
            }
            let chain: Vec<X509> = c
                .chain()
                .map(|s| s.iter().map(|x| x.to_owned()).collect())
                .unwrap_or_default();
            Ok(revocation(&chain, crls, at))
        })
    };
    run().unwrap_or_else(|e| Err(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_split_on_delimiter_lines_only() {
        let body = b"preamble\r\n--b\r\nA\r\n--bx not\r\n--b\r\nB\r\n--b--\r\nepilogue";
        let parts = multipart_parts(body, "b");
        assert_eq!(parts, vec![&b"A\r\n--bx not"[..], &b"B"[..]]);
        assert!(multipart_parts(b"no delimiters", "b").is_empty());
    }

    /// Found by the `smime` fuzz target: a SignedData naming an unknown digest made
    /// OpenSSL's CMS_verify leak its content BIO, once per message any peer sent. The
    /// fixture is a signed presa in carico with one byte of its digest OID changed.
    #[test]
    fn unknown_digest_algorithm_is_refused_before_openssl() {
        let good = include_bytes!("../tests/fixtures/taking-charge.eml");
        let bad = include_bytes!("../tests/fixtures/unknown-digest-oid.eml");
        let (_, signature, _) = split_signed(&mime::canonical_crlf(good)).unwrap();
        assert_eq!(unsupported_digest(&signature), None);
        let (_, signature, _) = split_signed(&mime::canonical_crlf(bad)).unwrap();
        assert!(unsupported_digest(&signature).is_some());
        match verify(bad, &[], ChainTime::Now) {
            Err(VerifyError::BadSignature(e)) => assert!(e.contains("unsupported digest"), "{e}"),
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("a signature with an unknown digest verified"),
        }
        // OpenSSL's table decides: SHA-1, SHA-256, SHA3-256 and a signature OID written as
        // the digest (sha256WithRSAEncryption) are known; the fixture's OID is not.
        for (oid, known) in [
            (&[0x2B, 0x0E, 0x03, 0x02, 0x1A][..], true),
            (
                &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01],
                true,
            ),
            (
                &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x08],
                true,
            ),
            (
                &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0B],
                true,
            ),
            (
                &[0x60, 0x42, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01],
                false,
            ),
        ] {
            assert_eq!(digest_known(oid), Some(known), "{oid:02x?}");
        }
        assert_eq!(digest_known(&[0x86]), None);
        // Truncated or not DER at all: left to OpenSSL, never a panic here.
        for cut in 0..signature.len() {
            let _ = unsupported_digest(&signature[..cut]);
        }
    }

    #[test]
    fn non_signed_input_is_refused_cleanly() {
        assert_eq!(
            verify(b"Subject: x\r\n\r\nhello\r\n", &[], ChainTime::Now).err(),
            Some(VerifyError::NotSigned)
        );
        let bad = b"Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=b\r\n\r\n--b\r\nA\r\n--b\r\n\r\nAAAA\r\n--b--\r\n";
        assert!(matches!(
            verify(bad, &[], ChainTime::Now),
            Err(VerifyError::Malformed(_))
        ));
        for cut in 0..bad.len() {
            let _ = verify(&bad[..cut], &[], ChainTime::Now);
        }
    }
}

#[cfg(test)]
mod crl_tests {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// Runs the openssl command; `args` split on spaces (temp paths have none).
    fn openssl(args: &str) {
        let args: Vec<&str> = args.split_whitespace().collect();
        let out = Command::new("openssl").args(&args).output().unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A CA made with the openssl command in its own directory, with the tiny `openssl ca`
    /// database that `-revoke` and `-gencrl` need.
    struct TestCa {
        dir: PathBuf,
    }

    impl TestCa {
        fn new(parent: &Path, dir: &str, name: &str) -> TestCa {
            let ca = TestCa {
                dir: parent.join(dir),
            };
            std::fs::create_dir(&ca.dir).unwrap();
            std::fs::write(ca.file("index.txt"), "").unwrap();
            std::fs::write(ca.file("crlnumber"), "01\n").unwrap();
            std::fs::write(
                ca.file("ca.cnf"),
                format!(
                    "[ca]\ndefault_ca = test\n[test]\ndatabase = {}\ncrlnumber = {}\n\
                     default_md = sha256\ndefault_crl_days = 30\n",
                    ca.path("index.txt"),
                    ca.path("crlnumber")
                ),
            )
            .unwrap();
            openssl(&format!(
                "req -x509 -newkey rsa:2048 -nodes -days 30 -subj /O={name}/CN={name}-CA \
                 -addext basicConstraints=critical,CA:TRUE \
                 -addext keyUsage=critical,keyCertSign,cRLSign -keyout {} -out {}",
                ca.path("ca.key"),
                ca.path("ca.pem")
            ));
            ca
        }

        fn file(&self, name: &str) -> PathBuf {
            self.dir.join(name)
        }

        fn path(&self, name: &str) -> String {
            self.file(name).to_str().unwrap().to_string()
        }

        fn cert(&self) -> X509 {
            X509::from_pem(&std::fs::read(self.file("ca.pem")).unwrap()).unwrap()
        }

        /// A signing identity issued by this CA with serial `serial`, and its certificate
        /// file.
        fn issue(&self, serial: u32) -> (Signer, PathBuf) {
            let (key, csr, cert) = (
                self.path(&format!("{serial}.key")),
                self.path(&format!("{serial}.csr")),
                self.path(&format!("{serial}.pem")),
            );
            openssl(&format!(
                "req -newkey rsa:2048 -nodes -subj /CN=posta-certificata \
                 -addext subjectAltName=email:posta-certificata@pec.test -keyout {key} -out {csr}"
            ));
            openssl(&format!(
                "x509 -req -in {csr} -CA {} -CAkey {} -set_serial {serial} -days 30 \
                 -copy_extensions copy -out {cert}",
                self.path("ca.pem"),
                self.path("ca.key")
            ));
            let signer = Signer::from_pem(
                &std::fs::read(&cert).unwrap(),
                &std::fs::read(&key).unwrap(),
                &std::fs::read(self.file("ca.pem")).unwrap(),
            )
            .unwrap();
            (signer, PathBuf::from(cert))
        }

        fn revoke(&self, cert: &Path) {
            openssl(&format!(
                "ca -config {} -revoke {} -keyfile {} -cert {}",
                self.path("ca.cnf"),
                cert.display(),
                self.path("ca.key"),
                self.path("ca.pem")
            ));
        }

        /// The CRL of everything revoked so far, PEM.
        fn crl(&self) -> Vec<u8> {
            let out = self.path("crl.pem");
            openssl(&format!(
                "ca -config {} -gencrl -keyfile {} -cert {} -out {out}",
                self.path("ca.cnf"),
                self.path("ca.key"),
                self.path("ca.pem")
            ));
            std::fs::read(out).unwrap()
        }
    }

    fn signed(signer: &Signer) -> Vec<u8> {
        signer
            .seal(
                "From: posta-certificata@pec.test\r\nSubject: x\r\n",
                b"Content-Type: text/plain\r\n\r\nhello\r\n",
            )
            .unwrap()
    }

    fn chain(message: &[u8], anchors: &[X509], crls: &[X509Crl]) -> Result<(), String> {
        verify_with_crls(message, anchors, crls, ChainTime::Now)
            .unwrap()
            .chain
    }

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    #[test]
    fn a_revoked_signer_fails_and_an_empty_list_or_none_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new(dir.path(), "alpha", "Alpha");
        let (signer, cert) = ca.issue(4660);
        let issued = now();
        let message = signed(&signer);
        let anchors = [ca.cert()];

        let empty = parse_crls(&ca.crl()).unwrap();
        assert_eq!(chain(&message, &anchors, &[]), Ok(()), "no CRL: as before");
        assert_eq!(chain(&message, &anchors, &empty), Ok(()), "empty CRL");

        // Revoked a little after issue, so that an instant between the two exists.
        std::thread::sleep(std::time::Duration::from_secs(2));
        ca.revoke(&cert);
        let revoked = parse_crls(&ca.crl()).unwrap();
        let reason = chain(&message, &anchors, &revoked).unwrap_err();
        assert!(reason.starts_with("certificate revoked: "), "{reason}");
        assert!(reason.contains("serial 1234"), "{reason}");
        // Without the list, and through the plain entry point, the chain still verifies.
        assert_eq!(chain(&message, &anchors, &[]), Ok(()));
        assert!(verify(&message, &anchors, ChainTime::Now)
            .unwrap()
            .chain
            .is_ok());
        // Judged at an instant before the revocation (archives at signingTime): valid then.
        let then = verify_with_crls(&message, &anchors, &revoked, ChainTime::At(issued));
        assert_eq!(then.unwrap().chain, Ok(()));
    }

    #[test]
    fn only_lists_signed_by_the_issuer_count() {
        let dir = tempfile::tempdir().unwrap();
        let alpha = TestCa::new(dir.path(), "alpha", "Alpha");
        let beta = TestCa::new(dir.path(), "beta", "Beta");
        let (signer, alpha_cert) = alpha.issue(7);
        let (_, beta_cert) = beta.issue(7);
        let message = signed(&signer);
        // Beta revokes its own serial 7: Alpha's serial 7 is untouched.
        beta.revoke(&beta_cert);
        let other_issuer = parse_crls(&beta.crl()).unwrap();
        assert_eq!(chain(&message, &[alpha.cert()], &other_issuer), Ok(()));
        // A list naming Alpha as its issuer but signed by another key does not count.
        let impostor = TestCa::new(dir.path(), "impostor", "Alpha");
        impostor.revoke(&alpha_cert);
        let forged = parse_crls(&impostor.crl()).unwrap();
        assert_eq!(chain(&message, &[alpha.cert()], &forged), Ok(()));
        // Alpha's own list does.
        alpha.revoke(&alpha_cert);
        let genuine = parse_crls(&alpha.crl()).unwrap();
        let all: Vec<X509Crl> = [other_issuer, forged, genuine]
            .into_iter()
            .flatten()
            .collect();
        assert!(chain(&message, &[alpha.cert()], &all)
            .unwrap_err()
            .starts_with("certificate revoked"));
    }

    #[test]
    fn lists_parse_from_pem_bundles_and_der() {
        let dir = tempfile::tempdir().unwrap();
        let alpha = TestCa::new(dir.path(), "alpha", "Alpha");
        let beta = TestCa::new(dir.path(), "beta", "Beta");
        let bundle = [alpha.crl(), beta.crl()].concat();
        let crls = parse_crls(&bundle).unwrap();
        assert_eq!(crls.len(), 2);
        let der = crls[1].to_der().unwrap();
        assert_eq!(parse_crls(&der).unwrap()[0].to_der().unwrap(), der);
        assert!(parse_crls(b"").is_err());
        assert!(parse_crls(b"not a list").is_err());
        assert!(parse_crls(&bundle[..bundle.len() - 40]).is_err());
    }
    /// The attributes `openssl cms -cmsout -print` finds in a DER signature.
    fn printed(dir: &Path, der: &[u8]) -> String {
        let file = dir.join("sig.der");
        std::fs::write(&file, der).unwrap();
        let out = std::process::Command::new("openssl")
            .args(["cms", "-cmsout", "-print", "-inform", "DER", "-in"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// PEC.md §9.1: the DER writer's SignedData verifies as OpenSSL's does (signature, chain
    /// from the included certificates, signingTime now), carries contentType, signingTime and
    /// messageDigest and SHA-256, and differs from `CMS_sign`'s only by smimeCapabilities;
    /// a serial with its high bit set is encoded positive.
    #[test]
    fn the_der_writer_signs_what_openssl_verifies_with_the_same_attributes() {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new(dir.path(), "alpha", "Alpha");
        let (signer, _) = ca.issue(0x80_00_00);
        assert!(signer.template.is_some(), "an RSA key uses the DER writer");
        let message = signed(&signer);
        let v = verify(&message, &[ca.cert()], ChainTime::Now).unwrap();
        assert_eq!(v.chain, Ok(()));
        assert_eq!(v.digest, "sha256");
        assert!((v.signing_time.unwrap() - now()).abs() < 10);
        let content = b"Content-Type: text/plain\r\n\r\nhello\r\n";
        let ours = printed(dir.path(), &signer.sign_detached(content).unwrap());
        let theirs = printed(dir.path(), &signer.sign_with_openssl(content).unwrap());
        for field in [
            "contentType",
            "signingTime",
            "messageDigest",
            "sha256",
            "rsaEncryption",
        ] {
            assert!(ours.contains(field), "{field} missing: {ours}");
        }
        assert!(!ours.contains("S/MIME Capabilities"));
        assert!(theirs.contains("S/MIME Capabilities"));
        assert!(ours.contains("serialNumber: 8388608"), "{ours}");
        assert_eq!(
            ours.matches("cert_info").count(),
            theirs.matches("cert_info").count(),
            "the same certificates included"
        );
        // The signature is over the content: another content does not verify.
        let sig = signer.sign_detached(content).unwrap();
        let mut cms = CmsContentInfo::from_der(&sig).unwrap();
        let flags = CMSOptions::NO_SIGNER_CERT_VERIFY | CMSOptions::BINARY;
        assert!(cms.verify(None, None, Some(content), None, flags).is_ok());
        let mut cms = CmsContentInfo::from_der(&sig).unwrap();
        assert!(cms.verify(None, None, Some(b"other"), None, flags).is_err());
    }

    /// An EC signing key gets ecdsa-with-SHA256 from the DER writer, and verifies.
    #[test]
    fn an_ec_key_is_signed_by_the_der_writer_too() {
        let dir = tempfile::tempdir().unwrap();
        let (key, cert) = (dir.path().join("ec.key"), dir.path().join("ec.pem"));
        openssl(&format!(
            "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
             -subj /CN=ec -keyout {} -out {}",
            key.display(),
            cert.display()
        ));
        let cert_pem = std::fs::read(&cert).unwrap();
        let signer = Signer::from_pem(&cert_pem, &std::fs::read(&key).unwrap(), b"").unwrap();
        assert!(signer.template.is_some());
        let message = signed(&signer);
        let anchor = X509::from_pem(&cert_pem).unwrap();
        let v = verify(&message, &[anchor], ChainTime::Now).unwrap();
        assert_eq!(v.chain, Ok(()));
        let (_, sig, _) = split_signed(&message).unwrap();
        assert!(printed(dir.path(), &sig).contains("ecdsa-with-SHA256"));
    }
}
