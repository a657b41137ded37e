//! One IMAP conversation's state (RFC 9051 §3: not authenticated, authenticated, selected,
//! logout), generic over the stream: the login, the selected folder's view, the enabled
//! extensions, and the session's input and output. Commands are read whole (literals
//! included, see [`crate::framing`]; LITERAL+ of RFC 7888); pipelined commands wait in the
//! input buffer, also after IDLE's `DONE` (CLIENTS.md §5 bug 1). The conversation itself is
//! run by the `conversation` module, each command by its module under `op`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use imap_codec::imap_types::core::{AString, Tag, Text};
use imap_codec::imap_types::mailbox::Mailbox as ImapMailbox;
use imap_codec::imap_types::response::{
    Bye, Code, CodeOther, Data, Response, Status, StatusBody, StatusKind, Tagged,
};
use imap_codec::{encode::Encoder, ResponseCodec};
use pecd_common::input::{Input, Line, Read};
use pecd_common::net::write_out_within;
use pecd_store::{normalize_folder_name, ChangeNotice, Folder, Mailbox};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::error::{no, store_refusal, Refusal};
use crate::view::Selected;
use crate::{framing, utf7, ConnectionSlot, Context};

/// The logged-in mailbox of a session.
pub(crate) struct Login {
    pub mailbox: Mailbox,
    _slot: ConnectionSlot,
    /// Durable changes of every mailbox; IDLE filters ours.
    pub notices: broadcast::Receiver<ChangeNotice>,
}

impl Login {
    pub(crate) fn new(
        mailbox: Mailbox,
        slot: ConnectionSlot,
        notices: broadcast::Receiver<ChangeNotice>,
    ) -> Login {
        Login {
            mailbox,
            _slot: slot,
            notices,
        }
    }
}

/// One IMAP conversation over the stream `S`.
pub struct Session<'a, S> {
    pub(crate) ctx: &'a Arc<Context>,
    pub(crate) stream: S,
    pub(crate) peer: SocketAddr,
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
    /// LOGOUT was answered: the conversation ends after this command.
    pub(crate) logout: bool,
    /// The command being run asked for CHANGEDSINCE 0 (see
    /// [`crate::extended::changedsince_zero`]).
    pub(crate) changed_since_zero: bool,
    /// Writing failed while a command streamed its responses (FETCH); the session ends once
    /// the command returns.
    pub(crate) broken: Option<std::io::Error>,
}

pub(crate) fn code(name: &'static str) -> Code<'static> {
    Code::Other(CodeOther::unvalidated(name.as_bytes()))
}

pub(crate) fn text(s: &str) -> Text<'static> {
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
pub(crate) fn is_inbox(name: &str) -> bool {
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

    pub(crate) fn tagged(
        &mut self,
        tag: &Tag<'_>,
        kind: StatusKind,
        code: Option<Code<'_>>,
        msg: &str,
    ) {
        self.send(&Response::Status(Status::Tagged(Tagged {
            tag: tag.clone(),
            body: StatusBody {
                kind,
                code,
                text: text(msg),
            },
        })));
    }

    pub(crate) fn bye(&mut self, code_name: Option<&'static str>, msg: &str) {
        self.send(&Response::Status(Status::Bye(Bye {
            code: code_name.map(code),
            text: text(msg),
        })));
    }

    /// A BAD for a command that could not be decoded, tagged when its tag is readable.
    pub(crate) fn bad_syntax(&mut self, raw: &[u8], msg: &str) {
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
    pub(crate) async fn read_command(&mut self) -> std::io::Result<Option<Vec<u8>>> {
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

    pub(crate) fn wildcard_of(
        &self,
        wildcard: &imap_codec::imap_types::mailbox::ListMailbox<'_>,
    ) -> String {
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

    pub(crate) async fn folder_named(&self, name: &str) -> Result<Folder, Refusal> {
        match self.ctx.store.folder(self.mailbox_id(), name).await {
            Ok(Some(f)) => Ok(f),
            Ok(None) => Err(no(Some("NONEXISTENT"), "No such mailbox")),
            Err(e) => Err(store_refusal(e)),
        }
    }

    /// The selected folder's view; only for commands of the selected state.
    pub(crate) fn selected_ref(&self) -> &Selected {
        self.selected.as_ref().expect("selected state")
    }
}
