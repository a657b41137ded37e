//! LIST and LSUB (RFC 9051 §6.3.9, RFC 3501 §6.3.8–9) with LIST-EXTENDED (RFC 5258),
//! LIST-STATUS (RFC 5819), CHILDREN (RFC 3348) and SPECIAL-USE (RFC 6154), and the mailbox
//! patterns they match (RFC 9051 §6.3.9: `*` and `%`). Special-use attributes are in every
//! LIST and LSUB reply, asked for or not (CLIENTS.md §5 bug 6: macOS Mail never asks). The
//! extended syntax is recognised in [`crate::extended`].

use std::collections::BTreeMap;

use imap_codec::imap_types::command::{Command, CommandBody};
use imap_codec::imap_types::core::{Atom, QuotedChar, Tag};
use imap_codec::imap_types::flag::FlagNameAttribute;
use imap_codec::imap_types::mailbox::{ListMailbox, Mailbox as ImapMailbox};
use imap_codec::imap_types::response::Data;
use imap_codec::imap_types::status::StatusDataItemName;
use imap_codec::imap_types::IntoStatic;
use imap_codec::{decode::Decoder, CommandCodec};
use pecd_store::Folder;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::{bad, store_refusal, Outcome, Refusal};
use crate::extended::{ExtendedList, ListOptions};
use crate::session::Session;

/// The hierarchy delimiter.
pub const DELIMITER: char = '/';

/// Most bytes of `reference + pattern`, summed over the patterns of one LIST or LSUB; more
/// gets BAD. Matching costs up to pattern × name per folder.
pub const MAX_PATTERN_BYTES: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    /// `*`: anything, delimiters included.
    Any,
    /// `%`: anything but the delimiter.
    AnyButDelimiter,
    Char(char),
}

/// A compiled RFC 3501 §6.3.8 mailbox pattern: `*` matches anything, `%` anything but the
/// delimiter, and INBOX matches case-insensitively. Matching is a set-of-states walk over the
/// name, O(pattern × name) at worst, never exponential (a pattern of thousands of stars used
/// to take hours by backtracking).
pub struct Pattern {
    exact: Vec<Token>,
    /// The pattern with its first five characters in upper case, for `INBOX` and `INBOX/...`
    /// names; `None` when that changes nothing.
    inbox: Option<Vec<Token>>,
}

impl Pattern {
    pub fn new(pattern: &str) -> Pattern {
        let exact = tokens(pattern);
        let upper: String = pattern
            .char_indices()
            .map(|(i, c)| if i < 5 { c.to_ascii_uppercase() } else { c })
            .collect();
        let inbox = (upper != pattern).then(|| tokens(&upper));
        Pattern { exact, inbox }
    }

    pub fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        if glob(&self.exact, &name) {
            return true;
        }
        let is_inbox = name.starts_with(&['I', 'N', 'B', 'O', 'X'])
            && (name.len() == 5 || name[5] == DELIMITER);
        match &self.inbox {
            Some(upper) if is_inbox => glob(upper, &name),
            _ => false,
        }
    }
}

/// The pattern's tokens, with every run of wildcards collapsed into one (`**` is `*`, `%*`
/// and `*%` are `*`, `%%` is `%`), so that a wildcard is always followed by a character or
/// the end.
fn tokens(pattern: &str) -> Vec<Token> {
    let mut out: Vec<Token> = Vec::with_capacity(pattern.len());
    for c in pattern.chars() {
        let token = match c {
            '*' => Token::Any,
            '%' => Token::AnyButDelimiter,
            c => Token::Char(c),
        };
        match (out.last_mut(), token) {
            (Some(last @ Token::AnyButDelimiter), Token::Any) => *last = Token::Any,
            (Some(Token::Any | Token::AnyButDelimiter), Token::Any | Token::AnyButDelimiter) => {}
            _ => out.push(token),
        }
    }
    out
}

