//! SEARCH key evaluation (RFC 3501 §6.4.4, MODSEQ from RFC 7162 §3.1.5) against one message,
//! seen whole ([`crate::MessageView`]) or through its header alone ([`crate::HeaderFields`]):
//! both give the same answer to every key but BODY and TEXT, which need the message.

use std::borrow::Cow;

use chrono::{FixedOffset, NaiveDate, Offset, Utc};
use imap_codec::imap_types::{
    core::AString,
    search::SearchKey,
    sequence::{SeqOrUid, Sequence, SequenceSet},
};

use crate::{HeaderFields, MessageView};

/// What a SEARCH key is evaluated against: one message's metadata and, for keys that look
/// at headers or text, its parsed content.
#[derive(Debug, Clone, Copy)]
pub struct SearchSubject<'s> {
    pub seq: u32,
    pub uid: u32,
    pub seen: bool,
    pub answered: bool,
    pub flagged: bool,
    pub deleted: bool,
    pub draft: bool,
    pub recent: bool,
    pub keywords: &'s [String],
    /// RFC822.SIZE.
    pub size: u64,
    /// INTERNALDATE as unix seconds.
    pub internal_date: i64,
    pub modseq: u64,
    /// Needed only when [`needs_content`] says so; content keys never match without it.
    pub message: Option<&'s MessageView<'s>>,
}

/// Mailbox-wide values a key can refer to.
#[derive(Debug, Clone, Copy)]
pub struct SearchContext {
    /// The value of `*` in sequence sets.
    pub max_seq: u32,
    /// The value of `*` in UID sets.
    pub max_uid: u32,
    /// The server's zone: BEFORE, ON and SINCE compare the internal date's day there,
    /// "disregarding time and timezone" of the message itself (RFC 3501 §6.4.4).
    pub utc_offset_seconds: i32,
}

/// Whether evaluating `key` needs the message content, so the server can skip loading it.
pub fn needs_content(key: &SearchKey<'_>) -> bool {
    match key {
        SearchKey::And(keys) => keys.as_ref().iter().any(needs_content),
        SearchKey::Not(key) => needs_content(key),
        SearchKey::Or(left, right) => needs_content(left) || needs_content(right),
        SearchKey::Bcc(_)
        | SearchKey::Body(_)
        | SearchKey::Cc(_)
        | SearchKey::From(_)
        | SearchKey::Header(..)
        | SearchKey::SentBefore(_)
        | SearchKey::SentOn(_)
        | SearchKey::SentSince(_)
        | SearchKey::Subject(_)
        | SearchKey::Text(_)
        | SearchKey::To(_) => true,
        _ => false,
    }
}

/// Whether evaluating `key` needs the message's text (BODY, TEXT), not only its header.
pub fn needs_body_text(key: &SearchKey<'_>) -> bool {
    match key {
        SearchKey::And(keys) => keys.as_ref().iter().any(needs_body_text),
        SearchKey::Not(key) => needs_body_text(key),
        SearchKey::Or(left, right) => needs_body_text(left) || needs_body_text(right),
        SearchKey::Body(_) | SearchKey::Text(_) => true,
        _ => false,
    }
}

/// What content keys are evaluated against.
#[derive(Clone, Copy)]
enum Content<'s> {
    Message(&'s MessageView<'s>),
    Headers(&'s HeaderFields),
}

/// Whether `subject` satisfies `key`. String keys match case-insensitively (Unicode
/// lowercase) as substrings of the decoded text.
pub fn matches(key: &SearchKey<'_>, subject: &SearchSubject<'_>, ctx: &SearchContext) -> bool {
    evaluate(key, subject, subject.message.map(Content::Message), ctx)
}

/// [`matches`] with the content keys evaluated against `headers` instead of
/// `subject.message`; for keys without BODY or TEXT ([`needs_body_text`]), which never match
/// here.
pub fn matches_headers(
    key: &SearchKey<'_>,
    subject: &SearchSubject<'_>,
    headers: &HeaderFields,
    ctx: &SearchContext,
) -> bool {
    debug_assert!(!needs_body_text(key), "BODY and TEXT need the message");
    evaluate(key, subject, Some(Content::Headers(headers)), ctx)
}

