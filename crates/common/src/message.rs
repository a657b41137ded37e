//! Minimal RFC 5322 checks for messages entering the store from outside SMTP (imports), and
//! the CRLF canonical form every stored message uses.

/// Why a byte string is not an RFC 5322 message.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("empty message")]
    Empty,
    #[error("contains NUL bytes")]
    Nul,
    #[error("line {0}: not a header field (expected \"Name: value\")")]
    BadHeader(usize),
    #[error("line {0}: header line longer than 998 characters")]
    LongHeader(usize),
    #[error("no From header field")]
    NoFrom,
}

/// Checks that `bytes` starts with a well-formed header section (RFC 5322 §2.2, §3.6) that has
/// a From field. The body is not inspected beyond NUL bytes.
pub fn check_rfc5322(bytes: &[u8]) -> Result<(), MessageError> {
    if bytes.is_empty() {
        return Err(MessageError::Empty);
    }
    if bytes.contains(&0) {
        return Err(MessageError::Nul);
    }
    let mut has_from = false;
    for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let number = n + 1;
        if line.is_empty() {
            break;
        }
        if line.len() > 998 {
            return Err(MessageError::LongHeader(number));
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if n == 0 {
                return Err(MessageError::BadHeader(number));
            }
            continue;
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(MessageError::BadHeader(number))?;
        let name = &line[..colon];
        if name.is_empty() || !name.iter().all(|&b| (33..=126).contains(&b)) {
            return Err(MessageError::BadHeader(number));
        }
        has_from |= name.eq_ignore_ascii_case(b"From");
    }
    if has_from {
        Ok(())
    } else {
        Err(MessageError::NoFrom)
    }
}

/// Turns bare LF (and bare CR) line endings into CRLF, the form IMAP, POP3 and S/MIME need.
/// Bytes already in CRLF form come back unchanged.
pub fn to_crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 32);
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                i += 2;
                continue;
            }
            b'\r' | b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_real_headers() {
        let m = b"Return-Path: <a@b.it>\nFrom: Mario <m@pec.it>\nSubject: long\n\tfolded\n\nbody\n";
        assert_eq!(check_rfc5322(m), Ok(()));
        assert_eq!(
            check_rfc5322(b"From: a@b.it\r\n"),
            Ok(()),
            "body is optional"
        );
    }

    #[test]
    fn refuses_non_messages() {
        assert_eq!(check_rfc5322(b""), Err(MessageError::Empty));
        assert_eq!(
            check_rfc5322(b"\x89PNG\r\n\x1a\n\0\0"),
            Err(MessageError::Nul)
        );
        assert_eq!(
            check_rfc5322(b"hello world\n\nbody"),
            Err(MessageError::BadHeader(1))
        );
        assert_eq!(
            check_rfc5322(b" From: a\n"),
            Err(MessageError::BadHeader(1))
        );
        assert_eq!(
            check_rfc5322(b"Subject: x\nBad Name: y\n\n"),
            Err(MessageError::BadHeader(2))
        );
        assert_eq!(
            check_rfc5322(b"Subject: no sender\n\nbody"),
            Err(MessageError::NoFrom)
        );
        let long = format!("From: a@b.it\nX: {}\n\n", "y".repeat(1000));
        assert_eq!(
            check_rfc5322(long.as_bytes()),
            Err(MessageError::LongHeader(2))
        );
    }

    #[test]
    fn crlf_canonical_form() {
        assert_eq!(to_crlf(b"a\nb\r\nc\rd"), b"a\r\nb\r\nc\r\nd");
        assert_eq!(to_crlf(b"a\r\n\r\n"), b"a\r\n\r\n");
        assert_eq!(to_crlf(b""), b"");
    }
}
