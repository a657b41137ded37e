//! Realistic messages through the public API, checked on the wire form clients parse.

use std::num::NonZeroU32;

use imap_codec::{
    encode::Encoder,
    imap_types::{
        core::{AString, Atom, Vec1},
        datetime::NaiveDate as ImapDate,
        fetch::{MessageDataItem, Part as PartPath, Section},
        response::{Data, Response},
        search::SearchKey,
        sequence::SequenceSet,
    },
    ResponseCodec,
};

use crate::{matches, needs_content, set_contains, MessageView, SearchContext, SearchSubject};

/// Fixtures are written with LF for readability and stored with CRLF, as the store does.
pub(crate) fn crlf(text: &str) -> Vec<u8> {
    text.replace('\n', "\r\n").into_bytes()
}

/// `item` as it appears inside `* 1 FETCH (...)`.
fn wire(item: MessageDataItem<'static>) -> String {
    let response = Response::Data(Data::Fetch {
        seq: NonZeroU32::MIN,
        items: Vec1::from(item),
    });
    let encoded = String::from_utf8(ResponseCodec::default().encode(&response).dump())
        .expect("fixtures encode to UTF-8");
    encoded
        .strip_prefix("* 1 FETCH (")
        .and_then(|rest| rest.strip_suffix(")\r\n"))
        .unwrap_or_else(|| panic!("unexpected framing: {encoded:?}"))
        .to_owned()
}

fn envelope(view: &MessageView<'_>, utf8: bool) -> String {
    wire(MessageDataItem::Envelope(view.envelope(utf8)))
        .strip_prefix("ENVELOPE ")
        .expect("ENVELOPE item")
        .to_owned()
}

fn bodystructure(view: &MessageView<'_>) -> String {
    wire(MessageDataItem::BodyStructure(view.body_structure(true)))
        .strip_prefix("BODYSTRUCTURE ")
        .expect("BODYSTRUCTURE item")
        .to_owned()
}

fn body(view: &MessageView<'_>) -> String {
    wire(MessageDataItem::Body(view.body_structure(false)))
        .strip_prefix("BODY ")
        .expect("BODY item")
        .to_owned()
}

fn path(numbers: &[u32]) -> PartPath {
    let numbers: Vec<NonZeroU32> = numbers
        .iter()
        .map(|&n| NonZeroU32::new(n).expect("part numbers start at 1"))
        .collect();
    PartPath(Vec1::try_from(numbers).expect("non-empty path"))
}

