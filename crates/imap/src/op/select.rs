//! SELECT and EXAMINE (RFC 9051 §6.3.2–3, RFC 3501 §6.3.1–2) with CONDSTORE (RFC 7162 §3.1:
//! the CONDSTORE parameter, HIGHESTMODSEQ) and QRESYNC (§3.2.5 the QRESYNC parameter,
//! §3.2.11 CLOSED); CLOSE (RFC 9051 §6.4.1, RFC 3501 §6.4.2) and UNSELECT (RFC 3691,
//! RFC 9051 §6.4.2).

use std::collections::{BTreeSet, HashSet};
use std::num::NonZeroU64;

use imap_codec::imap_types::command::SelectParameter;
use imap_codec::imap_types::core::Atom;
use imap_codec::imap_types::flag::{Flag, FlagPerm};
use imap_codec::imap_types::mailbox::Mailbox as ImapMailbox;
use imap_codec::imap_types::response::{Code, Data};
use imap_codec::imap_types::sequence::SequenceSet;
use pecd_store::{Flags, Folder, MessageMeta, ModSeq, Uid};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::{bad, no, store_refusal, Outcome, Refusal};
use crate::flags::system_flags;
use crate::ranges::render_ranges;
use crate::session::Session;
use crate::view::{nz, Selected};

/// What a client knows of a folder, from SELECT's QRESYNC parameter: UIDVALIDITY, its modseq
/// and optionally the UIDs it knows.
type Resync = (u32, u64, Option<SequenceSet>);

