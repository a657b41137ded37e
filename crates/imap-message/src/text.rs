//! Decoded text of a message for SEARCH: header values after RFC 2047, and text parts after
//! transfer encoding and charset decoding (RFC 3501 §6.4.4 compares "text", not octets).

use mail_parser::decoders::{
    base64::base64_decode, charsets::map::charset_decoder, html::html_to_text,
    quoted_printable::quoted_printable_decode,
};

use crate::{
    mime::{slice, Kind, Part},
    strings::decode_text,
};

/// `name: value` lines of every field, decoded, one per line.
pub(crate) fn decoded_header_lines(raw: &[u8], part: &Part, out: &mut String) {
    for field in &part.fields {
        out.push_str(&String::from_utf8_lossy(slice(raw, &field.name)));
        out.push_str(": ");
        out.push_str(&decode_text(slice(raw, &field.value)));
        out.push('\n');
    }
}

/// Text parts in order; the headers of embedded messages count as body text of the
/// message that carries them.
pub(crate) fn body_text(raw: &[u8], part: &Part, out: &mut String) {
    match &part.kind {
        Kind::Multipart(children) => {
            for child in children {
                body_text(raw, child, out);
            }
        }
        Kind::Message(inner) => {
            decoded_header_lines(raw, inner, out);
            body_text(raw, inner, out);
        }
        Kind::Leaf if part.content_type.ty == "text" => {
            let text = decode_part(raw, part);
            if part.content_type.subtype == "html" {
                out.push_str(&html_to_text(&text));
            } else {
                out.push_str(&text);
            }
            out.push('\n');
        }
        Kind::Leaf => {}
    }
}

fn decode_part(raw: &[u8], part: &Part) -> String {
    let body = slice(raw, &part.body);
    let octets = match part.encoding_lowercase().as_str() {
        "base64" => base64_decode(body),
        "quoted-printable" => quoted_printable_decode(body),
        _ => None,
    };
    let octets = octets.as_deref().unwrap_or(body);
    match part
        .content_type
        .param("charset")
        .and_then(|charset| charset_decoder(charset.trim().as_bytes()))
    {
        Some(decoder) => decoder(octets),
        None => String::from_utf8_lossy(octets).into_owned(),
    }
}