fn names(names: &[&'static str]) -> Vec1<AString<'static>> {
    let names: Vec<AString<'static>> = names
        .iter()
        .map(|&name| AString::try_from(name).expect("valid field name"))
        .collect();
    Vec1::try_from(names).expect("non-empty list")
}

fn section(view: &MessageView<'_>, section: Section<'_>) -> Option<Vec<u8>> {
    view.section(Some(&section)).map(|bytes| bytes.into_owned())
}

fn text_of(view: &MessageView<'_>, section: Section<'_>) -> String {
    String::from_utf8(self::section(view, section).expect("section exists")).expect("UTF-8")
}

pub(crate) const PLAIN: &str = "Return-Path: <mario.rossi@example.it>
Date: Mon, 7 Apr 2025 10:15:00 +0200
From: Mario Rossi <mario.rossi@example.it>
To: Anna Bianchi <anna@example.org>, luca@example.org
Subject: Meeting on Monday
Message-ID: <20250407101500.1234@example.it>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii
Content-Transfer-Encoding: 7bit

Hi Anna,
see you on Monday at 10.
";

#[test]
fn plain_text_envelope() {
    let raw = crlf(PLAIN);
    let view = MessageView::parse(&raw);
    let mario = r#"(("Mario Rossi" NIL "mario.rossi" "example.it"))"#;
    assert_eq!(
        envelope(&view, false),
        format!(
            r#"("Mon, 7 Apr 2025 10:15:00 +0200" "Meeting on Monday" {mario} {mario} {mario} (("Anna Bianchi" NIL "anna" "example.org")(NIL NIL "luca" "example.org")) NIL NIL NIL "<20250407101500.1234@example.it>")"#
        )
    );
}

#[test]
fn plain_text_structure_and_sections() {
    let raw = crlf(PLAIN);
    let view = MessageView::parse(&raw);
    let text = crlf("Hi Anna,\nsee you on Monday at 10.\n");
    let header = &raw[..raw.len() - text.len()];
    assert!(header.ends_with(b"7bit\r\n\r\n"));

    assert_eq!(
        bodystructure(&view),
        format!(
            r#"("TEXT" "plain" ("charset" "us-ascii") NIL NIL "7bit" {} 2 NIL NIL NIL NIL)"#,
            text.len()
        )
    );
    assert_eq!(
        body(&view),
        format!(
            r#"("TEXT" "plain" ("charset" "us-ascii") NIL NIL "7bit" {} 2)"#,
            text.len()
        )
    );

    assert_eq!(view.section(None).as_deref(), Some(&raw[..]));
    assert_eq!(
        section(&view, Section::Header(None)).as_deref(),
        Some(header)
    );
    assert_eq!(section(&view, Section::Text(None)), Some(text.clone()));
    // Part 1 of a non-multipart message is its body, and its MIME header is the header.
    assert_eq!(section(&view, Section::Part(path(&[1]))), Some(text));
    assert_eq!(
        section(&view, Section::Mime(path(&[1]))).as_deref(),
        Some(header)
    );
    assert_eq!(section(&view, Section::Part(path(&[2]))), None);
    assert_eq!(section(&view, Section::Part(path(&[1, 1]))), None);
    // HEADER and TEXT of a part exist only for message/rfc822 parts.
    assert_eq!(section(&view, Section::Header(Some(path(&[1])))), None);
}

#[test]
fn header_fields_are_case_insensitive_in_message_order() {
    let raw = crlf(PLAIN);
    let view = MessageView::parse(&raw);
    assert_eq!(
        text_of(
            &view,
            Section::HeaderFields(None, names(&["SUBJECT", "from", "X-Absent"]))
        ),
        "From: Mario Rossi <mario.rossi@example.it>\r\nSubject: Meeting on Monday\r\n\r\n"
    );
    assert_eq!(
        text_of(&view, Section::HeaderFields(None, names(&["X-Absent"]))),
        "\r\n"
    );
    assert_eq!(
        text_of(
            &view,
            Section::HeaderFieldsNot(
                None,
                names(&[
                    "return-path",
                    "date",
                    "to",
                    "message-id",
                    "mime-version",
                    "content-type",
                    "content-transfer-encoding"
                ])
            )
        ),
        "From: Mario Rossi <mario.rossi@example.it>\r\nSubject: Meeting on Monday\r\n\r\n"
    );
}

pub(crate) const ALTERNATIVE: &str = "From: Posta Certificata <posta-certificata@pec.example.it>
To: anna@pec.example.org
Subject: CONSEGNA: Fattura 42
Date: Tue, 8 Apr 2025 09:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary=\"----=_Part_0_1\"

This is a multi-part message in MIME format.
------=_Part_0_1
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Il messaggio =C3=A8 stato consegnato.
------=_Part_0_1
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: 7bit

<html><body><p>Il messaggio &egrave; stato <b>consegnato</b>.</p></body></html>
------=_Part_0_1--
";

#[test]
fn multipart_alternative() {
    let raw = crlf(ALTERNATIVE);
    let view = MessageView::parse(&raw);
    let plain = "Il messaggio =C3=A8 stato consegnato.";
    let html = "<html><body><p>Il messaggio &egrave; stato <b>consegnato</b>.</p></body></html>";
    assert_eq!(
        bodystructure(&view),
        format!(
            concat!(
                r#"(("TEXT" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" {} 1 NIL NIL NIL NIL)"#,
                r#"("TEXT" "html" ("charset" "utf-8") NIL NIL "7bit" {} 1 NIL NIL NIL NIL)"#,
                r#" "alternative" ("boundary" "----=_Part_0_1") NIL NIL NIL)"#
            ),
            plain.len(),
            html.len()
        )
    );
    assert_eq!(
        body(&view),
        format!(
            r#"(("TEXT" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" {} 1)("TEXT" "html" ("charset" "utf-8") NIL NIL "7bit" {} 1) "alternative")"#,
            plain.len(),
            html.len()
        )
    );

    assert_eq!(text_of(&view, Section::Part(path(&[1]))), plain);
    assert_eq!(text_of(&view, Section::Part(path(&[2]))), html);
    assert_eq!(
        text_of(&view, Section::Mime(path(&[2]))),
        "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
    );
    assert!(text_of(&view, Section::Text(None)).starts_with("This is a multi-part"));
    assert_eq!(section(&view, Section::Part(path(&[3]))), None);
    assert_eq!(section(&view, Section::Part(path(&[1, 1]))), None);

    let text = view.body_text();
    assert!(text.contains("Il messaggio è stato consegnato."), "{text}");
    assert!(text.contains("stato consegnato"), "{text}");
    assert!(!text.contains("<b>"), "HTML tags are not text: {text}");
}

pub(crate) const MIXED: &str = "From: anna@example.org
To: mario.rossi@example.it
Subject: Documents
Date: Wed, 9 Apr 2025 18:30:00 +0200
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=outer

--outer
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: base64

UXVpIGwnYWxsZWdhdG8gcGVyIGNvbnRhYmlsaXTgLg==
--outer
Content-Type: application/pdf; name=\"fattura.pdf\"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename=\"fattura.pdf\"
Content-ID: <part2@example.org>
Content-Description: Fattura aprile
Content-Language: it, en
Content-Location: fattura.pdf

JVBERi0xLjQKJcTl8uXrp/Og0MTGCjQgMCBvYmoKPDwgL0xlbmd0aCA1IDAgUiAvRmlsdGVy
IC9GbGF0ZURlY29kZSA+PgpzdHJlYW0K
--outer
Content-Type: text/plain
Content-Disposition: attachment;
 filename*=utf-8''ricevuta%20cittadinanza%C3%A0.txt

grazie
--outer--
";

#[test]
fn multipart_mixed_with_base64_attachment() {
    let raw = crlf(MIXED);
    let view = MessageView::parse(&raw);
    let pdf = "JVBERi0xLjQKJcTl8uXrp/Og0MTGCjQgMCBvYmoKPDwgL0xlbmd0aCA1IDAgUiAvRmlsdGVy\r\nIC9GbGF0ZURlY29kZSA+PgpzdHJlYW0K";
    assert_eq!(text_of(&view, Section::Part(path(&[2]))), pdf);
    assert_eq!(
        text_of(&view, Section::Part(path(&[1]))),
        "UXVpIGwnYWxsZWdhdG8gcGVyIGNvbnRhYmlsaXTgLg=="
    );

    let structure = bodystructure(&view);
    assert!(
        structure.starts_with(
            r#"(("TEXT" "plain" ("charset" "iso-8859-1") NIL NIL "base64" 44 1 NIL NIL NIL NIL)"#
        ),
        "{structure}"
    );
    assert!(
        structure.contains(&format!(
            r#"("application" "pdf" ("name" "fattura.pdf") "<part2@example.org>" "Fattura aprile" "base64" {} NIL ("attachment" ("filename" "fattura.pdf")) ("it" "en") "fattura.pdf")"#,
            pdf.len()
        )),
        "{structure}"
    );
    // RFC 2231 decoded filename goes out RFC 2047 encoded for clients without UTF8=ACCEPT.
    assert!(
        structure.contains(
            r#"("attachment" ("filename" "=?utf-8?B?cmljZXZ1dGEgY2l0dGFkaW5hbnphw6AudHh0?="))"#
        ),
        "{structure}"
    );
    assert!(
        structure.ends_with(r#" "mixed" ("boundary" "outer") NIL NIL NIL)"#),
        "{structure}"
    );

    let text = view.body_text();
    assert!(text.contains("Qui l'allegato per contabilità."), "{text}");
    assert!(text.contains("grazie"), "{text}");
    assert!(
        !text.contains("JVBERi0"),
        "attachments are not text: {text}"
    );
}

pub(crate) const FORWARD: &str = "From: Anna Bianchi <anna@example.org>
To: luca@example.org
Subject: Fwd: Meeting on Monday
Date: Thu, 10 Apr 2025 08:00:00 +0200
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=\"fwd\"

--fwd
Content-Type: text/plain

See below.
--fwd
Content-Type: message/rfc822
Content-Disposition: inline

From: Mario Rossi <mario.rossi@example.it>
To: anna@example.org
Subject: Meeting on Monday
Message-ID: <inner@example.it>
Content-Type: multipart/alternative; boundary=inner

--inner
Content-Type: text/plain

Monday at 10.
--inner
Content-Type: text/html

<p>Monday at 10.</p>
--inner--

--fwd--
";

#[test]
fn nested_message_rfc822() {
    let raw = crlf(FORWARD);
    let view = MessageView::parse(&raw);
    let embedded = text_of(&view, Section::Part(path(&[2])));
    assert!(embedded.starts_with("From: Mario Rossi"), "{embedded}");
    assert!(embedded.ends_with("--inner--\r\n"), "{embedded:?}");

    let inner_header = text_of(&view, Section::Header(Some(path(&[2]))));
    assert!(inner_header.starts_with("From: Mario Rossi"));
    assert!(inner_header.ends_with("boundary=inner\r\n\r\n"));
    let inner_text = text_of(&view, Section::Text(Some(path(&[2]))));
    assert!(inner_text.starts_with("--inner\r\n"));
    assert_eq!(format!("{inner_header}{inner_text}"), embedded);

    assert_eq!(
        text_of(&view, Section::Part(path(&[2, 1]))),
        "Monday at 10."
    );
    assert_eq!(
        text_of(&view, Section::Part(path(&[2, 2]))),
        "<p>Monday at 10.</p>"
    );
    assert_eq!(
        text_of(&view, Section::Mime(path(&[2, 2]))),
        "Content-Type: text/html\r\n\r\n"
    );
    assert_eq!(
        text_of(
            &view,
            Section::HeaderFields(Some(path(&[2])), names(&["subject"]))
        ),
        "Subject: Meeting on Monday\r\n\r\n"
    );
    assert_eq!(section(&view, Section::Part(path(&[2, 3]))), None);
    assert_eq!(section(&view, Section::Header(Some(path(&[1])))), None);

    let lines = embedded.matches('\n').count();
    assert_eq!(
        bodystructure(&view),
        format!(
            concat!(
                r#"(("TEXT" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 10 1 NIL NIL NIL NIL)"#,
                r#"("MESSAGE" "RFC822" NIL NIL NIL "7BIT" {size} "#,
                r#"(NIL "Meeting on Monday" (("Mario Rossi" NIL "mario.rossi" "example.it")) (("Mario Rossi" NIL "mario.rossi" "example.it")) (("Mario Rossi" NIL "mario.rossi" "example.it")) ((NIL NIL "anna" "example.org")) NIL NIL NIL "<inner@example.it>") "#,
                r#"(("TEXT" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 13 1 NIL NIL NIL NIL)("TEXT" "html" ("charset" "us-ascii") NIL NIL "7BIT" 20 1 NIL NIL NIL NIL) "alternative" ("boundary" "inner") NIL NIL NIL) "#,
                r#"{lines} NIL ("inline" NIL) NIL NIL)"#,
                r#" "mixed" ("boundary" "fwd") NIL NIL NIL)"#
            ),
            size = embedded.len(),
            lines = lines
        )
    );

    let text = view.body_text();
    assert!(text.contains("See below."), "{text}");
    assert!(
        text.contains("Subject: Meeting on Monday"),
        "embedded headers: {text}"
    );
    assert!(text.contains("Monday at 10."), "{text}");
}

#[test]
fn lf_only_message_is_sliced_as_stored() {
    let raw = b"From: a@example.org\nSubject: lf\n folded\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b\nContent-Type: text/plain\n\ntwo\n--b--\n".to_vec();
    let view = MessageView::parse(&raw);
    assert_eq!(
        text_of(&view, Section::Header(None)),
        "From: a@example.org\nSubject: lf\n folded\nContent-Type: multipart/mixed; boundary=b\n\n"
    );
    assert_eq!(text_of(&view, Section::Part(path(&[1]))), "one");
    assert_eq!(text_of(&view, Section::Mime(path(&[1]))), "\n");
    assert_eq!(text_of(&view, Section::Part(path(&[2]))), "two");
    assert_eq!(
        text_of(&view, Section::HeaderFields(None, names(&["subject"]))),
        "Subject: lf\n folded\n\r\n"
    );
    assert_eq!(view.header_values("Subject"), vec!["lf folded".to_owned()]);
    assert_eq!(
        body(&view),
        r#"(("TEXT" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 3 1)("TEXT" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 3 1) "mixed")"#
    );
}

#[test]
fn message_without_body() {
    let raw = crlf("From: a@example.org\nSubject: only headers");
    let view = MessageView::parse(&raw);
    assert_eq!(
        section(&view, Section::Header(None)).as_deref(),
        Some(&raw[..])
    );
    assert_eq!(section(&view, Section::Text(None)), Some(Vec::new()));
    assert_eq!(section(&view, Section::Part(path(&[1]))), Some(Vec::new()));
    assert_eq!(
        text_of(&view, Section::HeaderFields(None, names(&["subject"]))),
        "Subject: only headers\r\n\r\n"
    );
    assert_eq!(
        bodystructure(&view),
        r#"("TEXT" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 0 0 NIL NIL NIL NIL)"#
    );
    assert_eq!(view.body_text(), "\n");

    let empty = MessageView::parse(b"");
    assert_eq!(empty.section(None).as_deref(), Some(&b""[..]));
    assert_eq!(
        envelope(&empty, false),
        "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"
    );
}

#[test]
fn folded_headers_are_unfolded() {
    let raw = crlf("Subject: a long subject\n\tthat continues\n  here\nTo: first@example.org,\n second@example.org\nDate: Fri, 11 Apr\n 2025 12:00:00 +0200\n\nbody\n");
    let view = MessageView::parse(&raw);
    assert_eq!(
        view.header_values("subject"),
        vec!["a long subject\tthat continues  here".to_owned()]
    );
    assert_eq!(
        envelope(&view, false),
        r#"("Fri, 11 Apr 2025 12:00:00 +0200" "a long subject	that continues  here" NIL NIL NIL ((NIL NIL "first" "example.org")(NIL NIL "second" "example.org")) NIL NIL NIL NIL)"#
    );
    assert_eq!(
        text_of(&view, Section::HeaderFields(None, names(&["to"]))),
        "To: first@example.org,\r\n second@example.org\r\n\r\n"
    );
    assert_eq!(
        view.sent_date(),
        chrono::NaiveDate::from_ymd_opt(2025, 4, 11)
    );
}

#[test]
fn rfc2047_subject_and_names() {
    let raw = crlf(
        "From: =?ISO-8859-1?Q?Andr=E9?= Pirard <pirard@example.be>
To: =?utf-8?B?Tmljb2zDsg==?= <nicolo@example.it>, \"Plain, Name\" <plain@example.it>
Subject: =?utf-8?Q?Ricevuta_di_accettazione:_cos=C3=AC?=
Date: Sat, 12 Apr 2025 07:05:00 +0100

x
",
    );
    let view = MessageView::parse(&raw);
    let ascii = envelope(&view, false);
    assert!(
        ascii.starts_with(r#"("Sat, 12 Apr 2025 07:05:00 +0100" "=?utf-8?Q?Ricevuta_di_accettazione:_cos=C3=AC?=" (("=?utf-8?B?QW5kcsOpIFBpcmFyZA==?=" NIL "pirard" "example.be"))"#),
        "{ascii}"
    );
    assert!(
        ascii.contains(r#"(("=?utf-8?B?Tmljb2zDsg==?=" NIL "nicolo" "example.it")("Plain, Name" NIL "plain" "example.it"))"#),
        "{ascii}"
    );
    let utf8 = envelope(&view, true);
    assert!(
        utf8.contains(r#"(("André Pirard" NIL "pirard" "example.be"))"#),
        "{utf8}"
    );
    assert!(
        utf8.contains(r#"("Nicolò" NIL "nicolo" "example.it")"#),
        "{utf8}"
    );

    assert_eq!(
        view.decoded_header("SUBJECT"),
        vec!["Ricevuta di accettazione: così".to_owned()]
    );
    assert_eq!(
        view.header_values("subject"),
        vec!["=?utf-8?Q?Ricevuta_di_accettazione:_cos=C3=AC?=".to_owned()]
    );
}

#[test]
fn eight_bit_utf8_headers() {
    let raw = crlf(
        "From: Niccolò Ammaniti <niccolò@esempio.it>
Subject: Perché è così
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Città più bella.
",
    );
    let view = MessageView::parse(&raw);
    let ascii = envelope(&view, false);
    assert!(
        ascii.starts_with(r#"(NIL "=?utf-8?B?UGVyY2jDqSDDqCBjb3PDrA==?=" (("=?utf-8?B?TmljY29sw7IgQW1tYW5pdGk=?=" NIL {8}"#),
        "{ascii}"
    );
    let utf8 = envelope(&view, true);
    assert!(
        utf8.starts_with(
            r#"(NIL "Perché è così" (("Niccolò Ammaniti" NIL "niccolò" "esempio.it"))"#
        ),
        "{utf8}"
    );
    assert_eq!(
        view.decoded_header("subject"),
        vec!["Perché è così".to_owned()]
    );
    assert!(view.body_text().contains("Città più bella."));
}

#[test]
fn groups_and_defaults() {
    let raw = crlf(
        "From: Ufficio Protocollo <protocollo@comune.example.it>
Reply-To: risposte@comune.example.it
To: Undisclosed recipients:;
Cc: Team: alice@example.org, Bob <bob@example.org>;, carol@example.org
Subject:

x
",
    );
    let view = MessageView::parse(&raw);
    let from = r#"(("Ufficio Protocollo" NIL "protocollo" "comune.example.it"))"#;
    assert_eq!(
        envelope(&view, false),
        format!(
            concat!(
                r#"(NIL "" {from} {from} ((NIL NIL "risposte" "comune.example.it")) "#,
                r#"((NIL NIL "Undisclosed recipients" NIL)(NIL NIL NIL NIL)) "#,
                r#"((NIL NIL "Team" NIL)(NIL NIL "alice" "example.org")("Bob" NIL "bob" "example.org")(NIL NIL NIL NIL)(NIL NIL "carol" "example.org")) "#,
                r#"NIL NIL NIL)"#
            ),
            from = from
        )
    );
}

#[test]
fn address_without_domain_is_not_a_group() {
    let raw = crlf("From: root\nTo: root (Cron Daemon)\nCc: \"Only a name\"\n\nx");
    let view = MessageView::parse(&raw);
    assert_eq!(
        envelope(&view, false),
        concat!(
            r#"(NIL NIL ((NIL NIL "root" ".MISSING-HOST-NAME.")) ((NIL NIL "root" ".MISSING-HOST-NAME.")) "#,
            r#"((NIL NIL "root" ".MISSING-HOST-NAME.")) (("Cron Daemon" NIL "root" ".MISSING-HOST-NAME.")) NIL NIL NIL NIL)"#
        )
    );
}

#[test]
fn sent_date_is_the_headers_own_day() {
    let raw = crlf("Date: Mon, 31 Mar 2025 23:30:00 -0500\n\nx");
    let view = MessageView::parse(&raw);
    assert_eq!(
        view.sent_date(),
        chrono::NaiveDate::from_ymd_opt(2025, 3, 31)
    );
    assert_eq!(
        MessageView::parse(b"Date: yesterday\r\n\r\n").sent_date(),
        None
    );
    assert_eq!(MessageView::parse(b"\r\nno header").sent_date(), None);
}

#[test]
fn multipart_digest_defaults_to_message_rfc822() {
    let raw = crlf(
        "Content-Type: multipart/digest; boundary=d

--d

Subject: first

one
--d--
",
    );
    let view = MessageView::parse(&raw);
    assert_eq!(
        text_of(&view, Section::Header(Some(path(&[1])))),
        "Subject: first\r\n\r\n"
    );
    assert_eq!(text_of(&view, Section::Part(path(&[1, 1]))), "one");
}

#[test]
fn malformed_input_never_panics() {
    let broken: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"\r\n".to_vec(),
        b"\n\n\n".to_vec(),
        b"garbage without any header".to_vec(),
        b": empty name\r\n\r\n".to_vec(),
        b" leading fold\r\n\r\nbody".to_vec(),
        b"\0\0\xff\xfe\r\n\x80: \x81\r\n\r\n\0".to_vec(),
        // Missing boundary parameter.
        crlf("Content-Type: multipart/mixed\n\n--x\n\nhello\n--x--\n"),
        // Boundary declared but never used.
        crlf("Content-Type: multipart/mixed; boundary=zz\n\nno delimiters here\n"),
        // Only a close delimiter.
        crlf("Content-Type: multipart/mixed; boundary=zz\n\n--zz--\n"),
        // Truncated multipart: no close delimiter, part header cut.
        crlf("Content-Type: multipart/mixed; boundary=t\n\n--t\nContent-Type: text/pl"),
        crlf("Content-Type: message/rfc822\n\n"),
        crlf("Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nRnJvbTogYQ=="),
        crlf("Content-Type: ; ; ;\nContent-Disposition: ;\nContent-Language: ,,\n\nx"),
        crlf("From: \"unterminated <a@\nTo: <<<>>>@@@\nCc: g: ;;;:\n\n"),
    ];
    let mut inputs = broken;
    // Every prefix of a nested message stands for a truncated store write.
    let forward = crlf(FORWARD);
    inputs.extend((0..forward.len()).map(|end| forward[..end].to_vec()));
    // Deterministic pseudo-random bytes biased towards MIME syntax.
    let alphabet = b"-\r\n:;=\"<>@ \tabAB\x00\xc3\xa8";
    let mut state: u32 = 0x2545_f491;
    for _ in 0..200 {
        let mut input = b"Content-Type: multipart/mixed; boundary=a\r\n\r\n".to_vec();
        for _ in 0..300 {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            input.push(alphabet[state as usize % alphabet.len()]);
        }
        inputs.push(input);
    }

    for input in &inputs {
        let view = MessageView::parse(input);
        exercise(&view, input);
    }
}

fn exercise(view: &MessageView<'_>, input: &[u8]) {
    for utf8 in [false, true] {
        envelope(view, utf8);
    }
    bodystructure(view);
    body(view);
    assert_eq!(view.section(None).as_deref(), Some(input));
    for numbers in [&[1][..], &[2], &[1, 1], &[2, 1], &[2, 2], &[1, 2, 3]] {
        let part = path(numbers);
        for section in [
            Section::Part(part.clone()),
            Section::Mime(part.clone()),
            Section::Header(Some(part.clone())),
            Section::Text(Some(part.clone())),
            Section::HeaderFields(Some(part.clone()), names(&["subject"])),
            Section::HeaderFieldsNot(Some(part), names(&["subject"])),
        ] {
            view.section(Some(&section));
        }
    }
    view.body_text();
    view.decoded_header("from");
    view.sent_date();
}

#[test]
fn missing_boundary_is_shown_as_text() {
    let raw = crlf("Content-Type: multipart/mixed\n\n--x\n\nhello\n--x--\n");
    let view = MessageView::parse(&raw);
    assert_eq!(
        body(&view),
        r#"("TEXT" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 21 4)"#
    );
    assert_eq!(
        text_of(&view, Section::Part(path(&[1]))),
        "--x\r\n\r\nhello\r\n--x--\r\n"
    );
}

#[test]
fn encoded_message_rfc822_is_an_opaque_attachment() {
    let raw = crlf(
        "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nU3ViamVjdDogeA0KDQp5",
    );
    let view = MessageView::parse(&raw);
    assert_eq!(
        body(&view),
        r#"("application" "octet-stream" NIL NIL NIL "base64" 20)"#
    );
    assert_eq!(section(&view, Section::Header(Some(path(&[1])))), None);
}

#[test]
fn truncated_multipart_keeps_the_parts_it_has() {
    let raw = crlf("Content-Type: multipart/mixed; boundary=t\n\n--t\n\nfirst\n--t\nContent-Type: text/plain\n\nsecond, cut he");
    let view = MessageView::parse(&raw);
    assert_eq!(text_of(&view, Section::Part(path(&[1]))), "first");
    assert_eq!(text_of(&view, Section::Part(path(&[2]))), "second, cut he");
    assert_eq!(section(&view, Section::Part(path(&[3]))), None);
}

// SEARCH

struct Fixture {
    keywords: Vec<String>,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            keywords: vec!["$Forwarded".to_owned(), "Urgent".to_owned()],
        }
    }

    fn subject<'s>(&'s self, message: Option<&'s MessageView<'s>>) -> SearchSubject<'s> {
        SearchSubject {
            seq: 3,
            uid: 120,
            seen: true,
            answered: false,
            flagged: true,
            deleted: false,
            draft: false,
            recent: false,
            keywords: &self.keywords,
            size: 2048,
            // 2025-04-07T22:30:00Z, already the 8th in Rome (UTC+2 in April).
            internal_date: 1_744_065_000,
            modseq: 77,
            message,
        }
    }
}

const CTX: SearchContext = SearchContext {
    max_seq: 5,
    max_uid: 130,
    utc_offset_seconds: 7200,
};

fn set(text: &str) -> SequenceSet {
    SequenceSet::try_from(text).expect("valid sequence set")
}

fn astring(text: &'static str) -> AString<'static> {
    AString::try_from(text).expect("valid astring")
}

fn date(y: i32, m: u32, d: u32) -> ImapDate {
    ImapDate::try_from(chrono::NaiveDate::from_ymd_opt(y, m, d).expect("valid date"))
        .expect("IMAP date")
}

#[test]
fn set_contains_handles_star_and_reversed_ranges() {
    assert!(set_contains(&set("3"), 3, 5));
    assert!(!set_contains(&set("4"), 3, 5));
    assert!(set_contains(&set("1:*"), 5, 5));
    assert!(set_contains(&set("*"), 5, 5));
    assert!(!set_contains(&set("*"), 4, 5));
    assert!(set_contains(&set("5:2"), 3, 5));
    assert!(set_contains(&set("*:4"), 4, 5));
    assert!(!set_contains(&set("*:4"), 3, 5));
    assert!(set_contains(&set("1,3:4,9"), 9, 5));
    // RFC 3501 §6.4.8: "559:*" includes the last UID even when it is below 559.
    assert!(set_contains(&set("559:*"), 500, 500));
}

#[test]
fn search_metadata_keys() {
    let fixture = Fixture::new();
    let s = fixture.subject(None);
    let yes = |key: SearchKey<'_>| {
        assert!(!needs_content(&key), "{key:?} needs no content");
        assert!(matches(&key, &s, &CTX), "{key:?} should match");
    };
    yes(SearchKey::All);
    yes(SearchKey::SequenceSet(set("2:*")));
    yes(SearchKey::Uid(set("120")));
    yes(SearchKey::Uid(set("125:110")));
    yes(SearchKey::Uid(set("119:*")));
    yes(SearchKey::Seen);
    yes(SearchKey::Flagged);
    yes(SearchKey::Unanswered);
    yes(SearchKey::Undeleted);
    yes(SearchKey::Undraft);
    yes(SearchKey::Old);
    yes(SearchKey::Keyword(Atom::try_from("urgent").expect("atom")));
    yes(SearchKey::Unkeyword(Atom::try_from("$Junk").expect("atom")));
    yes(SearchKey::Larger(2047));
    yes(SearchKey::Smaller(2049));
    yes(SearchKey::On(date(2025, 4, 8)));
    yes(SearchKey::Since(date(2025, 4, 8)));
    yes(SearchKey::Before(date(2025, 4, 9)));
    yes(SearchKey::ModSequence {
        entry: None,
        modseq: 77,
    });
    yes(SearchKey::Not(Box::new(SearchKey::Recent)));
    yes(SearchKey::Or(
        Box::new(SearchKey::Deleted),
        Box::new(SearchKey::Flagged),
    ));

    let no = |key: SearchKey<'_>| assert!(!matches(&key, &s, &CTX), "{key:?} should not match");
    no(SearchKey::SequenceSet(set("4:*")));
    no(SearchKey::Uid(set("1:119")));
    no(SearchKey::Unseen);
    no(SearchKey::New);
    no(SearchKey::Recent);
    no(SearchKey::Larger(2048));
    no(SearchKey::Smaller(2048));
    no(SearchKey::On(date(2025, 4, 7)));
    no(SearchKey::Before(date(2025, 4, 8)));
    no(SearchKey::ModSequence {
        entry: None,
        modseq: 78,
    });
    no(SearchKey::Or(
        Box::new(SearchKey::Deleted),
        Box::new(SearchKey::Answered),
    ));
    no(SearchKey::And(
        Vec1::try_from(vec![SearchKey::Seen, SearchKey::Draft]).expect("keys"),
    ));
}

#[test]
fn search_new_is_recent_and_unseen() {
    let fixture = Fixture::new();
    let mut s = fixture.subject(None);
    s.recent = true;
    s.seen = false;
    assert!(matches(&SearchKey::New, &s, &CTX));
    assert!(matches(&SearchKey::Recent, &s, &CTX));
    assert!(!matches(&SearchKey::Old, &s, &CTX));
}

#[test]
fn search_content_keys() {
    let raw = crlf(MIXED);
    let view = MessageView::parse(&raw);
    let fixture = Fixture::new();
    let s = fixture.subject(Some(&view));
    let yes = |key: SearchKey<'_>| {
        assert!(needs_content(&key), "{key:?} needs content");
        assert!(matches(&key, &s, &CTX), "{key:?} should match");
    };
    yes(SearchKey::From(astring("ANNA@example")));
    yes(SearchKey::To(astring("mario.rossi")));
    yes(SearchKey::Subject(astring("docum")));
    yes(SearchKey::Header(
        astring("content-type"),
        astring("MULTIPART"),
    ));
    yes(SearchKey::Header(astring("MIME-Version"), astring("")));
    yes(SearchKey::Body(astring("CONTABILITÀ")));
    yes(SearchKey::Text(astring("contabilità")));
    yes(SearchKey::Text(astring("documents")));
    yes(SearchKey::SentOn(date(2025, 4, 9)));
    yes(SearchKey::SentSince(date(2025, 4, 9)));
    yes(SearchKey::SentBefore(date(2025, 4, 10)));
    yes(SearchKey::And(
        Vec1::try_from(vec![SearchKey::Seen, SearchKey::Body(astring("grazie"))]).expect("keys"),
    ));

    let no = |key: SearchKey<'_>| assert!(!matches(&key, &s, &CTX), "{key:?} should not match");
    no(SearchKey::Cc(astring("")));
    no(SearchKey::Bcc(astring("anna")));
    no(SearchKey::Header(astring("X-Absent"), astring("")));
    no(SearchKey::Body(astring("documents")));
    no(SearchKey::Body(astring("JVBERi0")));
    no(SearchKey::SentBefore(date(2025, 4, 9)));
    no(SearchKey::Not(Box::new(SearchKey::Subject(astring(
        "DOCUMENTS",
    )))));
}

#[test]
fn search_decodes_headers_before_comparing() {
    let raw = crlf(
        "From: =?ISO-8859-1?Q?Andr=E9?= <andre@example.be>
Subject: Perché =?utf-8?B?w6ggY29zw6w=?=

x
",
    );
    let view = MessageView::parse(&raw);
    let fixture = Fixture::new();
    let s = fixture.subject(Some(&view));
    assert!(matches(&SearchKey::From(astring("andré")), &s, &CTX));
    assert!(matches(
        &SearchKey::Subject(astring("PERCHÉ È COSÌ")),
        &s,
        &CTX
    ));
    assert!(matches(&SearchKey::Text(astring("È così")), &s, &CTX));
}

#[test]
fn content_keys_without_content_do_not_match() {
    let fixture = Fixture::new();
    let s = fixture.subject(None);
    assert!(!matches(&SearchKey::Body(astring("x")), &s, &CTX));
    assert!(!matches(&SearchKey::SentOn(date(2025, 4, 9)), &s, &CTX));
    assert!(needs_content(&SearchKey::Or(
        Box::new(SearchKey::Seen),
        Box::new(SearchKey::Not(Box::new(SearchKey::Header(
            astring("x"),
            astring("")
        ))))
    )));
}

/// Every header item a server may answer from the first bytes of a message (ENVELOPE,
/// BODY[HEADER], HEADER.FIELDS and .NOT) is the same from the header block found in any prefix
/// as from the whole message; and a prefix that cuts the header block finds none.
#[test]
fn header_block_of_any_prefix_answers_as_the_whole_message() {
    let lf = b"From: a@example.org\nSubject: lf\n folded\n\nbody\n".to_vec();
    let no_body = crlf("From: a@example.org\nSubject: only headers");
    let bad_line = crlf("From: a@example.org\nnot a field\nSubject: later\n\nbody\n");
    let fixtures: Vec<Vec<u8>> = [PLAIN, ALTERNATIVE, MIXED, FORWARD]
        .iter()
        .map(|m| crlf(m))
        .chain([lf, no_body, bad_line, b"\r\n\r\nbody".to_vec(), Vec::new()])
        .collect();
    let fields = || names(&["subject", "from", "to", "message-id"]);
    for raw in &fixtures {
        let whole = MessageView::parse(raw);
        let header_end = whole.section(Some(&Section::Header(None))).unwrap().len();
        // The header cache keeps that block.
        let kept = crate::HeaderFields::parse(raw).unwrap();
        assert_eq!(kept.block(), &raw[..header_end]);
        for cut in 0..=raw.len() {
            let ends_blank = raw[..header_end].ends_with(b"\n\n")
                || raw[..header_end].ends_with(b"\n\r\n")
                || matches!(&raw[..header_end], b"\n" | b"\r\n");
            let Some(n) = crate::header_block_len(&raw[..cut]) else {
                // Not yet known: the block is cut, or it ends at a line that cannot be a field
                // and that line is, or the message ends without a blank line.
                let deciding_line_cut = !raw[header_end.min(cut)..cut].contains(&b'\n');
                assert!(
                    cut < header_end
                        || (!ends_blank && (deciding_line_cut || header_end == raw.len())),
                    "cut {cut} of {:?}",
                    String::from_utf8_lossy(raw)
                );
                continue;
            };
            assert_eq!(
                n,
                header_end,
                "cut {cut} of {:?}",
                String::from_utf8_lossy(raw)
            );
            let head = MessageView::parse(&raw[..n]);
            for utf8 in [false, true] {
                assert_eq!(head.envelope(utf8), whole.envelope(utf8));
            }
            for s in [
                Section::Header(None),
                Section::HeaderFields(None, fields()),
                Section::HeaderFieldsNot(None, fields()),
            ] {
                assert_eq!(head.section(Some(&s)), whole.section(Some(&s)), "{s:?}");
            }
        }
    }
}