fn evaluate(
    key: &SearchKey<'_>,
    s: &SearchSubject<'_>,
    content: Option<Content<'_>>,
    ctx: &SearchContext,
) -> bool {
    let c = content;
    match key {
        SearchKey::And(keys) => keys.as_ref().iter().all(|key| evaluate(key, s, c, ctx)),
        SearchKey::Or(left, right) => evaluate(left, s, c, ctx) || evaluate(right, s, c, ctx),
        SearchKey::Not(key) => !evaluate(key, s, c, ctx),
        SearchKey::SequenceSet(set) => set_contains(set, s.seq, ctx.max_seq),
        SearchKey::Uid(set) => set_contains(set, s.uid, ctx.max_uid),
        SearchKey::All => true,
        SearchKey::Answered => s.answered,
        SearchKey::Unanswered => !s.answered,
        SearchKey::Deleted => s.deleted,
        SearchKey::Undeleted => !s.deleted,
        SearchKey::Draft => s.draft,
        SearchKey::Undraft => !s.draft,
        SearchKey::Flagged => s.flagged,
        SearchKey::Unflagged => !s.flagged,
        SearchKey::Seen => s.seen,
        SearchKey::Unseen => !s.seen,
        SearchKey::Recent => s.recent,
        SearchKey::New => s.recent && !s.seen,
        SearchKey::Old => !s.recent,
        SearchKey::Keyword(keyword) => has_keyword(s, keyword.inner()),
        SearchKey::Unkeyword(keyword) => !has_keyword(s, keyword.inner()),
        SearchKey::Larger(size) => s.size > u64::from(*size),
        SearchKey::Smaller(size) => s.size < u64::from(*size),
        SearchKey::Before(date) => internal_day(s, ctx).is_some_and(|day| day < *date.as_ref()),
        SearchKey::On(date) => internal_day(s, ctx).is_some_and(|day| day == *date.as_ref()),
        SearchKey::Since(date) => internal_day(s, ctx).is_some_and(|day| day >= *date.as_ref()),
        SearchKey::SentBefore(date) => sent_day(c).is_some_and(|day| day < *date.as_ref()),
        SearchKey::SentOn(date) => sent_day(c).is_some_and(|day| day == *date.as_ref()),
        SearchKey::SentSince(date) => sent_day(c).is_some_and(|day| day >= *date.as_ref()),
        SearchKey::Bcc(value) => header_contains(c, "bcc", value),
        SearchKey::Cc(value) => header_contains(c, "cc", value),
        SearchKey::From(value) => header_contains(c, "from", value),
        SearchKey::Subject(value) => header_contains(c, "subject", value),
        SearchKey::To(value) => header_contains(c, "to", value),
        SearchKey::Header(name, value) => {
            let name = String::from_utf8_lossy(name.as_ref());
            if value.as_ref().is_empty() {
                match c {
                    Some(Content::Message(message)) => !message.header_values(&name).is_empty(),
                    Some(Content::Headers(headers)) => headers.has(&name),
                    None => false,
                }
            } else {
                header_contains(c, &name, value)
            }
        }
        SearchKey::Body(value) => {
            let needle = lowercase(value);
            message(c).is_some_and(|message| message.lowercase_body().contains(&needle))
        }
        SearchKey::Text(value) => {
            let needle = lowercase(value);
            message(c).is_some_and(|message| {
                message.lowercase_header().contains(&needle)
                    || message.lowercase_body().contains(&needle)
            })
        }
        SearchKey::ModSequence { modseq, .. } => s.modseq >= *modseq,
    }
}

/// Whether `set` contains `n`, with `*` standing for `star` (the largest number in use).
/// Ranges count in either order: `4:2` is `2:4` (RFC 3501 §9, seq-range).
pub fn set_contains(set: &SequenceSet, n: u32, star: u32) -> bool {
    let value = |item: &SeqOrUid| match item {
        SeqOrUid::Value(value) => value.get(),
        SeqOrUid::Asterisk => star,
    };
    set.0.as_ref().iter().any(|sequence| match sequence {
        Sequence::Single(item) => value(item) == n,
        Sequence::Range(from, to) => {
            let (from, to) = (value(from), value(to));
            (from.min(to)..=from.max(to)).contains(&n)
        }
    })
}

/// Keywords are atoms, compared as IMAP flags are: case-insensitively.
fn has_keyword(s: &SearchSubject<'_>, keyword: &str) -> bool {
    s.keywords
        .iter()
        .any(|have| have.eq_ignore_ascii_case(keyword))
}

fn internal_day(s: &SearchSubject<'_>, ctx: &SearchContext) -> Option<NaiveDate> {
    let zone = FixedOffset::east_opt(ctx.utc_offset_seconds).unwrap_or_else(|| Utc.fix());
    chrono::DateTime::from_timestamp(s.internal_date, 0)
        .map(|instant| instant.with_timezone(&zone).date_naive())
}

/// The whole message, for BODY and TEXT.
fn message<'s>(c: Option<Content<'s>>) -> Option<&'s MessageView<'s>> {
    match c {
        Some(Content::Message(message)) => Some(message),
        _ => None,
    }
}

fn sent_day(c: Option<Content<'_>>) -> Option<NaiveDate> {
    match c? {
        Content::Message(message) => message.sent_date(),
        Content::Headers(headers) => headers.sent_day(),
    }
}

fn header_contains(c: Option<Content<'_>>, name: &str, value: &AString<'_>) -> bool {
    let needle = lowercase_needle(value);
    match c {
        Some(Content::Message(message)) => message
            .decoded_header(name)
            .iter()
            .any(|decoded| decoded.to_lowercase().contains(needle.as_ref())),
        Some(Content::Headers(headers)) => headers.contains(name, &needle),
        None => false,
    }
}

fn lowercase(value: &AString<'_>) -> String {
    String::from_utf8_lossy(value.as_ref()).to_lowercase()
}

/// [`lowercase`] without a copy when the needle is lowercase ASCII already (the common case,
/// and the one header searches of a whole folder repeat for every message).
fn lowercase_needle<'v>(value: &'v AString<'_>) -> Cow<'v, str> {
    let bytes = value.as_ref();
    match std::str::from_utf8(bytes) {
        Ok(text)
            if text
                .bytes()
                .all(|b| b.is_ascii() && !b.is_ascii_uppercase()) =>
        {
            Cow::Borrowed(text)
        }
        _ => Cow::Owned(lowercase(value)),
    }
}