impl<S: AsyncRead + AsyncWrite + Unpin> Session<'_, S> {
    /// SELECT (`read_only` false) and EXAMINE (true).
    pub(crate) async fn select(
        &mut self,
        mailbox: &ImapMailbox<'_>,
        read_only: bool,
        parameters: Vec<SelectParameter>,
    ) -> Outcome {
        let name = self.name_of(mailbox);
        // RFC 7162 §3.2.11: with QRESYNC, leaving a selected mailbox is reported.
        if self.selected.take().is_some() && self.qresync {
            self.untagged_ok(Some("CLOSED"), "Previous mailbox closed");
        }
        let (modseq, folder, messages) = self.open_folder(&name).await?;
        let verb = if read_only { "EXAMINE" } else { "SELECT" };
        let read_only = read_only || crate::security_archive::read_only(&folder);
        let resync = self.select_parameters(&parameters)?;
        let max_uid = messages.last().map_or(0, |m| m.uid);
        let first = self
            .ctx
            .first_recent(folder.id, (!read_only).then_some(max_uid));
        let recent: HashSet<Uid> = messages
            .iter()
            .filter(|m| m.uid >= first)
            .map(|m| m.uid)
            .collect();
        self.report_flags(&messages, read_only);
        self.report_folder(&folder, &messages, &recent);
        let selected = Selected {
            folder,
            read_only,
            messages,
            recent,
            modseq,
            deferred: BTreeSet::new(),
            dirty: true,
        };
        if let Some((uidvalidity, since, known)) = resync {
            if uidvalidity == selected.folder.uidvalidity {
                self.qresync_report(&selected, since, known.as_ref())
                    .await?;
            }
        }
        self.selected = Some(selected);
        Ok(if read_only {
            format!("[READ-ONLY] {verb} completed")
        } else {
            "[READ-WRITE] SELECT completed".into()
        })
    }

    /// The mailbox modseq, the folder named `name` and its messages. The modseq is read
    /// first: changes committed while the messages are read are then applied again by the
    /// next sync, which tolerates repeats.
    async fn open_folder(&self, name: &str) -> Result<(ModSeq, Folder, Vec<MessageMeta>), Refusal> {
        let id = self.mailbox_id();
        let store = self.ctx.store.clone();
        let modseq = match store.mailbox(id).await {
            Ok(Some(m)) => m.modseq,
            Ok(None) => return Err(no(Some("UNAVAILABLE"), "Mailbox no longer exists")),
            Err(e) => return Err(store_refusal(e)),
        };
        let folder = match store.folder(id, name).await {
            Ok(Some(f)) => f,
            Ok(None) => return Err(no(Some("NONEXISTENT"), "No such mailbox")),
            Err(e) => return Err(store_refusal(e)),
        };
        let messages = self.ctx.listing(&folder).await.map_err(store_refusal)?;
        Ok((modseq, folder, messages))
    }

    /// The CONDSTORE parameter (RFC 7162 §3.1) enables CONDSTORE; QRESYNC (§3.2.5) is what the client
    /// knows, allowed once QRESYNC is enabled.
    fn select_parameters(
        &mut self,
        parameters: &[SelectParameter],
    ) -> Result<Option<Resync>, Refusal> {
        let mut resync = None;
        for p in parameters {
            match p {
                SelectParameter::CondStore => self.condstore = true,
                SelectParameter::QResync {
                    uid_validity,
                    mod_sequence_value,
                    known_uids,
                    ..
                } => {
                    if !self.qresync {
                        return Err(bad("QRESYNC must be enabled first"));
                    }
                    resync = Some((
                        uid_validity.get(),
                        mod_sequence_value.get(),
                        known_uids.clone(),
                    ));
                }
            }
        }
        Ok(resync)
    }

    /// FLAGS and PERMANENTFLAGS: the system flags, common keywords and the folder's own.
    fn report_flags(&mut self, messages: &[MessageMeta], read_only: bool) {
        let mut keywords: BTreeSet<String> =
            ["$Forwarded", "$MDNSent", "$Junk", "$NotJunk", "NonJunk"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        for m in messages {
            keywords.extend(m.keywords.iter().cloned());
        }
        let mut flags = system_flags(Flags(0x1f));
        flags.extend(
            keywords
                .iter()
                .filter_map(|k| Atom::try_from(k.clone()).ok().map(Flag::Keyword)),
        );
        self.data(Data::Flags(flags.clone()));
        let mut permanent: Vec<FlagPerm> = if read_only {
            Vec::new()
        } else {
            flags.into_iter().map(FlagPerm::Flag).collect()
        };
        if !read_only {
            permanent.push(FlagPerm::Asterisk);
        }
        self.untagged_code(Code::PermanentFlags(permanent), "Flags permitted");
    }

    /// EXISTS, RECENT, UNSEEN, UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ.
    fn report_folder(&mut self, folder: &Folder, messages: &[MessageMeta], recent: &HashSet<Uid>) {
        self.data(Data::Exists(messages.len() as u32));
        self.data(Data::Recent(recent.len() as u32));
        if let Some(i) = messages.iter().position(|m| !m.flags.contains(Flags::SEEN)) {
            self.untagged_code(Code::Unseen(nz(i as u32 + 1)), "First unseen");
        }
        self.untagged_code(Code::UidValidity(nz(folder.uidvalidity)), "UIDs valid");
        self.untagged_code(Code::UidNext(nz(folder.uidnext)), "Predicted next UID");
        self.untagged_code(
            Code::HighestModSeq(NonZeroU64::new(folder.highestmodseq.max(1)).expect("nonzero")),
            "Highest",
        );
    }

    /// RFC 7162 §3.2.5: what changed since the client's modseq — VANISHED (EARLIER) for
    /// expunged UIDs, FETCH for changed messages.
    async fn qresync_report(
        &mut self,
        selected: &Selected,
        since: u64,
        known: Option<&SequenceSet>,
    ) -> Result<(), Refusal> {
        let vanished = self.vanished_since(selected, since, known).await?;
        if !vanished.is_empty() {
            self.out.extend_from_slice(
                format!("* VANISHED (EARLIER) {}\r\n", render_ranges(&vanished)).as_bytes(),
            );
        }
        for (i, m) in selected.messages.iter().enumerate() {
            if m.modseq > since {
                self.flags_response(selected, i, true, true);
            }
        }
        Ok(())
    }

    /// CLOSE: leaves the selected state, expunging silently (RFC 9051 §6.4.1).
    pub(crate) async fn close(&mut self) -> Outcome {
        self.leave(true).await;
        Ok("CLOSE completed".into())
    }

    /// UNSELECT (RFC 3691): leaves the selected state without expunging.
    pub(crate) async fn unselect(&mut self) -> Outcome {
        self.leave(false).await;
        Ok("UNSELECT completed".into())
    }

    async fn leave(&mut self, expunge: bool) {
        if let Some(sel) = self.selected.take() {
            if expunge && !sel.read_only {
                // CLOSE expunges silently (RFC 3501 §6.4.2).
                if let Err(e) = self
                    .ctx
                    .store
                    .expunge(self.mailbox_id(), sel.folder.id, None)
                    .await
                {
                    tracing::warn!(error = %e, "expunge at CLOSE failed");
                }
            }
        }
    }
}
