//! SEARCH and UID SEARCH (RFC 9051 §6.4.4, RFC 3501 §6.4.4) with ESEARCH's RETURN options
//! (RFC 4731, recognised in [`crate::extended`]) and CONDSTORE's MODSEQ key and result
//! (RFC 7162 §3.1.5). Keys are evaluated by [`pecd_imap_message::matches`]; keys on headers
//! alone are answered from the shared header cache ([`crate::header_cache`]) with
//! [`pecd_imap_message::matches_headers`], and bodies are read, when needed, a batch at a time
//! ([`crate::batch`]).

use std::ops::Range;
use std::sync::Arc;

use imap_codec::imap_types::core::{Charset, Tag, Vec1};
use imap_codec::imap_types::search::SearchKey;
use pecd_imap_message::{
    matches, matches_headers, HeaderFields, MessageView, SearchContext, SearchSubject,
};
use pecd_store::Flags;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::batch::batch_len;
use crate::error::{bad, no, Outcome, Refusal};
use crate::extended::SearchReturn;
use crate::ranges::{check_ranges, compact};
use crate::session::Session;
use crate::view::Selected;

/// Most keys a SEARCH may combine; each costs an evaluation per message.
pub(crate) const MAX_SEARCH_KEYS: usize = 1000;

/// The keys of a SEARCH criterion, and the ranges of its sequence sets.
fn key_size(key: &SearchKey<'_>) -> (usize, usize) {
    let sum = |a: (usize, usize), b: (usize, usize)| (a.0 + b.0, a.1 + b.1);
    match key {
        SearchKey::And(keys) => keys.as_ref().iter().map(key_size).fold((1, 0), sum),
        SearchKey::Or(a, b) => sum((1, 0), sum(key_size(a), key_size(b))),
        SearchKey::Not(k) => sum((1, 0), key_size(k)),
        SearchKey::SequenceSet(set) | SearchKey::Uid(set) => (1, set.0.as_ref().len()),
        _ => (1, 0),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Session<'_, S> {
    pub(crate) async fn search(
        &mut self,
        tag: &Tag<'_>,
        charset: Option<Charset<'_>>,
        criteria: Vec1<SearchKey<'_>>,
        uid: bool,
        esearch: Option<SearchReturn>,
    ) -> Outcome {
        if let Some(c) = &charset {
            let c = c.as_ref().to_ascii_uppercase();
            if c != "UTF-8" && c != "US-ASCII" {
                return Err(no(
                    Some("BADCHARSET (UTF-8 US-ASCII)"),
                    "Unsupported charset",
                ));
            }
        }
        let key = match criteria.as_ref() {
            [one] => one.clone(),
            _ => SearchKey::And(criteria.clone()),
        };
        let (keys, ranges) = key_size(&key);
        if keys > MAX_SEARCH_KEYS {
            return Err(bad(format!("SEARCH with more than {MAX_SEARCH_KEYS} keys")));
        }
        check_ranges(ranges)?;
        let uses_modseq = mentions_modseq(&key);
        if uses_modseq {
            self.condstore = true;
        }
        let hits = self.matching(&key).await?;
        let sel = self.selected_ref();
        let numbers = sel.numbers(&hits, uid);
        let highest = hits.iter().map(|&i| sel.messages[i].modseq).max();
        match esearch {
            None => {
                let mut line = String::from("* SEARCH");
                for n in &numbers {
                    line.push(' ');
                    line.push_str(&n.to_string());
                }
                if let (true, Some(h)) = (uses_modseq, highest) {
                    line.push_str(&format!(" (MODSEQ {h})"));
                }
                line.push_str("\r\n");
                self.out.extend_from_slice(line.as_bytes());
            }
            Some(r) => {
                // The tag is a quoted string in the IMAP4rev1 grammar (CLIENTS.md §5 bug 5).
                let mut line = format!("* ESEARCH (TAG \"{}\")", tag.as_ref());
                if uid {
                    line.push_str(" UID");
                }
                if !numbers.is_empty() {
                    if r.min {
                        line.push_str(&format!(
                            " MIN {}",
                            numbers.iter().min().expect("non-empty")
                        ));
                    }
                    if r.max {
                        line.push_str(&format!(
                            " MAX {}",
                            numbers.iter().max().expect("non-empty")
                        ));
                    }
                    if r.all {
                        line.push_str(&format!(" ALL {}", compact(&numbers)));
                    }
                }
                if r.count {
                    line.push_str(&format!(" COUNT {}", numbers.len()));
                }
                if let (true, Some(h)) = (uses_modseq, highest) {
                    line.push_str(&format!(" MODSEQ {h}"));
                }
                line.push_str("\r\n");
                self.out.extend_from_slice(line.as_bytes());
            }
        }
        Ok("SEARCH completed".into())
    }

    /// Indexes of the selected messages that match `key`. Keys on headers alone are answered
    /// from the header cache ([`crate::header_cache`]), reading only the header blocks of the
    /// messages it lacks ([`crate::batch`]); BODY and TEXT read bodies. Bodies are read a batch at a time (a SEARCH TEXT of a
    /// large folder must not hold the folder in memory), and the task yields between batches
    /// so that matching does not hold a worker thread.
    async fn matching(&mut self, key: &SearchKey<'_>) -> Result<Vec<usize>, Refusal> {
        let needs = pecd_imap_message::needs_content(key);
        // Keys on the header alone read only header blocks, and look in the cache first.
        let heads = needs && !pecd_imap_message::needs_body_text(key);
        let from_cache = heads && self.ctx.headers.enabled();
        let (keys, _) = key_size(key);
        let sel = self.selected_ref();
        let ctx = SearchContext {
            max_seq: sel.messages.len() as u32,
            max_uid: sel.max_uid(),
            utc_offset_seconds: 0,
        };
        let mut hits = Vec::new();
        let mut start = 0;
        while start < self.selected_ref().messages.len() {
            let sel = self.selected_ref();
            // About 16,000 key evaluations between yields, whatever the key.
            let by_work = (16_384 / keys).max(1);
            // Without bodies nothing is read: only the work bounds the batch.
            let end = if needs {
                start + batch_len(sel.messages[start..].iter().take(by_work), needs)
            } else {
                (start + by_work).min(sel.messages.len())
            };
            if !needs {
                let hit = |&i: &usize| matches(key, &subject(sel, i, None), &ctx);
                hits.extend((start..end).filter(hit));
                start = end;
                tokio::task::yield_now().await;
                continue;
            }
            let contents = self.contents(start..end, heads, from_cache).await?;
            let sel = self.selected_ref();
            for (k, content) in contents.into_iter().enumerate() {
                let i = start + k;
                let hit = match content {
                    Content::Gone => false,
                    Content::Headers(h) => matches_headers(key, &subject(sel, i, None), &h, &ctx),
                    Content::Body(body) => {
                        let view = MessageView::parse(&body);
                        matches(key, &subject(sel, i, Some(&view)), &ctx)
                    }
                };
                if hit {
                    hits.push(i);
                }
            }
            start = end;
            tokio::task::yield_now().await;
        }
        Ok(hits)
    }

    /// What the selected messages at `range` are evaluated against by keys that need their
    /// content: cached header fields (`from_cache`), or messages read now, only their header
    /// blocks when that is all the keys look at (`heads`). Header fields of what was read are
    /// added to the cache.
    async fn contents(
        &self,
        range: Range<usize>,
        heads: bool,
        from_cache: bool,
    ) -> Result<Vec<Content>, Refusal> {
        let sel = self.selected_ref();
        let batch = &sel.messages[range];
        let cache = &self.ctx.headers;
        let folder = sel.folder.id;
        let mut contents: Vec<Option<Content>> = if from_cache {
            let uids = batch.iter().map(|m| m.uid);
            let cached = cache.get_many(folder, uids);
            cached
                .into_iter()
                .map(|h| h.map(Content::Headers))
                .collect()
        } else {
            batch.iter().map(|_| None).collect()
        };
        // Messages expunged elsewhere and not yet reported are read as before the cache
        // (their body may be gone), and not cached again.
        let gone = |k: usize| sel.deferred.contains(&batch[k].uid);
        let read: Vec<usize> = (0..batch.len())
            .filter(|&k| contents[k].is_none() || gone(k))
            .collect();
        let metas = || read.iter().map(|&k| batch[k].clone()).collect();
        let bodies = if heads && !read.is_empty() {
            self.batch_heads(metas()).await?
        } else {
            self.batch_bodies(!read.is_empty(), metas).await?
        };
        let mut missing = if from_cache {
            vec![true; read.len()]
        } else {
            cache.missing(folder, read.iter().map(|&k| batch[k].uid))
        };
        for (m, &k) in missing.iter_mut().zip(&read) {
            *m &= !gone(k);
        }
        let mut fill = Vec::new();
        for ((&k, body), missing) in read.iter().zip(bodies).zip(missing) {
            // Expunged by another session after this one last looked: no content.
            let Ok(body) = body else {
                contents[k] = None;
                continue;
            };
            let headers = missing
                .then(|| HeaderFields::parse(&body).map(Arc::new))
                .flatten();
            if let Some(h) = &headers {
                fill.push((batch[k].uid, h.clone()));
            }
            contents[k] = Some(match headers {
                Some(h) if from_cache => Content::Headers(h),
                _ => Content::Body(body),
            });
        }
        cache.insert_many(folder, fill);
        Ok(contents
            .into_iter()
            .map(|c| c.unwrap_or(Content::Gone))
            .collect())
    }
}

/// What one message is evaluated against.
enum Content {
    /// Content is needed and there is none (the message is gone): it matches nothing.
    Gone,
    Headers(Arc<HeaderFields>),
    Body(Vec<u8>),
}

/// The selected message at index `i` as SEARCH sees it.
fn subject<'s>(
    sel: &'s Selected,
    i: usize,
    message: Option<&'s MessageView<'s>>,
) -> SearchSubject<'s> {
    let m = &sel.messages[i];
    SearchSubject {
        seq: i as u32 + 1,
        uid: m.uid,
        seen: m.flags.contains(Flags::SEEN),
        answered: m.flags.contains(Flags::ANSWERED),
        flagged: m.flags.contains(Flags::FLAGGED),
        deleted: m.flags.contains(Flags::DELETED),
        draft: m.flags.contains(Flags::DRAFT),
        recent: sel.recent.contains(&m.uid),
        keywords: &m.keywords,
        size: m.size,
        internal_date: m.internal_date,
        modseq: m.modseq,
        message,
    }
}

