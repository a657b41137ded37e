//! Small MIME tools the builders need with exact control over bytes: canonical CRLF, raw
//! header fields, quoted-printable ISO-8859-1, base64 lines, RFC 2047 subjects.

use base64::Engine as _;

/// The bytes with every bare LF turned into CRLF (the canonical form S/MIME signs, PEC.md
/// §9.1). Already canonical input is returned unchanged.
pub fn canonical_crlf(bytes: &[u8]) -> Vec<u8> {
    crlf(bytes).into_owned()
}

/// [`canonical_crlf`] without a copy when the bytes have no bare LF (the usual case: what
/// pecd builds and what SMTP carried is CRLF already).
pub fn crlf(bytes: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let bare_lf = |&i: &usize| i == 0 || bytes[i - 1] != b'\r';
    let bare = memchr::memchr_iter(b'\n', bytes).filter(bare_lf).count();
    if bare == 0 {
        return std::borrow::Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len() + bare);
    let mut pos = 0;
    for i in memchr::memchr_iter(b'\n', bytes).filter(bare_lf) {
        out.extend_from_slice(&bytes[pos..i]);
        out.extend_from_slice(b"\r\n");
        pos = i + 1;
    }
    out.extend_from_slice(&bytes[pos..]);
    std::borrow::Cow::Owned(out)
}

/// The bytes with every line ending CRLF: a bare LF or a bare CR becomes CRLF. SMTP cannot
/// carry a bare CR (RFC 5321 §2.3.8): the relay would turn it into CRLF on the way out, so a
/// submission is made canonical once, before anything is signed, and the bytes we sign are
/// the bytes we send. Already canonical input is returned unchanged.
pub fn canonical_line_ends(bytes: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let canonical = memchr::memchr2_iter(b'\r', b'\n', bytes).all(|i| match bytes[i] {
        b'\r' => bytes.get(i + 1) == Some(&b'\n'),
        _ => i > 0 && bytes[i - 1] == b'\r',
    });
    if canonical {
        return std::borrow::Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 64 + 2);
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\r' | b'\n' => {
                if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                out.extend_from_slice(b"\r\n");
            }
            b => out.push(b),
        }
        i += 1;
    }
    std::borrow::Cow::Owned(out)
}

/// How deep MIME containers may nest in a message pecd takes in (multipart and
/// message/rfc822 levels together), as Postfix's `mime_nesting_limit`. Real mail stays
/// under ten; the PEC kinds add three around an original.
pub const MAX_MIME_DEPTH: usize = 100;

