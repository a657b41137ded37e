//! Routing (RFC 9051 §6): a decoded command goes to its module under [`crate::op`], one call
//! per command kind, or is refused when the session's state (§3: not authenticated,
//! authenticated, selected) does not allow it. Then come the selected folder's updates and
//! the tagged reply (§7.1; no expunges during FETCH, STORE and SEARCH by sequence number:
//! RFC 3501 §7.4.1, RFC 9051 §7.5.1).

use std::io;

use imap_codec::imap_types::command::{Command, CommandBody};
use imap_codec::imap_types::core::Tag;
use imap_codec::imap_types::response::{Code, CodeOther, StatusKind};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::{bad, Outcome};
use crate::extended::{ExtendedList, SearchReturn};
use crate::session::{code, Session};

/// Where a command got to in one state's routing table.
enum Route<'c> {
    /// It ran: its reply, or `None` when the connection ended meanwhile (IDLE).
    Done(Option<Outcome>),
    /// Not a command of this table.
    Next(CommandBody<'c>),
}

/// Whether the updates after `body` may report expunges: not after FETCH, STORE and SEARCH
/// by sequence number, which would renumber what the client just read.
fn expunges_allowed(body: &CommandBody<'_>) -> bool {
    match body {
        CommandBody::Search { uid, .. }
        | CommandBody::Fetch { uid, .. }
        | CommandBody::Store { uid, .. } => *uid,
        _ => true,
    }
}

/// Splits `[CODE args] text` into the code and the text.
fn split_code(msg: &str) -> (Option<&str>, &str) {
    if let Some(rest) = msg.strip_prefix('[') {
        if let Some(end) = rest.find(']') {
            return (Some(&rest[..end]), rest[end + 1..].trim_start());
        }
    }
    (None, msg)
}

