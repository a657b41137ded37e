//! A detached CMS SignedData (RFC 5652) written directly in DER (and the signingTime of one
//! read back, [`signing_time_of`]), the provider's signature of
//! every message pecd emits (PEC.md §9.1): SHA-256, the signed attributes contentType,
//! signingTime and messageDigest, the signing certificate and its chain included, the key's
//! signature over the attributes. Everything that does not change between signatures (the
//! certificates, the signer's issuer and serial number, the algorithm identifiers) is encoded
//! once, so a signature costs its digest, one private-key operation and a few hundred bytes
//! of DER, where OpenSSL's `CMS_sign` spent about 15 % more per signature building the same
//! structure through its generic ASN.1 machinery (and the smimeCapabilities attribute, which
//! PEC does not ask for). Keys other than RSA and EC are signed by OpenSSL's CMS instead
//! ([`Template::new`] returns `None`).

use openssl::hash::{hash, MessageDigest};
use openssl::pkey::{Id, PKey, PKeyRef, Private};
use openssl::stack::StackRef;
use openssl::x509::{X509Ref, X509};

/// id-signedData, id-data, and the three signed attributes' types.
const OID_SIGNED_DATA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02];
const OID_DATA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x01];
const OID_CONTENT_TYPE: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x03];
const OID_MESSAGE_DIGEST: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x04];
const OID_SIGNING_TIME: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x05];
/// SHA-256 (its parameters absent, RFC 5754 §2).
const OID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
/// rsaEncryption (parameters NULL, RFC 3370 §3.2) and ecdsa-with-SHA256 (none, RFC 5754 §3.3).
const OID_RSA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];
const OID_ECDSA_SHA256: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02];

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OCTET_STRING: u8 = 0x04;
const INTEGER: u8 = 0x02;
const OID: u8 = 0x06;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
/// `[0]` constructed: SignedData's certificates and SignerInfo's signedAttrs (IMPLICIT), and
/// ContentInfo's content (EXPLICIT).
const CONTEXT_0: u8 = 0xA0;

/// Appends one DER value: tag, definite length, content.
fn tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = n.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
}

fn value(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    tlv(&mut out, tag, content);
    out
}

/// The members of a DER `SET OF`, in DER order (ascending encodings, RFC 5652 §5.4 relies
/// on it for the signed attributes), concatenated.
fn set_of(mut members: Vec<Vec<u8>>) -> Vec<u8> {
    members.sort();
    members.concat()
}

/// A positive INTEGER from its big-endian magnitude.
fn integer(magnitude: &[u8]) -> Vec<u8> {
    let trimmed = match magnitude.iter().position(|&b| b != 0) {
        Some(i) => &magnitude[i..],
        None => &[0u8][..],
    };
    let mut content = Vec::with_capacity(trimmed.len() + 1);
    if trimmed[0] & 0x80 != 0 {
        content.push(0);
    }
    content.extend_from_slice(trimmed);
    value(INTEGER, &content)
}

fn algorithm(oid: &[u8], null_parameters: bool) -> Vec<u8> {
    let mut content = value(OID, oid);
    if null_parameters {
        content.extend_from_slice(&[0x05, 0x00]);
    }
    value(SEQUENCE, &content)
}

/// signingTime as RFC 5652 §11.3 wants it: UTCTime through 2049, GeneralizedTime after.
fn signing_time(unix: i64) -> Vec<u8> {
    let t = chrono::DateTime::from_timestamp(unix, 0).unwrap_or_default();
    if t.format("%Y").to_string().as_str() < "2050" {
        value(UTC_TIME, t.format("%y%m%d%H%M%SZ").to_string().as_bytes())
    } else {
        value(
            GENERALIZED_TIME,
            t.format("%Y%m%d%H%M%SZ").to_string().as_bytes(),
        )
    }
}

fn attribute(oid: &[u8], one_value: &[u8]) -> Vec<u8> {
    let mut content = value(OID, oid);
    tlv(&mut content, SET, one_value);
    value(SEQUENCE, &content)
}

/// The parts of every signature that depend only on the signing identity.
pub struct Template {
    /// `SET OF AlgorithmIdentifier` content: SHA-256.
    digest_algorithm: Vec<u8>,
    /// `[0] IMPLICIT SET OF Certificate`, whole.
    certificates: Vec<u8>,
    /// SignerInfo's version and sid (issuerAndSerialNumber) and digestAlgorithm, encoded.
    signer_head: Vec<u8>,
    /// SignerInfo's signatureAlgorithm, encoded.
    signature_algorithm: Vec<u8>,
}

