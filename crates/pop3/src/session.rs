//! One POP3 conversation (RFC 1939 §3 states: AUTHORIZATION, TRANSACTION, UPDATE), generic
//! over the stream. Pipelined commands (RFC 2449 §6.6) are answered in order.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use pecd_archive::login::{authenticate, AuthError};
use pecd_common::input::{Input, Line, Read};
use pecd_common::net::write_out_within;
use pecd_common::throttle::{login_key, MAX_LOGIN_KEY_BYTES};
use pecd_store::{Folder, Mailbox, MessageMeta};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::{capa, Context, MaildropLock};

/// Longest command line accepted, CRLF included (RFC 2449 §4 allows 255 octets for commands;
/// SASL responses can be longer).
const MAX_LINE: usize = 2048;

/// Longest line before login, CRLF included: room for `AUTH PLAIN` with an authorization
/// identity and a login of [`MAX_USER`] bytes each and a password of [`MAX_PASSWORD`] bytes,
/// base64-encoded (4 bytes for every 3: about 2,060 bytes in all), with room to spare; still
/// far from what an unauthenticated client could make us hold.
const MAX_PRELOGIN_LINE: usize = 4096;

/// Longest USER name (RFC 2449 §4 asks for 40 octets; real addresses can be longer, none
/// longer than this).
const MAX_USER: usize = MAX_LOGIN_KEY_BYTES;

/// Longest PASS password. IMAP and SMTP take passwords as long as their command lines allow
/// (kilobytes), so a holder's long passphrase must work over POP3 too: 1 KiB is more than any
/// password manager produces.
const MAX_PASSWORD: usize = 1024;

struct Maildrop {
    mailbox: Mailbox,
    folder: Folder,
    /// The INBOX as it was at login; message n is `messages[n - 1]`.
    messages: Vec<MessageMeta>,
    deleted: Vec<bool>,
    _lock: MaildropLock,
}

impl Maildrop {
    /// The message numbered `arg`, unless absent or marked deleted.
    fn get(&self, arg: Option<&str>) -> Result<(usize, &MessageMeta), &'static str> {
        let n: usize = arg
            .and_then(|a| a.parse().ok())
            .ok_or("Invalid message number")?;
        match n.checked_sub(1).and_then(|i| self.messages.get(i)) {
            Some(_) if self.deleted[n - 1] => Err("Message already deleted"),
            Some(m) => Ok((n, m)),
            None => Err("No such message"),
        }
    }

    fn uidl(&self, meta: &MessageMeta) -> String {
        // Never reused: UIDVALIDITY changes whenever UIDs could repeat (CLIENTS.md §2, §5 bug 12).
        format!("{:08x}{:08x}", self.folder.uidvalidity, meta.uid)
    }

    fn live(&self) -> impl Iterator<Item = (usize, &MessageMeta)> {
        self.messages
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.deleted[*i])
            .map(|(i, m)| (i + 1, m))
    }
}

pub struct Session<'a, S> {
    ctx: &'a Arc<Context>,
    stream: S,
    peer: SocketAddr,
    shutdown: CancellationToken,
    input: Input,
    out: Vec<u8>,
    user: Option<String>,
    maildrop: Option<Maildrop>,
}

/// Appends `body` as a multi-line response: CRLF line endings, dot-stuffed, NUL bytes turned
/// into spaces (Outlook hangs on NUL: Dovecot's `outlook-no-nuls`), then the terminator.
fn multiline(body: &[u8], out: &mut Vec<u8>) {
    if !body.is_empty() {
        let body = body.strip_suffix(b"\n").unwrap_or(body);
        for line in body.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.first() == Some(&b'.') {
                out.push(b'.');
            }
            out.extend(line.iter().map(|&b| if b == 0 { b' ' } else { b }));
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b".\r\n");
}

