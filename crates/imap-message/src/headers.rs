//! A message's top-level header block kept apart from the message (RFC 5322 §2.2), for the
//! SEARCH keys that look only at headers (RFC 3501 §6.4.4: BCC, CC, FROM, HEADER, SUBJECT,
//! TO, SENTBEFORE, SENTON, SENTSINCE) and, through [`HeaderFields::block`], the FETCH items
//! of the top-level header.
//!
//! The fields are exactly those [`crate::MessageView`] sees at the top level (same parser),
//! copied as stored; their RFC 2047 decoded, lowercased values are computed once, on the
//! first search that needs them, so that copying the fields out of a message being fetched
//! anyway costs only the copy. Evaluation from here is the same comparison as from the
//! message (`crate::search`): a field matches when its decoded value, lowercased, contains
//! the lowercased needle.

use std::ops::Range;
use std::sync::OnceLock;

use chrono::NaiveDate;

use crate::mime::top_header;
use crate::strings::{decode_text, sent_day};

/// Header blocks larger than this are not kept (the caller reads the message instead).
pub const MAX_HEADER_BYTES: usize = 64 << 10;

/// Rough cost of one field beyond its bytes (ranges, allocator slack).
const FIELD_OVERHEAD: usize = 24;
/// Rough cost of one [`HeaderFields`] beyond its fields.
const ENTRY_OVERHEAD: usize = 128;

/// The top-level header fields of one message: its header block as stored, the fields as
/// ranges of it, and their decoded forms once a search asked for them.
#[derive(Debug)]
pub struct HeaderFields {
    /// The header block, blank line included: a message of its own whose header items
    /// (ENVELOPE, HEADER, HEADER.FIELDS) are the original's ([`crate::header_block_len`]).
    text: Box<[u8]>,
    /// Per field, its name and its value as ranges of `text`.
    fields: Box<[(Range<u32>, Range<u32>)]>,
    decoded: OnceLock<Decoded>,
}

/// The values as SEARCH compares them.
#[derive(Debug)]
struct Decoded {
    /// Per field, the RFC 2047 decoded value, lowercased (Unicode).
    lowercase: Box<[Box<str>]>,
    /// The day of the first Date: field.
    sent_day: Option<NaiveDate>,
}

impl HeaderFields {
    /// The top-level header fields of `raw` (a whole message, or at least its header
    /// block); `None` when the header block is longer than [`MAX_HEADER_BYTES`].
    pub fn parse(raw: &[u8]) -> Option<HeaderFields> {
        let (found, end) = top_header(raw);
        if end > MAX_HEADER_BYTES {
            return None;
        }
        // Fields lie inside the block, so their ranges in `raw` are ranges of the block.
        let at = |r: &Range<usize>| r.start as u32..r.end as u32;
        Some(HeaderFields {
            text: raw[..end].into(),
            fields: found.iter().map(|f| (at(&f.name), at(&f.value))).collect(),
            decoded: OnceLock::new(),
        })
    }

    /// The header block as stored, blank line included: [`crate::MessageView::parse`] of it
    /// answers ENVELOPE, RFC822.HEADER, BODY[HEADER] and BODY[HEADER.FIELDS ...] of the
    /// top-level message as the whole message does.
    pub fn block(&self) -> &[u8] {
        &self.text
    }

    /// Memory this takes once decoded, roughly (the block, and the decoded copy counted as
    /// the block's size, which bounds it for ASCII headers).
    pub fn cost(&self) -> usize {
        ENTRY_OVERHEAD + 2 * self.text.len() + 2 * FIELD_OVERHEAD * self.fields.len()
    }

    fn bytes(&self, range: &Range<u32>) -> &[u8] {
        &self.text[range.start as usize..range.end as usize]
    }

    /// Indexes of the fields called `name` (any ASCII case), in message order.
    fn named<'s>(&'s self, name: &'s str) -> impl Iterator<Item = usize> + 's {
        self.fields
            .iter()
            .enumerate()
            .filter(move |(_, (n, _))| self.bytes(n).eq_ignore_ascii_case(name.as_bytes()))
            .map(|(i, _)| i)
    }

    fn decoded(&self) -> &Decoded {
        self.decoded.get_or_init(|| Decoded {
            lowercase: self
                .fields
                .iter()
                .map(|(_, value)| decode_text(self.bytes(value)).to_lowercase().into())
                .collect(),
            sent_day: self
                .named("date")
                .next()
                .and_then(|i| sent_day(self.bytes(&self.fields[i].1))),
        })
    }

    /// Whether a field called `name` exists (HEADER with an empty string).
    pub(crate) fn has(&self, name: &str) -> bool {
        self.named(name).next().is_some()
    }

    /// Whether a field called `name` contains `needle` (already lowercased) once decoded.
    pub(crate) fn contains(&self, name: &str, needle: &str) -> bool {
        let mut named = self.named(name).peekable();
        if named.peek().is_none() {
            return false;
        }
        let decoded = self.decoded();
        named.any(|i| contains(&decoded.lowercase[i], needle))
    }

    /// The day of the Date: field in its own zone.
    pub(crate) fn sent_day(&self) -> Option<NaiveDate> {
        self.decoded().sent_day
    }
}

/// `haystack.contains(needle)`, faster on the short values of header fields: a byte
/// substring of UTF-8 text is a substring of the text (UTF-8 is self-synchronising).
fn contains(haystack: &str, needle: &str) -> bool {
    let (haystack, needle) = (haystack.as_bytes(), needle.as_bytes());
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    let last_start = match haystack.len().checked_sub(needle.len()) {
        Some(last) => last,
        None => return false,
    };
    haystack[..=last_start]
        .iter()
        .enumerate()
        .any(|(i, &b)| b == first && haystack[i + 1..i + needle.len()] == *rest)
}

#[cfg(test)]
mod tests;
