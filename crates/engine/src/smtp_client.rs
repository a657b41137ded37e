//! Outbound SMTP client used to relay messages to other PEC providers.
//!
//! One call to [`send_batch`] opens one connection, sets the session up
//! (greeting, EHLO, STARTTLS, EHLO again) and hands over every message of the
//! batch in order, reporting one [`RcptOutcome`] per recipient.
//!
//! The protocol logic is generic over the byte stream so that the same code
//! runs over plain TCP and over the TLS stream obtained after STARTTLS.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tracing::{debug, trace};

/// Longest reply line accepted from the server, line ending included.
const MAX_LINE: usize = 4096;
/// Most lines accepted in one (multi-line) reply.
const MAX_REPLY_LINES: usize = 128;
/// The message body is written in pieces of this size, each with its own timeout.
const BODY_CHUNK: usize = 64 * 1024;

/// One message to hand to the peer: SMTP envelope + bytes (CRLF line ends;
/// the client does dot-stuffing and adds the final CRLF.CRLF).
#[derive(Clone, Copy, Debug)]
pub struct Outgoing<'a> {
    pub sender: &'a str,
    pub recipients: &'a [String],
    pub bytes: &'a [u8],
}

/// Result for one recipient of one message. The string is the server reply
/// (code and text, e.g. `"250 2.0.0 Ok: queued as 1A2B"`), or a description
/// of why the connection was lost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RcptOutcome {
    Delivered(String),
    Temporary(String),
    Permanent(String),
}

/// TLS requirements of a connection.
#[derive(Clone, Debug)]
pub struct TlsPolicy {
    /// Refuse to send without STARTTLS (between PEC providers, PEC.md §6.2).
    /// When false STARTTLS is still used if the server offers it; a failed
    /// handshake then fails the connection (no plaintext retry).
    pub required: bool,
    /// Roots used to verify the server certificate (the name checked is the
    /// `server_name` given to [`send_batch`]).
    pub roots: Arc<rustls::RootCertStore>,
}

/// Connection-level failure: nothing of the batch was delivered. All of
/// these are temporary conditions.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The TCP connection could not be opened.
    #[error("cannot connect: {0}")]
    Connect(#[source] io::Error),
    /// A step of the session setup did not complete in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// I/O failure after the connection was opened, during session setup.
    #[error("connection failed during session setup: {0}")]
    Io(#[source] io::Error),
    /// The server greeted with a non-2xx reply.
    #[error("server refused the session: {0}")]
    Greeting(String),
    /// EHLO (and HELO, where allowed) was refused.
    #[error("EHLO refused: {0}")]
    Helo(String),
    /// TLS is required but the server does not offer STARTTLS.
    #[error("TLS required but the server does not offer STARTTLS")]
    NoStartTls,
    /// STARTTLS was refused, or the TLS handshake failed.
    #[error("TLS failure: {0}")]
    Tls(String),
    /// The server did not speak SMTP correctly.
    #[error("SMTP protocol error: {0}")]
    Protocol(String),
}

/// Opens one connection to `addr`, sets the session up and sends every
/// message of `batch` in order on it.
///
/// Returns, for each message in batch order, one outcome per recipient in
/// order. Once the session setup succeeded, failures while sending are
/// reported as per-recipient `Temporary` outcomes, never as `Err`.
pub async fn send_batch(
    addr: &str,
    server_name: &str,
    helo: &str,
    tls: &TlsPolicy,
    batch: &[Outgoing<'_>],
    timeout: Duration,
) -> Result<Vec<Vec<RcptOutcome>>, ConnectError> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let tcp = match time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(ConnectError::Connect(e)),
        Err(_) => return Err(ConnectError::Timeout(format!("connecting to {addr}"))),
    };
    // Commands are small and always waited for; don't let Nagle delay them.
    let _ = tcp.set_nodelay(true);
    session(tcp, addr, server_name, helo, tls, batch, timeout).await
}

/// The whole SMTP session over an already connected stream.
async fn session<S>(
    stream: S,
    peer: &str,
    server_name: &str,
    helo: &str,
    tls: &TlsPolicy,
    batch: &[Outgoing<'_>],
    timeout: Duration,
) -> Result<Vec<Vec<RcptOutcome>>, ConnectError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if has_control(helo) || helo.is_empty() {
        return Err(ConnectError::Protocol(format!(
            "invalid HELO name {helo:?}"
        )));
    }
    let mut conv = Conversation::new(stream, timeout, peer);
    let greeting = conv.read_reply("greeting").await?;
    if greeting.class() != 2 {
        conv.quit().await;
        return Err(ConnectError::Greeting(greeting.text()));
    }
    let ext = match hello(&mut conv, helo, tls.required).await {
        Ok(ext) => ext,
        Err(e) => {
            conv.quit().await;
            return Err(e);
        }
    };

    if ext.starttls {
        let reply = conv.command("STARTTLS").await?;
        if reply.class() == 2 {
            let inner = conv.into_inner()?;
            let stream = start_tls(inner, server_name, &tls.roots, timeout).await?;
            let mut conv = Conversation::new(stream, timeout, peer);
            let ext = match hello(&mut conv, helo, true).await {
                Ok(ext) => ext,
                Err(e) => {
                    conv.quit().await;
                    return Err(e);
                }
            };
            debug!(peer, "SMTP session established with TLS");
            return Ok(deliver(conv, &ext, batch).await);
        }
        if tls.required || reply.code == 421 {
            conv.quit().await;
            return Err(ConnectError::Tls(format!(
                "server refused STARTTLS: {}",
                reply.text()
            )));
        }
        debug!(peer, reply = %reply.text(), "STARTTLS refused, continuing in plaintext");
    } else if tls.required {
        conv.quit().await;
        return Err(ConnectError::NoStartTls);
    }
    debug!(peer, "SMTP session established without TLS");
    Ok(deliver(conv, &ext, batch).await)
}

