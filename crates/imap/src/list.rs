//! LIST and LSUB (RFC 3501 §6.3.8–9) with LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819),
//! CHILDREN (RFC 3348) and SPECIAL-USE (RFC 6154). Special-use attributes are in every LIST
//! and LSUB reply, asked for or not (CLIENTS.md §5 bug 6: macOS Mail never asks).

use std::collections::BTreeMap;

use imap_codec::imap_types::command::{Command, CommandBody};
use imap_codec::imap_types::core::{Atom, QuotedChar};
use imap_codec::imap_types::flag::FlagNameAttribute;
use imap_codec::imap_types::response::Data;
use imap_codec::{decode::Decoder, CommandCodec};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::extended::ListOptions;
use crate::session::{bad, store_refusal, Outcome, Session};

/// The hierarchy delimiter.
pub const DELIMITER: char = '/';

/// RFC 3501 §6.3.8 wildcards: `*` matches anything, `%` anything but the delimiter. INBOX
/// matches case-insensitively.
pub fn matches(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some(('%', rest)) => {
                let limit = n.iter().position(|&c| c == DELIMITER).unwrap_or(n.len());
                (0..=limit).any(|i| go(rest, &n[i..]))
            }
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    if go(&p, &n) {
        return true;
    }
    // "inbox" and "INBOX/..." forms: compare the INBOX part without case.
    if name == "INBOX" || name.starts_with("INBOX/") {
        let upper: String = pattern
            .char_indices()
            .map(|(i, c)| if i < 5 { c.to_ascii_uppercase() } else { c })
            .collect();
        let p: Vec<char> = upper.chars().collect();
        return go(&p, &n);
    }
    false
}

struct Entry {
    exists: bool,
    subscribed: bool,
    special_use: Option<&'static str>,
    has_children: bool,
    /// A subscribed descendant (RECURSIVEMATCH's CHILDINFO).
    subscribed_child: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Session<'_, S> {
    pub(crate) async fn list(
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
        let status_items = match &options.status {
            Some(items) => {
                let probe = [b"x STATUS INBOX (".as_slice(), items, b")\r\n"].concat();
                match CommandCodec::default().decode(&probe) {
                    Ok((
                        _,
                        Command {
                            body: CommandBody::Status { item_names, .. },
                            ..
                        },
                    )) => Some(item_names.into_owned()),
                    _ => return Err(bad("Invalid STATUS items in RETURN")),
                }
            }
            None => None,
        };
        let folders = self
            .ctx
            .store
            .folders(self.mailbox_id())
            .await
            .map_err(store_refusal)?;
        // Every folder, plus the parents its name implies.
        let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
        for f in &folders {
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
        for f in &folders {
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
        let extended_reply = options.select_subscribed || options.return_subscribed;
        let mut shown = Vec::new();
        for (name, e) in &entries {
            let full_match = patterns
                .iter()
                .any(|(reference, pattern)| matches(&format!("{reference}{pattern}"), name));
            if !full_match {
                continue;
            }
            let wanted = if lsub || options.select_subscribed {
                e.subscribed
                    || (options.recursive_match && e.subscribed_child)
                    || (lsub && e.subscribed_child)
            } else if options.select_special_use {
                e.special_use.is_some()
            } else {
                true
            };
            if !wanted {
                continue;
            }
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
            let child_info = options.recursive_match && !e.subscribed && e.subscribed_child;
            shown.push((name.clone(), attrs, child_info, e.exists));
        }
        for (name, attrs, child_info, exists) in shown {
            let items: Vec<FlagNameAttribute> = attrs
                .iter()
                .filter_map(|a| Atom::try_from(a.trim_start_matches('\\').to_string()).ok())
                .map(FlagNameAttribute::from)
                .collect();
            let mailbox = self.imap_name(&name);
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
            if child_info {
                // RFC 5258 §3.5: CHILDINFO extended data, which imap-codec does not encode:
                // the line just written gets it appended before its CRLF.
                if self.out.ends_with(b"\r\n") {
                    self.out.truncate(self.out.len() - 2);
                    self.out
                        .extend_from_slice(b" (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n");
                }
            }
            if let (Some(items), true) = (&status_items, exists) {
                // RFC 5819: a folder's STATUS follows its LIST line.
                let _ = self.status(&name, items).await;
            }
        }
        Ok(format!("{verb} completed"))
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

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
}
