//! The MIME tree of a stored message as byte ranges over its raw octets (RFC 2045, RFC 2046).
//!
//! IMAP hands out exact slices of the stored message (`BODY[1]`, `BODY[HEADER]`, sizes in
//! BODYSTRUCTURE), so the tree keeps offsets instead of decoded copies. Parsing is lenient
//! the way deployed servers are: a header block ends at the first blank line or at the first
//! line that cannot be a header field, a multipart whose boundary never appears is shown as
//! text, a missing close delimiter ends the last part at the end of its parent, and nesting
//! stops at [`MAX_DEPTH`] so hostile input cannot exhaust the stack.

use std::ops::Range;

use mail_parser::{parsers::MessageStream, HeaderValue};

/// Deeper nesting than this is shown as an opaque leaf; real mail never comes close.
const MAX_DEPTH: usize = 50;

/// One header field: `name` and `value` exclude the colon and the final line ending, `line`
/// is the whole field with continuation lines and its line ending, as HEADER.FIELDS returns it.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub name: Range<usize>,
    pub value: Range<usize>,
    pub line: Range<usize>,
}

/// A parsed Content-Type (or Content-Disposition, which shares its syntax).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContentType {
    /// Lowercased, for comparisons and for the wire (case is not significant, RFC 2045 §5.1).
    pub ty: String,
    pub subtype: String,
    /// Parameters after RFC 2231 continuation and charset decoding.
    pub params: Vec<(String, String)>,
}

impl ContentType {
    /// RFC 2045 §5.2: the type of a part without a Content-Type, or with an invalid one.
    fn text_plain() -> Self {
        ContentType {
            ty: "text".into(),
            subtype: "plain".into(),
            params: vec![("charset".into(), "us-ascii".into())],
        }
    }

    /// RFC 2046 §5.1.5: inside multipart/digest the default is message/rfc822.
    fn message_rfc822() -> Self {
        ContentType {
            ty: "message".into(),
            subtype: "rfc822".into(),
            params: Vec::new(),
        }
    }

    /// `None` when the value has no `type/subtype`, which RFC 2045 treats as absent.
    fn parse(value: &[u8]) -> Option<Self> {
        let parsed = parse_disposition(value)?;
        let subtype = parsed.subtype?;
        if subtype.is_empty() {
            return None;
        }
        Some(ContentType {
            ty: parsed.ty,
            subtype,
            params: parsed.params,
        })
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// A `token [/ token] *(; param)` header value such as Content-Disposition.
pub(crate) struct Disposition {
    pub ty: String,
    pub subtype: Option<String>,
    pub params: Vec<(String, String)>,
}

/// Parses a `type[/subtype]; params` header value with mail-parser, which handles quoting,
/// comments and RFC 2231 parameter continuations.
pub(crate) fn parse_disposition(value: &[u8]) -> Option<Disposition> {
    let input = terminated(value);
    let HeaderValue::ContentType(parsed) = MessageStream::new(&input).parse_content_type() else {
        return None;
    };
    let ty = parsed.c_type.trim().to_ascii_lowercase();
    if ty.is_empty() {
        return None;
    }
    Some(Disposition {
        ty,
        subtype: parsed
            .c_subtype
            .map(|subtype| subtype.trim().to_ascii_lowercase()),
        params: parsed
            .attributes
            .unwrap_or_default()
            .into_iter()
            .map(|attribute| (attribute.name.into_owned(), attribute.value.into_owned()))
            .collect(),
    })
}

/// mail-parser's field parsers stop at the line ending that closes a field.
pub(crate) fn terminated(value: &[u8]) -> Vec<u8> {
    let mut input = Vec::with_capacity(value.len() + 2);
    input.extend_from_slice(value);
    input.extend_from_slice(b"\r\n");
    input
}

#[derive(Debug)]
pub(crate) enum Kind {
    Leaf,
    /// Never empty: a multipart without parts is turned into a text leaf.
    Multipart(Vec<Part>),
    /// message/rfc822: the embedded message spans this part's whole body.
    Message(Box<Part>),
}

/// One MIME entity: a header block and a body, both as ranges of the raw message.
#[derive(Debug)]
pub(crate) struct Part {
    /// The header block including the blank line that ends it, when there is one.
    pub header: Range<usize>,
    pub body: Range<usize>,
    pub fields: Vec<Field>,
    pub content_type: ContentType,
    /// The Content-Transfer-Encoding token as written, if any.
    pub encoding: Option<String>,
    pub kind: Kind,
}

impl Part {
    pub fn values<'r>(&self, raw: &'r [u8], name: &str) -> Vec<&'r [u8]> {
        self.fields
            .iter()
            .filter(|field| slice(raw, &field.name).eq_ignore_ascii_case(name.as_bytes()))
            .map(|field| slice(raw, &field.value))
            .collect()
    }

