//! One framed server response ([`super::frame`]) read into what the import needs, through
//! imap-codec's response parser (ARCHITECTURE.md: imap-codec for IMAP). Responses the
//! import has no use for become [`Reply::Other`]; a tagged status or a BYE imap-codec
//! cannot read is still recognised by hand, so a server with an unusual status text does
//! not stall the client; a FETCH it cannot read is an error, never a message skipped.

use imap_codec::decode::Decoder;
use imap_codec::imap_types::fetch::MessageDataItem;
use imap_codec::imap_types::flag::{Flag, FlagFetch};
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::response::{Code, Data, Response, Status, StatusKind};
use imap_codec::ResponseCodec;
use pecd_store::Flags;

/// What a response says, as far as the import cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The completion of a command.
    Tagged {
        tag: String,
        state: State,
        text: String,
    },
    /// `+`: the server waits for a literal's bytes.
    Continue,
    Bye(String),
    /// `CAPABILITY`, each as the server wrote it.
    Capabilities(Vec<String>),
    UidValidity(u32),
    Exists(u32),
    List(ListEntry),
    Fetch(Box<Fetched>),
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Ok,
    No,
    Bad,
}

/// One `LIST` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListEntry {
    /// Attributes as the server wrote them, lower case (`\noselect`, `\sent`).
    pub attributes: Vec<String>,
    pub delimiter: Option<char>,
    /// The name as sent (modified UTF-7, RFC 3501 §5.1.3); `INBOX` for the inbox.
    pub name: Vec<u8>,
}

/// The items of one `FETCH` response the import asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fetched {
    pub uid: Option<u32>,
    pub flags: Flags,
    pub keywords: Vec<String>,
    /// Unix seconds.
    pub internal_date: Option<i64>,
    pub size: Option<u32>,
    pub body: Option<Vec<u8>>,
    /// From the ENVELOPE, angle brackets included as the server sent them.
    pub message_id: Option<Vec<u8>>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unreadable server response: {0}")]
pub struct ParseError(pub String);

/// Reads one complete response (a line, with its literals and the lines after them).
pub fn parse(raw: &[u8]) -> Result<Reply, ParseError> {
    match ResponseCodec::default().decode(raw) {
        Ok((_, response)) => Ok(convert(response)),
        Err(_) => by_hand(raw),
    }
}

fn convert(response: Response<'_>) -> Reply {
    match response {
        Response::CommandContinuationRequest(_) => Reply::Continue,
        Response::Status(Status::Tagged(t)) => Reply::Tagged {
            tag: t.tag.inner().to_string(),
            state: state(t.body.kind),
            text: t.body.text.inner().to_string(),
        },
        Response::Status(Status::Bye(b)) => Reply::Bye(b.text.inner().to_string()),
        Response::Status(Status::Untagged(body)) => match body.code {
            Some(Code::UidValidity(v)) => Reply::UidValidity(v.get()),
            _ => Reply::Other,
        },
        Response::Data(Data::Exists(n)) => Reply::Exists(n),
        Response::Data(Data::Capability(caps)) => {
            Reply::Capabilities(caps.into_iter().map(|c| c.to_string()).collect())
        }
        Response::Data(Data::List {
            items,
            delimiter,
            mailbox,
        }) => Reply::List(ListEntry {
            attributes: items
                .iter()
                .map(|a| a.to_string().to_ascii_lowercase())
                .collect(),
            delimiter: delimiter.map(|d| d.inner()),
            name: match mailbox {
                Mailbox::Inbox => b"INBOX".to_vec(),
                Mailbox::Other(other) => other.as_ref().to_vec(),
            },
        }),
        Response::Data(Data::Fetch { items, .. }) => {
            let mut f = Fetched::default();
            for item in items.into_iter() {
                fetched_item(&mut f, item);
            }
            Reply::Fetch(Box::new(f))
        }
        _ => Reply::Other,
    }
}

fn fetched_item(f: &mut Fetched, item: MessageDataItem<'_>) {
    match item {
        MessageDataItem::Uid(uid) => f.uid = Some(uid.get()),
        MessageDataItem::Rfc822Size(n) => f.size = Some(n),
        MessageDataItem::InternalDate(d) => f.internal_date = Some(d.as_ref().timestamp()),
        MessageDataItem::Flags(flags) => {
            for flag in flags {
                let FlagFetch::Flag(flag) = flag else {
                    continue;
                };
                match flag {
                    Flag::Seen => f.flags = f.flags.union(Flags::SEEN),
                    Flag::Answered => f.flags = f.flags.union(Flags::ANSWERED),
                    Flag::Flagged => f.flags = f.flags.union(Flags::FLAGGED),
                    Flag::Deleted => f.flags = f.flags.union(Flags::DELETED),
                    Flag::Draft => f.flags = f.flags.union(Flags::DRAFT),
                    Flag::Keyword(k) => f.keywords.push(k.inner().to_string()),
                    // An unknown system flag (`\Foo`) cannot be stored as a keyword.
                    Flag::Extension(_) => {}
                }
            }
        }
        MessageDataItem::BodyExt {
            section: None,
            origin: None,
            data,
        }
        | MessageDataItem::Rfc822(data) => f.body = data.into_option().map(|b| b.into_owned()),
        MessageDataItem::Envelope(e) => {
            f.message_id = e.message_id.into_option().map(|b| b.into_owned());
        }
        _ => {}
    }
}