/// EHLO, falling back to HELO on a 5xx when `no_fallback` is false.
async fn hello<S>(
    conv: &mut Conversation<S>,
    helo: &str,
    no_fallback: bool,
) -> Result<Extensions, ConnectError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let reply = conv.command(&format!("EHLO {helo}")).await?;
    if reply.class() == 2 {
        return Ok(Extensions::from_ehlo(&reply));
    }
    if reply.class() == 5 && !no_fallback {
        let reply = conv.command(&format!("HELO {helo}")).await?;
        if reply.class() == 2 {
            return Ok(Extensions::default());
        }
        return Err(ConnectError::Helo(reply.text()));
    }
    Err(ConnectError::Helo(reply.text()))
}

async fn start_tls<S>(
    stream: S,
    server_name: &str,
    roots: &Arc<rustls::RootCertStore>,
    timeout: Duration,
) -> Result<TlsStream<S>, ConnectError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let name = ServerName::try_from(server_name.to_string())
        .map_err(|e| ConnectError::Tls(format!("invalid server name {server_name:?}: {e}")))?;
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| ConnectError::Tls(e.to_string()))?
    .with_root_certificates(Arc::clone(roots))
    .with_no_client_auth();
    let connector = TlsConnector::from(Arc::new(config));
    match time::timeout(timeout, connector.connect(name, stream)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(ConnectError::Tls(e.to_string())),
        Err(_) => Err(ConnectError::Timeout("TLS handshake".to_string())),
    }
}

/// Sends every message of the batch; never fails as a whole.
async fn deliver<S>(
    mut conv: Conversation<S>,
    ext: &Extensions,
    batch: &[Outgoing<'_>],
) -> Vec<Vec<RcptOutcome>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut results = Vec::with_capacity(batch.len());
    let mut lost: Option<String> = None;
    let mut needs_rset = false;
    for msg in batch {
        let mut outcomes: Vec<Option<RcptOutcome>> = vec![None; msg.recipients.len()];
        if lost.is_none() {
            if let Err(f) = send_message(&mut conv, ext, msg, &mut outcomes, &mut needs_rset).await
            {
                debug!(peer = %conv.peer, error = %f, "SMTP connection lost");
                lost = Some(format!("connection lost: {f}"));
            }
        }
        let filled: Vec<RcptOutcome> = outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or_else(|| {
                    RcptOutcome::Temporary(
                        lost.clone()
                            .unwrap_or_else(|| "connection lost: no reply".to_string()),
                    )
                })
            })
            .collect();
        debug!(
            peer = %conv.peer,
            sender = msg.sender,
            recipients = filled.len(),
            delivered = filled.iter().filter(|o| matches!(o, RcptOutcome::Delivered(_))).count(),
            temporary = filled.iter().filter(|o| matches!(o, RcptOutcome::Temporary(_))).count(),
            permanent = filled.iter().filter(|o| matches!(o, RcptOutcome::Permanent(_))).count(),
            "SMTP message outcome"
        );
        results.push(filled);
    }
    if lost.is_none() {
        conv.quit().await;
    }
    results
}

