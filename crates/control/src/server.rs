//! The control socket server: a Unix socket with mode 0600, one task per connection, requests
//! answered in order. At shutdown, connections waiting for a request are closed, and a request
//! being served runs to the end (its reply included) before the task exits; pecd waits up to
//! its drain timeout for those.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::net::UnixListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::ops::Operations;
use crate::protocol::*;

/// Imports whose bodies may be in memory at once, across all connections.
const MAX_CONCURRENT_IMPORTS: usize = 4;

/// An oversized import up to this many times the limit is read and discarded, so pecctl can
/// go on with its next file; larger ones close the connection.
const DRAIN_FACTOR: u64 = 4;

/// A connection that sends nothing for this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Binds the socket with permissions 0600 from the start, replacing a stale socket left by a
/// crash. A path that is not a socket, or a socket someone still serves, is left alone.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
        Ok(meta) => {
            use std::os::unix::fs::FileTypeExt;
            if !meta.file_type().is_socket() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "exists and is not a socket; refusing to replace it",
                ));
            }
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    "another process is serving this socket",
                ));
            }
            std::fs::remove_file(path)?;
        }
    }
    // The umask covers the window between bind() and chmod(); it is restored at once.
    // SAFETY: umask only swaps the process file-creation mask.
    let old = unsafe { libc::umask(0o177) };
    let listener = UnixListener::bind(path);
    // SAFETY: as above, restoring the previous mask.
    unsafe { libc::umask(old) };
    let listener = listener?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Serves connections until `shutdown` is cancelled; connection tasks are spawned on
