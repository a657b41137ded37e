//! One IMAP conversation (RFC 3501 §3 states: not authenticated, authenticated, selected,
//! logout), generic over the stream. Commands are read whole (literals included, see
//! [`crate::framing`]), decoded with imap-codec and answered in order; pipelined commands
//! wait in the input buffer, also after IDLE's `DONE` (CLIENTS.md §5 bug 1).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use imap_codec::imap_types::auth::AuthMechanism;
use imap_codec::imap_types::command::{Command, CommandBody};
use imap_codec::imap_types::core::{AString, Tag, Text};
use imap_codec::imap_types::extensions::quota::{QuotaGet, Resource};
use imap_codec::imap_types::mailbox::Mailbox as ImapMailbox;
use imap_codec::imap_types::response::{
    Bye, Code, CodeOther, Data, Response, Status, StatusBody, StatusKind, Tagged,
};
use imap_codec::imap_types::secret::Secret;
use imap_codec::imap_types::status::{StatusDataItem, StatusDataItemName};
use imap_codec::imap_types::utils::escape_byte_string;
use imap_codec::imap_types::IntoStatic;
use imap_codec::{decode::Decoder, encode::Encoder, CommandCodec, ResponseCodec};
use pecd_archive::login::{authenticate, refuse_authorization, AuthError};
use pecd_common::input::{Input, Line, Read};
use pecd_common::net::write_out_within;
use pecd_common::throttle::login_key;
use pecd_store::{normalize_folder_name, ChangeNotice, Flags, Folder, Mailbox, StoreError};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::selected::Selected;
use crate::{capability, extended, framing, utf7, ConnectionSlot, Context};

/// The logged-in mailbox of a session.
pub(crate) struct Login {
    pub mailbox: Mailbox,
    _slot: ConnectionSlot,
    /// Durable changes of every mailbox; IDLE filters ours.
    pub notices: broadcast::Receiver<ChangeNotice>,
}

pub struct Session<'a, S> {
    pub(crate) ctx: &'a Arc<Context>,
    pub(crate) stream: S,
    peer: SocketAddr,
    pub(crate) shutdown: CancellationToken,
    pub(crate) input: Input,
    pub(crate) out: Vec<u8>,
    pub(crate) login: Option<Login>,
    pub(crate) selected: Option<Selected>,
    /// ENABLE UTF8=ACCEPT (RFC 6855): folder names in UTF-8, no modified UTF-7.
    pub(crate) utf8: bool,
    /// CONDSTORE enabled (RFC 7162 §3.1: by ENABLE or by its first use).
    pub(crate) condstore: bool,
    /// QRESYNC enabled: expunges are reported as VANISHED.
    pub(crate) qresync: bool,
    logout: bool,
    /// The command being run asked for CHANGEDSINCE 0 (see [`extended::changedsince_zero`]).
    pub(crate) changed_since_zero: bool,
    /// Writing failed while a command streamed its responses (FETCH); the session ends once
    /// the command returns.
    pub(crate) broken: Option<std::io::Error>,
}

/// What went wrong with a command, as the tagged reply says it.
pub(crate) struct Refusal {
    pub kind: StatusKind,
    pub code: Option<&'static str>,
    pub text: String,
}

pub(crate) type Outcome = Result<String, Refusal>;

pub(crate) fn no(code: Option<&'static str>, text: impl Into<String>) -> Refusal {
    Refusal {
        kind: StatusKind::No,
        code,
        text: text.into(),
    }
}

pub(crate) fn bad(text: impl Into<String>) -> Refusal {
    Refusal {
        kind: StatusKind::Bad,
        code: None,
        text: text.into(),
    }
}

/// The reply to a store failure: temporary ones say so (RFC 5530 UNAVAILABLE).
pub(crate) fn store_refusal(e: StoreError) -> Refusal {
    match e {
        StoreError::OverQuota { .. } => no(Some("OVERQUOTA"), "Mailbox quota exceeded"),
        StoreError::NoFolder(_) => no(Some("NONEXISTENT"), "No such mailbox"),
        StoreError::Exists(_) => no(Some("ALREADYEXISTS"), "Mailbox already exists"),
        StoreError::Invalid(text) => no(Some("CANNOT"), text),
        e if e.is_temporary() => {
            tracing::warn!(error = %e, "IMAP store operation failed");
            no(Some("UNAVAILABLE"), "Temporary storage failure, try again")
        }
        e => {
            tracing::error!(error = %e, "IMAP store operation failed");
            no(Some("SERVERBUG"), "Internal storage error")
        }
    }
}

fn code(name: &'static str) -> Code<'static> {
    Code::Other(CodeOther::unvalidated(name.as_bytes()))
}

fn text(s: &str) -> Text<'static> {
    let clean: String = s
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect();
    Text::try_from(if clean.trim().is_empty() {
        "OK".to_string()
    } else {
        clean
    })
    .unwrap_or_else(|_| Text::try_from("OK").expect("valid text"))
}