/// One mail transaction. Outcomes that are known are written into
/// `outcomes`; on `Err` the connection is unusable and the caller fills the
/// rest in.
async fn send_message<S>(
    conv: &mut Conversation<S>,
    ext: &Extensions,
    msg: &Outgoing<'_>,
    outcomes: &mut [Option<RcptOutcome>],
    needs_rset: &mut bool,
) -> Result<(), Failure>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if msg.recipients.is_empty() {
        return Ok(());
    }
    if has_control(msg.sender) {
        let o = RcptOutcome::Permanent(format!(
            "501 5.1.7 invalid sender address {:?} (not sent)",
            msg.sender
        ));
        outcomes.iter_mut().for_each(|slot| *slot = Some(o.clone()));
        return Ok(());
    }
    if *needs_rset {
        let reply = conv.command("RSET").await?;
        closing(&reply)?;
        if reply.class() != 2 {
            return Err(Failure::Protocol(format!("RSET refused: {}", reply.text())));
        }
        *needs_rset = false;
    }

    let mut body = stuff_body(msg.bytes);
    let mut mail = format!("MAIL FROM:<{}>", msg.sender);
    if ext.size {
        mail.push_str(&format!(" SIZE={}", body.len()));
    }
    if ext.eightbitmime && !msg.bytes.is_ascii() {
        mail.push_str(" BODY=8BITMIME");
    }
    if ext.smtputf8 && (!msg.sender.is_ascii() || msg.recipients.iter().any(|r| !r.is_ascii())) {
        mail.push_str(" SMTPUTF8");
    }
    let reply = conv.command(&mail).await?;
    if reply.class() != 2 {
        let o = negative_outcome(&reply, "MAIL")?;
        outcomes.iter_mut().for_each(|slot| *slot = Some(o.clone()));
        return closing(&reply);
    }
    *needs_rset = true;

    let mut accepted = Vec::with_capacity(msg.recipients.len());
    for (i, rcpt) in msg.recipients.iter().enumerate() {
        if has_control(rcpt) {
            outcomes[i] = Some(RcptOutcome::Permanent(format!(
                "501 5.1.3 invalid recipient address {rcpt:?} (not sent)"
            )));
            continue;
        }
        let reply = conv.command(&format!("RCPT TO:<{rcpt}>")).await?;
        if reply.class() == 2 {
            accepted.push(i);
        } else {
            outcomes[i] = Some(negative_outcome(&reply, "RCPT")?);
            closing(&reply)?;
        }
    }
    if accepted.is_empty() {
        return Ok(());
    }

    let reply = conv.command("DATA").await?;
    if reply.class() != 3 {
        let o = negative_outcome(&reply, "DATA")?;
        for &i in &accepted {
            outcomes[i] = Some(o.clone());
        }
        return closing(&reply);
    }
    body.extend_from_slice(b".\r\n");
    conv.write_body(&body).await?;
    let reply = conv.read_reply("end of DATA").await?;
    let o = match reply.class() {
        2 => RcptOutcome::Delivered(reply.text()),
        _ => negative_outcome(&reply, "end of DATA")?,
    };
    *needs_rset = false;
    for &i in &accepted {
        outcomes[i] = Some(o.clone());
    }
    closing(&reply)
}

/// Outcome of a 4xx/5xx reply; anything else is a protocol violation.
fn negative_outcome(reply: &Reply, what: &str) -> Result<RcptOutcome, Failure> {
    match reply.class() {
        4 => Ok(RcptOutcome::Temporary(reply.text())),
        5 => Ok(RcptOutcome::Permanent(reply.text())),
        _ => Err(Failure::Protocol(format!(
            "unexpected reply to {what}: {}",
            reply.text()
        ))),
    }
}

/// A 421 reply means the server is closing the channel.
fn closing(reply: &Reply) -> Result<(), Failure> {
    if reply.code == 421 {
        Err(Failure::Closing(reply.text()))
    } else {
        Ok(())
    }
}

/// True when `s` holds characters that must never reach a command line.
fn has_control(s: &str) -> bool {
    s.bytes().any(|b| b < 0x20 || b == 0x7f)
}

/// Normalises line ends to CRLF, dot-stuffs, and makes sure the content
/// ends with CRLF. The terminating ".\r\n" is not included.
fn stuff_body(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 32 + 8);
    let mut line_start = true;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\r' => {
                // CRLF, or a bare CR which SMTP cannot carry: both end a line.
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                out.extend_from_slice(b"\r\n");
                line_start = true;
            }
            b'\n' => {
                out.extend_from_slice(b"\r\n");
                line_start = true;
            }
            b => {
                if line_start && b == b'.' {
                    out.push(b'.');
                }
                out.push(b);
                line_start = false;
            }
        }
        i += 1;
    }
    if !line_start {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// ESMTP extensions the client makes use of.
#[derive(Clone, Copy, Debug, Default)]
struct Extensions {
    starttls: bool,
    size: bool,
    eightbitmime: bool,
    smtputf8: bool,
}

impl Extensions {
    fn from_ehlo(reply: &Reply) -> Self {
        let mut ext = Extensions::default();
        // The first line is the server's greeting, the others one keyword each.
        for line in reply.lines.iter().skip(1) {
            let keyword = line.split_ascii_whitespace().next().unwrap_or("");
            if keyword.eq_ignore_ascii_case("STARTTLS") {
                ext.starttls = true;
            } else if keyword.eq_ignore_ascii_case("SIZE") {
                ext.size = true;
            } else if keyword.eq_ignore_ascii_case("8BITMIME") {
                ext.eightbitmime = true;
            } else if keyword.eq_ignore_ascii_case("SMTPUTF8") {
                ext.smtputf8 = true;
            }
        }
        ext
    }
}

/// A complete server reply.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Reply {
    code: u16,
    /// Text of each line, without code and separator.
    lines: Vec<String>,
}

impl Reply {
    fn class(&self) -> u16 {
        self.code / 100
    }

    /// Code followed by the text of all lines, e.g. `"550 5.1.1 No such user"`.
    fn text(&self) -> String {
        let mut out = self.code.to_string();
        for line in &self.lines {
            let line = line.trim();
            if !line.is_empty() {
                out.push(' ');
                out.push_str(line);
            }
        }
        out
    }
}

