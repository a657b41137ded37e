//! The original as carried by a ricevuta breve (PEC.md §4.5): every named part and every
//! attached message replaced by a `.hash` text part holding its SHA-1.

use mail_parser::{MimeHeaders, PartType};
use openssl::sha::sha1;

/// The hash-substituted form of `original` (PEC.md §4.5):
/// - the MIME structure is kept; a part with a `name` (Content-Type) or `filename`
///   (Content-Disposition) parameter, or an attached message/rfc822, becomes a text/plain
///   part named `<name>.hash` whose content is the SHA-1 of the part's body as transmitted
///   (its encoded form: docs/pec-decisions.md, §12 item 4), 40 lower-case hex digits;
/// - inside an S/MIME multipart/signed only the first part is substituted, the signature
///   is left alone;
/// - an opaque `application/pkcs7-mime` message is returned intact (the breve receipt then
///   equals a completa one).
///
/// Input mail-parser cannot read, or nested deeper than [`crate::mime::MAX_MIME_DEPTH`]
/// (its parse tree of attached messages is dropped recursively), is returned unchanged.
pub fn substitute(original: &[u8]) -> Vec<u8> {
    if crate::mime::nested_deeper_than(original, crate::mime::MAX_MIME_DEPTH) {
        return original.to_vec();
    }
    let Some(msg) = crate::mime::parse_full(original) else {
        return original.to_vec();
    };
    let mut replace: Vec<(usize, usize, usize, String)> = Vec::new();
    walk(&msg, &mut replace);
    replace.sort_by_key(|r| r.0);
    let mut out = Vec::with_capacity(original.len());
    let mut pos = 0;
    for (start, body, end, name) in replace {
        if start < pos || end > original.len() || body > end {
            continue;
        }
        out.extend_from_slice(&original[pos..start]);
        let digest: String = sha1(&original[body..end])
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let name = name.replace(['"', '\\', '\r', '\n'], "_");
        out.extend_from_slice(
            format!(
                "Content-Type: text/plain; charset=\"us-ascii\"; name=\"{name}.hash\"\r\n\
                 Content-Transfer-Encoding: 7bit\r\n\
                 Content-Disposition: attachment; filename=\"{name}.hash\"\r\n\r\n{digest}"
            )
            .as_bytes(),
        );
        pos = end;
    }
    out.extend_from_slice(&original[pos..]);
    out
}

