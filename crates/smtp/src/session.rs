//! One SMTP conversation, generic over the stream so tests can drive it in memory.
//!
//! Input is buffered: pipelined commands (RFC 2920) are answered in order, replies are
//! collected and written before the session waits for more input. A STARTTLS ends the
//! session (the caller runs a fresh one over TLS) and discards anything the client sent after
//! the command, so no plaintext can be injected into the TLS session (RFC 3207 §4.2).

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use pecd_archive::login::{authenticate, AuthError};
use pecd_common::address::Address;
use pecd_common::input::{Input, Line, Read};
use pecd_common::net::write_out_within;
use pecd_common::throttle::login_key;
use pecd_engine::{Incoming, Outcome, RecipientDecision, SenderContext, Submission};
use pecd_store::{Mailbox, MailboxState};
use smtp_proto::{Request, AUTH_LOGIN, AUTH_PLAIN};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::context::Context;
use crate::data::DataReceiver;
use crate::ehlo::{self, EhloState, Listener};
use crate::message::{self, Trace};
use crate::reply::Reply;
use crate::sasl::{self, SaslError};

/// How a session ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// QUIT answered, or the client went away, or a timeout: the connection is done.
    Closed,
    /// STARTTLS accepted: the caller must run the TLS handshake and a new session.
    StartTls,
}

struct Transaction {
    /// Envelope sender, lower-cased; empty for the null reverse-path.
    from: String,
    /// Recipients accepted so far, as the PEC engine decided each at RCPT; the end of DATA
    /// hands the decisions back to it.
    recipients: Vec<RecipientDecision>,
    /// Message bytes collected by BDAT chunks.
    chunks: Vec<u8>,
    chunks_too_big: bool,
}

pub struct Session<'a, S> {
    ctx: &'a Context,
    stream: S,
    listener: Listener,
    tls: bool,
    peer: SocketAddr,
    shutdown: CancellationToken,
    input: Input,
    out: Vec<u8>,
    helo: Option<String>,
    user: Option<Mailbox>,
    tx: Option<Transaction>,
}

impl<'a, S: AsyncRead + AsyncWrite + Unpin> Session<'a, S> {
    pub fn new(
        ctx: &'a Context,
        stream: S,
        listener: Listener,
        tls: bool,
        peer: SocketAddr,
        shutdown: CancellationToken,
    ) -> Self {
        Session {
            ctx,
            stream,
            listener,
            tls,
            peer,
            shutdown,
            input: Input::default(),
            out: Vec::new(),
            helo: None,
            user: None,
            tx: None,
        }
    }

    /// Gives the stream back (after [`End::StartTls`]).
    pub fn into_stream(self) -> S {
        self.stream
    }

    fn reply(&mut self, r: Reply) {
        r.write_to(&mut self.out);
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        let stall = Duration::from_secs(self.ctx.config.smtp.write_timeout_seconds);
        write_out_within(&mut self.stream, &mut self.out, stall).await
    }

    /// Reads more input; `false` when the client is gone, timed out, or pecd is stopping (the
    /// goodbye has then been written).
    async fn fill(&mut self) -> std::io::Result<bool> {
        self.flush().await?;
        let idle = Duration::from_secs(self.ctx.config.smtp.idle_timeout_seconds);
        let goodbye = match self
            .input
            .read_from(&mut self.stream, idle, &self.shutdown)
            .await?
        {
            Read::Data => return Ok(true),
            Read::Eof => return Ok(false),
            Read::Timeout => Reply::idle_timeout(),
            Read::Shutdown => Reply::shutting_down(),
        };
        self.reply(goodbye);
        self.flush().await?;
        Ok(false)
    }

    /// Next command line, or `None` at the end of the conversation. A line longer than
    /// `smtp.max_command_bytes` is skipped to its end and reported as too long.
    async fn line(&mut self) -> std::io::Result<Option<Line>> {
        loop {
            if let Some(line) = self.input.next_line(self.ctx.config.smtp.max_command_bytes) {
                return Ok(Some(line));
            }
            if !self.fill().await? {
                return Ok(None);
            }
        }
    }

