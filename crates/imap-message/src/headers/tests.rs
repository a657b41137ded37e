//! The header-only evaluation answers every header key as the whole message does, on the
//! realistic messages of `crate::tests` and on malformed ones.

use imap_codec::imap_types::{
    core::{AString, Vec1},
    datetime::NaiveDate as ImapDate,
    search::SearchKey,
};

use crate::tests::{crlf, ALTERNATIVE, FORWARD, MIXED, PLAIN};
use crate::{matches, matches_headers, needs_body_text, HeaderFields, MessageView};
use crate::{SearchContext, SearchSubject};

const CTX: SearchContext = SearchContext {
    max_seq: 1,
    max_uid: 1,
    utc_offset_seconds: 0,
};

fn subject<'s>(message: Option<&'s MessageView<'s>>) -> SearchSubject<'s> {
    SearchSubject {
        seq: 1,
        uid: 1,
        seen: false,
        answered: false,
        flagged: false,
        deleted: false,
        draft: false,
        recent: false,
        keywords: &[],
        size: 10,
        internal_date: 0,
        modseq: 1,
        message,
    }
}

fn astring(text: &str) -> AString<'static> {
    AString::try_from(text.to_owned()).unwrap_or_else(|_| AString::try_from("x").expect("atom"))
}

fn messages() -> Vec<Vec<u8>> {
    let mut all: Vec<Vec<u8>> = [PLAIN, ALTERNATIVE, MIXED, FORWARD]
        .iter()
        .map(|m| crlf(m))
        .collect();
    all.push(crlf(
        "From: =?ISO-8859-1?Q?Andr=E9?= Pirard <pirard@example.be>\nTo: =?utf-8?B?Tmljb2zDsg==?= <nicolo@example.it>, \"Plain, Name\" <plain@example.it>\nCc: Uno <uno@example.it>\nBcc: due@example.it\nSubject: =?utf-8?Q?Ricevuta_di_accettazione:_cos=C3=AC?=\nDate: Sat, 12 Apr 2025 07:05:00 +0100\n\nx\n",
    ));
    all.push(crlf(
        "From: Niccolò Ammaniti <niccolò@esempio.it>\nSubject: Perché è CosÌ\nDate: Fri, 11 Apr 2025 23:30:00 -0500\nDate: Sat, 01 Jan 2000 00:00:00 +0000\n\nCittà.\n",
    ));
    all.push(
        b"Subject: a long subject\r\n\tthat continues  here\r\nTo: first@example.org,\r\n second@example.org\r\n\r\n"
            .to_vec(),
    );
    all.push(b"Subject: lf only\nFrom: a@b\n\nbody\n".to_vec());
    all.push(b"Subject: no body at all".to_vec());
    all.push(b"\0\0\xff\xfe\r\n\x80: \x81\r\nSubject: \xe8\xe9 x\r\n\r\n\0".to_vec());
    all.push(b"garbage without any header".to_vec());
    all.push(b" leading fold\r\nSubject: after\r\n\r\nbody".to_vec());
    let forward = crlf(FORWARD);
    all.extend(
        (0..forward.len())
            .step_by(7)
            .map(|end| forward[..end].to_vec()),
    );
    all
}

/// Needles taken from the message's own header text, in several cases, and some absent.
fn needles(view: &MessageView<'_>) -> Vec<String> {
    let mut out = vec![
        String::new(),
        "absent-needle".into(),
        "É".into(),
        "example".into(),
    ];
    for name in ["subject", "from", "to", "cc", "bcc", "date", "message-id"] {
        for value in view.decoded_header(name) {
            let chars: Vec<char> = value.chars().collect();
            out.push(value.to_uppercase());
            out.push(chars.iter().skip(chars.len() / 3).take(5).collect());
            out.push(chars.iter().rev().take(4).rev().collect());
        }
    }
    out
}

fn keys(view: &MessageView<'_>) -> Vec<SearchKey<'static>> {
    let mut keys = Vec::new();
    for needle in needles(view) {
        let n = || astring(&needle);
        keys.extend([
            SearchKey::Subject(n()),
            SearchKey::From(n()),
            SearchKey::To(n()),
            SearchKey::Cc(n()),
            SearchKey::Bcc(n()),
            SearchKey::Header(astring("Message-ID"), n()),
            SearchKey::Header(astring("content-TYPE"), n()),
            SearchKey::Header(astring("X-Absent"), n()),
        ]);
    }
    for name in ["mime-version", "DATE", "x-absent", "Subject", "received"] {
        keys.push(SearchKey::Header(astring(name), astring("")));
    }
    for (y, m, d) in [
        (2025, 4, 7),
        (2025, 4, 9),
        (2025, 4, 11),
        (2025, 4, 12),
        (2000, 1, 1),
    ] {
        let day = || {
            ImapDate::try_from(chrono::NaiveDate::from_ymd_opt(y, m, d).expect("date"))
                .expect("IMAP date")
        };
        keys.extend([
            SearchKey::SentBefore(day()),
            SearchKey::SentOn(day()),
            SearchKey::SentSince(day()),
        ]);
    }
    keys.push(SearchKey::Or(
        Box::new(SearchKey::Seen),
        Box::new(SearchKey::Not(Box::new(SearchKey::Subject(astring("a"))))),
    ));
    keys.push(SearchKey::And(
        Vec1::try_from(vec![SearchKey::Unseen, SearchKey::From(astring("@"))]).expect("keys"),
    ));
    keys
}

#[test]
fn header_keys_match_as_on_the_whole_message() {
    let mut compared = 0;
    let mut matched = 0;
    for raw in messages() {
        let view = MessageView::parse(&raw);
        let headers = HeaderFields::parse(&raw).expect("small header");
        let whole = subject(Some(&view));
        let alone = subject(None);
        for key in keys(&view) {
            assert!(!needs_body_text(&key));
            let expected = matches(&key, &whole, &CTX);
            assert_eq!(
                matches_headers(&key, &alone, &headers, &CTX),
                expected,
                "{key:?} on {}",
                String::from_utf8_lossy(&raw)
            );
            compared += 1;
            matched += usize::from(expected);
        }
    }
    // The comparison is not vacuous: both answers occur often.
    assert!(
        matched > 200 && compared - matched > 200,
        "{matched}/{compared}"
    );
}

#[test]
fn body_keys_need_the_message_and_large_headers_are_not_kept() {
    assert!(needs_body_text(&SearchKey::Text(astring("x"))));
    assert!(needs_body_text(&SearchKey::Not(Box::new(SearchKey::Body(
        astring("x")
    )))));
    assert!(!needs_body_text(&SearchKey::Subject(astring("x"))));
    let mut big = b"Subject: ".to_vec();
    big.extend(vec![b'a'; super::MAX_HEADER_BYTES]);
    big.extend_from_slice(b"\r\n\r\nbody");
    assert!(HeaderFields::parse(&big).is_none());
    let small = HeaderFields::parse(&crlf(PLAIN)).expect("small");
    assert!(small.cost() > crlf(PLAIN).len() / 2 && small.cost() < 4 * crlf(PLAIN).len());
}

#[test]
fn byte_search_is_str_contains() {
    let cases = ["", "a", "ab", "così", "ìs", "s", "aab", "xyz", "abcabd"];
    for haystack in cases {
        for needle in cases {
            assert_eq!(
                super::contains(haystack, needle),
                haystack.contains(needle),
                "{haystack:?} {needle:?}"
            );
        }
    }
}
