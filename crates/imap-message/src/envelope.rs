//! FETCH ENVELOPE (RFC 3501 §7.4.2) of a message or of an embedded message/rfc822.

use imap_codec::imap_types::{
    core::NString,
    envelope::{Address, Envelope},
};
use mail_parser::{parsers::MessageStream, Addr, HeaderValue};

use crate::{
    mime::{terminated, Part},
    strings::{display_text, istring, nstring, unfold},
};

/// UW imapd's placeholder for an address without a domain: a NIL host would mark a group.
const MISSING_HOST: &[u8] = b".MISSING-HOST-NAME.";

pub(crate) fn envelope(raw: &[u8], part: &Part, utf8: bool) -> Envelope<'static> {
    let raw_value = |name: &str| part.first_value(raw, name).map(unfold);
    let from = addresses(raw, part, "from", utf8);
    // RFC 3501: an absent or empty Sender or Reply-To is reported as From.
    let or_from = |list: Vec<Address<'static>>| if list.is_empty() { from.clone() } else { list };
    Envelope {
        date: nstring(raw_value("date"), utf8),
        subject: NString(raw_value("subject").map(|subject| display_text(subject, utf8))),
        sender: or_from(addresses(raw, part, "sender", utf8)),
        reply_to: or_from(addresses(raw, part, "reply-to", utf8)),
        to: addresses(raw, part, "to", utf8),
        cc: addresses(raw, part, "cc", utf8),
        bcc: addresses(raw, part, "bcc", utf8),
        in_reply_to: nstring(raw_value("in-reply-to"), utf8),
        message_id: nstring(raw_value("message-id"), utf8),
        from,
    }
}

/// Every address of every occurrence of the field. A group is its name as a mailbox with a
/// NIL host, its members, then an all-NIL terminator (RFC 3501 §7.4.2).
fn addresses(raw: &[u8], part: &Part, name: &str, utf8: bool) -> Vec<Address<'static>> {
    let mut out = Vec::new();
    for value in part.values(raw, name) {
        let input = terminated(value);
        let HeaderValue::Address(parsed) = MessageStream::new(&input).parse_address() else {
            continue;
        };
        match parsed {
            mail_parser::Address::List(list) => {
                out.extend(list.iter().filter_map(|addr| address(addr, utf8)));
            }
            mail_parser::Address::Group(groups) => {
                for group in groups {
                    let members = group
                        .addresses
                        .iter()
                        .filter_map(|addr| address(addr, utf8));
                    let Some(group_name) = group.name else {
                        out.extend(members);
                        continue;
                    };
                    out.push(Address {
                        name: NString::NIL,
                        adl: NString::NIL,
                        mailbox: NString(Some(istring(group_name.into_owned().into_bytes(), utf8))),
                        host: NString::NIL,
                    });
                    out.extend(members);
                    out.push(Address {
                        name: NString::NIL,
                        adl: NString::NIL,
                        mailbox: NString::NIL,
                        host: NString::NIL,
                    });
                }
            }
        }
    }
    out
}

/// A lone word such as `From: root` (local cron mail) is a mailbox without a domain, which
/// mail-parser reports as a name. Other entries without an address have no ENVELOPE form and
/// are skipped.
fn address(addr: &Addr<'_>, utf8: bool) -> Option<Address<'static>> {
    let (email, name) = match (addr.address.as_deref(), addr.name.as_deref()) {
        (Some(email), name) => (email.trim(), name),
        (None, Some(word))
            if !word.trim().is_empty() && !word.trim().contains(char::is_whitespace) =>
        {
            (word.trim(), None)
        }
        (None, _) => return None,
    };
    if email.is_empty() {
        return None;
    }
    let (mailbox, host) = match email.rsplit_once('@') {
        Some((mailbox, host)) if !host.is_empty() => (mailbox, host.as_bytes()),
        Some((mailbox, _)) => (mailbox, MISSING_HOST),
        None => (email, MISSING_HOST),
    };
    let name = name
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| display_text(name.as_bytes().to_vec(), utf8));
    Some(Address {
        name: NString(name),
        adl: NString::NIL,
        mailbox: NString(Some(istring(mailbox.as_bytes().to_vec(), utf8))),
        host: NString(Some(istring(host.to_vec(), utf8))),
    })
}