/// Splits one reply line into (code, is last line, text).
fn parse_reply_line(line: &[u8]) -> Result<(u16, bool, String), Failure> {
    let shown = || String::from_utf8_lossy(&line[..line.len().min(80)]).into_owned();
    if line.len() < 3 || !line[..3].iter().all(u8::is_ascii_digit) {
        return Err(Failure::Protocol(format!("malformed reply {:?}", shown())));
    }
    let code = u16::from(line[0] - b'0') * 100
        + u16::from(line[1] - b'0') * 10
        + u16::from(line[2] - b'0');
    if !(200..600).contains(&code) {
        return Err(Failure::Protocol(format!(
            "unexpected reply code {:?}",
            shown()
        )));
    }
    let last = match line.get(3) {
        None | Some(b' ') => true,
        Some(b'-') => false,
        Some(_) => return Err(Failure::Protocol(format!("malformed reply {:?}", shown()))),
    };
    let text = String::from_utf8_lossy(line.get(4..).unwrap_or(&[])).into_owned();
    Ok((code, last, text))
}

/// Why a session broke down.
#[derive(Debug)]
enum Failure {
    Io(io::Error),
    Timeout(String),
    Protocol(String),
    /// The server sent 421 and is closing the connection.
    Closing(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Io(e) => write!(f, "{e}"),
            Failure::Timeout(what) => write!(f, "timed out waiting for {what}"),
            Failure::Protocol(what) => write!(f, "protocol error: {what}"),
            Failure::Closing(reply) => write!(f, "server closing: {reply}"),
        }
    }
}

impl From<Failure> for ConnectError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Io(e) => ConnectError::Io(e),
            Failure::Timeout(what) => ConnectError::Timeout(what),
            Failure::Protocol(what) => ConnectError::Protocol(what),
            Failure::Closing(reply) => ConnectError::Protocol(format!("server closing: {reply}")),
        }
    }
}

/// Command/reply exchange over a stream, with its own read buffer.
struct Conversation<S> {
    stream: S,
    buf: Vec<u8>,
    timeout: Duration,
    peer: String,
}

