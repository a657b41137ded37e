//! FETCH and UID FETCH (RFC 9051 §6.4.5, RFC 3501 §6.4.5) with CONDSTORE's MODSEQ and
//! CHANGEDSINCE (RFC 7162 §3.1.4) and QRESYNC's VANISHED modifier (RFC 7162 §3.2.6): message
//! data items built from the store's metadata and, when an item needs them, the bodies seen
//! through [`pecd_imap_message::MessageView`]. Large sets are read, answered and written out
//! in bounded batches ([`crate::batch::BATCH_MESSAGES`], [`crate::batch::BATCH_BYTES`]).

use std::borrow::Cow;
use std::num::{NonZeroU32, NonZeroU64};
use std::sync::Arc;

use chrono::{FixedOffset, TimeZone};
use imap_codec::imap_types::command::FetchModifier;
use imap_codec::imap_types::core::{IString, NString, Vec1};
use imap_codec::imap_types::datetime::DateTime;
use imap_codec::imap_types::fetch::{
    Macro, MacroOrMessageDataItemNames, MessageDataItem, MessageDataItemName, Section,
};
use imap_codec::imap_types::response::Data;
use imap_codec::imap_types::sequence::SequenceSet;
use pecd_imap_message::{HeaderFields, MessageView};
use pecd_store::{FlagOp, Flags, MessageMeta, StoreError};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::batch::batch_len;
use crate::error::{bad, store_refusal, Outcome, Refusal};
use crate::ranges::render_ranges;
use crate::session::Session;
use crate::view::{nz, Selected};

/// An IMAP string of message bytes. IMAP4rev1 literals cannot carry NUL, so a NUL byte is
/// sent as a space rather than breaking the response.
fn nstring(bytes: Cow<'_, [u8]>) -> NString<'static> {
    let bytes: Vec<u8> = if bytes.contains(&0) {
        bytes
            .iter()
            .map(|&b| if b == 0 { b' ' } else { b })
            .collect()
    } else {
        bytes.into_owned()
    };
    NString(Some(IString::try_from(bytes).unwrap_or_else(|_| {
        IString::try_from("").expect("empty string")
    })))
}

/// `<origin.length>` of a partial fetch applied to `data`.
fn partial<'a>(data: Cow<'a, [u8]>, range: Option<(u32, NonZeroU32)>) -> Cow<'a, [u8]> {
    match range {
        None => data,
        Some((start, len)) => {
            let start = (start as usize).min(data.len());
            let end = start.saturating_add(len.get() as usize).min(data.len());
            match data {
                Cow::Borrowed(b) => Cow::Borrowed(&b[start..end]),
                Cow::Owned(v) => Cow::Owned(v[start..end].to_vec()),
            }
        }
    }
}

fn expand(items: MacroOrMessageDataItemNames<'_>) -> Vec<MessageDataItemName<'_>> {
    use MessageDataItemName as N;
    match items {
        MacroOrMessageDataItemNames::Macro(m) => match m {
            Macro::All => vec![N::Flags, N::InternalDate, N::Rfc822Size, N::Envelope],
            Macro::Fast => vec![N::Flags, N::InternalDate, N::Rfc822Size],
            Macro::Full => vec![
                N::Flags,
                N::InternalDate,
                N::Rfc822Size,
                N::Envelope,
                N::Body,
            ],
            _ => vec![N::Flags],
        },
        MacroOrMessageDataItemNames::MessageDataItemNames(names) => names,
    }
}

fn needs_body(name: &MessageDataItemName<'_>) -> bool {
    use MessageDataItemName as N;
    matches!(
        name,
        N::Body
            | N::BodyExt { .. }
            | N::BodyStructure
            | N::Envelope
            | N::Rfc822
            | N::Rfc822Header
            | N::Rfc822Text
            | N::Binary { .. }
            | N::BinarySize { .. }
    )
}

/// Whether `name` needs no more of the message than its top-level header block (see
/// [`crate::batch`]).
fn header_block_only(name: &MessageDataItemName<'_>) -> bool {
    use MessageDataItemName as N;
    matches!(
        name,
        N::Envelope
            | N::Rfc822Header
            | N::BodyExt {
                section: Some(
                    Section::Header(None)
                        | Section::HeaderFields(None, _)
                        | Section::HeaderFieldsNot(None, _)
                ),
                ..
            }
    )
}

/// Whether fetching `name` sets \Seen (RFC 3501 §6.4.5: BODY[...] without PEEK, RFC822,
/// RFC822.TEXT).
fn marks_seen(name: &MessageDataItemName<'_>) -> bool {
    use MessageDataItemName as N;
    matches!(
        name,
        N::BodyExt { peek: false, .. } | N::Rfc822 | N::Rfc822Text | N::Binary { peek: false, .. }
    )
}

/// The item names a FETCH answers: macros expanded, and (RFC 3501 §6.4.8) UID for UID FETCH,
/// MODSEQ for CHANGEDSINCE.
fn item_names(
    items: MacroOrMessageDataItemNames<'_>,
    uid: bool,
    changed_since: bool,
) -> Vec<MessageDataItemName<'_>> {
    let mut names = expand(items);
    if uid && !names.iter().any(|n| matches!(n, MessageDataItemName::Uid)) {
        names.insert(0, MessageDataItemName::Uid);
    }
    if changed_since
        && !names
            .iter()
            .any(|n| matches!(n, MessageDataItemName::ModSeq))
    {
        names.push(MessageDataItemName::ModSeq);
    }
    names
}

