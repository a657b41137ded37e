//! BODY[section] addressing (RFC 3501 §6.4.5): part numbers and the HEADER, HEADER.FIELDS,
//! HEADER.FIELDS.NOT, TEXT and MIME specifiers.

use std::{borrow::Cow, num::NonZeroU32};

use imap_codec::imap_types::{
    core::AString,
    fetch::{Part as PartPath, Section},
};

use crate::mime::{slice, Kind, Part};

pub(crate) fn section<'a>(
    raw: &'a [u8],
    root: &Part,
    section: &Section<'_>,
) -> Option<Cow<'a, [u8]>> {
    let borrowed = |range| Some(Cow::Borrowed(slice(raw, range)));
    match section {
        Section::Part(path) => borrowed(&resolve(root, path)?.body),
        Section::Mime(path) => borrowed(&resolve(root, path)?.header),
        Section::Header(path) => borrowed(&message(root, path.as_ref())?.header),
        Section::Text(path) => borrowed(&message(root, path.as_ref())?.body),
        Section::HeaderFields(path, names) => Some(Cow::Owned(header_fields(
            raw,
            message(root, path.as_ref())?,
            names.as_ref(),
            true,
        ))),
        Section::HeaderFieldsNot(path, names) => Some(Cow::Owned(header_fields(
            raw,
            message(root, path.as_ref())?,
            names.as_ref(),
            false,
        ))),
    }
}

/// The numbered children of a message: the parts of a multipart body, or the body itself as
/// part 1 of a non-multipart message.
fn message_parts(message: &Part) -> &[Part] {
    match &message.kind {
        Kind::Multipart(children) => children,
        _ => std::slice::from_ref(message),
    }
}

/// Multipart parts number their children; a message/rfc822 part numbers the parts of the
/// message it embeds; other parts have no sub-parts.
fn sub_parts(part: &Part) -> &[Part] {
    match &part.kind {
        Kind::Multipart(children) => children,
        Kind::Message(inner) => message_parts(inner),
        Kind::Leaf => &[],
    }
}

fn resolve<'p>(root: &'p Part, path: &PartPath) -> Option<&'p Part> {
    let mut candidates = message_parts(root);
    let mut found = None;
    for number in path.0.as_ref() {
        let part = candidates.get(index(*number))?;
        candidates = sub_parts(part);
        found = Some(part);
    }
    found
}

fn index(number: NonZeroU32) -> usize {
    usize::try_from(number.get() - 1).unwrap_or(usize::MAX)
}

/// The message HEADER, TEXT and HEADER.FIELDS refer to: the top-level one, or the message
/// embedded in a message/rfc822 part. Any other part has no such message.
fn message<'p>(root: &'p Part, path: Option<&PartPath>) -> Option<&'p Part> {
    let Some(path) = path else {
        return Some(root);
    };
    match &resolve(root, path)?.kind {
        Kind::Message(inner) => Some(inner),
        _ => None,
    }
}

/// The selected fields in message order, each with its continuation lines, then the blank
/// line that closes a header (RFC 3501 §6.4.5).
fn header_fields(raw: &[u8], message: &Part, names: &[AString<'_>], include: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for field in &message.fields {
        let name = slice(raw, &field.name);
        let listed = names
            .iter()
            .any(|wanted| wanted.as_ref().eq_ignore_ascii_case(name));
        if listed != include {
            continue;
        }
        let line = slice(raw, &field.line);
        out.extend_from_slice(line);
        if !line.ends_with(b"\n") {
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}