/// Whether the MIME containers of `msg` nest deeper than `limit`. A structural scan, in
/// one pass with an explicit stack (no recursion, no parse tree), so that a message nested
/// tens of thousands deep is refused early with a clear reply. It reads the header as
/// mail-parser does where that matters (the last Content-Type field counts, parts of a
/// multipart/digest are messages by default) and errs towards depth; what parses the
/// message afterwards must still be safe on its own ([`parse_full`]).
pub fn nested_deeper_than(msg: &[u8], limit: usize) -> bool {
    // The open containers: a multipart's delimiter ("--" + boundary, case kept) and whether
    // it is a digest, or None for a message/rfc822 body, which ends with its enclosing
    // multipart's part.
    let mut open: Vec<Option<(Vec<u8>, bool)>> = Vec::new();
    let mut pos = 0;
    let mut in_header = true;
    while pos < msg.len() {
        if in_header {
            let head = &msg[pos..];
            let body = pos + body_offset(head);
            let ct = fields(head)
                .into_iter()
                .rfind(|f| f.name.eq_ignore_ascii_case("Content-Type"))
                .map(|f| f.value());
            let in_digest = open.last().is_some_and(|o| o.as_ref().is_some_and(|d| d.1));
            let media = match &ct {
                Some(v) => without_leading_comments(v)
                    .split(|c: char| c == ';' || c == '(' || c.is_whitespace())
                    .next()
                    .unwrap_or("")
                    .to_ascii_lowercase(),
                None if in_digest => "message/rfc822".to_string(),
                None => String::new(),
            };
            if media.starts_with("multipart/") {
                if let Some(b) = ct
                    .as_deref()
                    .and_then(|v| parameter(v, "boundary"))
                    .filter(|b| !b.is_empty())
                {
                    let digest = media == "multipart/digest";
                    open.push(Some(([b"--".as_slice(), b.as_bytes()].concat(), digest)));
                }
            } else if media.starts_with("message/") {
                open.push(None);
                if open.len() > limit {
                    return true;
                }
                // The body is the inner message: its header comes next.
                pos = body;
                continue;
            }
            if open.len() > limit {
                return true;
            }
            pos = body;
            in_header = false;
            continue;
        }
        let end = memchr::memchr(b'\n', &msg[pos..]).map_or(msg.len(), |p| pos + p + 1);
        let line = &msg[pos..end];
        pos = end;
        if !line.starts_with(b"--") {
            continue;
        }
        // The innermost open multipart this line delimits; an outer delimiter closes
        // every container inside it.
        let hit = open.iter().rposition(|o| {
            o.as_ref().is_some_and(|(d, _)| {
                line.starts_with(d)
                    && line[d.len()..]
                        .iter()
                        .all(|&b| matches!(b, b'-' | b' ' | b'\t' | b'\r' | b'\n'))
            })
        });
        if let Some(k) = hit {
            let delimiter_len = open[k].as_ref().map_or(0, |(d, _)| d.len());
            let closing = line[delimiter_len..].starts_with(b"--");
            open.truncate(if closing { k } else { k + 1 });
            in_header = !closing;
        }
    }
    false
}

/// `value` without the RFC 5322 comments in front of it: `(x) message/rfc822` names
/// message/rfc822.
fn without_leading_comments(value: &str) -> &str {
    let mut v = value.trim_start();
    while let Some(inner) = v.strip_prefix('(') {
        let mut depth = 1usize;
        let mut end = inner.len();
        for (i, c) in inner.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                end = i + 1;
                break;
            }
        }
        v = inner[end..].trim_start();
    }
    v
}

/// A message as mail-parser reads it, whole. mail-parser keeps an attached message inside
/// its part as a `Message` of its own, so a hostile message nesting attached messages tens of
/// thousands deep is a tree whose recursive drop would overflow the stack and abort the
/// process: this one is taken apart with an explicit stack when dropped. Every full parse of
/// untrusted mail goes through [`parse_full`].
pub struct Parsed<'x>(mail_parser::Message<'x>);

/// Parses `bytes` with mail-parser into a [`Parsed`]; `None` when it reads nothing.
pub fn parse_full(bytes: &[u8]) -> Option<Parsed<'_>> {
    mail_parser::MessageParser::new().parse(bytes).map(Parsed)
}

impl<'x> std::ops::Deref for Parsed<'x> {
    type Target = mail_parser::Message<'x>;

    fn deref(&self) -> &mail_parser::Message<'x> {
        &self.0
    }
}

impl Drop for Parsed<'_> {
    fn drop(&mut self) {
        let mut pending = vec![std::mem::take(&mut self.0)];
        while let Some(mut message) = pending.pop() {
            for part in &mut message.parts {
                if let mail_parser::PartType::Message(inner) = &mut part.body {
                    pending.push(std::mem::take(inner));
                }
            }
        }
    }
}

/// Where the header block ends: the offset of the body (after the empty line), or the
/// length when there is no body.
pub fn body_offset(msg: &[u8]) -> usize {
    split(msg).1
}

/// Where the header fields end: the offset of the empty line, or the length when there is
/// none.
pub fn header_end(msg: &[u8]) -> usize {
    split(msg).0
}

