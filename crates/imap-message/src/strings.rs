//! Header text in both directions: unfolding and RFC 2047 decoding of stored values, and
//! turning text into IMAP strings that survive the wire.

use base64::{engine::general_purpose::STANDARD, Engine as _};
use imap_codec::imap_types::{
    core::{IString, Literal, NString, Quoted},
    extensions::utf8::QuotedUtf8,
};
use mail_parser::{parsers::MessageStream, HeaderValue};

use crate::mime::terminated;

/// RFC 5322 §2.2.3 unfolding (every line ending inside a field is a fold), trimmed of the
/// whitespace after the colon and at the end.
pub(crate) fn unfold(value: &[u8]) -> Vec<u8> {
    let unfolded: Vec<u8> = value
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    let start = unfolded
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(unfolded.len());
    let end = unfolded
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |last| last + 1);
    unfolded[start..end.max(start)].to_vec()
}

/// The human text of a header value: unfolded, RFC 2047 words decoded to UTF-8, 8-bit
/// bytes read as UTF-8 (RFC 6532) with invalid sequences replaced.
pub(crate) fn decode_text(value: &[u8]) -> String {
    match MessageStream::new(&terminated(value)).parse_unstructured() {
        HeaderValue::Text(text) => text.into_owned(),
        _ => String::new(),
    }
}

/// The day of a Date: field value in the field's own zone (SENTBEFORE, SENTON, SENTSINCE).
pub(crate) fn sent_day(value: &[u8]) -> Option<chrono::NaiveDate> {
    let HeaderValue::DateTime(date) = MessageStream::new(&terminated(value)).parse_date() else {
        return None;
    };
    chrono::NaiveDate::from_ymd_opt(
        i32::from(date.year),
        u32::from(date.month),
        u32::from(date.day),
    )
}

/// RFC 2047 B-encoded words in UTF-8; each word stays under the 75-octet limit and splits
/// only between characters.
pub(crate) fn encode_rfc2047(text: &str) -> String {
    const MAX_OCTETS_PER_WORD: usize = 45;
    let mut words: Vec<String> = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        if chunk.len() + c.len_utf8() > MAX_OCTETS_PER_WORD {
            words.push(format!("=?utf-8?B?{}?=", STANDARD.encode(&chunk)));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(format!("=?utf-8?B?{}?=", STANDARD.encode(&chunk)));
    }
    words.join(" ")
}

/// The tightest IMAP string for `bytes`: quoted when possible, a UTF-8 quoted string only
/// after ENABLE UTF8=ACCEPT (RFC 9755), else a literal. Literals cannot carry NUL, so NULs
/// are dropped: they are never meaningful in header text.
pub(crate) fn istring(mut bytes: Vec<u8>, utf8: bool) -> IString<'static> {
    bytes.retain(|&b| b != 0);
    if Quoted::validate(&bytes).is_ok() {
        return IString::Quoted(Quoted::unvalidated(
            String::from_utf8_lossy(&bytes).into_owned(),
        ));
    }
    if utf8 {
        match String::from_utf8(bytes) {
            Ok(text) if QuotedUtf8::validate(&text).is_ok() => {
                return IString::QuotedUtf8(QuotedUtf8::unvalidated(text));
            }
            Ok(text) => bytes = text.into_bytes(),
            Err(error) => bytes = error.into_bytes(),
        }
    }
    IString::Literal(Literal::unvalidated(bytes))
}

pub(crate) fn nstring(bytes: Option<Vec<u8>>, utf8: bool) -> NString<'static> {
    NString(bytes.map(|bytes| istring(bytes, utf8)))
}

/// Text meant for people (subjects, display names): sent as UTF-8 only to clients that
/// enabled it, else RFC 2047 encoded so that a client without UTF8=ACCEPT still shows it.
/// Bytes that are not UTF-8 at all are passed through in a literal as stored.
pub(crate) fn display_text(bytes: Vec<u8>, utf8: bool) -> IString<'static> {
    if utf8 || bytes.is_ascii() {
        return istring(bytes, utf8);
    }
    match String::from_utf8(bytes) {
        Ok(text) => istring(encode_rfc2047(&text).into_bytes(), false),
        Err(error) => istring(error.into_bytes(), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfold_removes_line_endings_and_outer_whitespace() {
        assert_eq!(unfold(b" Hello\r\n world \t"), b"Hello world");
        assert_eq!(unfold(b"   "), b"");
        assert_eq!(unfold(b""), b"");
    }

    #[test]
    fn decode_text_handles_rfc2047_and_raw_utf8() {
        assert_eq!(decode_text(b" =?ISO-8859-1?Q?Caf=E9?= ok"), "Café ok");
        assert_eq!(
            decode_text(b" =?utf-8?B?UG9zdGEgY2VydGlmaWNhdGE=?="),
            "Posta certificata"
        );
        assert_eq!(decode_text(" Perché no".as_bytes()), "Perché no");
    }

    #[test]
    fn rfc2047_words_round_trip_and_stay_short() {
        let text = "Comunicazione di avvenuta consegna — àèìòù".repeat(4);
        let encoded = encode_rfc2047(&text);
        assert!(encoded.split(' ').all(|word| word.len() <= 75), "{encoded}");
        assert_eq!(decode_text(encoded.as_bytes()), text);
    }

    #[test]
    fn istring_picks_quoted_utf8_or_literal() {
        assert!(matches!(
            istring(b"plain".to_vec(), false),
            IString::Quoted(_)
        ));
        assert!(matches!(
            istring("città".as_bytes().to_vec(), false),
            IString::Literal(_)
        ));
        assert!(matches!(
            istring("città".as_bytes().to_vec(), true),
            IString::QuotedUtf8(_)
        ));
        assert!(matches!(
            istring(b"a\r\nb".to_vec(), true),
            IString::Literal(_)
        ));
        assert_eq!(
            istring(b"a\0b".to_vec(), false).into_inner().as_ref(),
            b"ab"
        );
    }
}