/// The parts to replace, in the order of the MIME tree. The tree is walked with an explicit
/// stack: a hostile original may nest multiparts tens of thousands deep, and recursion over
/// it would overflow the thread's stack and abort the whole process.
fn walk(msg: &mail_parser::Message<'_>, out: &mut Vec<(usize, usize, usize, String)>) {
    let mut stack: Vec<usize> = vec![0];
    // mail-parser's part list of a malformed message can name a part as its own descendant
    // (found by the breve fuzz target): each part is walked once, so the walk ends.
    let mut seen = vec![false; msg.parts.len()];
    while let Some(id) = stack.pop() {
        let Some(part) = msg.parts.get(id) else {
            continue;
        };
        if std::mem::replace(&mut seen[id], true) {
            continue;
        }
        let (ctype, subtype) = part
            .content_type()
            .map(|c| {
                (
                    c.ctype().to_ascii_lowercase(),
                    c.subtype().unwrap_or_default().to_ascii_lowercase(),
                )
            })
            .unwrap_or_else(|| ("text".into(), "plain".into()));
        if id == 0 && ctype == "application" && subtype.ends_with("pkcs7-mime") {
            continue;
        }
        if let PartType::Multipart(children) = &part.body {
            let visit = if subtype == "signed" {
                &children[..children.len().min(1)]
            } else {
                &children[..]
            };
            // Reversed, so that the first child is taken next.
            stack.extend(visit.iter().rev().map(|&c| c as usize));
            continue;
        }
        if id == 0 {
            continue;
        }
        let name = part
            .content_type()
            .and_then(|c| c.attribute("name"))
            .or_else(|| {
                part.content_disposition()
                    .and_then(|d| d.attribute("filename"))
            })
            .map(str::to_string);
        let attached_message = ctype == "message" && subtype == "rfc822";
        if name.is_some() || attached_message {
            out.push((
                part.offset_header as usize,
                part.offset_body as usize,
                part.offset_end as usize,
                name.unwrap_or_else(|| "messaggio.eml".into()),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIXED: &[u8] = b"From: a@pec.localhost\r\nTo: b@pec.localhost\r\nSubject: x\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n\
--XX\r\nContent-Type: text/plain\r\n\r\nhello\r\n\
--XX\r\nContent-Type: application/pdf; name=\"offerta.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n\
--XX\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n\
--XX--\r\n";

    fn hex(data: &[u8]) -> String {
        sha1(data).iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn named_parts_and_messages_become_hash_files() {
        let out = String::from_utf8(substitute(MIXED)).unwrap();
        assert!(out.contains("--XX\r\nContent-Type: text/plain\r\n\r\nhello\r\n"));
        assert!(out.contains("filename=\"offerta.pdf.hash\""));
        assert!(out.contains(&format!("\r\n\r\n{}\r\n--XX", hex(b"JVBERi0xLjQK"))));
        assert!(out.contains("filename=\"messaggio.eml.hash\""));
        assert!(!out.contains("inner body"));
        assert!(!out.contains("JVBERi0xLjQK"));
        assert!(out.ends_with("--XX--\r\n"));
        // Still a valid MIME message with three parts.
        let parsed = crate::mime::parse_full(out.as_bytes()).unwrap();
        assert_eq!(parsed.attachments().count(), 2);
    }

    fn nested(levels: usize) -> Vec<u8> {
        let mut m =
            String::from("Subject: x\r\nContent-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n");
        for i in 1..levels {
            m.push_str(&format!(
                "--b{}\r\nContent-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n",
                i - 1
            ));
        }
        m.push_str(&format!(
            "--b{0}\r\nContent-Type: text/plain; name=\"fondo.txt\"\r\n\r\nfondo\r\n--b{0}--\r\n",
            levels - 1
        ));
        for i in (0..levels - 1).rev() {
            m.push_str(&format!("--b{i}--\r\n"));
        }
        m.into_bytes()
    }

    /// Runs `f` on a thread with a small stack, as a blocking tokio thread has.
    fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(f)
            .unwrap()
            .join()
            .expect("no stack overflow")
    }

    /// The reproduced crash: a submission nesting multipart/mixed 20,000 deep with a breve
    /// receipt asked for overflowed the stack in a recursive walk and aborted the process.
    #[test]
    fn nesting_twenty_thousand_deep_does_not_overflow_the_stack() {
        let deep = nested(20_000);
        let copy = deep.clone();
        assert_eq!(on_small_stack(move || substitute(&copy)), deep);
        // At the deepest nesting allowed the walk, iterative, still substitutes.
        let allowed = nested(crate::mime::MAX_MIME_DEPTH);
        let out = on_small_stack(move || substitute(&allowed));
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.contains("fondo.txt.hash"),
            "{}",
            &out[out.len() - 3000..]
        );
        assert!(!out.contains("\r\n\r\nfondo\r\n"));
    }

    /// Found by the breve fuzz target: a malformed multipart whose part list loops made the
    /// walk run for ever (a 744-byte message, 27 s and counting).
    #[test]
    fn a_part_list_that_loops_ends_the_walk() {
        let input = include_bytes!("../tests/fixtures/breve-looping-parts.eml");
        let started = std::time::Instant::now();
        let _ = substitute(input);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn signed_originals_keep_their_signature_and_opaque_ones_stay_whole() {
        let signed = b"Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=S\r\n\r\n\
--S\r\nContent-Type: multipart/mixed; boundary=M\r\n\r\n--M\r\nContent-Type: text/plain\r\n\r\nt\r\n\
--M\r\nContent-Type: text/plain; name=\"a.txt\"\r\n\r\nsecret\r\n--M--\r\n\
--S\r\nContent-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\n\r\nAAAA\r\n--S--\r\n";
        let out = String::from_utf8(substitute(signed)).unwrap();
        assert!(out.contains("a.txt.hash"));
        assert!(!out.contains("smime.p7s.hash"));
        assert!(out.contains("name=\"smime.p7s\"\r\n\r\nAAAA"));
        let opaque = b"Content-Type: application/pkcs7-mime; name=\"smime.p7m\"\r\n\r\nAAAA\r\n";
        assert_eq!(substitute(opaque), opaque.to_vec());
        // Plain single-part messages are left as they are.
        let plain = b"Subject: x\r\n\r\nbody\r\n";
        assert_eq!(substitute(plain), plain.to_vec());
    }
}
