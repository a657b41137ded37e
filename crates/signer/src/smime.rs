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
use openssl::x509::{X509StoreContext, X509};

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
        Ok(Signer {
            cert,
            key,
            chain: stack,
        })
    }

    pub fn certificate(&self) -> &X509 {
        &self.cert
    }

    /// A detached CMS SignedData (DER) over `content`, SHA-256, with the certificate and the
    /// chain included and the signed attributes OpenSSL adds (contentType, signingTime,
    /// messageDigest, smimeCapabilities) (PEC.md §9.1, §12 item 1).
    pub fn sign_detached(&self, content: &[u8]) -> Result<Vec<u8>, SignError> {
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
        let entity = mime::canonical_crlf(entity);
        let signature = self.sign_detached(&entity)?;
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
    let canonical = mime::canonical_crlf(message);
    let canonicalized = canonical.len() != message.len();
    let (entity, signature, protocol) = split_signed(&canonical)?;
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
    let signing_time = signing_time(&signature);
    let at = match time {
        ChainTime::Now => None,
        ChainTime::SigningTime => signing_time,
        ChainTime::At(t) => Some(t),
    };
    let chain = validate_chain(&signer, &included, anchors, at);
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
        let line_end = body[i..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(body.len(), |p| i + p + 1);
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

/// The signingTime signed attribute (OID 1.2.840.113549.1.9.5), as Unix seconds.
fn signing_time(der: &[u8]) -> Option<i64> {
    const OID: &[u8] = &[
        0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x05,
    ];
    let at = mime::find(der, OID)? + OID.len();
    // SET { UTCTime | GeneralizedTime }
    let rest = der.get(at..)?;
    if rest.first() != Some(&0x31) {
        return None;
    }
    let t = rest.get(2..)?;
    let (tag, len) = (*t.first()?, *t.get(1)? as usize);
    let text = std::str::from_utf8(t.get(2..2 + len)?).ok()?;
    let full = match tag {
        0x17 => {
            let yy: i32 = text.get(0..2)?.parse().ok()?;
            let century = if yy >= 50 { "19" } else { "20" };
            format!("{century}{text}")
        }
        0x18 => text.to_string(),
        _ => return None,
    };
    chrono::NaiveDateTime::parse_from_str(full.trim_end_matches('Z'), "%Y%m%d%H%M%S")
        .ok()
        .map(|t| t.and_utc().timestamp())
}

fn validate_chain(
    signer: &X509,
    included: &[X509],
    anchors: &[X509],
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
            Ok(if c.verify_cert()? {
                Ok(())
            } else {
                Err(c.error().error_string().to_string())
            })
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