impl<S: AsyncRead + AsyncWrite + Unpin> Session<'_, S> {
    /// Runs one decoded command and sends its reply.
    pub(crate) async fn dispatch(
        &mut self,
        command: Command<'_>,
        search_return: Option<SearchReturn>,
    ) -> io::Result<()> {
        let tag = command.tag.clone();
        let expunges_allowed = expunges_allowed(&command.body);
        let Some(outcome) = self.route(command.body, &tag, search_return).await? else {
            return Ok(());
        };
        if let Some(e) = self.broken.take() {
            return Err(e);
        }
        self.finish(&tag, outcome, expunges_allowed).await
    }

    /// An extended LIST (RFC 5258), recognised before imap-codec saw it.
    pub(crate) async fn dispatch_extended_list(
        &mut self,
        raw: &[u8],
        list: Result<ExtendedList, &'static str>,
    ) -> io::Result<()> {
        let list = match list {
            Ok(l) => l,
            Err(msg) => {
                self.bad_syntax(raw, msg);
                return Ok(());
            }
        };
        let Some((tag, patterns)) = self.extended_patterns(&list) else {
            self.bad_syntax(raw, "Syntax error in LIST");
            return Ok(());
        };
        if self.login.is_none() {
            self.tagged(&tag, StatusKind::Bad, None, "Log in first");
            return Ok(());
        }
        let outcome = self.list_patterns(&patterns, &list.options, false).await;
        self.finish(&tag, outcome, true).await
    }

    /// The command's reply, from the table of each state the session is in.
    async fn route(
        &mut self,
        body: CommandBody<'_>,
        tag: &Tag<'_>,
        search_return: Option<SearchReturn>,
    ) -> io::Result<Option<Outcome>> {
        let body = match self.any_state(body).await? {
            Route::Done(outcome) => return Ok(outcome),
            Route::Next(body) => body,
        };
        if self.login.is_none() {
            return Ok(Some(Err(bad("Log in first"))));
        }
        let body = match self.authenticated(body).await? {
            Route::Done(outcome) => return Ok(outcome),
            Route::Next(body) => body,
        };
        if self.selected.is_none() {
            return Ok(Some(Err(bad("Select a mailbox first"))));
        }
        Ok(Some(self.selected_state(body, tag, search_return).await))
    }

    /// RFC 9051 §6.1 (any state) and §6.2 (not authenticated).
    async fn any_state<'c>(&mut self, body: CommandBody<'c>) -> io::Result<Route<'c>> {
        use CommandBody as C;
        let authenticated = self.login.is_some();
        let outcome = match body {
            C::Capability => self.capability(),
            C::Noop => self.noop(),
            C::Logout => self.logout(),
            C::Id { parameters } => self.id(parameters),
            C::Login { username, password } if !authenticated => {
                self.login_with_password(username, password).await
            }
            C::Authenticate {
                mechanism,
                initial_response,
            } if !authenticated => self.authenticate(mechanism, initial_response).await?,
            C::Login { .. } | C::Authenticate { .. } => Err(bad("Already authenticated")),
            body => return Ok(Route::Next(body)),
        };
        Ok(Route::Done(Some(outcome)))
    }

    /// RFC 9051 §6.3 (authenticated state), with QUOTA (RFC 9208).
    async fn authenticated<'c>(&mut self, body: CommandBody<'c>) -> io::Result<Route<'c>> {
        use CommandBody as C;
        let outcome = match body {
            C::Enable { capabilities } => self.enable(capabilities),
            C::Namespace => self.namespace(),
            C::Select {
                mailbox,
                parameters,
            } => self.select(&mailbox, false, parameters).await,
            C::Examine {
                mailbox,
                parameters,
            } => self.select(&mailbox, true, parameters).await,
            C::Create { mailbox } => self.create(&mailbox).await,
            C::Delete { mailbox } => self.delete(&mailbox).await,
            C::Rename { from, to } => self.rename(&from, &to).await,
            C::Subscribe { mailbox } => self.subscribe(&mailbox, true).await,
            C::Unsubscribe { mailbox } => self.subscribe(&mailbox, false).await,
            C::List {
                reference,
                mailbox_wildcard,
            } => self.list(&reference, &mailbox_wildcard, false).await,
            C::Lsub {
                reference,
                mailbox_wildcard,
            } => self.list(&reference, &mailbox_wildcard, true).await,
            C::Status {
                mailbox,
                item_names,
            } => self.status(&mailbox, &item_names).await,
            C::Append {
                mailbox,
                flags,
                date,
                message,
            } => self.append(&mailbox, flags, date, message).await,
            C::Idle => return Ok(Route::Done(self.idle().await?)),
            C::GetQuotaRoot { mailbox } => self.get_quota_root(&mailbox).await,
            C::GetQuota { root } => self.get_quota(&root).await,
            C::SetQuota { .. } => self.set_quota(),
            body => return Ok(Route::Next(body)),
        };
        Ok(Route::Done(Some(outcome)))
    }

    /// RFC 9051 §6.4 (selected state), with UIDPLUS's UID EXPUNGE (RFC 4315) and MOVE
    /// (RFC 6851).
    async fn selected_state(
        &mut self,
        body: CommandBody<'_>,
        tag: &Tag<'_>,
        search_return: Option<SearchReturn>,
    ) -> Outcome {
        use CommandBody as C;
        match body {
            C::Check => self.check(),
            C::Close => self.close().await,
            C::Unselect => self.unselect().await,
            C::Expunge => self.expunge(None).await,
            C::ExpungeUid { sequence_set } => self.expunge(Some(sequence_set)).await,
            C::Search {
                charset,
                criteria,
                uid,
            } => {
                self.search(tag, charset, criteria, uid, search_return)
                    .await
            }
            C::Fetch {
                sequence_set,
                macro_or_item_names,
                uid,
                modifiers,
            } => {
                self.fetch(sequence_set, macro_or_item_names, uid, modifiers)
                    .await
            }
            C::Store {
                sequence_set,
                kind,
                response,
                flags,
                uid,
                modifiers,
            } => {
                self.store(sequence_set, kind, response, flags, uid, modifiers)
                    .await
            }
            C::Copy {
                sequence_set,
                mailbox,
                uid,
            } => self.copy(sequence_set, &mailbox, uid, false).await,
            C::Move {
                sequence_set,
                mailbox,
                uid,
            } => self.copy(sequence_set, &mailbox, uid, true).await,
            _ => Err(bad("Command not supported")),
        }
    }

    /// Sends the command's tagged reply, after the unsolicited updates of a selected folder
    /// (without expunges when `expunges_allowed` is false: RFC 3501 §7.4.1).
    async fn finish(
        &mut self,
        tag: &Tag<'_>,
        outcome: Outcome,
        expunges_allowed: bool,
    ) -> std::io::Result<()> {
        if self.selected.is_some() {
            if let Err(e) = self.sync(expunges_allowed).await {
                tracing::warn!(error = %e, "could not update the selected folder");
            }
        }
        match outcome {
            Ok(msg) => {
                let (code, msg) = split_code(&msg);
                let code = code.map(|c| Code::Other(CodeOther::unvalidated(c.as_bytes().to_vec())));
                self.tagged(tag, StatusKind::Ok, code, msg);
            }
            Err(r) => {
                let code = r.code.map(code);
                self.tagged(tag, r.kind, code, &r.text);
            }
        }
        Ok(())
    }
}
