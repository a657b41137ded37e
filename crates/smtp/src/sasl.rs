//! SASL PLAIN (RFC 4616) and LOGIN (draft-murchison-sasl-login) decoding.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// The LOGIN challenges, exactly as Outlook expects them (CLIENTS.md §5 bug 2): base64 of
/// `Username:` and `Password:`, with no other text on the line.
pub const LOGIN_USERNAME: &str = "VXNlcm5hbWU6";
pub const LOGIN_PASSWORD: &str = "UGFzc3dvcmQ6";

#[derive(Debug, PartialEq, Eq)]
pub enum SaslError {
    /// The client sent `*`.
    Cancelled,
    /// Not base64, not UTF-8, or not the mechanism's shape.
    Malformed,
}

/// Decodes one client response line (without CRLF).
pub fn decode(line: &[u8]) -> Result<Vec<u8>, SaslError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line == b"*" {
        return Err(SaslError::Cancelled);
    }
    // "=" stands for an empty response (RFC 4954 §4).
    if line == b"=" {
        return Ok(Vec::new());
    }
    STANDARD.decode(line).map_err(|_| SaslError::Malformed)
}

/// PLAIN: `authzid NUL authcid NUL password`. Returns (authzid, login, password); an authzid,
/// when present, must name the login itself (no proxy authorisation).
pub fn plain(decoded: &[u8]) -> Result<(String, String), SaslError> {
    let mut parts = decoded.split(|&b| b == 0);
    let (Some(authz), Some(authc), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::Malformed);
    };
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| SaslError::Malformed);
    let (authz, login, password) = (text(authz)?, text(authc)?, text(password)?);
    if login.is_empty() || (!authz.is_empty() && !authz.eq_ignore_ascii_case(&login)) {
        return Err(SaslError::Malformed);
    }
    Ok((login, password))
}

pub fn text(decoded: Vec<u8>) -> Result<String, SaslError> {
    String::from_utf8(decoded).map_err(|_| SaslError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_decode_to_the_expected_words() {
        assert_eq!(STANDARD.decode(LOGIN_USERNAME).unwrap(), b"Username:");
        assert_eq!(STANDARD.decode(LOGIN_PASSWORD).unwrap(), b"Password:");
    }

    #[test]
    fn plain_forms() {
        let ok = decode(
            STANDARD
                .encode("\0mario@pec.localhost\0Segreta-9")
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(
            plain(&ok).unwrap(),
            ("mario@pec.localhost".into(), "Segreta-9".into())
        );
        let same = decode(
            STANDARD
                .encode("mario@pec.localhost\0mario@pec.localhost\0x")
                .as_bytes(),
        )
        .unwrap();
        assert!(plain(&same).is_ok());
        let proxy = decode(
            STANDARD
                .encode("luigi@pec.localhost\0mario@pec.localhost\0x")
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(
            plain(&proxy),
            Err(SaslError::Malformed),
            "no authzid reaches another mailbox"
        );
        assert_eq!(plain(b"no-nuls"), Err(SaslError::Malformed));
        assert_eq!(decode(b"*"), Err(SaslError::Cancelled));
        assert_eq!(decode(b"!!notbase64"), Err(SaslError::Malformed));
    }
}
