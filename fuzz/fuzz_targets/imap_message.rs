//! IMAP views of one message (`pecd_imap_message::MessageView`): the MIME tree, ENVELOPE,
//! BODY and BODYSTRUCTURE, BODY[section] for the sections a FETCH names, and SEARCH key
//! evaluation. The input is one IMAP command line (a FETCH or SEARCH, decoded by imap-codec
//! to get the sections and search keys), CRLF, then the message. Each FETCH item of the
//! top-level header is also checked to come out the same from the header block alone, found
//! in a prefix of the message (`header_block_len`), as a server reading only that does.
#![no_main]

use imap_codec::decode::Decoder;
use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::fetch::{MacroOrMessageDataItemNames, MessageDataItemName, Section};
use imap_codec::CommandCodec;
use libfuzzer_sys::fuzz_target;
use pecd_imap_message::{
    header_block_len, matches, needs_content, HeaderFields, MessageView, SearchContext,
    SearchSubject,
};

/// The header items of `view` (of a whole message) equal those of the header block read
/// from the first `cut` bytes, when those show where it ends.
fn head_agrees(view: &MessageView<'_>, raw: &[u8], cut: usize, sections: &[&Section<'_>]) {
    let prefix = &raw[..cut.min(raw.len())];
    let Some(n) = header_block_len(prefix) else {
        return;
    };
    let head = MessageView::parse(&prefix[..n]);
    assert_eq!(head.envelope(false), view.envelope(false));
    assert_eq!(head.envelope(true), view.envelope(true));
    assert_eq!(head.header_values("subject"), view.header_values("subject"));
    for section in sections {
        assert_eq!(head.section(Some(section)), view.section(Some(section)));
    }
}

fuzz_target!(|data: &[u8]| {
    let (line, raw) = match data.windows(2).position(|w| w == b"\r\n") {
        Some(i) => (&data[..i + 2], &data[i + 2..]),
        None => (&data[..0], data),
    };
    let view = MessageView::parse(raw);
    let _ = view.envelope(false);
    let _ = view.envelope(true);
    let _ = view.body_structure(false);
    let _ = view.body_structure(true);
    let _ = view.section(None);
    let _ = view.header_values("subject");
    let _ = view.sent_date();
    // The header cache's copy of the block is the same block.
    if let Some(kept) = HeaderFields::parse(raw) {
        let header = view.section(Some(&Section::Header(None)));
        assert_eq!(Some(kept.block()), header.as_deref());
    }
    let cut = line.len() * 61 % (raw.len() + 1);
    let header = Section::Header(None);
    head_agrees(&view, raw, cut, &[&header]);
    head_agrees(&view, raw, raw.len(), &[&header]);
    let Ok((_, command)) = CommandCodec::default().decode(line) else {
        return;
    };
    match command.body {
        CommandBody::Fetch {
            macro_or_item_names: MacroOrMessageDataItemNames::MessageDataItemNames(items),
            ..
        } => {
            let mut top = Vec::new();
            for item in &items {
                if let MessageDataItemName::BodyExt { section, .. } = item {
                    let _ = view.section(section.as_ref());
                    if let Some(
                        s @ (Section::HeaderFields(None, _) | Section::HeaderFieldsNot(None, _)),
                    ) = section
                    {
                        top.push(s);
                    }
                }
            }
            head_agrees(&view, raw, cut, &top);
        }
        CommandBody::Search { criteria, .. } => {
            let keywords = vec!["$Label1".to_string()];
            let subject = SearchSubject {
                seq: 2,
                uid: 7,
                seen: true,
                answered: false,
                flagged: true,
                deleted: false,
                draft: false,
                recent: true,
                keywords: &keywords,
                size: raw.len() as u64,
                internal_date: 1_730_710_800,
                modseq: 5,
                message: Some(&view),
            };
            let ctx = SearchContext {
                max_seq: 3,
                max_uid: 9,
                utc_offset_seconds: 3600,
            };
            for key in criteria.as_ref() {
                let _ = needs_content(key);
                let _ = matches(key, &subject, &ctx);
            }
        }
        _ => {}
    }
});