    pub fn first_value<'r>(&self, raw: &'r [u8], name: &str) -> Option<&'r [u8]> {
        self.fields
            .iter()
            .find(|field| slice(raw, &field.name).eq_ignore_ascii_case(name.as_bytes()))
            .map(|field| slice(raw, &field.value))
    }

    /// The lowercased transfer encoding, `7bit` when absent (RFC 2045 §6.1).
    pub fn encoding_lowercase(&self) -> String {
        self.encoding
            .as_deref()
            .map_or_else(|| "7bit".to_owned(), str::to_ascii_lowercase)
    }
}

/// Never panics: every range stays inside `raw`, and out-of-range requests read as empty.
pub(crate) fn slice<'r>(raw: &'r [u8], range: &Range<usize>) -> &'r [u8] {
    raw.get(range.clone()).unwrap_or_default()
}

/// The top-level header fields of `raw`, exactly as [`parse_message`] finds them, and where
/// the header block ends (blank line included).
pub(crate) fn top_header(raw: &[u8]) -> (Vec<Field>, usize) {
    parse_header(raw, 0, raw.len())
}

pub(crate) fn parse_message(raw: &[u8]) -> Part {
    parse_part(raw, 0..raw.len(), ContentType::text_plain(), 0)
}

fn parse_part(raw: &[u8], range: Range<usize>, default: ContentType, depth: usize) -> Part {
    let (fields, header_end) = parse_header(raw, range.start, range.end);
    let header = range.start..header_end;
    let body = header_end..range.end;
    let first = |name: &str| {
        fields
            .iter()
            .find(|field| slice(raw, &field.name).eq_ignore_ascii_case(name.as_bytes()))
            .map(|field| slice(raw, &field.value))
    };
    let mut content_type = first("content-type")
        .and_then(ContentType::parse)
        .unwrap_or(default);
    let encoding = first("content-transfer-encoding").and_then(encoding_token);
    let opaque_encoding = encoding.as_deref().is_some_and(|e| {
        e.eq_ignore_ascii_case("base64") || e.eq_ignore_ascii_case("quoted-printable")
    });

    let kind = if depth >= MAX_DEPTH {
        Kind::Leaf
    } else if content_type.ty == "multipart" {
        let ranges = content_type
            .param("boundary")
            .filter(|boundary| !boundary.is_empty())
            .map(|boundary| split_multipart(raw, body.clone(), boundary.as_bytes()))
            .unwrap_or_default();
        if ranges.is_empty() {
            // A multipart with no parts has no BODYSTRUCTURE form; its text is what a reader
            // can still use, as RFC 2046 §5.1.3 suggests for unrecognised subtypes.
            content_type = ContentType::text_plain();
            Kind::Leaf
        } else {
            let digest = content_type.subtype == "digest";
            Kind::Multipart(
                ranges
                    .into_iter()
                    .map(|child| {
                        let default = if digest {
                            ContentType::message_rfc822()
                        } else {
                            ContentType::text_plain()
                        };
                        parse_part(raw, child, default, depth + 1)
                    })
                    .collect(),
            )
        }
    } else if content_type.ty == "message" && content_type.subtype == "rfc822" && !opaque_encoding {
        // An encoded message/rfc822 (forbidden by RFC 2046 §5.2.1 but seen) cannot be walked
        // without decoding, so it stays a leaf.
        Kind::Message(Box::new(parse_part(
            raw,
            body.clone(),
            ContentType::text_plain(),
            depth + 1,
        )))
    } else {
        Kind::Leaf
    };

    Part {
        header,
        body,
        fields,
        content_type,
        encoding,
        kind,
    }
}

/// The first token of a Content-Transfer-Encoding value, dropping comments and folding.
fn encoding_token(value: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(value);
    let token: String = text
        .trim_start()
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '(' && *c != ';')
        .collect();
    (!token.is_empty()).then_some(token)
}

/// The line starting at `pos`: where the next line starts, and where its content ends
/// (before CRLF or LF).
fn line_bounds(raw: &[u8], pos: usize, end: usize) -> (usize, usize) {
    match raw
        .get(pos..end)
        .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
    {
        Some(offset) => {
            let lf = pos + offset;
            let content_end = if lf > pos && raw[lf - 1] == b'\r' {
                lf - 1
            } else {
                lf
            };
            (lf + 1, content_end)
        }
        None => (end, end),
    }
}

/// Where the header block of a message ends (its blank line included) when the bytes `raw`,
/// the start of that message, show it: parsed over whole lines only, the block must end at a
/// blank line or at a line that cannot be a field. A block that runs to the last whole line
/// of `raw` may go on in the bytes after it: `None`.
pub(crate) fn header_block_end(raw: &[u8]) -> Option<usize> {
    let whole_lines = raw.iter().rposition(|&b| b == b'\n')? + 1;
    let (_, end) = parse_header(raw, 0, whole_lines);
    if end < whole_lines {
        return Some(end);
    }
    // Ended with the last whole line: complete only when that line is the blank one.
    let before = &raw[..end];
    let blank = before == b"\n"
        || before == b"\r\n"
        || before.ends_with(b"\n\n")
        || before.ends_with(b"\n\r\n");
    blank.then_some(end)
}