    pub async fn run(&mut self) -> std::io::Result<End> {
        if !self.tls || self.listener == Listener::Submissions {
            self.reply(Reply::greeting(&self.ctx.config.smtp.hostname));
        }
        loop {
            let line = match self.line().await? {
                None => return Ok(End::Closed),
                Some(Line::TooLong) => {
                    self.reply(Reply::line_too_long(self.ctx.config.smtp.max_command_bytes));
                    continue;
                }
                Some(Line::Text(line)) => line,
            };
            let mut with_crlf = line.clone();
            with_crlf.extend_from_slice(b"\r\n");
            let request = match Request::parse(&mut with_crlf.iter()) {
                Ok(r) => r,
                Err(e) => {
                    self.reply(Reply::parse_error(e));
                    continue;
                }
            };
            match request {
                Request::Ehlo { host } => self.ehlo(host, true),
                Request::Helo { host } => self.ehlo(host, false),
                Request::Lhlo { .. } => self.reply(Reply::unknown_command()),
                Request::StartTls => {
                    if self.tls || self.listener != Listener::Smtp {
                        self.reply(Reply::bad_sequence("TLS already active"));
                    } else {
                        self.reply(Reply::starttls_ready());
                        self.flush().await?;
                        return Ok(End::StartTls);
                    }
                }
                Request::Auth {
                    mechanism,
                    initial_response,
                } => {
                    self.auth(mechanism, initial_response).await?;
                }
                Request::Mail { from } => self.mail(from.address, from.size).await,
                Request::Rcpt { to } => self.rcpt(to.address).await,
                Request::Data => self.data().await?,
                Request::Bdat {
                    chunk_size,
                    is_last,
                } => self.bdat(chunk_size, is_last).await?,
                Request::Rset => {
                    self.tx = None;
                    self.reply(Reply::ok("Reset"));
                }
                Request::Noop { .. } => self.reply(Reply::ok("OK")),
                Request::Vrfy { .. } => self.reply(Reply::vrfy()),
                Request::Help { .. } => self.reply(Reply::help()),
                Request::Quit => {
                    self.reply(Reply::bye());
                    self.flush().await?;
                    self.stream.shutdown().await?;
                    return Ok(End::Closed);
                }
                Request::Expn { .. }
                | Request::Etrn { .. }
                | Request::Atrn { .. }
                | Request::Burl { .. } => self.reply(Reply::not_implemented()),
            }
        }
    }

    fn ehlo_state(&self) -> EhloState {
        EhloState {
            listener: self.listener,
            tls: self.tls,
            authenticated: self.user.is_some(),
            max_message_bytes: self.ctx.config.limits.max_message_bytes,
        }
    }

    fn ehlo(&mut self, host: String, extended: bool) {
        self.tx = None;
        let client = if host.is_empty() {
            self.peer.ip().to_string()
        } else {
            host
        };
        if extended {
            let reply = ehlo::reply(&self.ctx.config.smtp.hostname, &client, &self.ehlo_state());
            self.out.extend_from_slice(&reply);
        } else {
            self.reply(Reply::helo(&self.ctx.config.smtp.hostname, &client));
        }
        self.helo = Some(client);
    }

    /// Reads one SASL response line.
    async fn sasl_line(&mut self, challenge: &str) -> std::io::Result<Result<Vec<u8>, SaslError>> {
        self.reply(Reply::sasl_challenge(challenge));
        match self.line().await? {
            Some(Line::Text(l)) => Ok(sasl::decode(&l)),
            Some(Line::TooLong) => Ok(Err(SaslError::Malformed)),
            None => Ok(Err(SaslError::Cancelled)),
        }
    }

