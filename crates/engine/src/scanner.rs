//! The antivirus interface (PEC.md §10.4) and the built-in EICAR detector.

use mail_parser::{Message, MimeHeaders, PartType};
use pecd_signer::mime;

/// Looks for malware in a message; `Some(name)` names what was found. A real scanner (clamd,
/// ICAP) plugs in behind this trait.
pub trait Scanner: Send + Sync {
    fn scan(&self, message: &[u8]) -> Option<String>;

    /// [`Scanner::scan`] of a message the engine has already parsed whole (`parsed` is a
    /// parse of `message`): a scanner that works on decoded parts walks it instead of parsing
    /// again. One that reads only the bytes keeps this default.
    fn scan_parsed(&self, message: &[u8], parsed: &Message<'_>) -> Option<String> {
        let _ = parsed;
        self.scan(message)
    }
}

/// The EICAR test signature (68 bytes), the industry's harmless test file.
const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// Detects the EICAR test file in the raw message and in every decoded MIME part, nested
/// messages included (attachments usually travel base64-encoded).
pub struct Eicar;

impl Scanner for Eicar {
    fn scan(&self, message: &[u8]) -> Option<String> {
        found(bytes_contain(message, 0))
    }

    fn scan_parsed(&self, message: &[u8], parsed: &Message<'_>) -> Option<String> {
        found(contains(message, EICAR) || parts_contain(parsed, 0))
    }
}

fn found(yes: bool) -> Option<String> {
    yes.then(|| "Eicar-Test-Signature".into())
}

/// How many times an attached message mail-parser left undecoded is parsed again: it follows
/// attached messages that are themselves transfer-encoded only three levels deep, and gives
/// the fourth as an opaque part.
const MAX_REPARSE: usize = 8;

/// Whether `message` holds the signature, raw or in a decoded part.
fn bytes_contain(message: &[u8], reparsed: usize) -> bool {
    if contains(message, EICAR) {
        return true;
    }
    // mail-parser keeps attached messages as a tree: only a message of bounded nesting is
    // parsed (the Incoming and Access Points refuse deeper ones).
    if mime::nested_deeper_than(message, mime::MAX_MIME_DEPTH) {
        return false;
    }
    mime::parse_full(message).is_some_and(|parsed| parts_contain(&parsed, reparsed))
}

/// Whether a decoded leaf part of `message`, or of a message attached at any depth, holds
/// the signature. An explicit stack walks the attached messages mail-parser parsed already;
/// one it left opaque (see [`MAX_REPARSE`]) is parsed again, a bounded number of times.
fn parts_contain(message: &Message<'_>, reparsed: usize) -> bool {
    let mut pending = vec![message];
    while let Some(m) = pending.pop() {
        for part in &m.parts {
            match &part.body {
                PartType::Message(inner) => pending.push(inner),
                PartType::Multipart(_) => {}
                _ => {
                    let contents = part.contents();
                    if contains(contents, EICAR) {
                        return true;
                    }
                    let attached = part
                        .content_type()
                        .is_some_and(|t| t.ctype().eq_ignore_ascii_case("message"));
                    if attached && reparsed < MAX_REPARSE && bytes_contain(contents, reparsed + 1) {
                        return true;
                    }
                }
            }
        }
    }
    false
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

    /// Attached messages are walked in the parse the engine made, at any depth the formal
    /// checks let through (the scanner used to parse each attached message again, and gave up
    /// past eight levels).
    #[test]
    fn eicar_attached_twenty_messages_deep_is_found_in_the_shared_parse() {
        let b64 = "WDVPIVAlQEFQWzRcUFpYNTQoUF4pN0NDKTd9JEVJQ0FSLVNUQU5EQVJELUFOVElWSVJVUy1URVNU\r\nLUZJTEUhJEgrSCo=";
        let mut message = format!(
            "Subject: inner\r\nContent-Type: application/octet-stream\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{b64}\r\n"
        );
        for n in 0..20 {
            message = format!(
                "Subject: level {n}\r\nMIME-Version: 1.0\r\n\
                 Content-Type: multipart/mixed; boundary=b{n}\r\n\r\n\
                 --b{n}\r\nContent-Type: message/rfc822\r\n\r\n{message}\r\n--b{n}--\r\n"
            );
        }
        let raw = message.as_bytes();
        assert!(!contains(raw, EICAR));
        let parsed = mime::parse_full(raw).unwrap();
        assert!(Eicar.scan_parsed(raw, &parsed).is_some());
        assert!(Eicar.scan(raw).is_some());
        let clean = message.replace(b64, "aGVsbG8=");
        let parsed = mime::parse_full(clean.as_bytes()).unwrap();
        assert!(Eicar.scan_parsed(clean.as_bytes(), &parsed).is_none());
    }

    /// An attached message that is itself base64-encoded, five times over: mail-parser decodes
    /// three such levels and leaves the fourth opaque, which the scanner parses again.
    #[test]
    fn eicar_in_five_base64_encoded_attached_messages_is_found() {
        use base64::Engine as _;
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        let mut message = format!(
            "Subject: inner\r\nContent-Type: application/octet-stream\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            b64(EICAR)
        );
        for n in 0..5 {
            message = format!(
                "Subject: level {n}\r\nMIME-Version: 1.0\r\n\
                 Content-Type: multipart/mixed; boundary=b{n}\r\n\r\n\
                 --b{n}\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n\
                 {}\r\n--b{n}--\r\n",
                b64(message.as_bytes())
            );
        }
        let raw = message.as_bytes();
        let parsed = mime::parse_full(raw).unwrap();
        assert!(Eicar.scan_parsed(raw, &parsed).is_some());
        assert!(Eicar.scan(raw).is_some());
    }
}