fn state(kind: StatusKind) -> State {
    match kind {
        StatusKind::Ok => State::Ok,
        StatusKind::No => State::No,
        StatusKind::Bad => State::Bad,
    }
}

/// A response imap-codec refused: a tagged status or a BYE is read from its first words;
/// a FETCH is an error; anything else untagged is of no use to the import.
fn by_hand(raw: &[u8]) -> Result<Reply, ParseError> {
    let line = raw.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let line = line.trim_end();
    let mut words = line.splitn(3, ' ');
    let (first, second) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let rest = words.next().unwrap_or("").to_string();
    let short = || ParseError(line.chars().take(120).collect());
    match first {
        "+" => Ok(Reply::Continue),
        "*" if second.eq_ignore_ascii_case("BYE") => Ok(Reply::Bye(rest)),
        "*" if rest
            .split(' ')
            .next()
            .is_some_and(|w| w.eq_ignore_ascii_case("FETCH")) =>
        {
            Err(short())
        }
        "*" => Ok(Reply::Other),
        tag if !tag.is_empty() && tag.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            let state = match second.to_ascii_uppercase().as_str() {
                "OK" => State::Ok,
                "NO" => State::No,
                "BAD" => State::Bad,
                _ => return Err(short()),
            };
            Ok(Reply::Tagged {
                tag: tag.to_string(),
                state,
                text: rest,
            })
        }
        _ => Err(short()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_with_body_flags_keywords_date_and_message_id() {
        let raw = b"* 1 FETCH (UID 42 RFC822.SIZE 5 FLAGS (\\Seen \\Flagged $Forwarded \\Recent) \
INTERNALDATE \"05-Dec-2026 10:00:00 +0100\" ENVELOPE (NIL \"s\" NIL NIL NIL NIL NIL NIL NIL \"<a@b>\") \
BODY[] {5}\r\nab\r\nc)\r\n";
        let Reply::Fetch(f) = parse(raw).unwrap() else {
            panic!("not a fetch")
        };
        assert_eq!(f.uid, Some(42));
        assert_eq!(f.size, Some(5));
        assert_eq!(f.flags, Flags::SEEN.union(Flags::FLAGGED));
        assert_eq!(f.keywords, vec!["$Forwarded".to_string()]);
        assert_eq!(f.internal_date, Some(1_796_461_200));
        assert_eq!(f.body.as_deref(), Some(&b"ab\r\nc"[..]));
        assert_eq!(f.message_id.as_deref(), Some(&b"<a@b>"[..]));
    }

    #[test]
    fn list_keeps_special_use_and_the_raw_name() {
        let raw = b"* LIST (\\HasNoChildren \\Sent) \"/\" \"Posta inviata\"\r\n";
        let Reply::List(l) = parse(raw).unwrap() else {
            panic!("not a list")
        };
        assert_eq!(l.attributes, vec!["\\hasnochildren", "\\sent"]);
        assert_eq!(l.delimiter, Some('/'));
        assert_eq!(l.name, b"Posta inviata");
    }

    #[test]
    fn statuses_and_uidvalidity() {
        assert_eq!(
            parse(b"a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n").unwrap(),
            Reply::Tagged {
                tag: "a1".into(),
                state: State::No,
                text: "Authentication failed.".into()
            }
        );
        assert_eq!(
            parse(b"* OK [UIDVALIDITY 1796429968] UIDs valid\r\n").unwrap(),
            Reply::UidValidity(1_796_429_968)
        );
        assert_eq!(parse(b"* 7 EXISTS\r\n").unwrap(), Reply::Exists(7));
        assert_eq!(parse(b"+ go ahead\r\n").unwrap(), Reply::Continue);
    }

    #[test]
    fn an_unreadable_fetch_is_an_error_and_other_junk_is_ignored() {
        assert!(parse(b"* 1 FETCH (UID \x01)\r\n").is_err());
        assert_eq!(parse(b"* XYZZY \x01\r\n").unwrap(), Reply::Other);
        assert!(parse(b"\x00\x01\r\n").is_err());
    }
}