    async fn auth(&mut self, mechanism: u64, initial: String) -> std::io::Result<()> {
        if !self.tls {
            self.reply(Reply::encryption_required());
            return Ok(());
        }
        if self.user.is_some() {
            self.reply(Reply::bad_sequence("Already authenticated"));
            return Ok(());
        }
        if self.tx.is_some() {
            self.reply(Reply::bad_sequence(
                "AUTH not allowed during a mail transaction",
            ));
            return Ok(());
        }
        let initial = if initial.is_empty() {
            None
        } else {
            Some(sasl::decode(initial.as_bytes()))
        };
        let credentials = if mechanism == AUTH_PLAIN {
            let response = match initial {
                Some(r) => r,
                None => self.sasl_line("").await?,
            };
            response.and_then(|r| sasl::plain(&r))
        } else if mechanism == AUTH_LOGIN {
            let login = match initial {
                Some(r) => r,
                None => self.sasl_line(sasl::LOGIN_USERNAME).await?,
            };
            match login.and_then(sasl::text) {
                Ok(login) => self
                    .sasl_line(sasl::LOGIN_PASSWORD)
                    .await?
                    .and_then(sasl::text)
                    .map(|p| (login, p)),
                Err(e) => Err(e),
            }
        } else {
            self.reply(Reply::unknown_mechanism());
            return Ok(());
        };
        let (login, secret) = match credentials {
            Ok(c) => c,
            Err(SaslError::Cancelled) => {
                self.reply(Reply::auth_cancelled());
                return Ok(());
            }
            Err(SaslError::Malformed) => {
                self.reply(Reply::auth_malformed());
                return Ok(());
            }
        };
        let ip = self.peer.ip();
        let ctx = &self.ctx;
        match authenticate(&ctx.store, &ctx.logins, &ctx.config, ip, &login, secret).await {
            Ok(principal) => {
                let mailbox = principal.mailbox;
                tracing::info!(peer = %self.peer, login = %principal.identity, mailbox = %mailbox.address, "SMTP authenticated");
                self.user = Some(mailbox);
                self.reply(Reply::auth_ok());
            }
            Err(AuthError::Unavailable) => self.reply(Reply::auth_unavailable()),
            Err(AuthError::Closed(text)) => self.reply(Reply::new(535, "5.7.8", text)),
            Err(AuthError::Expired) => {
                tracing::warn!(peer = %self.peer, login = ?login_key(&login), "SMTP authentication failed: password expired");
                self.reply(Reply::password_expired(&self.ctx.config));
            }
            Err(AuthError::Invalid) => {
                tracing::warn!(peer = %self.peer, login = ?login_key(&login), "SMTP authentication failed");
                self.reply(Reply::bad_credentials());
            }
            // Refused by the brute-force protection, before any password check: the reply of
            // a wrong password, 535 5.7.8 (RFC 4954 §6), not 454 4.7.0. 454 is for a
            // temporary server failure and invites an immediate retry, and any different
            // reply would tell a guesser from when its guesses stopped being checked.
            Err(AuthError::Throttled) => self.reply(Reply::bad_credentials()),
        }
        Ok(())
    }

    async fn mail(&mut self, address: String, size: usize) {
        if self.helo.is_none() {
            return self.reply(Reply::bad_sequence("Send EHLO or HELO first"));
        }
        if self.tx.is_some() {
            return self.reply(Reply::bad_sequence("Nested MAIL command"));
        }
        let max = self.ctx.config.limits.max_message_bytes;
        if size as u64 > max {
            return self.reply(Reply::too_big(max));
        }
        let from = address.to_ascii_lowercase();
        match &self.user {
            None if self.listener == Listener::Submissions => {
                return self.reply(Reply::auth_required())
            }
            None => {
                if !from.is_empty() && Address::parse(&from).is_err() {
                    return self.reply(Reply::bad_sender_syntax());
                }
            }
            Some(user) => {
                if from != user.address {
                    return self.reply(Reply::sender_mismatch());
                }
                // Fresh settings at every message, so `pecctl mailbox set` applies at once.
                let mailbox = match self.ctx.store.find_mailbox(&user.address).await {
                    Ok(Some(m)) => m,
                    Ok(None) => return self.reply(Reply::sender_gone()),
                    Err(_) => return self.reply(Reply::store_unavailable()),
                };
                if mailbox.state != MailboxState::Active {
                    return self.reply(Reply::sender_revoked());
                }
                let limit = mailbox
                    .settings
                    .sender_per_minute
                    .unwrap_or(self.ctx.config.limits.sender_per_minute);
                let limit = NonZeroU32::new(limit).unwrap_or(NonZeroU32::MIN);
                if self.ctx.senders.check(&mailbox.address, limit).is_err() {
                    tracing::warn!(sender = %mailbox.address, limit, "sender over its per-minute limit");
                    let code = self.ctx.config.limits.sender_over_limit_code;
                    return self.reply(Reply::over_sender_limit(&mailbox.address, code));
                }
            }
        }
        self.tx = Some(Transaction {
            from,
            recipients: Vec::new(),
            chunks: Vec::new(),
            chunks_too_big: false,
        });
        self.reply(Reply::sender_ok());
    }