/// Headers, the blank line that ends them (always, even when the message has no body: Dovecot's
/// `oe-ns-eoh`), and the first `lines` lines of the body.
fn top(body: &[u8], lines: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest: &[u8] = body;
    let mut in_body = false;
    let mut body_lines = 0;
    while !rest.is_empty() {
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let (line, tail) = rest.split_at(end);
        rest = tail;
        let bare = line.strip_suffix(b"\n").unwrap_or(line);
        let bare = bare.strip_suffix(b"\r").unwrap_or(bare);
        if in_body {
            if body_lines == lines {
                break;
            }
            body_lines += 1;
        } else if bare.is_empty() {
            in_body = true;
        }
        out.extend_from_slice(bare);
        out.extend_from_slice(b"\r\n");
    }
    if !in_body {
        out.extend_from_slice(b"\r\n");
    }
    out
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
            user: None,
            maildrop: None,
        }
    }

    fn ok(&mut self, text: &str) {
        self.out
            .extend_from_slice(format!("+OK {text}\r\n").as_bytes());
    }

    fn err(&mut self, text: &str) {
        self.out
            .extend_from_slice(format!("-ERR {text}\r\n").as_bytes());
    }

    /// Writes the replies; fails when the client takes none for `pop3.write_timeout_seconds`
    /// (say, it stopped reading in the middle of a RETR), which ends the session and frees
    /// its maildrop lock.
    async fn flush(&mut self) -> std::io::Result<()> {
        let stall = Duration::from_secs(self.ctx.config.pop3.write_timeout_seconds);
        write_out_within(&mut self.stream, &mut self.out, stall).await
    }

    /// Next command line, or `None` at the end of the conversation (after the goodbye, when
    /// the client timed out or pecd is stopping). Before login, lines are shorter and the
    /// client is given less time.
    async fn line(&mut self) -> std::io::Result<Option<Line>> {
        loop {
            let (max, idle) = match self.maildrop {
                Some(_) => (MAX_LINE, self.ctx.config.pop3.idle_timeout_seconds),
                None => (
                    MAX_PRELOGIN_LINE,
                    self.ctx.config.pop3.prelogin_timeout_seconds,
                ),
            };
            if let Some(line) = self.input.next_line(max) {
                return Ok(Some(line));
            }
            self.flush().await?;
            let idle = Duration::from_secs(idle);
            let goodbye = match self
                .input
                .read_from(&mut self.stream, idle, &self.shutdown)
                .await?
            {
                Read::Data => continue,
                Read::Eof => return Ok(None),
                Read::Timeout => "Idle timeout, closing connection",
                Read::Shutdown => "[SYS/TEMP] Server shutting down",
            };
            self.err(goodbye);
            self.flush().await?;
            return Ok(None);
        }
    }

    pub async fn run(&mut self) -> std::io::Result<()> {
        self.ok("pecd POP3 ready");
        loop {
            let line = match self.line().await? {
                None => return Ok(()),
                Some(Line::TooLong) => {
                    self.err("Line too long");
                    continue;
                }
                Some(Line::Text(line)) => String::from_utf8_lossy(&line).into_owned(),
            };
            let mut words = line.splitn(3, ' ');
            let command = words.next().unwrap_or("").to_ascii_uppercase();
            let (a, b) = (words.next(), words.next());
            match (command.as_str(), self.maildrop.is_some()) {
                ("CAPA", _) => self.out.extend_from_slice(capa::reply().as_bytes()),
                ("QUIT", _) => return self.quit().await,
                ("NOOP", true) => self.ok("OK"),
                ("USER", false) => match a {
                    Some(name) if name.len() > MAX_USER => self.err("Name too long"),
                    Some(name) if !name.is_empty() => {
                        self.user = Some(name.to_string());
                        self.ok("Send PASS");
                    }
                    _ => self.err("USER needs a name"),
                },
                ("PASS", false) => match self.user.take() {
                    // PASS takes the rest of the line: passwords may contain spaces.
                    Some(user) => {
                        let password = line.get(5..).unwrap_or("").to_string();
                        if password.len() > MAX_PASSWORD {
                            self.err("Password too long");
                        } else {
                            self.login(user, password).await;
                        }
                    }
                    None => self.err("Send USER first"),
                },
                ("AUTH", false) => self.auth(a, b).await?,
                ("STAT", true) => {
                    let md = self.maildrop.as_ref().expect("transaction state");
                    let (n, size) = md.live().fold((0, 0), |(n, s), (_, m)| (n + 1, s + m.size));
                    self.ok(&format!("{n} {size}"));
                }
                ("LIST", true) => self.list(a, false),
                ("UIDL", true) => self.list(a, true),
                ("RETR", true) => self.retrieve(a, None).await,
                ("TOP", true) => match b.and_then(|n| n.parse::<usize>().ok()) {
                    Some(lines) => self.retrieve(a, Some(lines)).await,
                    None => self.err("TOP needs a message number and a line count"),
                },
                ("DELE", true) => {
                    let md = self.maildrop.as_mut().expect("transaction state");
                    match md.get(a).map(|(n, _)| n) {
                        Ok(n) => {
                            md.deleted[n - 1] = true;
                            self.ok(&format!("Message {n} marked for deletion"));
                        }
                        Err(e) => self.err(e),
                    }
                }
                ("RSET", true) => {
                    let md = self.maildrop.as_mut().expect("transaction state");
                    md.deleted.iter_mut().for_each(|d| *d = false);
                    let n = md.messages.len();
                    self.ok(&format!("{n} messages"));
                }
                ("USER" | "PASS" | "AUTH", true) => self.err("Already logged in"),
                ("STAT" | "LIST" | "UIDL" | "RETR" | "TOP" | "DELE" | "RSET" | "NOOP", false) => {
                    self.err("Log in first")
                }
                _ => self.err("Unknown command"),
            }
        }
    }

    fn list(&mut self, arg: Option<&str>, uidl: bool) {
        let md = self.maildrop.as_ref().expect("transaction state");
        let show = |m: &MessageMeta| if uidl { md.uidl(m) } else { m.size.to_string() };
        match arg {
            Some(a) => match md.get(Some(a)) {
                Ok((n, m)) => {
                    let text = format!("{n} {}", show(m));
                    self.ok(&text);
                }
                Err(e) => self.err(e),
            },
            None => {
                let mut body = String::new();
                for (n, m) in md.live() {
                    body.push_str(&format!("{n} {}\r\n", show(m)));
                }
                self.ok("Listing follows");
                body.push_str(".\r\n");
                self.out.extend_from_slice(body.as_bytes());
            }
        }
    }

    async fn retrieve(&mut self, arg: Option<&str>, lines: Option<usize>) {
        let md = self.maildrop.as_ref().expect("transaction state");
        let meta = match md.get(arg) {
            Ok((_, m)) => m.clone(),
            Err(e) => return self.err(e),
        };
        match self.ctx.store.read_body(meta.clone()).await {
            Ok(body) => {
                let body = match lines {
                    Some(k) => top(&body, k),
                    None => body,
                };
                self.ok(&format!("{} octets", meta.size));
                multiline(&body, &mut self.out);
            }
            // Expunged through IMAP after this session's login.
            Err(_) => self.err("Message is no longer available"),
        }
    }

    async fn auth(
        &mut self,
        mechanism: Option<&str>,
        initial: Option<&str>,
    ) -> std::io::Result<()> {
        match mechanism.map(str::to_ascii_uppercase).as_deref() {
            None => {
                self.ok("Mechanisms follow");
                self.out.extend_from_slice(b"PLAIN\r\n.\r\n");
            }
            Some("PLAIN") => {
                let response = match initial {
                    Some(ir) => ir.to_string(),
                    None => {
                        self.out.extend_from_slice(b"+ \r\n");
                        match self.line().await? {
                            Some(Line::Text(t)) => String::from_utf8_lossy(&t).into_owned(),
                            _ => String::new(),
                        }
                    }
                };
                if response == "*" {
                    self.err("Authentication cancelled");
                    return Ok(());
                }
                let decoded = if response == "=" {
                    Some(Vec::new())
                } else {
                    STANDARD.decode(response.trim()).ok()
                };
                let parts: Option<Vec<String>> = decoded.and_then(|d| {
                    let p: Vec<_> = d
                        .split(|&b| b == 0)
                        .map(|s| String::from_utf8(s.to_vec()).ok())
                        .collect();
                    p.into_iter().collect()
                });
                match parts.as_deref() {
                    Some([authz, login, password])
                        if authz.is_empty() || authz.eq_ignore_ascii_case(login) =>
                    {
                        self.login(login.clone(), password.clone()).await;
                    }
                    _ => self.err("Malformed authentication response"),
                }
            }
            Some(_) => self.err("Unsupported mechanism"),
        }
        Ok(())
    }

    async fn login(&mut self, login: String, password: String) {
        let ip = self.peer.ip();
        let ctx = &self.ctx;
        let result = authenticate(&ctx.store, &ctx.logins, &ctx.config, ip, &login, password).await;
        let mailbox = match result {
            Ok(p) => p.mailbox,
            Err(AuthError::Unavailable) => {
                return self.err("[SYS/TEMP] Temporary failure; try again later")
            }
            Err(AuthError::Closed(text)) => return self.err(&format!("[AUTH] {text}")),
            Err(AuthError::Expired) => {
                tracing::warn!(peer = %self.peer, login = ?login_key(&login), "POP3 authentication failed: password expired");
                let text = pecd_archive::login::expired_text(&self.ctx.config);
                return self.err(&format!("[AUTH] {text}"));
            }
            Err(AuthError::Invalid) => {
                tracing::warn!(peer = %self.peer, login = ?login_key(&login), "POP3 authentication failed");
                return self.err("[AUTH] Authentication failed");
            }
            // Refused by the brute-force protection, before any password check: the reply of
            // a wrong password. RFC 3206 §4 lets [AUTH] cover failures the server will not
            // explain; [SYS/TEMP] would invite an immediate retry, and any different reply
            // would tell a guesser from when its guesses stopped being checked.
            Err(AuthError::Throttled) => return self.err("[AUTH] Authentication failed"),
        };
        let Some(lock) = self.ctx.lock(mailbox.id) else {
            return self.err("[IN-USE] Mailbox in use by another POP3 session");
        };
        let inbox = match self.ctx.store.folder(mailbox.id, "INBOX").await {
            Ok(Some(f)) => f,
            _ => return self.err("[SYS/TEMP] Mailbox unavailable; try again later"),
        };
        let messages = match self.ctx.store.messages(inbox.id).await {
            Ok(m) => m,
            Err(_) => return self.err("[SYS/TEMP] Mailbox unavailable; try again later"),
        };
        tracing::info!(peer = %self.peer, login = %mailbox.address, messages = messages.len(), "POP3 logged in");
        let n = messages.len();
        self.maildrop = Some(Maildrop {
            mailbox,
            folder: inbox,
            deleted: vec![false; n],
            messages,
            _lock: lock,
        });
        self.ok(&format!("Logged in, {n} messages"));
    }

    /// QUIT: in the TRANSACTION state, the UPDATE state deletes the marked messages durably
    /// before +OK; then the TLS session is closed cleanly (CLIENTS.md §5 bug 11).
    async fn quit(&mut self) -> std::io::Result<()> {
        if let Some(md) = self.maildrop.take() {
            let uids: Vec<_> = md
                .messages
                .iter()
                .zip(&md.deleted)
                .filter(|(_, d)| **d)
                .map(|(m, _)| m.uid)
                .collect();
            if !uids.is_empty() {
                match self
                    .ctx
                    .store
                    .delete_messages(md.mailbox.id, md.folder.id, uids)
                    .await
                {
                    Ok(removed) => {
                        tracing::info!(login = %md.mailbox.address, deleted = removed.len(), "POP3 deletions committed")
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "POP3 deletions failed");
                        self.err("[SYS/TEMP] Some deleted messages were not removed");
                        self.flush().await?;
                        return self.stream.shutdown().await;
                    }
                }
            }
        }
        self.ok("Bye");
        self.flush().await?;
        self.stream.shutdown().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiline_stuffs_dots_normalises_crlf_and_removes_nuls() {
        let mut out = Vec::new();
        multiline(b"Subject: x\n\n.hidden\r\nnul\0here\r\nlast", &mut out);
        assert_eq!(
            out,
            b"Subject: x\r\n\r\n..hidden\r\nnul here\r\nlast\r\n.\r\n"
        );
    }

    #[test]
    fn top_always_ends_headers_with_a_blank_line() {
        assert_eq!(
            top(b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n", 2),
            b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n"
        );
        assert_eq!(top(b"A: 1\r\n\r\nbody\r\n", 0), b"A: 1\r\n\r\n");
        assert_eq!(
            top(b"A: 1\r\nB: 2\r\n", 5),
            b"A: 1\r\nB: 2\r\n\r\n",
            "headers-only message"
        );
    }
}