/// Whether a search uses MODSEQ (then the result carries the highest modseq, RFC 7162 §3.1.5).
fn mentions_modseq(key: &SearchKey<'_>) -> bool {
    match key {
        SearchKey::ModSequence { .. } => true,
        SearchKey::And(keys) => keys.as_ref().iter().any(mentions_modseq),
        SearchKey::Or(a, b) => mentions_modseq(a) || mentions_modseq(b),
        SearchKey::Not(k) => mentions_modseq(k),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use imap_codec::imap_types::sequence::SequenceSet;

    use super::*;
    use crate::ranges::MAX_SEQUENCE_RANGES;

    fn search_key(line: &str) -> SearchKey<'static> {
        use imap_codec::decode::Decoder;
        use imap_codec::imap_types::command::CommandBody;
        use imap_codec::imap_types::IntoStatic;
        match imap_codec::CommandCodec::default().decode(line.as_bytes()) {
            Ok((_, c)) => match c.body {
                CommandBody::Search { criteria, .. } => SearchKey::And(criteria).into_static(),
                other => panic!("{other:?}"),
            },
            Err(e) => panic!("{e:?}"),
        }
    }

    #[test]
    fn sequence_sets_and_search_keys_are_bounded() {
        assert!(check_ranges(MAX_SEQUENCE_RANGES).is_ok());
        let refused = check_ranges(MAX_SEQUENCE_RANGES + 1).unwrap_err();
        assert_eq!(
            refused.kind,
            imap_codec::imap_types::response::StatusKind::Bad
        );
        let set: SequenceSet = vec!["1:*"; 5000].join(",").parse().unwrap();
        assert_eq!(set.0.as_ref().len(), 5000, "imap-codec keeps every repeat");
        let key = search_key(&format!(
            "a SEARCH {} UNSEEN\r\n",
            vec!["1:*"; 5000].join(",")
        ));
        assert_eq!(key_size(&key), (3, 5000));
        let key = search_key("a SEARCH OR 1:3,5 NOT UID 7 SUBJECT x\r\n");
        assert_eq!(key_size(&key), (6, 3));
        let many = format!("a SEARCH {}\r\n", vec!["SUBJECT x"; 2000].join(" "));
        assert_eq!(key_size(&search_key(&many)).0, 2001);
    }
}
