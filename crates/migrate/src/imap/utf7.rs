//! Mailbox names in modified UTF-7 (RFC 3501 §5.1.3) to UTF-8: printable ASCII stands for
//! itself, `&-` is `&`, and `&...-` holds UTF-16 in base64 with `,` for `/`. Servers that
//! speak UTF8=ACCEPT may send UTF-8 directly; bytes that are not valid modified UTF-7 but
//! are valid UTF-8 are taken as they are.

/// The UTF-8 form of a mailbox name as a server sent it; `None` when it is neither valid
/// modified UTF-7 nor UTF-8.
pub fn decode(name: &[u8]) -> Option<String> {
    decode_utf7(name).or_else(|| String::from_utf8(name.to_vec()).ok())
}

fn decode_utf7(name: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut i = 0;
    while i < name.len() {
        let b = name[i];
        if b != b'&' {
            if !(0x20..0x7f).contains(&b) {
                return None;
            }
            out.push(b as char);
            i += 1;
            continue;
        }
        let end = i + 1 + name[i + 1..].iter().position(|&c| c == b'-')?;
        let run = &name[i + 1..end];
        if run.is_empty() {
            out.push('&');
        } else {
            out.push_str(&utf16_run(run)?);
        }
        i = end + 1;
    }
    Some(out)
}

/// One base64 run: UTF-16BE code units, surrogate pairs joined; stray bits must be zero.
fn utf16_run(run: &[u8]) -> Option<String> {
    let mut units = Vec::with_capacity(run.len() * 6 / 16);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in run {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b',' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 16 {
            bits -= 16;
            units.push((acc >> bits) as u16);
            acc &= (1 << bits) - 1;
        }
    }
    if acc != 0 {
        return None;
    }
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn rfc3501_examples_and_italian_names() {
        assert_eq!(decode(b"INBOX").as_deref(), Some("INBOX"));
        assert_eq!(decode(b"Perch&AOk-").as_deref(), Some("Perché"));
        assert_eq!(decode(b"A&-B").as_deref(), Some("A&B"));
        assert_eq!(
            decode(b"~peter/mail/&U,BTFw-/&ZeVnLIqe-").as_deref(),
            Some("~peter/mail/台北/日本語")
        );
        assert_eq!(decode(b"&2D3eAA-").as_deref(), Some("😀"));
    }

    #[test]
    fn utf8_names_pass_and_garbage_is_refused() {
        assert_eq!(decode("Città".as_bytes()).as_deref(), Some("Città"));
        assert_eq!(decode(b"&AOk"), Some("&AOk".to_string()));
        assert_eq!(decode(b"\xff\xfe"), None);
    }
}