    async fn rcpt(&mut self, address: String) {
        let Some(tx) = &self.tx else {
            return self.reply(Reply::bad_sequence("Need MAIL command first"));
        };
        let max = self.ctx.config.smtp.max_recipients;
        if tx.recipients.len() >= max {
            return self.reply(Reply::too_many_recipients(max));
        }
        let Ok(rcpt) = Address::parse(&address) else {
            return self.reply(Reply::bad_recipient_syntax());
        };
        // One engine call decides (PEC.md §6.1, §6.3, §6.8): an authenticated holder may
        // write to anyone; without AUTH only our domains are served, and ordinary mail only
        // for existing, active mailboxes with room that share one ordinary-mail policy.
        let sender = match self.user {
            Some(_) => SenderContext::Holder,
            None => SenderContext::Outside {
                reverse_path: &tx.from,
            },
        };
        let decided = self
            .ctx
            .engine
            .decide_recipient(&sender, rcpt.as_str(), &tx.recipients)
            .await;
        let decision = match decided {
            Ok(d) => d,
            Err(e) => {
                if e.is_internal() {
                    tracing::error!(error = %e, recipient = %rcpt.as_str(), "deciding a recipient failed");
                }
                return self.reply(Reply::from_engine(&e));
            }
        };
        let tx = self.tx.as_mut().expect("checked above");
        if !tx.recipients.iter().any(|r| r.address == decision.address) {
            tx.recipients.push(decision);
        }
        self.reply(Reply::recipient_ok());
    }

    fn ready_for_data(&mut self) -> bool {
        match &self.tx {
            None => {
                self.reply(Reply::bad_sequence("Need MAIL command first"));
                false
            }
            Some(tx) if tx.recipients.is_empty() => {
                self.reply(Reply::bad_sequence("Need RCPT command first"));
                false
            }
            Some(_) => true,
        }
    }

    async fn data(&mut self) -> std::io::Result<()> {
        if !self.ready_for_data() {
            return Ok(());
        }
        self.reply(Reply::start_data());
        let max = self.ctx.config.limits.max_message_bytes as usize;
        let mut receiver = DataReceiver::new(max);
        loop {
            let (used, done) = receiver.ingest(self.input.pending());
            self.input.consume(used);
            if done {
                break;
            }
            if !self.fill().await? {
                // Gone in the middle of DATA: nothing was stored.
                tracing::info!(peer = %self.peer, "client left during DATA; message discarded");
                self.tx = None;
                return Ok(());
            }
        }
        if receiver.too_big {
            self.tx = None;
            self.reply(Reply::too_big(max as u64));
            return Ok(());
        }
        self.finish(receiver.message).await;
        Ok(())
    }

    async fn bdat(&mut self, size: usize, last: bool) -> std::io::Result<()> {
        // The chunk follows the command whatever the state, so it is always read (or skipped).
        let ready = self.tx.as_ref().is_some_and(|t| !t.recipients.is_empty());
        let max = self.ctx.config.limits.max_message_bytes as usize;
        let mut left = size;
        while left > 0 {
            if self.input.pending().is_empty() && !self.fill().await? {
                self.tx = None;
                return Ok(());
            }
            let take = left.min(self.input.pending().len());
            if let Some(tx) = self.tx.as_mut().filter(|_| ready) {
                if tx.chunks.len() + take <= max {
                    tx.chunks.extend_from_slice(&self.input.pending()[..take]);
                } else {
                    tx.chunks_too_big = true;
                    tx.chunks.clear();
                }
            }
            self.input.consume(take);
            left -= take;
        }
        if !ready {
            self.ready_for_data();
            return Ok(());
        }
        if !last {
            self.reply(Reply::ok(format!("{size} bytes received")));
            return Ok(());
        }
        let tx = self.tx.as_mut().expect("ready");
        if tx.chunks_too_big {
            self.tx = None;
            self.reply(Reply::too_big(max as u64));
            return Ok(());
        }
        let message = std::mem::take(&mut tx.chunks);
        self.finish(message).await;
        Ok(())
    }