/// Largest literal accepted before login: enough for any LOGIN, far from a message.
const PRELOGIN_LITERAL_BYTES: u64 = 8 * 1024;

/// Whether a folder name has the given role-free form that the store protects (INBOX).
fn is_inbox(name: &str) -> bool {
    name.eq_ignore_ascii_case("INBOX")
}

impl<'a, S: AsyncRead + AsyncWrite + Unpin> Session<'a, S> {
    pub fn new(
        ctx: &'a Arc<Context>,
        stream: S,
        peer: SocketAddr,
        shutdown: CancellationToken,
    ) -> Self {
        Session {
            ctx,
            stream,
            peer,
            shutdown,
            input: Input::default(),
            out: Vec::new(),
            login: None,
            selected: None,
            utf8: false,
            condstore: false,
            qresync: false,
            logout: false,
            changed_since_zero: false,
            broken: None,
        }
    }

    // ---- output ------------------------------------------------------------------------

    pub(crate) fn send(&mut self, response: &Response<'_>) {
        self.out
            .extend_from_slice(&ResponseCodec::default().encode(response).dump());
    }

    pub(crate) fn data(&mut self, data: Data<'_>) {
        self.send(&Response::Data(data));
    }

    /// An untagged OK, with a response code given as text (`UIDNEXT 5`, `CLOSED`).
    pub(crate) fn untagged_ok(&mut self, code_text: Option<&str>, msg: &str) {
        let code = code_text.map(|c| Code::Other(CodeOther::unvalidated(c.as_bytes().to_vec())));
        self.send(&Response::Status(Status::Untagged(StatusBody {
            kind: StatusKind::Ok,
            code,
            text: text(msg),
        })));
    }

    pub(crate) fn untagged_code(&mut self, code: Code<'_>, msg: &str) {
        self.send(&Response::Status(Status::Untagged(StatusBody {
            kind: StatusKind::Ok,
            code: Some(code),
            text: text(msg),
        })));
    }

    fn tagged(&mut self, tag: &Tag<'_>, kind: StatusKind, code: Option<Code<'_>>, msg: &str) {
        self.send(&Response::Status(Status::Tagged(Tagged {
            tag: tag.clone(),
            body: StatusBody {
                kind,
                code,
                text: text(msg),
            },
        })));
    }

    fn bye(&mut self, code_name: Option<&'static str>, msg: &str) {
        self.send(&Response::Status(Status::Bye(Bye {
            code: code_name.map(code),
            text: text(msg),
        })));
    }

    /// A BAD for a command that could not be decoded, tagged when its tag is readable.
    fn bad_syntax(&mut self, raw: &[u8], msg: &str) {
        match framing::tag_of(raw).and_then(|t| Tag::try_from(t.to_string()).ok()) {
            Some(tag) => self.tagged(&tag, StatusKind::Bad, None, msg),
            None => self.send(&Response::Status(Status::Untagged(StatusBody {
                kind: StatusKind::Bad,
                code: None,
                text: text(msg),
            }))),
        }
    }

