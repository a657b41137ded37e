//! Modified UTF-7 (RFC 3501 §5.1.3), the folder-name encoding of IMAP4rev1 clients. The store
//! keeps names in UTF-8; sessions that did not ENABLE UTF8=ACCEPT see them encoded.

use base64::alphabet::IMAP_MUTF7;
use base64::engine::general_purpose::NO_PAD;
use base64::engine::GeneralPurpose;
use base64::Engine;

const MUTF7: GeneralPurpose = GeneralPurpose::new(&IMAP_MUTF7, NO_PAD);

/// Encodes a UTF-8 name: printable ASCII stays, `&` becomes `&-`, the rest is UTF-16BE in
/// modified base64 between `&` and `-`.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if !pending.is_empty() {
            let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
            out.push('&');
            out.push_str(&MUTF7.encode(bytes));
            out.push('-');
            pending.clear();
        }
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            out.push(c);
            if c == '&' {
                out.push('-');
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    out
}

/// Decodes a modified UTF-7 name; `None` when it is not valid modified UTF-7 (the caller
/// then takes the name as it is).
pub fn decode(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let dash = after.find('-')?;
        let chunk = &after[..dash];
        if chunk.is_empty() {
            out.push('&');
        } else {
            let bytes = MUTF7.decode(chunk).ok()?;
            if bytes.len() % 2 != 0 {
                return None;
            }
            let units: Vec<u16> = bytes
                .chunks(2)
                .map(|p| u16::from_be_bytes([p[0], p[1]]))
                .collect();
            out.push_str(&String::from_utf16(&units).ok()?);
        }
        rest = &after[dash + 1..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for (utf8, mutf7) in [
            ("INBOX", "INBOX"),
            ("Posta inviata", "Posta inviata"),
            ("Bozze & note", "Bozze &- note"),
            ("Città", "Citt&AOA-"),
            ("日本語", "&ZeVnLIqe-"),
            ("Emoji 📬", "Emoji &2D3c7A-"),
        ] {
            assert_eq!(encode(utf8), mutf7);
            assert_eq!(decode(mutf7).as_deref(), Some(utf8));
        }
        assert_eq!(decode("bad&AOA"), None);
    }
}