/// The data items of one message; `body` is read when an item needs it.
fn message_items<'n>(
    sel: &Selected,
    meta: &MessageMeta,
    body: Option<&[u8]>,
    names: &[MessageDataItemName<'n>],
    utf8: bool,
) -> Vec<MessageDataItem<'n>> {
    let view = body.map(MessageView::parse);
    let mut items = Vec::with_capacity(names.len());
    for name in names {
        use MessageDataItemName as N;
        let item = match name {
            N::Uid => MessageDataItem::Uid(nz(meta.uid)),
            N::Flags => MessageDataItem::Flags(sel.flags_of(meta)),
            N::Rfc822Size => MessageDataItem::Rfc822Size(meta.size as u32),
            N::InternalDate => {
                let utc = FixedOffset::east_opt(0).expect("zero offset");
                let date = utc
                    .timestamp_opt(meta.internal_date, 0)
                    .single()
                    .unwrap_or_else(|| utc.timestamp_opt(0, 0).single().expect("epoch"));
                MessageDataItem::InternalDate(DateTime::unvalidated(date))
            }
            N::ModSeq => {
                MessageDataItem::ModSeq(NonZeroU64::new(meta.modseq.max(1)).expect("nonzero"))
            }
            N::Envelope => {
                MessageDataItem::Envelope(view.as_ref().expect("body read").envelope(utf8))
            }
            N::BodyStructure => MessageDataItem::BodyStructure(
                view.as_ref().expect("body read").body_structure(true),
            ),
            N::Body => {
                MessageDataItem::Body(view.as_ref().expect("body read").body_structure(false))
            }
            N::Rfc822 => MessageDataItem::Rfc822(nstring(Cow::Borrowed(body.expect("body read")))),
            N::Rfc822Header => {
                let v = view.as_ref().expect("body read");
                let header = v.section(Some(&Section::Header(None))).unwrap_or_default();
                MessageDataItem::Rfc822Header(nstring(header))
            }
            N::Rfc822Text => {
                let v = view.as_ref().expect("body read");
                let text = v.section(Some(&Section::Text(None))).unwrap_or_default();
                MessageDataItem::Rfc822Text(nstring(text))
            }
            N::BodyExt {
                section,
                partial: range,
                ..
            } => {
                let v = view.as_ref().expect("body read");
                let data = v.section(section.as_ref()).unwrap_or_default();
                MessageDataItem::BodyExt {
                    section: section.clone(),
                    origin: range.map(|(start, _)| start),
                    data: nstring(partial(data, *range)),
                }
            }
            N::Binary { .. } | N::BinarySize { .. } => continue,
        };
        items.push(item);
    }
    items
}