    /// End of message: the PEC engine certifies a submission, or wraps ordinary mail; the
    /// reply comes once its result is durable.
    async fn finish(&mut self, message: Vec<u8>) {
        let tx = self.tx.take().expect("a transaction is open");
        let id = uuid::Uuid::new_v4().simple().to_string();
        let helo = self.helo.clone().unwrap_or_default();
        let trace = Trace {
            helo: &helo,
            peer_ip: self.peer.ip(),
            hostname: &self.ctx.config.smtp.hostname,
            tls: self.tls,
            authenticated: self.user.is_some(),
            id: &id,
        };
        let received = message::received(&trace);
        let reply = if self.user.is_some() {
            self.submit(tx, message, received).await
        } else {
            let mut full = Vec::with_capacity(received.len() + message.len());
            full.extend_from_slice(received.as_bytes());
            full.extend_from_slice(&message);
            self.receive(tx, full, &id).await
        };
        reply.count_message(self.user.is_some());
        self.reply(reply);
    }

    /// An authenticated holder's message (PEC.md §6.1).
    async fn submit(&self, tx: Transaction, message: Vec<u8>, received: String) -> Reply {
        let count = tx.recipients.len();
        let submission = Submission {
            sender: tx.from.clone(),
            recipients: tx.recipients,
            message,
            received,
        };
        let outcome = match self.ctx.engine.submit(submission).await {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::error!(error = %e, sender = %tx.from, "certifying a submission failed");
                return Reply::from_engine(&e);
            }
        };
        match &outcome {
            Outcome::Accepted { pec_id } => {
                tracing::info!(%pec_id, sender = %tx.from, recipients = count, "message accepted into PEC")
            }
            Outcome::Duplicate { pec_id } => {
                tracing::info!(%pec_id, sender = %tx.from, "retried submission: already certified")
            }
            Outcome::NotAccepted { reason } => {
                tracing::info!(sender = %tx.from, %reason, "submission not accepted")
            }
            Outcome::Infected { finding } => {
                tracing::warn!(sender = %tx.from, %finding, "submission with malware refused")
            }
        }
        Reply::for_outcome(&outcome)
    }

    /// Mail from outside: a peer's envelope or receipt, or ordinary mail (PEC.md §6.3).
    async fn receive(&self, tx: Transaction, message: Vec<u8>, id: &str) -> Reply {
        let count = tx.recipients.len();
        let incoming = match self
            .ctx
            .engine
            .receive(&tx.from, tx.recipients, message)
            .await
        {
            Ok(incoming) => incoming,
            Err(e) => {
                tracing::error!(id = %id, error = %e, "storing incoming mail failed");
                return Reply::from_engine(&e);
            }
        };
        let from = &tx.from;
        match &incoming {
            Incoming::Envelope { pec_id } => {
                tracing::info!(%pec_id, sender = %from, recipients = count, "envelope of another provider taken in charge")
            }
            Incoming::VirusDetected { pec_id, finding } => {
                tracing::warn!(%pec_id, %finding, "envelope of another provider with malware: rilevazione virus sent")
            }
            Incoming::Receipt { kind } => {
                tracing::info!(id = %id, kind = kind.name(), sender = %from, "receipt of another provider delivered")
            }
            Incoming::Anomaly { reason } => {
                tracing::info!(id = %id, sender = %from, recipients = count, %reason, "delivered in a busta di anomalia")
            }
            Incoming::RepeatedReceipt { kind } => {
                tracing::info!(id = %id, kind = kind.name(), sender = %from, "repeated receipt of another provider: not delivered again")
            }
            _ => {}
        }
        Reply::for_incoming(&incoming, id)
    }
}
