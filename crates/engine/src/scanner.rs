//! The antivirus interface (PEC.md §10.4) and the built-in EICAR detector.

use mail_parser::PartType;

/// Looks for malware in a message; `Some(name)` names what was found. A real scanner (clamd,
/// ICAP) plugs in behind this trait.
pub trait Scanner: Send + Sync {
    fn scan(&self, message: &[u8]) -> Option<String>;
}

/// The EICAR test signature (68 bytes), the industry's harmless test file.
const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// Detects the EICAR test file in the raw message and in every decoded MIME part, nested
/// messages included (attachments usually travel base64-encoded).
pub struct Eicar;

impl Scanner for Eicar {
    fn scan(&self, message: &[u8]) -> Option<String> {
        if contains(message, EICAR) || parts_contain(message, 0) {
            Some("Eicar-Test-Signature".into())
        } else {
            None
        }
    }
}

fn parts_contain(message: &[u8], depth: usize) -> bool {
    // mail-parser keeps attached messages as a tree it drops recursively: only a message
    // of bounded nesting is parsed (the Incoming and Access Points refuse deeper ones).
    if depth > 8
        || pecd_signer::mime::nested_deeper_than(message, pecd_signer::mime::MAX_MIME_DEPTH)
    {
        return false;
    }
    let Some(parsed) = pecd_signer::mime::parse_full(message) else {
        return false;
    };
    parsed.parts.iter().any(|p| match &p.body {
        PartType::Message(inner) => parts_contain(inner.raw_message(), depth + 1),
        PartType::Multipart(_) => false,
        _ => contains(p.contents(), EICAR),
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_eicar_plain_base64_and_nested() {
        let plain = [b"Subject: x\r\n\r\n".as_slice(), EICAR, b"\r\n"].concat();
        assert!(Eicar.scan(&plain).is_some());
        let b64 = "WDVPIVAlQEFQWzRcUFpYNTQoUF4pN0NDKTd9JEVJQ0FSLVNUQU5EQVJELUFOVElWSVJVUy1URVNU\r\nLUZJTEUhJEgrSCo=";
        let attached = format!(
            "Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
             --b\r\nContent-Type: text/plain\r\n\r\nhello\r\n\
             --b\r\nContent-Type: application/octet-stream; name=eicar.com\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--b--\r\n"
        );
        assert!(Eicar.scan(attached.as_bytes()).is_some());
        let nested = format!(
            "Subject: outer\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n\
             --o\r\nContent-Type: message/rfc822\r\n\r\n{attached}\r\n--o--\r\n"
        );
        assert!(Eicar.scan(nested.as_bytes()).is_some());
        assert!(Eicar
            .scan(b"Subject: clean\r\n\r\nnothing here\r\n")
            .is_none());
        assert!(Eicar.scan(b"").is_none());
    }
}