impl<S: AsyncRead + AsyncWrite + Unpin> Session<'_, S> {
    pub(crate) async fn fetch(
        &mut self,
        set: SequenceSet,
        items: MacroOrMessageDataItemNames<'_>,
        uid: bool,
        modifiers: Vec<FetchModifier>,
    ) -> Outcome {
        let mut changed_since = None;
        let mut vanished = false;
        for m in &modifiers {
            match m {
                FetchModifier::ChangedSince(_) if self.changed_since_zero => {
                    changed_since = Some(0)
                }
                FetchModifier::ChangedSince(v) => changed_since = Some(v.get()),
                FetchModifier::Vanished => vanished = true,
            }
        }
        if vanished && !(uid && self.qresync && changed_since.is_some()) {
            return Err(bad(
                "VANISHED needs UID FETCH, QRESYNC enabled and CHANGEDSINCE",
            ));
        }
        if changed_since.is_some() {
            self.condstore = true;
        }
        let sel = self.selected_ref();
        let mut indexes = sel.resolve(&set, uid)?;
        if let Some(since) = changed_since {
            indexes.retain(|&i| sel.messages[i].modseq > since);
        }
        if vanished {
            let since = changed_since.expect("checked above");
            let sel = self.selected.take().expect("selected state");
            let gone = self.vanished_since(&sel, since, Some(&set)).await;
            self.selected = Some(sel);
            let gone = gone?;
            if !gone.is_empty() {
                self.out.extend_from_slice(
                    format!("* VANISHED (EARLIER) {}\r\n", render_ranges(&gone)).as_bytes(),
                );
            }
        }
        self.fetch_messages(indexes, items, uid, changed_since.is_some())
            .await?;
        Ok("FETCH completed".into())
    }

    /// Answers a FETCH of the selected messages at `indexes`.
    async fn fetch_messages(
        &mut self,
        indexes: Vec<usize>,
        items: MacroOrMessageDataItemNames<'_>,
        uid: bool,
        changed_since: bool,
    ) -> Result<(), Refusal> {
        let mut names = item_names(items, uid, changed_since);
        if names
            .iter()
            .any(|n| matches!(n, MessageDataItemName::ModSeq))
        {
            self.condstore = true;
        }
        let mut sel = self.selected.take().expect("selected state");
        let result = self.answer_fetch(&mut sel, &indexes, &mut names).await;
        self.selected = Some(sel);
        result
    }

    async fn answer_fetch(
        &mut self,
        sel: &mut Selected,
        indexes: &[usize],
        names: &mut Vec<MessageDataItemName<'_>>,
    ) -> Result<(), Refusal> {
        // Reading a body without PEEK sets \Seen first, so the response shows it.
        if !sel.read_only && names.iter().any(marks_seen) {
            self.mark_seen(sel, indexes, names).await?;
        }
        let utf8 = self.utf8;
        let needs = names.iter().any(needs_body);
        let heads = needs
            && names
                .iter()
                .filter(|n| needs_body(n))
                .all(header_block_only);
        let mut rest = indexes;
        while !rest.is_empty() {
            let take = batch_len(rest.iter().map(|&i| &sel.messages[i]), needs);
            let (batch, more) = rest.split_at(take);
            rest = more;
            let metas = || batch.iter().map(|&i| sel.messages[i].clone()).collect();
            let bodies = if heads {
                self.batch_heads_cached(sel, metas()).await?
            } else {
                self.batch_bodies(needs, metas).await?
            };
            self.cache_headers(sel, batch, &bodies);
            for (k, &i) in batch.iter().enumerate() {
                let body = match bodies.get(k) {
                    Some(Ok(b)) => Some(b.as_slice()),
                    // Expunged by another session after this one last looked: nothing to send
                    // for it; the EXPUNGE follows at the next command that may carry it.
                    Some(Err(_)) => continue,
                    None => None,
                };
                let items = message_items(sel, &sel.messages[i], body, names, utf8);
                if let Ok(items) = Vec1::try_from(items) {
                    self.data(Data::Fetch {
                        seq: nz(i as u32 + 1),
                        items,
                    });
                }
            }
            // Out before the next batch is read, so that memory stays bounded; a client that
            // stops reading ends here (the session then closes).
            if let Err(e) = self.flush().await {
                self.broken = Some(e);
                break;
            }
        }
        Ok(())
    }

    /// Adds to the header cache the header blocks of the messages of `batch` it lacks
    /// (crate::header_cache): SEARCH and the next header list then read nothing of the
    /// messages a client listed.
    fn cache_headers(
        &self,
        sel: &Selected,
        batch: &[usize],
        bodies: &[Result<Vec<u8>, StoreError>],
    ) {
        if bodies.is_empty() || !self.ctx.headers.enabled() {
            return;
        }
        let folder = sel.folder.id;
        let uids = || batch.iter().map(|&i| sel.messages[i].uid);
        let missing = self.ctx.headers.missing(folder, uids());
        // Not for messages expunged elsewhere and not yet reported (as SEARCH).
        let fill: Vec<_> = uids()
            .zip(bodies)
            .zip(missing)
            .filter(|((uid, _), missing)| *missing && !sel.deferred.contains(uid))
            .filter_map(|((uid, body), _)| {
                let headers = HeaderFields::parse(body.as_ref().ok()?)?;
                Some((uid, Arc::new(headers)))
            })
            .collect();
        self.ctx.headers.insert_many(folder, fill);
    }

    /// Sets \Seen on the unseen messages at `indexes` (RFC 9051 §6.4.5), and adds FLAGS to
    /// the items when that changed any.
    async fn mark_seen(
        &mut self,
        sel: &mut Selected,
        indexes: &[usize],
        names: &mut Vec<MessageDataItemName<'_>>,
    ) -> Result<(), Refusal> {
        let unseen: Vec<u32> = indexes
            .iter()
            .map(|&i| &sel.messages[i])
            .filter(|m| !m.flags.contains(Flags::SEEN))
            .map(|m| m.uid)
            .collect();
        if unseen.is_empty() {
            return Ok(());
        }
        let changed = self
            .ctx
            .store
            .set_flags(
                self.mailbox_id(),
                sel.folder.id,
                unseen,
                FlagOp::Add(Flags::SEEN, Vec::new()),
            )
            .await
            .map_err(store_refusal)?;
        if !changed.is_empty()
            && !names
                .iter()
                .any(|n| matches!(n, MessageDataItemName::Flags))
        {
            names.push(MessageDataItemName::Flags);
        }
        for meta in changed {
            if let Some(i) = sel.position(meta.uid) {
                sel.messages[i] = meta;
            }
        }
        Ok(())
    }
}