/// `tracker` so the caller can wait for requests in flight. The socket file is removed on
/// return.
pub async fn serve(
    listener: UnixListener,
    path: PathBuf,
    ops: Arc<Operations>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let imports = Arc::new(Semaphore::new(MAX_CONCURRENT_IMPORTS));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let (ops, shutdown, imports) = (ops.clone(), shutdown.clone(), imports.clone());
                    tracker.spawn(async move {
                        let (r, w) = stream.into_split();
                        if let Err(e) = session(BufReader::new(r), w, &ops, &imports, &shutdown).await {
                            tracing::debug!(error = %e, "control connection ended");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "control socket accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
    drop(listener);
    let _ = std::fs::remove_file(&path);
}

enum Line {
    Request(Vec<u8>),
    TooLong,
    Eof,
}

/// Reads one line of at most `max` bytes without buffering more than that.
async fn read_line(r: &mut (impl AsyncBufRead + Unpin), max: usize) -> io::Result<Line> {
    let mut line = Vec::new();
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            return Ok(if line.is_empty() {
                Line::Eof
            } else {
                Line::Request(line)
            });
        }
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        if line.len() + chunk.len() > max {
            return Ok(Line::TooLong);
        }
        line.extend_from_slice(chunk);
        let used = done.unwrap_or(chunk.len());
        r.consume(used);
        if done.is_some() {
            return Ok(Line::Request(line));
        }
    }
}

async fn send(w: &mut (impl AsyncWrite + Unpin), reply: &Reply) -> io::Result<()> {
    let mut line = serde_json::to_vec(reply).map_err(io::Error::other)?;
    line.push(b'\n');
    w.write_all(&line).await?;
    w.flush().await
}

fn ok<T: Serialize>(value: T) -> Reply {
    Reply {
        ok: true,
        result: Some(serde_json::to_value(value).unwrap_or_default()),
        error: None,
    }
}

fn refusal(e: ControlError) -> Reply {
    Reply {
        ok: false,
        result: None,
        error: Some(e),
    }
}

/// One control connection, generic over the stream so tests can drive it in memory.
pub async fn session(
    mut r: impl AsyncBufRead + Unpin,
    mut w: impl AsyncWrite + Unpin,
    ops: &Operations,
    imports: &Semaphore,
    shutdown: &CancellationToken,
) -> io::Result<()> {
    let greeting = Greeting {
        pecd_control: PROTOCOL_VERSION,
        server: format!("pecd {}", env!("CARGO_PKG_VERSION")),
    };
    let mut line = serde_json::to_vec(&greeting).map_err(io::Error::other)?;
    line.push(b'\n');
    w.write_all(&line).await?;
    // The operator this connection acts as (`session.as`); `None` is the built-in
    // administrator.
    let mut acting: Option<pecd_archive::Actor> = None;
    loop {
        let next = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            next = tokio::time::timeout(IDLE_TIMEOUT, read_line(&mut r, MAX_REQUEST_LINE)) => next,
        };
        let line = match next {
            Err(_) => return Ok(()),
            Ok(line) => line?,
        };
        let line = match line {
            Line::Eof => return Ok(()),
            Line::TooLong => {
                let e = ControlError::new(
                    ErrorCode::RequestTooLong,
                    format!("request line longer than {MAX_REQUEST_LINE} bytes"),
                );
                return send(&mut w, &refusal(e)).await;
            }
            Line::Request(line) => line,
        };
        let request = match parse(&line) {
            Ok(Parsed::Side(side)) => {
                let actor = acting.clone().unwrap_or(pecd_archive::Actor::Admin);
                match side_command(&mut r, &mut w, ops, imports, actor, side).await? {
                    Flow::Next => continue,
                    Flow::Close => return Ok(()),
                }
            }
            Ok(Parsed::Core(Request::SessionAs { userid })) => {
                let reply = match ops.archive().actor(userid.as_deref()).await {
                    Ok(actor) => {
                        let who = serde_json::json!({
                            "userid": actor.userid(),
                            "profile": actor.profile(),
                        });
                        acting = Some(actor);
                        ok(who)
                    }
                    Err(e) => refusal(crate::archive::refusal(e)),
                };
                send(&mut w, &reply).await?;
                continue;
            }
            Ok(Parsed::Core(request)) => request,
            Err(e) => {
                send(&mut w, &refusal(e)).await?;
                // An import line announces raw bytes we could not size: they must never be
                // read as requests.
                if mentions_import(&line) {
                    return Ok(());
                }
                continue;
            }
        };
        let mut body = None;
        let mut permit = None;
        if let Request::MailboxImport { size, .. } = request {
            if size > ops.max_message_bytes() {
                let e = ControlError::new(
                    ErrorCode::TooLarge,
                    format!(
                        "message of {size} bytes exceeds limits.max_message_bytes ({})",
                        ops.max_message_bytes()
                    ),
                );
                // Skip the announced bytes without keeping them, so the client can go on with
                // its next file; an absurd size is answered and the connection closed instead.
                if size > ops.max_message_bytes().saturating_mul(DRAIN_FACTOR) {
                    return send(&mut w, &refusal(e)).await;
                }
                let (mut announced, mut sink) = ((&mut r).take(size), tokio::io::sink());
                let drain = tokio::io::copy(&mut announced, &mut sink);
                match tokio::time::timeout(IDLE_TIMEOUT, drain).await {
                    Ok(Ok(n)) if n == size => {}
                    _ => return Ok(()),
                }
                send(&mut w, &refusal(e)).await?;
                continue;
            }
            // Bounded so that clients announcing large imports cannot exhaust memory together;
            // held until the import is done with the bytes.
            permit = Some(imports.acquire().await.map_err(io::Error::other)?);
            let mut bytes = vec![0; size as usize];
            match tokio::time::timeout(IDLE_TIMEOUT, r.read_exact(&mut bytes)).await {
                Ok(Ok(_)) => body = Some(bytes),
                Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    tracing::warn!(
                        "control client disconnected in the middle of an import; nothing stored"
                    );
                    return Ok(());
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(()),
            }
        }
        let reply = match acting.as_ref().map(|a| gate(a, &request)) {
            Some(Err(e)) => refusal(e),
            _ => dispatch(ops, request, body, acting.as_ref()).await,
        };
        drop(permit);
        send(&mut w, &reply).await?;
    }
}

