//! IMAP views of one stored message: its MIME tree, FETCH ENVELOPE, BODY and BODYSTRUCTURE,
//! BODY[section] bytes, and SEARCH key evaluation.
//!
//! Everything here is a pure function of the message octets and the metadata the caller
//! passes in: this crate does no I/O, keeps nothing beyond a per-message cache of decoded
//! text, and never panics on malformed mail. The IMAP session (`pecd-imap`) loads a message, builds a
//! [`MessageView`] over the stored bytes and asks it for what a FETCH or SEARCH needs;
//! sections are slices of the stored octets, so sizes and offsets agree with RFC822.SIZE.
//!
//! Entry points: [`MessageView::parse`], then [`MessageView::envelope`],
//! [`MessageView::body_structure`], [`MessageView::section`]; [`matches`] with
//! [`needs_content`] for SEARCH, and [`set_contains`] for sequence sets. [`HeaderFields`] is
//! a message's header kept apart from its body, so that a server can keep it in memory and
//! evaluate header-only SEARCH keys with [`matches_headers`] without reading the message;
//! [`header_block_len`] finds that header in the first bytes of a message.

mod bodystructure;
mod envelope;
mod headers;
mod mime;
mod search;
mod section;
mod strings;
mod text;

use std::{borrow::Cow, sync::OnceLock};

use imap_codec::imap_types::{body::BodyStructure, envelope::Envelope, fetch::Section};

pub use headers::HeaderFields;
pub use search::{
    matches, matches_headers, needs_body_text, needs_content, set_contains, SearchContext,
    SearchSubject,
};

use mime::Part;

/// The length of the header block at the start of `raw` (its blank line included), when `raw`
/// (a message, or the first bytes of one) shows where that block ends; `None` when the block
/// may go on past `raw`. Those bytes alone answer ENVELOPE, RFC822.HEADER and BODY[HEADER],
/// BODY[HEADER.FIELDS ...] and BODY[HEADER.FIELDS.NOT ...] of the top-level message exactly
/// as the whole message does, so a server can read only a message's first bytes for them.
pub fn header_block_len(raw: &[u8]) -> Option<usize> {
    mime::header_block_end(raw)
}

/// A message's MIME tree over its raw bytes (byte ranges, no copies).
///
/// Decoded text for SEARCH is computed on first use and kept, because one SEARCH command
/// evaluates several keys against the same message.
#[derive(Debug)]
pub struct MessageView<'a> {
    raw: &'a [u8],
    root: Part,
    lowercase_header: OnceLock<String>,
    lowercase_body: OnceLock<String>,
}

impl<'a> MessageView<'a> {
    /// Parses any input without failing: malformed structure degrades the way the `mime`
    /// module describes, it never errors or panics.
    pub fn parse(raw: &'a [u8]) -> MessageView<'a> {
        MessageView {
            raw,
            root: mime::parse_message(raw),
            lowercase_header: OnceLock::new(),
            lowercase_body: OnceLock::new(),
        }
    }

    /// RFC 3501 ENVELOPE. Date, subject, in-reply-to and message-id are the unfolded header
    /// values; display names are decoded, then sent as UTF-8 when the client enabled
    /// UTF8=ACCEPT (`utf8`) or RFC 2047 encoded otherwise, as are 8-bit subjects.
    pub fn envelope(&self, utf8: bool) -> Envelope<'static> {
        envelope::envelope(self.raw, &self.root, utf8)
    }

    /// BODYSTRUCTURE when `extensible` (with md5, disposition, language and location), else
    /// BODY. Embedded message envelopes are built for clients without UTF8=ACCEPT.
    pub fn body_structure(&self, extensible: bool) -> BodyStructure<'static> {
        bodystructure::body_structure(self.raw, &self.root, extensible)
    }

    /// The octets of BODY[section], the whole message for `None`. `None` when the section
    /// names a part that does not exist, or HEADER/TEXT of a part that is not
    /// message/rfc822; the server then answers with an empty string.
    pub fn section(&self, section: Option<&Section<'_>>) -> Option<Cow<'a, [u8]>> {
        match section {
            None => Some(Cow::Borrowed(self.raw)),
            Some(section) => section::section(self.raw, &self.root, section),
        }
    }

    /// Values of the top-level header fields called `name` (any case), unfolded and
    /// trimmed, in message order; 8-bit bytes that are not UTF-8 are replaced.
    pub fn header_values(&self, name: &str) -> Vec<String> {
        self.root
            .values(self.raw, name)
            .into_iter()
            .map(|value| String::from_utf8_lossy(&strings::unfold(value)).into_owned())
            .collect()
    }

    /// Values of the top-level header fields called `name`, RFC 2047 decoded, for SEARCH.
    pub fn decoded_header(&self, name: &str) -> Vec<String> {
        self.root
            .values(self.raw, name)
            .into_iter()
            .map(strings::decode_text)
            .collect()
    }

    /// Text of all text/* parts, transfer and charset decoded (HTML reduced to its text),
    /// plus the headers of embedded messages, for SEARCH BODY and TEXT.
    pub fn body_text(&self) -> String {
        let mut out = String::new();
        text::body_text(self.raw, &self.root, &mut out);
        out
    }

    /// The day of the Date: header in the header's own zone, for SENTBEFORE/SENTON/SENTSINCE.
    pub fn sent_date(&self) -> Option<chrono::NaiveDate> {
        strings::sent_day(self.root.first_value(self.raw, "date")?)
    }

    fn lowercase_header(&self) -> &str {
        self.lowercase_header.get_or_init(|| {
            let mut out = String::new();
            text::decoded_header_lines(self.raw, &self.root, &mut out);
            out.to_lowercase()
        })
    }

    fn lowercase_body(&self) -> &str {
        self.lowercase_body
            .get_or_init(|| self.body_text().to_lowercase())
    }
}

#[cfg(test)]
mod tests;