/// Whether `p` matches all of `name`. `live[j]` says that `p[..j]` matches the part of the
/// name read so far; only the window `lo..=hi` of states can be live, and it moves right by
/// at most two states per character, so a long pattern against a short name costs little.
/// A live `*` state makes every state left of it redundant (whatever they could still match,
/// the `*` matches too), so the window starts at the last live `*`: with `*` alone the walk
/// is linear, like the classic greedy matcher. Past the name's last delimiter the same holds
/// for `%`.
fn glob(p: &[Token], name: &[char]) -> bool {
    let literals = p.iter().filter(|t| matches!(t, Token::Char(_))).count();
    if literals > name.len() {
        return false;
    }
    let wildcard = |j: usize| matches!(p.get(j), Some(Token::Any | Token::AnyButDelimiter));
    let mut live = vec![false; p.len() + 1];
    live[0] = true;
    // A wildcard also matches nothing; runs were collapsed, so one step is the whole closure.
    if wildcard(0) {
        live[1] = true;
    }
    let (mut lo, mut hi) = (0, usize::from(wildcard(0)));
    let last_delimiter = name.iter().rposition(|&c| c == DELIMITER);
    for (at, &c) in name.iter().enumerate() {
        let top = (hi + 2).min(p.len());
        // Right to left, so that each state is read before it is overwritten.
        for j in (lo..=hi).rev() {
            let was = live[j];
            if j < p.len() && was && p[j] == Token::Char(c) {
                live[j + 1] = true;
            }
            live[j] = was
                && match p.get(j) {
                    Some(Token::Any) => true,
                    Some(Token::AnyButDelimiter) => c != DELIMITER,
                    _ => false,
                };
        }
        for j in lo..top {
            if live[j] && wildcard(j) {
                live[j + 1] = true;
            }
        }
        hi = match (lo..=top).rev().find(|&j| live[j]) {
            Some(last) => last,
            None => return false,
        };
        let no_delimiter_left = last_delimiter.is_none_or(|d| d <= at);
        let dominates = |j: usize| match p.get(j) {
            Some(Token::Any) => true,
            Some(Token::AnyButDelimiter) => no_delimiter_left,
            _ => false,
        };
        lo = (lo..=hi)
            .rev()
            .find(|&j| live[j] && dominates(j))
            .or_else(|| (lo..=hi).find(|&j| live[j]))
            .expect("hi is live");
    }
    live[p.len()]
}

struct Entry {
    exists: bool,
    subscribed: bool,
    special_use: Option<&'static str>,
    has_children: bool,
    /// A subscribed descendant (RECURSIVEMATCH's CHILDINFO).
    subscribed_child: bool,
}

/// A folder that a LIST or LSUB shows: its name, attributes, whether it gets CHILDINFO
/// (RFC 5258 §3.5), and whether it exists (then LIST-STATUS reports it).
struct Shown {
    name: String,
    attrs: Vec<String>,
    child_info: bool,
    exists: bool,
}

/// The STATUS items of LIST-STATUS's RETURN (RFC 5819), decoded as a STATUS command's.
fn status_items(options: &ListOptions) -> Result<Option<Vec<StatusDataItemName>>, Refusal> {
    let Some(items) = &options.status else {
        return Ok(None);
    };
    let probe = [b"x STATUS INBOX (".as_slice(), items, b")\r\n"].concat();
    match CommandCodec::default().decode(&probe) {
        Ok((
            _,
            Command {
                body: CommandBody::Status { item_names, .. },
                ..
            },
        )) => Ok(Some(item_names.into_owned())),
        _ => Err(bad("Invalid STATUS items in RETURN")),
    }
}

/// Every folder, plus the parents its name implies.
fn entries(folders: &[Folder]) -> BTreeMap<String, Entry> {
    let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
    for f in folders {
        entries.insert(
            f.name.clone(),
            Entry {
                exists: true,
                subscribed: f.subscribed,
                special_use: f.role.and_then(|r| r.attribute()),
                has_children: false,
                subscribed_child: false,
            },
        );
    }
    for f in folders {
        let mut name = f.name.as_str();
        while let Some(cut) = name.rfind(DELIMITER) {
            name = &name[..cut];
            let parent = entries.entry(name.to_string()).or_insert(Entry {
                exists: false,
                subscribed: false,
                special_use: None,
                has_children: false,
                subscribed_child: false,
            });
            parent.has_children = true;
            if f.subscribed {
                parent.subscribed_child = true;
            }
        }
    }
    entries
}

/// Whether the selection options (RFC 5258 §3.1) keep a matching entry.
fn wanted(e: &Entry, options: &ListOptions, lsub: bool) -> bool {
    if lsub || options.select_subscribed {
        e.subscribed
            || (options.recursive_match && e.subscribed_child)
            || (lsub && e.subscribed_child)
    } else if options.select_special_use {
        e.special_use.is_some()
    } else {
        true
    }
}

/// The attributes of an entry's reply line.
fn attributes(e: &Entry, lsub: bool, extended_reply: bool) -> Vec<String> {
    let mut attrs: Vec<String> = Vec::new();
    if !e.exists {
        attrs.push(
            if extended_reply {
                "\\NonExistent"
            } else {
                "\\Noselect"
            }
            .into(),
        );
    }
    if !lsub {
        attrs.push(
            if e.has_children {
                "\\HasChildren"
            } else {
                "\\HasNoChildren"
            }
            .into(),
        );
    }
    if (lsub && !e.subscribed) && !attrs.iter().any(|a| a == "\\Noselect") {
        attrs.push("\\Noselect".into());
    }
    if let Some(su) = e.special_use {
        attrs.push(su.into());
    }
    if extended_reply && e.subscribed {
        attrs.push("\\Subscribed".into());
    }
    attrs
}