/// A command of a family the server only relays to its crate: the archive's, or a
/// migration (for administrators only).
async fn side_command(
    r: &mut (impl AsyncBufRead + Unpin),
    w: &mut (impl AsyncWrite + Unpin),
    ops: &Operations,
    imports: &Semaphore,
    actor: pecd_archive::Actor,
    side: Side,
) -> io::Result<Flow> {
    let command = match side {
        Side::Archive(call) => return archive_command(r, w, ops, imports, actor, call).await,
        Side::Migrate(command) => command,
    };
    let reply = match actor.check_admin("migrazione") {
        Err(e) => refusal(crate::archive::refusal(e)),
        Ok(()) => match crate::migrate::dispatch(ops.migrations(), command).await {
            Ok(value) => ok(value),
            Err(e) => refusal(e),
        },
    };
    send(w, &reply).await?;
    Ok(Flow::Next)
}

/// What a connection does after a command.
enum Flow {
    Next,
    Close,
}

/// One archive command, with the raw bytes that follow its line when it announces some (a
/// contract document): read within `archive.contract_max_bytes` under an import permit,
/// which is held until the command is done with them.
async fn archive_command(
    r: &mut (impl AsyncBufRead + Unpin),
    w: &mut (impl AsyncWrite + Unpin),
    ops: &Operations,
    imports: &Semaphore,
    actor: pecd_archive::Actor,
    call: crate::archive::Call,
) -> io::Result<Flow> {
    let mut _permit = None;
    let mut body = None;
    if let Some(size) = call.body_size() {
        let max = ops.archive().config().archive.contract_max_bytes;
        _permit = Some(imports.acquire().await.map_err(io::Error::other)?);
        match read_body(r, size, max).await? {
            Body::Read(bytes) => body = Some(bytes),
            Body::Drained(e) => {
                send(w, &refusal(e)).await?;
                return Ok(Flow::Next);
            }
            Body::Close(e) => {
                send(w, &refusal(e)).await?;
                return Ok(Flow::Close);
            }
            Body::Gone => return Ok(Flow::Close),
        }
    }
    let reply = match crate::archive::dispatch(ops.lifecycle(), &actor, call, body).await {
        Ok(value) => ok(value),
        Err(e) => refusal(e),
    };
    send(w, &reply).await?;
    Ok(Flow::Next)
}

fn mentions_import(line: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(line)
        .ok()
        .and_then(|v| {
            v.get("command")
                .and_then(|c| c.as_str())
                .map(|c| c == "mailbox.import" || crate::archive::announces_body(c))
        })
        .unwrap_or(true)
}

/// The raw bytes announced by an archive command's line (a contract document).
enum Body {
    Read(Vec<u8>),
    /// Over `max` and read away: the client may go on with its next request.
    Drained(ControlError),
    /// Far over `max`: answered, and the connection closed.
    Close(ControlError),
    /// The client went away or stalled mid-body.
    Gone,
}

async fn read_body(r: &mut (impl AsyncBufRead + Unpin), size: u64, max: u64) -> io::Result<Body> {
    if size > max {
        let e = ControlError::new(
            ErrorCode::TooLarge,
            format!("documento di {size} byte: il massimo è {max} (archive.contract_max_bytes)"),
        );
        if size > max.saturating_mul(DRAIN_FACTOR) {
            return Ok(Body::Close(e));
        }
        let (mut announced, mut sink) = ((&mut *r).take(size), tokio::io::sink());
        return Ok(
            match tokio::time::timeout(IDLE_TIMEOUT, tokio::io::copy(&mut announced, &mut sink))
                .await
            {
                Ok(Ok(n)) if n == size => Body::Drained(e),
                _ => Body::Gone,
            },
        );
    }
    let mut bytes = vec![0; size as usize];
    match tokio::time::timeout(IDLE_TIMEOUT, r.read_exact(&mut bytes)).await {
        Ok(Ok(_)) => Ok(Body::Read(bytes)),
        Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(Body::Gone),
        Ok(Err(e)) => Err(e),
        Err(_) => Ok(Body::Gone),
    }
}

/// A request line: one of the server's own commands, or an archive or migration command.
enum Parsed {
    Core(Request),
    Side(Side),
}

/// A command of another crate's family.
enum Side {
    Archive(crate::archive::Call),
    Migrate(crate::migrate::Command),
}