impl<S> Conversation<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn new(stream: S, timeout: Duration, peer: &str) -> Self {
        Conversation {
            stream,
            buf: Vec::new(),
            timeout,
            peer: peer.to_string(),
        }
    }

    /// Gives the stream back (for STARTTLS). Data the server sent ahead of
    /// the handshake would be a plaintext injection: refuse it.
    fn into_inner(self) -> Result<S, ConnectError> {
        if self.buf.is_empty() {
            Ok(self.stream)
        } else {
            Err(ConnectError::Protocol(
                "server sent data after the STARTTLS reply".to_string(),
            ))
        }
    }

    /// Sends one command line and reads the reply.
    async fn command(&mut self, line: &str) -> Result<Reply, Failure> {
        let verb = line.split(' ').next().unwrap_or(line);
        trace!(peer = %self.peer, "C: {line}");
        let mut data = Vec::with_capacity(line.len() + 2);
        data.extend_from_slice(line.as_bytes());
        data.extend_from_slice(b"\r\n");
        self.write_all(&data, verb).await?;
        self.read_reply(verb).await
    }

    /// Writes the (already stuffed and terminated) message content.
    async fn write_body(&mut self, body: &[u8]) -> Result<(), Failure> {
        trace!(peer = %self.peer, bytes = body.len(), "C: <message content>");
        for chunk in body.chunks(BODY_CHUNK) {
            self.write_all(chunk, "message content").await?;
        }
        Ok(())
    }

    async fn write_all(&mut self, data: &[u8], what: &str) -> Result<(), Failure> {
        let stream = &mut self.stream;
        let write = async {
            stream.write_all(data).await?;
            stream.flush().await
        };
        match time::timeout(self.timeout, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Failure::Io(e)),
            Err(_) => Err(Failure::Timeout(format!("sending {what}"))),
        }
    }

    async fn read_reply(&mut self, what: &str) -> Result<Reply, Failure> {
        let reply = match time::timeout(self.timeout, self.read_reply_untimed()).await {
            Ok(r) => r?,
            Err(_) => return Err(Failure::Timeout(format!("reply to {what}"))),
        };
        trace!(peer = %self.peer, "S: {}", reply.text());
        Ok(reply)
    }

    async fn read_reply_untimed(&mut self) -> Result<Reply, Failure> {
        let mut code = None;
        let mut lines = Vec::new();
        loop {
            let line = self.read_line().await?;
            let (c, last, text) = parse_reply_line(&line)?;
            if *code.get_or_insert(c) != c {
                return Err(Failure::Protocol(format!(
                    "reply code changed within a multi-line reply ({} then {c})",
                    code.unwrap_or(c)
                )));
            }
            lines.push(text);
            if last {
                return Ok(Reply { code: c, lines });
            }
            if lines.len() >= MAX_REPLY_LINES {
                return Err(Failure::Protocol("reply has too many lines".to_string()));
            }
        }
    }

    /// One line without its line end (CRLF, or a bare LF tolerated).
    async fn read_line(&mut self) -> Result<Vec<u8>, Failure> {
        let mut scanned = 0;
        loop {
            if let Some(pos) = self.buf[scanned..].iter().position(|&b| b == b'\n') {
                let end = scanned + pos;
                if end + 1 > MAX_LINE {
                    return Err(Failure::Protocol("reply line too long".to_string()));
                }
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            scanned = self.buf.len();
            if scanned >= MAX_LINE {
                return Err(Failure::Protocol("reply line too long".to_string()));
            }
            let mut chunk = [0u8; 2048];
            let n = self.stream.read(&mut chunk).await.map_err(Failure::Io)?;
            if n == 0 {
                return Err(Failure::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed by the server",
                )));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Best-effort QUIT and shutdown; errors are irrelevant at this point.
    async fn quit(&mut self) {
        if self.command("QUIT").await.is_ok() {
            let _ = time::timeout(self.timeout, self.stream.shutdown()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, BufReader};
    use tokio::net::TcpListener;

    const T: Duration = Duration::from_secs(5);

    /// The scripted server side of a test.
    struct Peer<S> {
        io: BufReader<S>,
    }

    impl<S: AsyncRead + AsyncWrite + Unpin> Peer<S> {
        fn new(stream: S) -> Self {
            Peer {
                io: BufReader::new(stream),
            }
        }

        async fn say(&mut self, text: &str) {
            let s = self.io.get_mut();
            s.write_all(format!("{text}\r\n").as_bytes()).await.unwrap();
            s.flush().await.unwrap();
        }

        async fn line(&mut self) -> String {
            let mut line = Vec::new();
            self.io.read_until(b'\n', &mut line).await.unwrap();
            assert!(line.ends_with(b"\r\n"), "bad command line {line:?}");
            line.truncate(line.len() - 2);
            String::from_utf8(line).unwrap()
        }

        async fn expect(&mut self, want: &str) {
            assert_eq!(self.line().await, want);
        }

        /// Message content up to the terminating dot line, as received.
        async fn data(&mut self) -> Vec<u8> {
            let mut out = Vec::new();
            loop {
                let mut line = Vec::new();
                self.io.read_until(b'\n', &mut line).await.unwrap();
                assert!(line.ends_with(b"\r\n"), "bad data line {line:?}");
                if line == b".\r\n" {
                    return out;
                }
                out.extend_from_slice(&line);
            }
        }

        fn into_inner(self) -> S {
            assert!(self.io.buffer().is_empty());
            self.io.into_inner()
        }
    }

    async fn listen() -> (TcpListener, String) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        (l, addr)
    }

    async fn accept(l: &TcpListener) -> Peer<TcpStream> {
        Peer::new(l.accept().await.unwrap().0)
    }

    fn plain_policy(required: bool) -> TlsPolicy {
        TlsPolicy {
            required,
            roots: Arc::new(rustls::RootCertStore::empty()),
        }
    }

    /// A batch of one small message from a@a.test to `r`.
    fn one(r: &[String]) -> [Outgoing<'_>; 1] {
        [Outgoing {
            sender: "a@a.test",
            recipients: r,
            bytes: b"x\r\n",
        }]
    }

    async fn send(
        addr: &str,
        policy: &TlsPolicy,
        batch: &[Outgoing<'_>],
    ) -> Result<Vec<Vec<RcptOutcome>>, ConnectError> {
        send_batch(addr, "127.0.0.1", "client.test", policy, batch, T).await
    }

    fn rcpts(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn stuffing_and_line_ends() {
        assert_eq!(stuff_body(b""), b"");
        assert_eq!(stuff_body(b"a\r\n"), b"a\r\n");
        assert_eq!(stuff_body(b"a"), b"a\r\n");
        assert_eq!(stuff_body(b".\r\n.."), b"..\r\n...\r\n");
        assert_eq!(stuff_body(b"x\ny.\n.z\rw"), b"x\r\ny.\r\n..z\r\nw\r\n");
    }

    #[test]
    fn reply_lines() {
        assert_eq!(
            parse_reply_line(b"250-mx.test").unwrap(),
            (250, false, "mx.test".to_string())
        );
        assert_eq!(
            parse_reply_line(b"354").unwrap(),
            (354, true, String::new())
        );
        assert!(parse_reply_line(b"25").is_err());
        assert!(parse_reply_line(b"abc hello").is_err());
        assert!(parse_reply_line(b"250x").is_err());
        assert!(parse_reply_line(b"150 nope").is_err());
        let r = Reply {
            code: 550,
            lines: vec!["5.1.1 first".into(), "5.1.1 second".into()],
        };
        assert_eq!(r.text(), "550 5.1.1 first 5.1.1 second");
    }

    #[test]
    fn send_batch_future_is_send() {
        fn is_send<F: Send>(_: &F) {}
        let policy = plain_policy(false);
        let fut = send_batch("127.0.0.1:1", "x", "y", &policy, &[], T);
        is_send(&fut);
    }

    #[tokio::test]
    async fn two_messages_one_connection() {
        let (l, addr) = listen().await;
        let body1: &[u8] = b"Subject: t\r\n\r\n.leading dot\r\nmiddle\r\n..two\r\nno final crlf";
        let want1: &[u8] =
            b"Subject: t\r\n\r\n..leading dot\r\nmiddle\r\n...two\r\nno final crlf\r\n";
        let body2: &[u8] = b"Subject: u\n\n.x\nend\n";
        let want2: &[u8] = b"Subject: u\r\n\r\n..x\r\nend\r\n";
        let server = tokio::spawn(async move {
            let mut p = accept(&l).await;
            p.say("220 mx.test ESMTP").await;
            p.expect("EHLO client.test").await;
            p.say("250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250 8BITMIME")
                .await;
            p.expect(&format!("MAIL FROM:<alice@a.test> SIZE={}", want1.len()))
                .await;
            p.say("250 2.1.0 Ok").await;
            p.expect("RCPT TO:<bob@b.test>").await;
            p.say("250 2.1.5 Ok").await;
            p.expect("RCPT TO:<nobody@b.test>").await;
            p.say("550-5.1.1 No such user\r\n550 5.1.1 here").await;
            p.expect("RCPT TO:<carol@b.test>").await;
            p.say("250 2.1.5 Ok").await;
            p.expect("DATA").await;
            p.say("354 go ahead").await;
            let d1 = p.data().await;
            p.say("250 2.0.0 Ok: queued as A1").await;
            p.expect(&format!("MAIL FROM:<alice@a.test> SIZE={}", want2.len()))
                .await;
            p.say("250 2.1.0 Ok").await;
            p.expect("RCPT TO:<dave@b.test>").await;
            p.say("250 2.1.5 Ok").await;
            p.expect("DATA").await;
            p.say("354 go ahead").await;
            let d2 = p.data().await;
            p.say("250 2.0.0 Ok: queued as A2").await;
            p.expect("QUIT").await;
            p.say("221 bye").await;
            (d1, d2)
        });
        let r1 = rcpts(&["bob@b.test", "nobody@b.test", "carol@b.test"]);
        let r2 = rcpts(&["dave@b.test"]);
        let batch = [
            Outgoing {
                sender: "alice@a.test",
                recipients: &r1,
                bytes: body1,
            },
            Outgoing {
                sender: "alice@a.test",
                recipients: &r2,
                bytes: body2,
            },
        ];
        let out = send(&addr, &plain_policy(false), &batch).await.unwrap();
        let (d1, d2) = server.await.unwrap();
        assert_eq!(d1, want1);
        assert_eq!(d2, want2);
        let ok1 = RcptOutcome::Delivered("250 2.0.0 Ok: queued as A1".into());
        assert_eq!(
            out,
            vec![
                vec![
                    ok1.clone(),
                    RcptOutcome::Permanent("550 5.1.1 No such user 5.1.1 here".into()),
                    ok1,
                ],
                vec![RcptOutcome::Delivered("250 2.0.0 Ok: queued as A2".into())],
            ]
        );
    }

    #[tokio::test]
    async fn helo_fallback_and_rset_after_aborted_message() {
        let (l, addr) = listen().await;
        let server = tokio::spawn(async move {
            let mut p = accept(&l).await;
            p.say("220 old.test").await;
            p.expect("EHLO client.test").await;
            p.say("502 5.5.2 what?").await;
            p.expect("HELO client.test").await;
            p.say("250 old.test").await;
            p.expect("MAIL FROM:<>").await;
            p.say("250 ok").await;
            p.expect("RCPT TO:<x@b.test>").await;
            p.say("451 4.3.0 try later").await;
            p.expect("RSET").await;
            p.say("250 ok").await;
            p.expect("MAIL FROM:<a@a.test>").await;
            p.say("553 5.7.1 not you").await;
            p.expect("MAIL FROM:<a@a.test>").await;
            p.say("250 ok").await;
            p.expect("RCPT TO:<y@b.test>").await;
            p.say("250 ok").await;
            p.expect("DATA").await;
            p.say("554 5.6.0 no thanks").await;
            p.expect("QUIT").await;
            p.say("221 bye").await;
        });
        let rx = rcpts(&["x@b.test"]);
        let ry = rcpts(&["y@b.test"]);
        let batch = [
            Outgoing {
                sender: "",
                recipients: &rx,
                bytes: b"a\r\n",
            },
            Outgoing {
                sender: "a@a.test",
                recipients: &[],
                bytes: b"skipped\r\n",
            },
            Outgoing {
                sender: "a@a.test",
                recipients: &ry,
                bytes: b"b\r\n",
            },
            Outgoing {
                sender: "a@a.test",
                recipients: &ry,
                bytes: b"c\r\n",
            },
        ];
        let out = send(&addr, &plain_policy(false), &batch).await.unwrap();
        server.await.unwrap();
        assert_eq!(
            out,
            vec![
                vec![RcptOutcome::Temporary("451 4.3.0 try later".into())],
                vec![],
                vec![RcptOutcome::Permanent("553 5.7.1 not you".into())],
                vec![RcptOutcome::Permanent("554 5.6.0 no thanks".into())],
            ]
        );
    }

    #[tokio::test]
    async fn required_tls_without_starttls() {
        let (l, addr) = listen().await;
        let server = tokio::spawn(async move {
            let mut p = accept(&l).await;
            p.say("220 mx.test").await;
            p.expect("EHLO client.test").await;
            p.say("250-mx.test\r\n250 SIZE").await;
            p.expect("QUIT").await;
            p.say("221 bye").await;
        });
        let r = rcpts(&["b@b.test"]);
        let batch = one(&r);
        let err = send(&addr, &plain_policy(true), &batch).await.unwrap_err();
        server.await.unwrap();
        assert!(matches!(err, ConnectError::NoStartTls), "{err:?}");
    }

    /// A self-signed certificate for the IP address 127.0.0.1 (DER cert, PKCS#8 key).
    fn self_signed() -> (Vec<u8>, Vec<u8>) {
        use openssl::asn1::Asn1Time;
        use openssl::bn::BigNum;
        use openssl::ec::{EcGroup, EcKey};
        use openssl::hash::MessageDigest;
        use openssl::nid::Nid;
        use openssl::pkey::PKey;
        use openssl::x509::extension::{ExtendedKeyUsage, SubjectAlternativeName};
        use openssl::x509::{X509Builder, X509NameBuilder};

        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "127.0.0.1").unwrap();
        let name = name.build();
        let mut b = X509Builder::new().unwrap();
        b.set_version(2).unwrap();
        let serial = BigNum::from_u32(7).unwrap().to_asn1_integer().unwrap();
        b.set_serial_number(&serial).unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
            .unwrap();
        let san = SubjectAlternativeName::new()
            .ip("127.0.0.1")
            .build(&b.x509v3_context(None, None))
            .unwrap();
        b.append_extension(san).unwrap();
        b.append_extension(ExtendedKeyUsage::new().server_auth().build().unwrap())
            .unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        let cert = b.build();
        (cert.to_der().unwrap(), key.private_key_to_pkcs8().unwrap())
    }

    fn tls_acceptor(cert: &[u8], key: &[u8]) -> tokio_rustls::TlsAcceptor {
        use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.to_vec())),
        )
        .unwrap();
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    }

    fn trusting(cert: &[u8], required: bool) -> TlsPolicy {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls_pki_types::CertificateDer::from(cert.to_vec()))
            .unwrap();
        TlsPolicy {
            required,
            roots: Arc::new(roots),
        }
    }

    #[tokio::test]
    async fn starttls_then_deliver() {
        let (cert, key) = self_signed();
        let acceptor = tls_acceptor(&cert, &key);
        let (l, addr) = listen().await;
        let server = tokio::spawn(async move {
            let mut p = accept(&l).await;
            p.say("220 mx.test").await;
            p.expect("EHLO client.test").await;
            p.say("250-mx.test\r\n250 STARTTLS").await;
            p.expect("STARTTLS").await;
            p.say("220 2.0.0 ready").await;
            let tls = acceptor.accept(p.into_inner()).await.unwrap();
            let mut p = Peer::new(tls);
            p.expect("EHLO client.test").await;
            p.say("250-mx.test\r\n250 SIZE 100000").await;
            p.expect("MAIL FROM:<a@a.test> SIZE=7").await;
            p.say("250 ok").await;
            p.expect("RCPT TO:<b@b.test>").await;
            p.say("250 ok").await;
            p.expect("DATA").await;
            p.say("354 go").await;
            let d = p.data().await;
            p.say("250 2.0.0 queued as T1").await;
            p.expect("QUIT").await;
            p.say("221 bye").await;
            d
        });
        let r = rcpts(&["b@b.test"]);
        let batch = [Outgoing {
            sender: "a@a.test",
            recipients: &r,
            bytes: b"hello\r\n",
        }];
        let out = send_batch(
            &addr,
            "127.0.0.1",
            "client.test",
            &trusting(&cert, true),
            &batch,
            T,
        )
        .await
        .unwrap();
        assert_eq!(server.await.unwrap(), b"hello\r\n");
        assert_eq!(
            out,
            vec![vec![RcptOutcome::Delivered(
                "250 2.0.0 queued as T1".into()
            )]]
        );
    }

    #[tokio::test]
    async fn opportunistic_tls_with_untrusted_cert_fails() {
        let (cert, key) = self_signed();
        let acceptor = tls_acceptor(&cert, &key);
        let (l, addr) = listen().await;
        let server = tokio::spawn(async move {
            let mut p = accept(&l).await;
            p.say("220 mx.test").await;
            p.expect("EHLO client.test").await;
            p.say("250-mx.test\r\n250 STARTTLS").await;
            p.expect("STARTTLS").await;
            p.say("220 2.0.0 ready").await;
            assert!(acceptor.accept(p.into_inner()).await.is_err());
        });
        let r = rcpts(&["b@b.test"]);
        let batch = one(&r);
        let err = send(&addr, &plain_policy(false), &batch).await.unwrap_err();
        server.await.unwrap();
        assert!(matches!(err, ConnectError::Tls(_)), "{err:?}");
    }

    /// Server script for one message, ending after the 354.
    async fn one_message_until_data(p: &mut Peer<TcpStream>, rcpt: &str) {
        p.expect("MAIL FROM:<a@a.test>").await;
        p.say("250 ok").await;
        p.expect(&format!("RCPT TO:<{rcpt}>")).await;
        p.say("250 ok").await;
        p.expect("DATA").await;
        p.say("354 go").await;
    }

    #[tokio::test]
    async fn connection_lost_after_first_message() {
        let (l, addr) = listen().await;
        let server = tokio::spawn(async move {
            let mut p = accept(&l).await;
            p.say("220 mx.test").await;
            p.expect("EHLO client.test").await;
            p.say("250 mx.test").await;
            one_message_until_data(&mut p, "b@b.test").await;
            p.data().await;
            p.say("250 2.0.0 queued as L1").await;
            // Hang up without waiting for the next message.
        });
        let r1 = rcpts(&["b@b.test"]);
        let r2 = rcpts(&["c@b.test", "d@b.test"]);
        let batch = [
            Outgoing {
                sender: "a@a.test",
                recipients: &r1,
                bytes: b"one\r\n",
            },
            Outgoing {
                sender: "a@a.test",
                recipients: &r2,
                bytes: b"two\r\n",
            },
            Outgoing {
                sender: "a@a.test",
                recipients: &r1,
                bytes: b"three\r\n",
            },
        ];
        let out = send(&addr, &plain_policy(false), &batch).await.unwrap();
        server.await.unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(
            out[0],
            vec![RcptOutcome::Delivered("250 2.0.0 queued as L1".into())]
        );
        assert_eq!(out[1].len(), 2);
        assert_eq!(out[2].len(), 1);
        for o in out[1].iter().chain(&out[2]) {
            assert!(
                matches!(o, RcptOutcome::Temporary(t) if t.starts_with("connection lost: ")),
                "{o:?}"
            );
        }
    }

    #[tokio::test]
    async fn connection_lost_before_final_reply() {
        let (l, addr) = listen().await;
        let server = tokio::spawn(async move {
            let mut p = accept(&l).await;
            p.say("220 mx.test").await;
            p.expect("EHLO client.test").await;
            p.say("250 mx.test").await;
            one_message_until_data(&mut p, "b@b.test").await;
            p.data().await;
        });
        let r = rcpts(&["b@b.test"]);
        let batch = [Outgoing {
            sender: "a@a.test",
            recipients: &r,
            bytes: b"one\r\n",
        }];
        let out = send(&addr, &plain_policy(false), &batch).await.unwrap();
        server.await.unwrap();
        assert!(
            matches!(&out[0][0], RcptOutcome::Temporary(t) if t.starts_with("connection lost: ")),
            "{out:?}"
        );
    }

    #[tokio::test]
    async fn greeting_421_is_an_error() {
        let (l, addr) = listen().await;
        let server = tokio::spawn(async move {
            let mut p = accept(&l).await;
            p.say("421 4.3.2 too busy").await;
        });
        let r = rcpts(&["b@b.test"]);
        let batch = one(&r);
        let err = send(&addr, &plain_policy(false), &batch).await.unwrap_err();
        server.await.unwrap();
        match err {
            ConnectError::Greeting(text) => assert_eq!(text, "421 4.3.2 too busy"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn malformed_and_silent_servers() {
        let (l, addr) = listen().await;
        let server = tokio::spawn(async move {
            let mut p = accept(&l).await;
            p.say("hello there").await;
            // Second connection: never says anything until the client gives up.
            let mut q = accept(&l).await;
            let mut sink = Vec::new();
            let _ = q.io.read_to_end(&mut sink).await;
            drop(p);
        });
        let r = rcpts(&["b@b.test"]);
        let batch = one(&r);
        let policy = plain_policy(false);
        let err = send_batch(&addr, "127.0.0.1", "client.test", &policy, &batch, T)
            .await
            .unwrap_err();
        assert!(matches!(err, ConnectError::Protocol(_)), "{err:?}");
        let short = Duration::from_millis(200);
        let err = send_batch(&addr, "127.0.0.1", "client.test", &policy, &batch, short)
            .await
            .unwrap_err();
        assert!(matches!(err, ConnectError::Timeout(_)), "{err:?}");
        server.await.unwrap();
    }

    #[tokio::test]
    async fn overlong_reply_line_is_rejected() {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let srv = tokio::spawn(async move {
            let mut p = Peer::new(server);
            p.say(&format!("220 {}", "x".repeat(MAX_LINE))).await;
            p
        });
        let r = rcpts(&["b@b.test"]);
        let batch = one(&r);
        let policy = plain_policy(false);
        let err = session(
            client,
            "duplex",
            "127.0.0.1",
            "client.test",
            &policy,
            &batch,
            T,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ConnectError::Protocol(_)), "{err:?}");
        drop(srv.await.unwrap());
    }
}