impl Template {
    /// The template of `cert` (whose key is `key`) and its `chain`; `None` for a key that is
    /// neither RSA nor EC.
    pub fn new(
        cert: &X509Ref,
        key: &PKeyRef<Private>,
        chain: &StackRef<X509>,
    ) -> Result<Option<Template>, openssl::error::ErrorStack> {
        let signature_algorithm = match key.id() {
            Id::RSA => algorithm(OID_RSA, true),
            Id::EC => algorithm(OID_ECDSA_SHA256, false),
            _ => return Ok(None),
        };
        let mut certs = vec![cert.to_der()?];
        for c in chain {
            certs.push(c.to_der()?);
        }
        let digest = algorithm(OID_SHA256, false);
        let serial = cert.serial_number().to_bn()?;
        if serial.is_negative() {
            // Not allowed by RFC 5280, but OpenSSL's CMS copes: leave it to that.
            return Ok(None);
        }
        let mut sid = cert.issuer_name().to_der()?;
        sid.extend_from_slice(&integer(&serial.to_vec()));
        let mut signer_head = integer(&[1]);
        tlv(&mut signer_head, SEQUENCE, &sid);
        signer_head.extend_from_slice(&digest);
        Ok(Some(Template {
            digest_algorithm: digest,
            certificates: value(CONTEXT_0, &set_of(certs)),
            signer_head,
            signature_algorithm,
        }))
    }

    /// The DER ContentInfo of a detached SignedData over `content`, signed at `unix` time
    /// with `key` (the template's).
    pub fn sign(
        &self,
        key: &PKey<Private>,
        content: &[u8],
        unix: i64,
    ) -> Result<Vec<u8>, openssl::error::ErrorStack> {
        let digest = hash(MessageDigest::sha256(), content)?;
        let attributes = set_of(vec![
            attribute(OID_CONTENT_TYPE, &value(OID, OID_DATA)),
            attribute(OID_SIGNING_TIME, &signing_time(unix)),
            attribute(OID_MESSAGE_DIGEST, &value(OCTET_STRING, &digest)),
        ]);
        // The signature covers the attributes' DER with the SET tag (RFC 5652 §5.4).
        let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), key)?;
        signer.update(&value(SET, &attributes))?;
        let signature = signer.sign_to_vec()?;

        let mut signer_info = self.signer_head.clone();
        tlv(&mut signer_info, CONTEXT_0, &attributes);
        signer_info.extend_from_slice(&self.signature_algorithm);
        tlv(&mut signer_info, OCTET_STRING, &signature);

        let mut signed_data = integer(&[1]);
        tlv(&mut signed_data, SET, &self.digest_algorithm);
        tlv(&mut signed_data, SEQUENCE, &value(OID, OID_DATA));
        signed_data.extend_from_slice(&self.certificates);
        tlv(&mut signed_data, SET, &value(SEQUENCE, &signer_info));

        let mut content_info = value(OID, OID_SIGNED_DATA);
        tlv(&mut content_info, CONTEXT_0, &value(SEQUENCE, &signed_data));
        Ok(value(SEQUENCE, &content_info))
    }
}

/// The signingTime signed attribute (OID 1.2.840.113549.1.9.5), as Unix seconds.
pub fn signing_time_of(der: &[u8]) -> Option<i64> {
    const OID: &[u8] = &[
        0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x05,
    ];
    let at = crate::mime::find(der, OID)? + OID.len();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_use_the_short_form_below_128_and_the_fewest_bytes_above() {
        assert_eq!(value(OCTET_STRING, &[7; 3])[..2], [0x04, 3]);
        assert_eq!(value(OCTET_STRING, &[7; 200])[..3], [0x04, 0x81, 200]);
        assert_eq!(
            value(OCTET_STRING, &[7; 300])[..4],
            [0x04, 0x82, 0x01, 0x2C]
        );
    }

    #[test]
    fn integers_are_minimal_and_positive() {
        assert_eq!(integer(&[0, 0, 5]), [0x02, 1, 5]);
        assert_eq!(integer(&[0x80]), [0x02, 2, 0, 0x80]);
        assert_eq!(integer(&[]), [0x02, 1, 0]);
    }

    #[test]
    fn signing_time_switches_to_generalized_time_in_2050() {
        assert_eq!(signing_time(0), value(UTC_TIME, b"700101000000Z"));
        let y2050 = 2_524_608_000; // 2050-01-01T00:00:00Z
        assert_eq!(
            signing_time(y2050),
            value(GENERALIZED_TIME, b"20500101000000Z")
        );
    }

    #[test]
    fn set_members_are_in_der_order() {
        let set = set_of(vec![
            vec![0x30, 2, 9, 9],
            vec![0x30, 1, 5],
            vec![0x06, 1, 1],
        ]);
        assert_eq!(set, [0x06, 1, 1, 0x30, 1, 5, 0x30, 2, 9, 9]);
    }
}