fn split(msg: &[u8]) -> (usize, usize) {
    let mut i = 0;
    while i < msg.len() {
        let line_end = memchr::memchr(b'\n', &msg[i..]).map_or(msg.len(), |p| i + p + 1);
        let line = &msg[i..line_end];
        if line == b"\r\n" || line == b"\n" {
            return (i, line_end);
        }
        i = line_end;
    }
    (msg.len(), msg.len())
}

/// One header field as it appears, continuation lines and line end included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    pub name: &'a str,
    pub raw: &'a [u8],
    /// Offset of the field in the message.
    pub start: usize,
}

impl Field<'_> {
    /// The unfolded value, trimmed, lossily decoded.
    pub fn value(&self) -> String {
        let text = String::from_utf8_lossy(self.raw);
        let v = text.split_once(':').map_or("", |(_, v)| v);
        v.replace("\r\n", "").replace('\n', "").trim().to_string()
    }
}

/// The header fields of `msg`, in order. Lines that are not fields (no colon) are skipped.
pub fn fields(msg: &[u8]) -> Vec<Field<'_>> {
    let end = body_offset(msg);
    let head = &msg[..end];
    let mut out = Vec::new();
    let mut i = 0;
    while i < head.len() {
        let mut j = memchr::memchr(b'\n', &head[i..]).map_or(head.len(), |p| i + p + 1);
        while j < head.len() && (head[j] == b' ' || head[j] == b'\t') {
            j = memchr::memchr(b'\n', &head[j..]).map_or(head.len(), |p| j + p + 1);
        }
        let raw = &head[i..j];
        if let Some(colon) = raw.iter().position(|&b| b == b':') {
            if let Ok(name) = std::str::from_utf8(&raw[..colon]) {
                let name = name.trim();
                if !name.is_empty() && !name.contains(' ') {
                    out.push(Field {
                        name,
                        raw,
                        start: i,
                    });
                }
            }
        }
        i = j;
    }
    out
}

/// The first field named `name` (case-insensitive), unfolded.
pub fn header(msg: &[u8], name: &str) -> Option<String> {
    fields(msg)
        .into_iter()
        .find(|f| f.name.eq_ignore_ascii_case(name))
        .map(|f| f.value())
}

/// Quoted-printable (RFC 2045 §6.7) of `text` in ISO-8859-1, CRLF line ends; characters
/// outside Latin-1 become `?`.
pub fn qp_latin1(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    for (n, line) in text.split('\n').enumerate() {
        if n > 0 {
            out.push_str("\r\n");
        }
        let line = line.strip_suffix('\r').unwrap_or(line);
        let bytes: Vec<u8> = line
            .chars()
            .map(|c| {
                if (c as u32) < 256 {
                    c as u32 as u8
                } else {
                    b'?'
                }
            })
            .collect();
        let mut col = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let last = i + 1 == bytes.len();
            let literal =
                (b == b' ' || b == b'\t') && !last || (33..=126).contains(&b) && b != b'=';
            let piece = if literal {
                (b as char).to_string()
            } else {
                format!("={b:02X}")
            };
            if col + piece.len() > 75 {
                out.push_str("=\r\n");
                col = 0;
            }
            out.push_str(&piece);
            col += piece.len();
        }
    }
    out
}

/// Base64 in lines of 76 characters, each ended by CRLF.
pub fn base64_lines(bytes: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = String::with_capacity(b64.len() + b64.len() / 76 * 2 + 2);
    for chunk in b64.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push_str("\r\n");
    }
    out
}

/// A header value for unstructured text: as it is when printable ASCII, otherwise RFC 2047
/// UTF-8 encoded words folded on separate lines (PEC.md §12 item 10).
pub fn header_text(text: &str) -> String {
    let text: String = text.chars().filter(|c| !c.is_control()).collect();
    if text.bytes().all(|b| (32..127).contains(&b)) && !text.contains("=?") {
        return text;
    }
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(chunk);
    }
    words
        .iter()
        .map(|w| {
            format!(
                "=?UTF-8?B?{}?=",
                base64::engine::general_purpose::STANDARD.encode(w.as_bytes())
            )
        })
        .collect::<Vec<_>>()
        .join("\r\n ")
}