/// Splits a header block off `start..end`; returns its fields and where the body starts.
fn parse_header(raw: &[u8], start: usize, end: usize) -> (Vec<Field>, usize) {
    let mut fields: Vec<Field> = Vec::new();
    let mut pos = start;
    while pos < end {
        let (next, content_end) = line_bounds(raw, pos, end);
        let line = slice(raw, &(pos..content_end));
        let Some(&first) = line.first() else {
            // The blank line belongs to the header (RFC 3501 BODY[HEADER]).
            return (fields, next);
        };
        if first == b' ' || first == b'\t' {
            match fields.last_mut() {
                Some(last) => {
                    last.value.end = content_end;
                    last.line.end = next;
                    pos = next;
                    continue;
                }
                None => return (fields, pos),
            }
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return (fields, pos);
        };
        let name_len = line[..colon]
            .iter()
            .rposition(|&b| b != b' ' && b != b'\t')
            .map_or(0, |last| last + 1);
        let name = &line[..name_len];
        if name.is_empty() || !name.iter().all(|&b| (33..=126).contains(&b)) {
            return (fields, pos);
        }
        fields.push(Field {
            name: pos..pos + name_len,
            value: pos + colon + 1..content_end,
            line: pos..next,
        });
        pos = next;
    }
    (fields, end)
}

/// The body ranges of a multipart's parts (RFC 2046 §5.1.1): the line ending before a
/// delimiter belongs to the delimiter, the preamble and epilogue belong to no part.
fn split_multipart(raw: &[u8], body: Range<usize>, boundary: &[u8]) -> Vec<Range<usize>> {
    let mut parts = Vec::new();
    let mut open: Option<usize> = None;
    let mut pos = body.start;
    while pos < body.end {
        let (next, content_end) = line_bounds(raw, pos, body.end);
        let line = slice(raw, &(pos..content_end));
        if let Some(rest) = line
            .strip_prefix(b"--")
            .and_then(|rest| rest.strip_prefix(boundary))
        {
            let close = rest.starts_with(b"--");
            if close || rest.iter().all(|&b| b == b' ' || b == b'\t') {
                if let Some(start) = open.take() {
                    parts.push(start..delimiter_start(raw, start, pos));
                }
                if close {
                    return parts;
                }
                open = Some(next);
            }
        }
        pos = next;
    }
    if let Some(start) = open {
        parts.push(start..body.end);
    }
    parts
}

fn delimiter_start(raw: &[u8], start: usize, delimiter: usize) -> usize {
    let mut end = delimiter;
    if end > start && raw[end - 1] == b'\n' {
        end -= 1;
        if end > start && raw[end - 1] == b'\r' {
            end -= 1;
        }
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_ends_at_blank_line_which_it_includes() {
        let raw = b"A: 1\r\nB: 2\r\n folded\r\n\r\nbody";
        let part = parse_message(raw);
        assert_eq!(slice(raw, &part.header), b"A: 1\r\nB: 2\r\n folded\r\n\r\n");
        assert_eq!(slice(raw, &part.body), b"body");
        assert_eq!(part.values(raw, "b"), vec![&b" 2\r\n folded"[..]]);
    }

    #[test]
    fn line_without_colon_starts_the_body() {
        let raw = b"A: 1\nnot a header\nmore";
        let part = parse_message(raw);
        assert_eq!(slice(raw, &part.header), b"A: 1\n");
        assert_eq!(slice(raw, &part.body), b"not a header\nmore");
    }

    #[test]
    fn delimiters_own_their_preceding_line_ending() {
        let raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\npre\r\n--b\r\n\r\none\r\n--b \r\n\r\ntwo\r\n\r\n--b--\r\nepilogue";
        let part = parse_message(raw);
        let Kind::Multipart(children) = &part.kind else {
            panic!("expected multipart, got {:?}", part.kind);
        };
        let bodies: Vec<&[u8]> = children.iter().map(|c| slice(raw, &c.body)).collect();
        assert_eq!(bodies, vec![&b"one"[..], &b"two\r\n"[..]]);
    }

    #[test]
    fn boundary_prefix_of_longer_boundary_is_not_a_delimiter() {
        let raw = b"Content-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n--bb\ny\n--b--\n";
        let part = parse_message(raw);
        let Kind::Multipart(children) = &part.kind else {
            panic!("expected multipart");
        };
        assert_eq!(children.len(), 1);
        assert_eq!(slice(raw, &children[0].body), b"x\n--bb\ny");
    }

    #[test]
    fn nesting_is_bounded() {
        let mut raw = Vec::new();
        for _ in 0..200 {
            raw.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
        }
        raw.extend_from_slice(b"Subject: deep\r\n\r\nbody");
        let mut part = parse_message(&raw);
        let mut depth = 0;
        while let Kind::Message(inner) = part.kind {
            part = *inner;
            depth += 1;
        }
        assert_eq!(depth, MAX_DEPTH);
    }
}