/// The server's own commands as an operator acting with `--as` may use them: `status` and
/// `mailbox.show` (within its scope) for everyone, the rest (mailbox administration, logs,
/// queue, index) for amministratori.
fn gate(actor: &pecd_archive::Actor, request: &Request) -> Result<(), ControlError> {
    if matches!(request, Request::Status | Request::MailboxShow { .. }) || actor.is_admin() {
        return Ok(());
    }
    actor
        .check_admin("comando di amministrazione del server")
        .map_err(crate::archive::refusal)
}

fn parse(line: &[u8]) -> Result<Parsed, ControlError> {
    let value: serde_json::Value = serde_json::from_slice(line).map_err(|e| {
        ControlError::new(ErrorCode::BadRequest, format!("request is not JSON: {e}"))
    })?;
    let command = value
        .get("command")
        .and_then(|c| c.as_str())
        .ok_or_else(|| {
            ControlError::new(ErrorCode::BadRequest, "request has no \"command\" string")
        })?
        .to_string();
    if let Some(call) = crate::archive::parse(&command, value.clone()) {
        return call.map(|c| Parsed::Side(Side::Archive(c)));
    }
    if let Some(command) = crate::migrate::parse(&command, value.clone()) {
        return command.map(|c| Parsed::Side(Side::Migrate(c)));
    }
    if !COMMANDS.contains(&command.as_str()) {
        return Err(ControlError::new(
            ErrorCode::UnknownCommand,
            format!("unknown command {command:?}"),
        )
        .with_details(
            COMMANDS
                .iter()
                .copied()
                .chain(crate::archive::commands())
                .chain(crate::migrate::COMMANDS)
                .map(str::to_string)
                .collect(),
        ));
    }
    serde_json::from_value(value)
        .map(Parsed::Core)
        .map_err(|e| {
            ControlError::new(
                ErrorCode::BadRequest,
                format!("bad arguments for {command}: {e}"),
            )
        })
}

/// Runs one request as `actor` (`None`: the built-in administrator); `body` holds the
/// message bytes that followed a `mailbox.import` line.
async fn dispatch(
    ops: &Operations,
    request: Request,
    body: Option<Vec<u8>>,
    actor: Option<&pecd_archive::Actor>,
) -> Reply {
    let result = match request {
        Request::Status => ops.status().await.map(ok),
        Request::MailboxCreate { address, password } => {
            ops.create_mailbox(&address, password).await.map(ok)
        }
        Request::MailboxList => ops.list_mailboxes().await.map(ok),
        Request::MailboxShow { address } => ops.show_mailbox(&address, actor).await.map(ok),
        Request::MailboxDelete { address } => ops.delete_mailbox(&address).await.map(ok),
        Request::MailboxPasswd {
            address,
            password,
            must_change,
        } => ops
            .set_password(&address, password, must_change)
            .await
            .map(ok),
        Request::MailboxSet {
            address,
            sender_per_minute,
        } => ops
            .set_sender_limit(&address, sender_per_minute)
            .await
            .map(ok),
        Request::LogSearch {
            msgid,
            address,
            since,
            until,
            limit,
        } => ops
            .log_search(pecd_store::LogQuery {
                id: msgid,
                address,
                since,
                until,
                limit: limit.unwrap_or(0),
            })
            .await
            .map(ok),
        Request::Trace { id } => ops.trace(&id).await.map(ok),
        Request::IndexList => Ok(ok(ops.index_list())),
        Request::IndexShow { key } => ops.index_show(&key).map(ok),
        Request::IndexExport => Ok(ok(ops.index_export())),
        Request::QueueList => ops.queue_list().await.map(ok),
        Request::QueueShow { id } => ops.queue_show(id).await.map(ok),
        Request::QueueRetry { id } => ops.queue_retry(id).await.map(ok),
        Request::QueueDelete { id } => ops.queue_delete(id).await.map(ok),
        // Answered by the connection loop, which holds the acting operator.
        Request::SessionAs { .. } => Err(ControlError::new(
            ErrorCode::BadRequest,
            "session.as is answered by the connection",
        )),
        Request::MailboxImport {
            address, folder, ..
        } => ops
            .import(&address, folder.as_deref(), body.unwrap_or_default())
            .await
            .map(ok),
    };
    result.unwrap_or_else(refusal)
}