/// A boundary that does not occur in `inside`.
pub fn boundary(tag: &str, inside: &[u8]) -> String {
    loop {
        let b = format!("----=_{tag}_{}", uuid::Uuid::new_v4().simple());
        if !contains(inside, b.as_bytes()) {
            return b;
        }
    }
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > haystack.len() {
        return None;
    }
    memchr::memmem::find(haystack, needle)
}

/// The value of parameter `name` in a structured header value such as Content-Type.
pub fn parameter(value: &str, name: &str) -> Option<String> {
    for piece in value.split(';').skip(1) {
        let Some((k, v)) = piece.split_once('=') else {
            continue;
        };
        if k.trim().eq_ignore_ascii_case(name) {
            return Some(v.trim().trim_matches('"').to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_cr_and_bare_lf_both_become_crlf() {
        let made = |b: &[u8]| canonical_line_ends(b).into_owned();
        assert_eq!(made(b"a\rb\nc\r\nd\r"), b"a\r\nb\r\nc\r\nd\r\n");
        assert_eq!(made(b"\r\r\n\n"), b"\r\n\r\n\r\n");
        assert_eq!(made(b""), b"");
        assert!(matches!(
            canonical_line_ends(b"a\r\nb"),
            std::borrow::Cow::Borrowed(b"a\r\nb")
        ));
    }

    #[test]
    fn nesting_is_measured_without_recursion() {
        let mut deep = String::new();
        for i in 0..20_000 {
            deep.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"
            ));
        }
        assert!(nested_deeper_than(deep.as_bytes(), MAX_MIME_DEPTH));
        let messages = "Content-Type: message/rfc822\r\n\r\n".repeat(20_000);
        assert!(nested_deeper_than(messages.as_bytes(), MAX_MIME_DEPTH));
        // Siblings are not depth: 10,000 parts and 10,000 attached messages in one list.
        let mut flat = String::from("Content-Type: multipart/mixed; boundary=p\r\n\r\n");
        for i in 0..10_000 {
            flat.push_str(&format!(
                "--p\r\nContent-Type: message/rfc822\r\n\r\nSubject: {i}\r\n\r\nx\r\n"
            ));
        }
        flat.push_str("--p--\r\n");
        assert!(!nested_deeper_than(flat.as_bytes(), 3));
        // Three levels: mixed > rfc822 > alternative.
        let three = "Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n\
            Content-Type: message/rfc822\r\n\r\n\
            Content-Type: multipart/alternative; boundary=c\r\n\r\n--c\r\n\r\nt\r\n--c--\r\n\
            --a\r\nContent-Type: text/plain\r\n\r\nx\r\n--a--\r\n";
        assert!(nested_deeper_than(three.as_bytes(), 2));
        assert!(!nested_deeper_than(three.as_bytes(), 3));
        assert!(!nested_deeper_than(b"Subject: x\r\n\r\nbody\r\n", 0));
    }

    /// What the review found the first scan missed: the last of repeated Content-Type
    /// fields is the one mail-parser uses, boundaries keep their case, digest parts are
    /// messages by default, and a comment may follow the media type.
    #[test]
    fn nesting_scan_reads_the_header_as_mail_parser_does() {
        let repeated =
            "Content-Type: text/plain\r\nContent-Type: message/rfc822\r\n\r\n".repeat(200);
        assert!(nested_deeper_than(repeated.as_bytes(), MAX_MIME_DEPTH));
        let mut upper = String::new();
        for i in 0..200 {
            upper.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=\"B{i}\"\r\n\r\n--B{i}\r\n"
            ));
        }
        assert!(nested_deeper_than(upper.as_bytes(), MAX_MIME_DEPTH));
        let mut digest = String::new();
        for i in 0..200 {
            digest.push_str(&format!(
                "Content-Type: multipart/digest; boundary=d{i}\r\n\r\n--d{i}\r\n\r\n"
            ));
        }
        assert!(nested_deeper_than(digest.as_bytes(), MAX_MIME_DEPTH));
        let commented = "Content-Type: message/rfc822 (allegato)\r\n\r\n".repeat(200);
        assert!(nested_deeper_than(commented.as_bytes(), MAX_MIME_DEPTH));
        let leading = "Content-Type: (a (b)) message/rfc822\r\n\r\n".repeat(200);
        assert!(nested_deeper_than(leading.as_bytes(), MAX_MIME_DEPTH));
        assert_eq!(without_leading_comments("(x"), "");
    }

    /// Whatever the scan misses, a full parse of attached messages nested 30,000 deep is
    /// dropped without recursion.
    #[test]
    fn a_full_parse_nested_thirty_thousand_deep_drops_on_a_small_stack() {
        let deep = "Content-Type: text/plain\r\nContent-Type: message/rfc822\r\n\r\n"
            .repeat(30_000)
            + "Subject: fondo\r\n\r\nfondo\r\n";
        let parts = std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || parse_full(deep.as_bytes()).map(|m| m.parts.len()))
            .unwrap()
            .join()
            .expect("no stack overflow");
        assert!(parts.is_some());
    }

    #[test]
    fn crlf_is_made_canonical_once() {
        assert_eq!(canonical_crlf(b"a\nb\r\nc\n"), b"a\r\nb\r\nc\r\n");
        assert_eq!(canonical_crlf(b"a\r\nb"), b"a\r\nb");
        assert_eq!(canonical_crlf(b"\n"), b"\r\n");
    }

    #[test]
    fn fields_keep_folding_and_order() {
        let m =
            b"Received: from a\r\n\tby b\r\nSubject: Hi\r\nX-Odd\r\nTo: x@y\r\n\r\nbody: no\r\n";
        let f = fields(m);
        assert_eq!(
            f.iter().map(|f| f.name).collect::<Vec<_>>(),
            ["Received", "Subject", "To"]
        );
        assert_eq!(f[0].raw, b"Received: from a\r\n\tby b\r\n");
        assert_eq!(f[0].value(), "from a\tby b");
        assert_eq!(header(m, "subject").as_deref(), Some("Hi"));
        assert_eq!(header(m, "body"), None);
        assert_eq!(body_offset(m), m.len() - 10);
        assert_eq!(body_offset(b"Subject: x\r\n"), 12);
    }

    #[test]
    fn quoted_printable_latin1() {
        let qp = qp_latin1("è stato accettato\nriga ");
        assert_eq!(qp, "=E8 stato accettato\r\nriga=20");
        let long = qp_latin1(&"x".repeat(200));
        assert!(long.split("\r\n").all(|l| l.len() <= 76));
        assert_eq!(long.replace("=\r\n", ""), "x".repeat(200));
    }

    #[test]
    fn subjects_are_encoded_only_when_needed() {
        assert_eq!(
            header_text("ACCETTAZIONE: Offerta"),
            "ACCETTAZIONE: Offerta"
        );
        let enc = header_text("CONSEGNA: perché sì");
        assert!(enc.starts_with("=?UTF-8?B?"));
        let raw = format!("Subject: {enc}\r\n\r\n");
        let decoded = mail_parser::MessageParser::new()
            .parse(raw.as_bytes())
            .unwrap();
        assert_eq!(decoded.subject(), Some("CONSEGNA: perché sì"));
        assert_eq!(header_text("a\r\nBcc: x"), "aBcc: x");
    }

    #[test]
    fn parameters() {
        let ct = "multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; Boundary=\"abc\"";
        assert_eq!(parameter(ct, "boundary").as_deref(), Some("abc"));
        assert_eq!(parameter(ct, "micalg").as_deref(), Some("sha-256"));
        assert_eq!(parameter(ct, "name"), None);
    }
}