/// The entries that match one of `patterns` and the selection options, in name order.
async fn matching(
    entries: &BTreeMap<String, Entry>,
    patterns: &[Pattern],
    options: &ListOptions,
    lsub: bool,
) -> Vec<Shown> {
    let extended_reply = options.select_subscribed || options.return_subscribed;
    let mut shown = Vec::new();
    for (k, (name, e)) in entries.iter().enumerate() {
        if k % 64 == 63 {
            // Matching is bounded but not free: let other sessions run between folders.
            tokio::task::yield_now().await;
        }
        let full_match = patterns.iter().any(|p| p.matches(name));
        if !full_match {
            continue;
        }
        if !wanted(e, options, lsub) {
            continue;
        }
        shown.push(Shown {
            name: name.clone(),
            attrs: attributes(e, lsub, extended_reply),
            child_info: options.recursive_match && !e.subscribed && e.subscribed_child,
            exists: e.exists,
        });
    }
    shown
}

impl<S: AsyncRead + AsyncWrite + Unpin> Session<'_, S> {
    /// LIST (`lsub` false) and LSUB in their basic form.
    pub(crate) async fn list(
        &mut self,
        reference: &ImapMailbox<'_>,
        wildcard: &ListMailbox<'_>,
        lsub: bool,
    ) -> Outcome {
        let pattern = (self.name_of(reference), self.wildcard_of(wildcard));
        self.list_patterns(&[pattern], &Default::default(), lsub)
            .await
    }

    /// The tag and the `(reference, pattern)` pairs of an extended LIST, each decoded as a
    /// basic LIST; `None` when one does not decode.
    pub(crate) fn extended_patterns(
        &self,
        list: &ExtendedList,
    ) -> Option<(Tag<'static>, Vec<(String, String)>)> {
        let mut patterns = Vec::new();
        let mut tag = None;
        for basic in &list.basic {
            match CommandCodec::default().decode(basic) {
                Ok((
                    _,
                    Command {
                        tag: t,
                        body:
                            CommandBody::List {
                                reference,
                                mailbox_wildcard,
                            },
                    },
                )) => {
                    tag = Some(t.into_static());
                    patterns.push((
                        self.name_of(&reference),
                        self.wildcard_of(&mailbox_wildcard),
                    ));
                }
                _ => return None,
            }
        }
        Some((tag?, patterns))
    }

    /// LIST or LSUB of the folders matching any of `patterns`.
    pub(crate) async fn list_patterns(
        &mut self,
        patterns: &[(String, String)],
        options: &ListOptions,
        lsub: bool,
    ) -> Outcome {
        let verb = if lsub { "LSUB" } else { "LIST" };
        // RFC 3501: an empty pattern asks for the delimiter and the root.
        if patterns.len() == 1 && patterns[0].1.is_empty() {
            self.out.extend_from_slice(
                format!("* {verb} (\\Noselect) \"{DELIMITER}\" \"\"\r\n").as_bytes(),
            );
            return Ok(format!("{verb} completed"));
        }
        let total: usize = patterns.iter().map(|(r, p)| r.len() + p.len()).sum();
        if total > MAX_PATTERN_BYTES {
            return Err(bad(format!(
                "Mailbox patterns longer than {MAX_PATTERN_BYTES} bytes"
            )));
        }
        let compiled: Vec<Pattern> = patterns
            .iter()
            .map(|(reference, pattern)| Pattern::new(&format!("{reference}{pattern}")))
            .collect();
        let status_items = status_items(options)?;
        let folders = self
            .ctx
            .store
            .folders(self.mailbox_id())
            .await
            .map_err(store_refusal)?;
        let entries = entries(&folders);
        for shown in matching(&entries, &compiled, options, lsub).await {
            self.list_line(&shown, lsub);
            if let (Some(items), true) = (&status_items, shown.exists) {
                // RFC 5819: a folder's STATUS follows its LIST line.
                let _ = self.status_of(&shown.name, items).await;
            }
        }
        Ok(format!("{verb} completed"))
    }

    /// One `* LIST` or `* LSUB` line.
    fn list_line(&mut self, shown: &Shown, lsub: bool) {
        let items: Vec<FlagNameAttribute> = shown
            .attrs
            .iter()
            .filter_map(|a| Atom::try_from(a.trim_start_matches('\\').to_string()).ok())
            .map(FlagNameAttribute::from)
            .collect();
        let mailbox = self.imap_name(&shown.name);
        let data = if lsub {
            Data::Lsub {
                items,
                delimiter: Some(QuotedChar::try_from(DELIMITER).expect("valid delimiter")),
                mailbox,
            }
        } else {
            Data::List {
                items,
                delimiter: Some(QuotedChar::try_from(DELIMITER).expect("valid delimiter")),
                mailbox,
            }
        };
        self.data(data);
        if shown.child_info {
            // RFC 5258 §3.5: CHILDINFO extended data, which imap-codec does not encode:
            // the line just written gets it appended before its CRLF.
            if self.out.ends_with(b"\r\n") {
                self.out.truncate(self.out.len() - 2);
                self.out
                    .extend_from_slice(b" (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::Pattern;

    fn matches(pattern: &str, name: &str) -> bool {
        Pattern::new(pattern).matches(name)
    }

    #[test]
    fn wildcards() {
        assert!(matches("*", "INBOX"));
        assert!(matches("*", "a/b/c"));
        assert!(matches("%", "Sent"));
        assert!(!matches("%", "a/b"));
        assert!(matches("a/%", "a/b"));
        assert!(!matches("a/%", "a/b/c"));
        assert!(matches("a/*", "a/b/c"));
        assert!(matches("inbox", "INBOX"));
        assert!(matches("Inbox/%", "INBOX/x"));
        assert!(!matches("sent", "Sent"), "other names are case-sensitive");
        assert!(matches("S*t", "Sent"));
    }

    #[test]
    fn percent_stops_at_the_delimiter() {
        assert!(matches("%/%", "a/b"));
        assert!(!matches("%/%", "a/b/c"));
        assert!(matches("%/*", "a/b/c"));
        assert!(matches("a%c", "abbc"));
        assert!(!matches("a%c", "ab/c"));
        assert!(matches("a*c", "ab/c"));
        assert!(matches("%%%", "abc"), "a run of % is one %");
        assert!(!matches("%%%", "a/c"));
        assert!(matches("%*", "a/b"), "% then * crosses the delimiter");
        assert!(matches("*%", "a/b"));
        assert!(matches("a/%/c", "a/b/c"));
        assert!(!matches("a/%/c", "a/b/x/c"));
        assert!(matches("", ""));
        assert!(!matches("", "a"));
        assert!(matches("%", ""), "a wildcard matches nothing too");
        assert!(matches("*b*", "abc"));
        assert!(!matches("*d*", "abc"));
        assert!(matches("*a*a*a", "aaaa"));
        assert!(!matches("*a*a*a*a*a", "aaaa"));
        assert!(matches("Arch%ve", "Archive"));
        assert!(matches("Pròva/*", "Pròva/è"));
    }

    #[test]
    fn inbox_is_case_insensitive_only_as_inbox() {
        assert!(matches("iNbOx", "INBOX"));
        assert!(matches("inbox/*", "INBOX/a/b"));
        assert!(matches("in%", "INBOX"));
        assert!(!matches("inbox", "INBOXES"));
        assert!(
            !matches("inbox/a", "INBOX/A"),
            "below INBOX names keep their case"
        );
        assert!(!matches("archive", "Archive"));
    }

    /// CPU burn on the async threads: `LIST "" "<k stars>x"` took 1.8 s at k = 45 and hours
    /// at a few hundred.
    #[test]
    fn thousands_of_wildcards_match_at_once() {
        let names = ["INBOX", "Sent", "a/b/c/d/e/f/g/h", &"y".repeat(200)];
        let started = Instant::now();
        for k in [45, 300, 10_000] {
            for wildcard in ["*", "%", "*%"] {
                let p = Pattern::new(&format!("{}x", wildcard.repeat(k)));
                for name in names {
                    assert!(!p.matches(name));
                }
                assert!(p.matches("Archive-x"));
                assert_eq!(p.matches("Sent/xx/x"), wildcard != "%");
            }
        }
        let stars = Pattern::new(&"*x".repeat(5_000));
        assert!(!stars.matches(&"x".repeat(4_999)));
        assert!(stars.matches(&"x".repeat(5_000)));
        assert!(!stars.matches(&"xy".repeat(6_000)), "ends with y");
        assert!(stars.matches(&format!("{}x", "xy".repeat(6_000))));
        let percents = Pattern::new(&format!("{}%", "%x".repeat(500)));
        assert!(percents.matches(&"xy".repeat(600)));
        assert!(!percents.matches(&format!("{}/", "xy".repeat(600))));
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }
}