    /// Writes the buffered responses. A client that accepts no bytes for
    /// `imap.write_timeout_seconds` gets a `TimedOut` error, which ends the session: a client
    /// that stops reading must not hold a task, its memory and its store reads forever.
    pub(crate) async fn flush(&mut self) -> std::io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let stall = Duration::from_secs(self.ctx.config.imap.write_timeout_seconds);
        write_out_within(&mut self.stream, &mut self.out, stall).await
    }

    // ---- input -------------------------------------------------------------------------

    /// Silence allowed before the client is logged out: short before login (an unauthenticated
    /// connection costs us and gives nothing), the RFC 3501 §5.4 30 minutes after.
    fn idle_timeout(&self) -> Duration {
        Duration::from_secs(if self.login.is_some() {
            self.ctx.config.imap.idle_timeout_seconds
        } else {
            self.ctx.config.imap.prelogin_timeout_seconds
        })
    }

    /// Reads more bytes; `false` at the end of the conversation (after a BYE when the client
    /// timed out or pecd is stopping).
    async fn fill(&mut self) -> std::io::Result<bool> {
        self.flush().await?;
        let idle = self.idle_timeout();
        match self
            .input
            .read_from(&mut self.stream, idle, &self.shutdown)
            .await?
        {
            Read::Data => Ok(true),
            Read::Eof => Ok(false),
            Read::Timeout => {
                self.bye(None, "Autologout; idle for too long");
                self.flush().await?;
                Ok(false)
            }
            Read::Shutdown => {
                self.bye(Some("UNAVAILABLE"), "Server shutting down");
                self.flush().await?;
                Ok(false)
            }
        }
    }

    pub(crate) async fn next_line(&mut self) -> std::io::Result<Option<Line>> {
        loop {
            if let Some(line) = self.input.next_line(self.ctx.config.imap.max_command_bytes) {
                return Ok(Some(line));
            }
            if !self.fill().await? {
                return Ok(None);
            }
        }
    }

    /// Appends exactly `n` literal bytes to `buf`; `false` when the connection ended first.
    async fn literal_into(&mut self, buf: &mut Vec<u8>, n: u64) -> std::io::Result<bool> {
        let mut left = n as usize;
        loop {
            let take = left.min(self.input.pending().len());
            buf.extend_from_slice(&self.input.pending()[..take]);
            self.input.consume(take);
            left -= take;
            if left == 0 {
                return Ok(true);
            }
            if !self.fill().await? {
                return Ok(false);
            }
        }
    }

    /// Skips `n` literal bytes of a refused non-synchronizing literal (Stalwart #2768: an
    /// oversized LITERAL+ must be drained, never half-read).
    async fn drain(&mut self, n: u64) -> std::io::Result<bool> {
        let mut left = n;
        loop {
            let take = usize::try_from(left)
                .unwrap_or(usize::MAX)
                .min(self.input.pending().len());
            self.input.consume(take);
            left -= take as u64;
            if left == 0 {
                return Ok(true);
            }
            if !self.fill().await? {
                return Ok(false);
            }
        }
    }

    /// The next whole command, or `None` at the end of the conversation.
    async fn read_command(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let authenticated = self.login.is_some();
        let literal_limit = if authenticated {
            self.ctx.config.limits.max_message_bytes
        } else {
            PRELOGIN_LITERAL_BYTES
        };
        let total_limit = literal_limit as usize + self.ctx.config.imap.max_command_bytes;
        let mut buf: Vec<u8> = Vec::new();
        loop {
            let line = match self.next_line().await? {
                None => return Ok(None),
                Some(Line::TooLong) => {
                    self.bad_syntax(&buf, "Command line too long");
                    buf.clear();
                    continue;
                }
                Some(Line::Text(t)) => t,
            };
            if buf.is_empty() && line.is_empty() {
                // Some clients send a bare CRLF; it is not a command.
                continue;
            }
            buf.extend_from_slice(&line);
            buf.extend_from_slice(b"\r\n");
            let Some(literal) = framing::announcement(&line) else {
                return Ok(Some(buf));
            };
            if literal.length > literal_limit
                || (buf.len() as u64).saturating_add(literal.length) > total_limit as u64
            {
                if !authenticated {
                    // Nobody may make us read megabytes before login. A non-synchronizing
                    // literal is on its way already: rather than drain it (RFC 7888 §4 leaves
                    // the choice), the connection ends.
                    let text = format!(
                        "Literal too large before login (at most {PRELOGIN_LITERAL_BYTES} bytes)"
                    );
                    self.bad_syntax(&buf, &text);
                    if !literal.synchronizing {
                        self.bye(None, "Literal too large before login");
                        return Ok(None);
                    }
                    buf.clear();
                    continue;
                }
                if !literal.synchronizing && !self.skip_rest(literal.length).await? {
                    return Ok(None);
                }
                let tag = framing::tag_of(&buf).map(str::to_string);
                match tag.and_then(|t| Tag::try_from(t).ok()) {
                    Some(tag) => self.tagged(
                        &tag,
                        StatusKind::No,
                        Some(Code::TooBig),
                        "Literal larger than the maximum message size",
                    ),
                    None => self.bad_syntax(b"", "Literal too large"),
                }
                buf.clear();
                continue;
            }
            if literal.synchronizing {
                self.out.extend_from_slice(b"+ Ready for literal data\r\n");
            }
            if !self.literal_into(&mut buf, literal.length).await? {
                return Ok(None);
            }
        }
    }

    /// Discards a refused command: its non-synchronizing literal of `n` bytes and whatever
    /// lines and further literals follow it up to the command's end.
    async fn skip_rest(&mut self, mut n: u64) -> std::io::Result<bool> {
        loop {
            if !self.drain(n).await? {
                return Ok(false);
            }
            match self.next_line().await? {
                None => return Ok(false),
                Some(Line::TooLong) => return Ok(true),
                Some(Line::Text(t)) => match framing::announcement(&t) {
                    Some(a) if !a.synchronizing => n = a.length,
                    _ => return Ok(true),
                },
            }
        }
    }

    // ---- the conversation ---------------------------------------------------------------

    pub async fn run(&mut self) -> std::io::Result<()> {
        let caps = capability::before_login();
        self.send(&Response::Status(Status::Untagged(StatusBody {
            kind: StatusKind::Ok,
            code: Some(Code::Capability(caps)),
            text: text("pecd IMAP4rev1 ready"),
        })));
        while let Some(raw) = self.read_command().await? {
            self.handle(&raw).await?;
            if self.logout {
                self.flush().await?;
                let limit = Duration::from_secs(self.ctx.config.imap.write_timeout_seconds);
                let _ = tokio::time::timeout(limit, self.stream.shutdown()).await;
                return Ok(());
            }
        }
        self.flush().await
    }

    async fn handle(&mut self, raw: &[u8]) -> std::io::Result<()> {
        if let Some(list) = extended::list(raw) {
            return self.extended_list(raw, list).await;
        }
        if let Some(search) = extended::search(raw) {
            return match search {
                Err(msg) => {
                    self.bad_syntax(raw, msg);
                    Ok(())
                }
                Ok((rewritten, options)) => match CommandCodec::default().decode(&rewritten) {
                    Ok(([], command)) => self.dispatch(command, Some(options)).await,
                    _ => {
                        self.bad_syntax(raw, "Syntax error in SEARCH");
                        Ok(())
                    }
                },
            };
        }
        match CommandCodec::default().decode(raw) {
            Ok(([], command)) => self.dispatch(command, None).await,
            _ if extended::changedsince_zero(raw).is_some() => {
                let rewritten = extended::changedsince_zero(raw).expect("checked");
                match CommandCodec::default().decode(&rewritten) {
                    Ok(([], command)) => {
                        self.changed_since_zero = true;
                        let done = self.dispatch(command, None).await;
                        self.changed_since_zero = false;
                        done
                    }
                    _ => {
                        self.bad_syntax(raw, "Syntax error or unknown command");
                        Ok(())
                    }
                }
            }
            _ => {
                tracing::debug!(peer = %self.peer, command = %escape_byte_string(raw.get(..200).unwrap_or(raw)), "undecodable IMAP command");
                self.bad_syntax(raw, "Syntax error or unknown command");
                Ok(())
            }
        }
    }

    async fn extended_list(
        &mut self,
        raw: &[u8],
        list: Result<extended::ExtendedList, &'static str>,
    ) -> std::io::Result<()> {
        let list = match list {
            Ok(l) => l,
            Err(msg) => {
                self.bad_syntax(raw, msg);
                return Ok(());
            }
        };
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
                _ => {
                    self.bad_syntax(raw, "Syntax error in LIST");
                    return Ok(());
                }
            }
        }
        let Some(tag) = tag else {
            self.bad_syntax(raw, "Syntax error in LIST");
            return Ok(());
        };
        if self.login.is_none() {
            self.tagged(&tag, StatusKind::Bad, None, "Log in first");
            return Ok(());
        }
        let outcome = self.list(&patterns, &list.options, false).await;
        self.finish(&tag, outcome, true).await
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

    async fn dispatch(
        &mut self,
        command: Command<'_>,
        search_return: Option<extended::SearchReturn>,
    ) -> std::io::Result<()> {
        let tag = command.tag.clone();
        let authenticated = self.login.is_some();
        let selected = self.selected.is_some();
        let mut expunges_allowed = true;
        let outcome: Outcome = match command.body {
            CommandBody::Capability => {
                let caps = if authenticated {
                    capability::after_login()
                } else {
                    capability::before_login()
                };
                self.data(Data::Capability(caps));
                Ok("CAPABILITY completed".into())
            }
            CommandBody::Noop => Ok("NOOP completed".into()),
            CommandBody::Logout => {
                self.bye(None, "Logging out");
                self.logout = true;
                Ok("LOGOUT completed".into())
            }
            CommandBody::Id { parameters } => {
                // Logged, never acted on (CLIENTS.md §1: do not branch on ID).
                let described: Vec<String> = parameters
                    .iter()
                    .flatten()
                    .map(|(k, v)| {
                        format!(
                            "{}={}",
                            String::from_utf8_lossy(k.as_ref()),
                            v.0.as_ref()
                                .map_or("NIL".into(), |v| String::from_utf8_lossy(v.as_ref())
                                    .into_owned())
                        )
                    })
                    .collect();
                tracing::info!(peer = %self.peer, client = %described.join(" "), "IMAP ID");
                self.out.extend_from_slice(
                    format!(
                        "* ID (\"name\" \"pecd\" \"version\" \"{}\" \"vendor\" \"pecd\")\r\n",
                        env!("CARGO_PKG_VERSION")
                    )
                    .as_bytes(),
                );
                Ok("ID completed".into())
            }
            CommandBody::Login { username, password } if !authenticated => {
                let login = String::from_utf8_lossy(username.as_ref()).into_owned();
                let password = String::from_utf8_lossy(password.declassify().as_ref()).into_owned();
                self.log_in(login, password).await
            }
            CommandBody::Authenticate {
                mechanism,
                initial_response,
            } if !authenticated => self.authenticate(mechanism, initial_response).await?,
            CommandBody::Login { .. } | CommandBody::Authenticate { .. } => {
                Err(bad("Already authenticated"))
            }
            _ if !authenticated => Err(bad("Log in first")),
            CommandBody::Enable { capabilities } => {
                let mut enabled = Vec::new();
                for c in capabilities.into_inner() {
                    let name = c.to_string().to_ascii_uppercase();
                    let newly = match name.as_str() {
                        "UTF8=ACCEPT" => !std::mem::replace(&mut self.utf8, true),
                        "CONDSTORE" => !std::mem::replace(&mut self.condstore, true),
                        "QRESYNC" => {
                            // RFC 7162 §3.2.3: QRESYNC implies CONDSTORE.
                            self.condstore = true;
                            !std::mem::replace(&mut self.qresync, true)
                        }
                        _ => false,
                    };
                    if newly {
                        enabled.push(c);
                    }
                }
                self.data(Data::Enabled {
                    capabilities: enabled,
                });
                Ok("ENABLE completed".into())
            }
            CommandBody::Namespace => {
                self.out
                    .extend_from_slice(b"* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
                Ok("NAMESPACE completed".into())
            }
            CommandBody::Select {
                mailbox,
                parameters,
            } => {
                let name = self.name_of(&mailbox);
                self.select(name, false, parameters).await
            }
            CommandBody::Examine {
                mailbox,
                parameters,
            } => {
                let name = self.name_of(&mailbox);
                self.select(name, true, parameters).await
            }
            CommandBody::Create { mailbox } => {
                let name = self.name_of(&mailbox);
                self.create(name).await
            }
            CommandBody::Delete { mailbox } => {
                let name = self.name_of(&mailbox);
                self.delete(name).await
            }
            CommandBody::Rename { from, to } => {
                let (from, to) = (self.name_of(&from), self.name_of(&to));
                self.rename(from, to).await
            }
            CommandBody::Subscribe { mailbox } => {
                let name = self.name_of(&mailbox);
                self.subscribe(name, true).await
            }
            CommandBody::Unsubscribe { mailbox } => {
                let name = self.name_of(&mailbox);
                self.subscribe(name, false).await
            }
            CommandBody::List {
                ref reference,
                ref mailbox_wildcard,
            }
            | CommandBody::Lsub {
                ref reference,
                ref mailbox_wildcard,
            } => {
                let lsub = matches!(command.body, CommandBody::Lsub { .. });
                let pattern = (self.name_of(reference), self.wildcard_of(mailbox_wildcard));
                self.list(&[pattern], &Default::default(), lsub).await
            }
            CommandBody::Status {
                mailbox,
                item_names,
            } => {
                let name = self.name_of(&mailbox);
                self.status(&name, &item_names)
                    .await
                    .map(|()| "STATUS completed".into())
            }
            CommandBody::Append {
                mailbox,
                flags,
                date,
                message,
            } => {
                let name = self.name_of(&mailbox);
                self.append(name, flags, date, message).await
            }
            CommandBody::Idle => {
                if !self.idle(&tag).await? {
                    return Ok(());
                }
                Ok("IDLE terminated".into())
            }
            CommandBody::GetQuotaRoot { mailbox } => {
                let name = self.name_of(&mailbox);
                match self.ctx.store.folder(self.mailbox_id(), &name).await {
                    Ok(Some(_)) => {
                        let mailbox = self.imap_name(&name);
                        self.data(Data::QuotaRoot {
                            mailbox,
                            roots: vec![AString::try_from("").expect("empty astring")],
                        });
                        self.quota().await.map(|_| "GETQUOTAROOT completed".into())
                    }
                    Ok(None) => Err(no(Some("NONEXISTENT"), "No such mailbox")),
                    Err(e) => Err(store_refusal(e)),
                }
            }
            CommandBody::GetQuota { root } if root.as_ref().is_empty() => {
                self.quota().await.map(|_| "GETQUOTA completed".into())
            }
            CommandBody::GetQuota { .. } => Err(no(Some("NONEXISTENT"), "No such quota root")),
            CommandBody::SetQuota { .. } => Err(no(
                Some("NOPERM"),
                "Quotas are set by the provider (pecctl mailbox set)",
            )),
            _ if !selected => Err(bad("Select a mailbox first")),
            CommandBody::Check => Ok("CHECK completed".into()),
            CommandBody::Close => {
                self.close(true).await?;
                Ok("CLOSE completed".into())
            }
            CommandBody::Unselect => {
                self.close(false).await?;
                Ok("UNSELECT completed".into())
            }
            CommandBody::Expunge => self.expunge(None).await,
            CommandBody::ExpungeUid { sequence_set } => self.expunge(Some(sequence_set)).await,
            CommandBody::Search {
                charset,
                criteria,
                uid,
            } => {
                expunges_allowed = uid;
                self.search(&tag, charset, criteria, uid, search_return)
                    .await
            }
            CommandBody::Fetch {
                sequence_set,
                macro_or_item_names,
                uid,
                modifiers,
            } => {
                expunges_allowed = uid;
                self.fetch(sequence_set, macro_or_item_names, uid, modifiers)
                    .await
            }
            CommandBody::Store {
                sequence_set,
                kind,
                response,
                flags,
                uid,
                modifiers,
            } => {
                expunges_allowed = uid;
                self.store(sequence_set, kind, response, flags, uid, modifiers)
                    .await
            }
            CommandBody::Copy {
                sequence_set,
                mailbox,
                uid,
            } => {
                let name = self.name_of(&mailbox);
                self.copy(sequence_set, name, uid, false).await
            }
            CommandBody::Move {
                sequence_set,
                mailbox,
                uid,
            } => {
                let name = self.name_of(&mailbox);
                self.copy(sequence_set, name, uid, true).await
            }
            _ => Err(bad("Command not supported")),
        };
        if let Some(e) = self.broken.take() {
            return Err(e);
        }
        self.finish(&tag, outcome, expunges_allowed).await
    }

    // ---- names -------------------------------------------------------------------------

    /// The store's (UTF-8) name of a mailbox argument.
    pub(crate) fn name_of(&self, mailbox: &ImapMailbox<'_>) -> String {
        match mailbox {
            ImapMailbox::Inbox => "INBOX".into(),
            ImapMailbox::Other(other) => self.decode_name(other.as_ref()),
        }
    }

    pub(crate) fn decode_name(&self, bytes: &[u8]) -> String {
        let raw = String::from_utf8_lossy(bytes).into_owned();
        let name = if self.utf8 {
            raw
        } else {
            utf7::decode(&raw).unwrap_or(raw)
        };
        let name = name.trim_end_matches('/').to_string();
        if is_inbox(&name) {
            "INBOX".into()
        } else {
            normalize_folder_name(&name)
        }
    }

    fn wildcard_of(&self, wildcard: &imap_codec::imap_types::mailbox::ListMailbox<'_>) -> String {
        use imap_codec::imap_types::mailbox::ListMailbox;
        let bytes: &[u8] = match wildcard {
            ListMailbox::Token(t) => t.as_ref(),
            ListMailbox::String(s) => s.as_ref(),
        };
        let raw = String::from_utf8_lossy(bytes).into_owned();
        if self.utf8 {
            raw
        } else {
            utf7::decode(&raw).unwrap_or(raw)
        }
    }

    /// A store name as the client sees it.
    pub(crate) fn imap_name(&self, name: &str) -> ImapMailbox<'static> {
        if name == "INBOX" {
            return ImapMailbox::Inbox;
        }
        let shown = if self.utf8 {
            name.to_string()
        } else {
            utf7::encode(name)
        };
        AString::try_from(shown)
            .map(ImapMailbox::from)
            .unwrap_or(ImapMailbox::Inbox)
    }

    pub(crate) fn mailbox_id(&self) -> u64 {
        self.login.as_ref().expect("authenticated").mailbox.id
    }

    // ---- authentication ----------------------------------------------------------------

    async fn log_in(&mut self, login: String, password: String) -> Outcome {
        let ip = self.peer.ip();
        let result = authenticate(&self.ctx.store, &self.ctx.logins, ip, &login, password).await;
        let mailbox = match result {
            Ok(m) => m,
            Err(AuthError::Invalid) => {
                tracing::info!(peer = %self.peer, login = ?login_key(&login), "IMAP login failed");
                return Err(no(Some("AUTHENTICATIONFAILED"), "Invalid credentials"));
            }
            // Refused by the brute-force protection, before any password check: the reply of
            // a wrong password. RFC 5530 §3 keeps UNAVAILABLE for a subsystem that is down
            // (clients retry it at once) and lets AUTHENTICATIONFAILED cover reasons the
            // server will not elaborate on; any different reply would tell a guesser from
            // when its guesses stopped being checked.
            Err(AuthError::Throttled) => {
                return Err(no(Some("AUTHENTICATIONFAILED"), "Invalid credentials"))
            }
            Err(AuthError::Expired) => {
                return Err(no(
                    Some("EXPIRED"),
                    "Password expired; change it in the provider's portal",
                ))
            }
            Err(AuthError::Unavailable) => {
                return Err(no(
                    Some("UNAVAILABLE"),
                    "Authentication temporarily unavailable",
                ))
            }
        };
        // Too many connections must never look like a bad password (CLIENTS.md §5 bug 9).
        let Some(slot) = self.ctx.connect(mailbox.id) else {
            return Err(no(
                Some("UNAVAILABLE"),
                format!(
                    "Too many connections for this mailbox (at most {})",
                    self.ctx.config.imap.max_connections_per_user
                ),
            ));
        };
        tracing::info!(peer = %self.peer, mailbox = %mailbox.address, "IMAP login");
        let notices = self.ctx.store.subscribe();
        self.login = Some(Login {
            mailbox,
            _slot: slot,
            notices,
        });
        let caps: Vec<String> = capability::after_login()
            .into_inner()
            .iter()
            .map(|c| c.to_string())
            .collect();
        Ok(format!("[CAPABILITY {}] Logged in", caps.join(" ")))
    }

    /// AUTHENTICATE PLAIN (RFC 4959 initial response, or one `+` round).
    async fn authenticate(
        &mut self,
        mechanism: AuthMechanism<'_>,
        initial: Option<Secret<std::borrow::Cow<'_, [u8]>>>,
    ) -> std::io::Result<Outcome> {
        if mechanism != AuthMechanism::Plain {
            return Ok(Err(no(Some("CANNOT"), "Unsupported mechanism; use PLAIN")));
        }
        let response = match initial {
            Some(ir) => ir.declassify().to_vec(),
            None => {
                self.out.extend_from_slice(b"+ \r\n");
                let line = match self.next_line().await? {
                    Some(Line::Text(t)) => t,
                    Some(Line::TooLong) => return Ok(Err(bad("Response too long"))),
                    None => {
                        self.logout = true;
                        return Ok(Err(bad("Connection closed")));
                    }
                };
                if line == b"*" {
                    return Ok(Err(bad("Authentication cancelled")));
                }
                match STANDARD.decode(line.trim_ascii()) {
                    Ok(d) => d,
                    Err(_) => return Ok(Err(bad("Invalid base64"))),
                }
            }
        };
        let parts: Vec<&[u8]> = response.split(|&b| b == 0).collect();
        let [authz, login, password] = parts.as_slice() else {
            return Ok(Err(bad("Malformed PLAIN response")));
        };
        let (authz, login, password) = (
            String::from_utf8_lossy(authz).into_owned(),
            String::from_utf8_lossy(login).into_owned(),
            String::from_utf8_lossy(password).into_owned(),
        );
        // Acting as another mailbox is never allowed. A blocked client gets the reply of any
        // blocked attempt; otherwise the failure counts against its address only, never
        // against the login it named.
        if !authz.is_empty() && !authz.eq_ignore_ascii_case(&login) {
            return Ok(Err(
                match refuse_authorization(&self.ctx.logins, self.peer.ip(), &login) {
                    AuthError::Throttled => no(Some("AUTHENTICATIONFAILED"), "Invalid credentials"),
                    _ => no(
                        Some("AUTHORIZATIONFAILED"),
                        "Authorization identity must be empty or equal to the login",
                    ),
                },
            ));
        }
        Ok(self.log_in(login, password).await)
    }

    // ---- folders -----------------------------------------------------------------------

    async fn create(&mut self, name: String) -> Outcome {
        if name.is_empty() {
            return Err(bad("Empty mailbox name"));
        }
        if is_inbox(&name) {
            return Err(no(Some("ALREADYEXISTS"), "INBOX always exists"));
        }
        let id = self.mailbox_id();
        // RFC 3501 §6.3.3: create the missing superiors too.
        let parts: Vec<&str> = name.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad("Empty hierarchy level in mailbox name"));
        }
        for i in 1..parts.len() {
            let parent = parts[..i].join("/");
            match self.ctx.store.folder(id, &parent).await {
                Ok(Some(_)) => {}
                Ok(None) => match self.ctx.store.create_folder(id, &parent, None).await {
                    Ok(_) | Err(StoreError::Exists(_)) => {}
                    Err(e) => return Err(store_refusal(e)),
                },
                Err(e) => return Err(store_refusal(e)),
            }
        }
        match self.ctx.store.create_folder(id, &name, None).await {
            Ok(_) => Ok("CREATE completed".into()),
            Err(e) => Err(store_refusal(e)),
        }
    }

    async fn folder_named(&self, name: &str) -> Result<Folder, Refusal> {
        match self.ctx.store.folder(self.mailbox_id(), name).await {
            Ok(Some(f)) => Ok(f),
            Ok(None) => Err(no(Some("NONEXISTENT"), "No such mailbox")),
            Err(e) => Err(store_refusal(e)),
        }
    }

    async fn delete(&mut self, name: String) -> Outcome {
        let folder = self.folder_named(&name).await?;
        if folder.role.is_some() {
            return Err(no(
                Some("CANNOT"),
                format!("{name} is a system folder and cannot be deleted"),
            ));
        }
        let prefix = format!("{name}/");
        let folders = self
            .ctx
            .store
            .folders(self.mailbox_id())
            .await
            .map_err(store_refusal)?;
        if folders.iter().any(|f| f.name.starts_with(&prefix)) {
            return Err(no(Some("INUSE"), "Mailbox has children; delete them first"));
        }
        if self
            .selected
            .as_ref()
            .is_some_and(|s| s.folder.id == folder.id)
        {
            self.selected = None;
        }
        match self
            .ctx
            .store
            .delete_folder(self.mailbox_id(), folder.id)
            .await
        {
            Ok(_) => Ok("DELETE completed".into()),
            Err(e) => Err(store_refusal(e)),
        }
    }

    async fn rename(&mut self, from: String, to: String) -> Outcome {
        let folder = self.folder_named(&from).await?;
        if folder.role.is_some() {
            return Err(no(
                Some("CANNOT"),
                format!("{from} is a system folder and cannot be renamed"),
            ));
        }
        if to.is_empty() || to.split('/').any(|p| p.is_empty()) {
            return Err(bad("Invalid new mailbox name"));
        }
        if is_inbox(&to) {
            return Err(no(Some("ALREADYEXISTS"), "INBOX always exists"));
        }
        match self
            .ctx
            .store
            .rename_folder(self.mailbox_id(), folder.id, &to)
            .await
        {
            Ok(_) => Ok("RENAME completed".into()),
            Err(e) => Err(store_refusal(e)),
        }
    }

    async fn subscribe(&mut self, name: String, on: bool) -> Outcome {
        let folder = self.folder_named(&name).await?;
        match self
            .ctx
            .store
            .set_subscribed(self.mailbox_id(), folder.id, on)
            .await
        {
            Ok(_) if on => Ok("SUBSCRIBE completed".into()),
            Ok(_) => Ok("UNSUBSCRIBE completed".into()),
            Err(e) => Err(store_refusal(e)),
        }
    }

    /// STATUS of one folder as untagged data (also used by LIST-STATUS).
    pub(crate) async fn status(
        &mut self,
        name: &str,
        items: &[StatusDataItemName],
    ) -> Result<(), Refusal> {
        let folder = self.folder_named(name).await?;
        let needs_scan = items.iter().any(|i| {
            matches!(
                i,
                StatusDataItemName::Unseen
                    | StatusDataItemName::Deleted
                    | StatusDataItemName::DeletedStorage
                    | StatusDataItemName::Recent
            )
        });
        let messages = if needs_scan {
            self.ctx
                .store
                .messages(folder.id)
                .await
                .map_err(store_refusal)?
        } else {
            Vec::new()
        };
        let mut out = Vec::new();
        for item in items {
            out.push(match item {
                StatusDataItemName::Messages => StatusDataItem::Messages(folder.message_count),
                StatusDataItemName::Recent => {
                    let recent = match &self.selected {
                        Some(s) if s.folder.id == folder.id => s.recent.len() as u32,
                        _ => {
                            let first = self.ctx.first_recent(folder.id, None);
                            messages.iter().filter(|m| m.uid >= first).count() as u32
                        }
                    };
                    StatusDataItem::Recent(recent)
                }
                StatusDataItemName::UidNext => {
                    StatusDataItem::UidNext(folder.uidnext.max(1).try_into().expect("nonzero"))
                }
                StatusDataItemName::UidValidity => StatusDataItem::UidValidity(
                    folder.uidvalidity.max(1).try_into().expect("nonzero"),
                ),
                StatusDataItemName::Unseen => StatusDataItem::Unseen(
                    messages
                        .iter()
                        .filter(|m| !m.flags.contains(Flags::SEEN))
                        .count() as u32,
                ),
                StatusDataItemName::Deleted => StatusDataItem::Deleted(
                    messages
                        .iter()
                        .filter(|m| m.flags.contains(Flags::DELETED))
                        .count() as u32,
                ),
                StatusDataItemName::DeletedStorage => StatusDataItem::DeletedStorage(
                    messages
                        .iter()
                        .filter(|m| m.flags.contains(Flags::DELETED))
                        .map(|m| m.size)
                        .sum(),
                ),
                StatusDataItemName::Size => StatusDataItem::Size(folder.size_bytes),
                StatusDataItemName::HighestModSeq => {
                    StatusDataItem::HighestModSeq(folder.highestmodseq)
                }
            });
        }
        let mailbox = self.imap_name(name);
        self.data(Data::Status {
            mailbox,
            items: out.into(),
        });
        Ok(())
    }

    async fn quota(&mut self) -> Result<(), Refusal> {
        let mailbox = match self.ctx.store.mailbox(self.mailbox_id()).await {
            Ok(Some(m)) => m,
            Ok(None) => return Err(no(Some("UNAVAILABLE"), "Mailbox no longer exists")),
            Err(e) => return Err(store_refusal(e)),
        };
        // RFC 9208: STORAGE is in units of 1024 octets.
        self.data(Data::Quota {
            root: AString::try_from("").expect("empty astring"),
            quotas: vec![QuotaGet {
                resource: Resource::Storage,
                usage: mailbox.used_bytes.div_ceil(1024),
                limit: mailbox.quota_bytes / 1024,
            }]
            .try_into()
            .expect("one quota"),
        });
        Ok(())
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
