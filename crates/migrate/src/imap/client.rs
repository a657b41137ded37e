//! A small IMAP4rev1 client over implicit TLS (RFC 3501, RFC 8314 §3.2), just what a
//! migration needs: LOGIN, CAPABILITY, LIST with special-use attributes (RFC 6154, or
//! XLIST), EXAMINE for the UIDVALIDITY, UID FETCH, LOGOUT. Every read waits at most the
//! configured timeout and goes through the [`super::frame`] limits; nothing is written to
//! the old server's mailbox (EXAMINE, BODY.PEEK).

use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::frame::{Framer, Limits};
use super::reply::{self, Fetched, ListEntry, Reply, State};

/// Where the old provider's IMAP server is: `imaps://HOST[:PORT]` (port 993 by default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Server {
    pub host: String,
    pub port: u16,
}

impl Server {
    pub fn parse(url: &str) -> Result<Server, String> {
        let bad = || format!("{url:?}: expected imaps://HOST:PORT");
        let rest = url.strip_prefix("imaps://").ok_or_else(bad)?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = match rest.strip_prefix('[') {
            Some(v6) => {
                let (host, after) = v6.split_once(']').ok_or_else(bad)?;
                match after.strip_prefix(':') {
                    Some(p) => (host, p.parse::<u16>().map_err(|_| bad())?),
                    None if after.is_empty() => (host, 993),
                    None => return Err(bad()),
                }
            }
            None => match rest.rsplit_once(':') {
                Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad())?),
                None => (rest, 993),
            },
        };
        if host.is_empty() || host.contains(['/', '@', ' ']) || port == 0 {
            return Err(bad());
        }
        Ok(Server {
            host: host.to_string(),
            port,
        })
    }

    pub fn url(&self) -> String {
        if self.host.contains(':') {
            format!("imaps://[{}]:{}", self.host, self.port)
        } else {
            format!("imaps://{}:{}", self.host, self.port)
        }
    }
}

/// Why talking to the old server failed, in the terms the holder is told.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImapError {
    #[error("Server {0} non raggiungibile (server unreachable): {1}")]
    Unreachable(String, String),
    #[error(
        "Certificato del server {0} non attendibile (certificate not trusted; for a private \
         CA see [migration] tls_roots): {1}"
    )]
    Untrusted(String, String),
    #[error("Credenziali non valide")]
    Refused(String),
    #[error("Connessione con il vecchio server persa (connection lost): {0}")]
    Lost(String),
    #[error("Risposta non valida dal vecchio server (protocol error): {0}")]
    Protocol(String),
    /// A whole response that could not be read (framing held: the connection goes on).
    #[error("Risposta illeggibile dal vecchio server (unreadable response): {0}")]
    Unreadable(String),
    #[error("Il vecchio server ha rifiutato un comando (command refused): {0}")]
    Command(String),
}

/// One logged-in (or about to be) connection, over TLS (or any stream, in tests).
pub struct Connection<S = TlsStream<TcpStream>> {
    stream: S,
    buf: Vec<u8>,
    framer: Framer,
    limits: Limits,
    timeout: Duration,
    next_tag: u32,
    literal_plus: bool,
}

/// The roots a server certificate may chain to: Mozilla's, plus a PEM file's
/// (`[migration] tls_roots`).
pub fn trust_roots(extra_pem: Option<&std::path::Path>) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = extra_pem {
        let certs = pecd_common::tls::load_chain(path).map_err(|e| e.to_string())?;
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    Ok(roots)
}

impl Connection {
    /// Connects, completes TLS against `roots` with the server name checked, and reads the
    /// greeting.
    pub async fn connect(
        server: &Server,
        roots: Arc<rustls::RootCertStore>,
        limits: Limits,
        timeout: Duration,
    ) -> Result<Connection, ImapError> {
        let url = server.url();
        let unreachable = |e: String| ImapError::Unreachable(url.clone(), e);
        let tcp = tokio::time::timeout(
            timeout,
            TcpStream::connect((server.host.as_str(), server.port)),
        )
        .await
        .map_err(|_| unreachable("no answer".into()))?
        .map_err(|e| unreachable(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let name = ServerName::try_from(server.host.clone())
            .map_err(|e| unreachable(format!("invalid host name: {e}")))?;
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| ImapError::Protocol(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let stream = tokio::time::timeout(
            timeout,
            TlsConnector::from(Arc::new(config)).connect(name, tcp),
        )
        .await
        .map_err(|_| unreachable("TLS handshake timed out".into()))?
        .map_err(|e| tls_error(&url, e))?;
        let mut c = Connection::over(stream, limits, timeout);
        match c.read().await? {
            Reply::Bye(text) => Err(unreachable(format!("server says BYE: {text}"))),
            _ => Ok(c),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// A connection over `stream`, its greeting not yet read.
    pub fn over(stream: S, limits: Limits, timeout: Duration) -> Connection<S> {
        Connection {
            stream,
            buf: Vec::with_capacity(64 << 10),
            framer: Framer::default(),
            limits,
            timeout,
            next_tag: 0,
            literal_plus: false,
        }
    }

    /// LOGIN (RFC 3501 §6.2.3); a NO is [`ImapError::Refused`]. Then learns the
    /// capabilities that change how we talk (LITERAL+, SPECIAL-USE, XLIST).
    pub async fn login(&mut self, login: &str, password: &str) -> Result<Capabilities, ImapError> {
        let parts = [
            Part::Text(b"LOGIN "),
            Part::Str(login.as_bytes()),
            Part::Text(b" "),
            Part::Str(password.as_bytes()),
        ];
        match self.run(&parts, |_| Ok(())).await {
            Ok(()) => {}
            Err(ImapError::Command(text)) => return Err(ImapError::Refused(text)),
            Err(e) => return Err(e),
        }
        let mut words = Vec::new();
        self.run(&[Part::Text(b"CAPABILITY")], |r| {
            if let Reply::Capabilities(c) = r {
                words = c;
            }
            Ok(())
        })
        .await?;
        let has = |w: &str| words.iter().any(|c| c.eq_ignore_ascii_case(w));
        self.literal_plus = has("LITERAL+");
        Ok(Capabilities {
            special_use: has("SPECIAL-USE"),
            xlist: has("XLIST"),
        })
    }

    /// Every mailbox, with special-use attributes where the server has them.
    pub async fn list(&mut self, caps: &Capabilities) -> Result<Vec<ListEntry>, ImapError> {
        let command: &[u8] = if caps.special_use {
            b"LIST \"\" \"*\" RETURN (SPECIAL-USE)"
        } else if caps.xlist {
            b"XLIST \"\" \"*\""
        } else {
            b"LIST \"\" \"*\""
        };
        let mut entries = Vec::new();
        self.run(&[Part::Text(command)], |r| {
            if let Reply::List(l) = r {
                entries.push(l);
            }
            Ok(())
        })
        .await?;
        Ok(entries)
    }

    /// EXAMINE (read-only SELECT): the mailbox's UIDVALIDITY and message count.
    pub async fn examine(&mut self, name: &[u8]) -> Result<(u32, u32), ImapError> {
        let (mut validity, mut exists) = (0, 0);
        self.run(&[Part::Text(b"EXAMINE "), Part::Str(name)], |r| {
            match r {
                Reply::UidValidity(v) => validity = v,
                Reply::Exists(n) => exists = n,
                _ => {}
            }
            Ok(())
        })
        .await?;
        Ok((validity, exists))
    }

    /// `UID FETCH set items`: the FETCH responses, in the order received. The caller bounds
    /// the set (and so the memory) by what it asks for.
    pub async fn uid_fetch(&mut self, set: &str, items: &str) -> Result<Vec<Fetched>, ImapError> {
        let command = format!("UID FETCH {set} {items}");
        let mut out = Vec::new();
        self.run(&[Part::Text(command.as_bytes())], |r| {
            if let Reply::Fetch(f) = r {
                out.push(*f);
            }
            Ok(())
        })
        .await?;
        Ok(out)
    }

    pub async fn logout(mut self) {
        let _ = self.run(&[Part::Text(b"LOGOUT")], |_| Ok(())).await;
    }

    /// Sends one command and hands each untagged response to `each` until its tagged
    /// completion: OK is `Ok`, NO and BAD are [`ImapError::Command`] with the server's text.
    /// An untagged response that cannot be read is [`ImapError::Unreadable`], returned once
    /// the completion is read, so the connection stays usable.
    async fn run(
        &mut self,
        parts: &[Part<'_>],
        mut each: impl FnMut(Reply) -> Result<(), ImapError>,
    ) -> Result<(), ImapError> {
        self.next_tag += 1;
        let tag = format!("m{}", self.next_tag);
        let mut line = format!("{tag} ").into_bytes();
        for part in parts {
            match part {
                Part::Text(t) => line.extend_from_slice(t),
                Part::Str(s) if quotable(s) => quote(&mut line, s),
                Part::Str(s) if self.literal_plus => {
                    line.extend_from_slice(format!("{{{}+}}\r\n", s.len()).as_bytes());
                    line.extend_from_slice(s);
                }
                Part::Str(s) => {
                    line.extend_from_slice(format!("{{{}}}\r\n", s.len()).as_bytes());
                    self.write(&line).await?;
                    line.clear();
                    self.wait_continuation(&tag).await?;
                    line.extend_from_slice(s);
                }
            }
        }
        line.extend_from_slice(b"\r\n");
        self.write(&line).await?;
        let mut unreadable = None;
        loop {
            let reply = match self.read().await {
                Ok(reply) => reply,
                Err(ImapError::Unreadable(e)) => {
                    unreadable.get_or_insert(e);
                    continue;
                }
                Err(e) => return Err(e),
            };
            match reply {
                Reply::Tagged {
                    tag: t,
                    state,
                    text,
                } if t == tag => {
                    return match (state, unreadable) {
                        (State::Ok, None) => Ok(()),
                        (State::Ok, Some(e)) => Err(ImapError::Unreadable(e)),
                        (State::No | State::Bad, _) => Err(ImapError::Command(text)),
                    };
                }
                Reply::Bye(text) => {
                    return Err(ImapError::Lost(format!("server said BYE: {text}")))
                }
                other => each(other)?,
            }
        }
    }

    async fn wait_continuation(&mut self, tag: &str) -> Result<(), ImapError> {
        loop {
            match self.read().await? {
                Reply::Continue => return Ok(()),
                Reply::Tagged { tag: t, text, .. } if t == tag => {
                    return Err(ImapError::Command(text))
                }
                Reply::Bye(text) => {
                    return Err(ImapError::Lost(format!("server said BYE: {text}")))
                }
                _ => {}
            }
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), ImapError> {
        let timeout = self.timeout;
        let write = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        match tokio::time::timeout(timeout, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ImapError::Lost(e.to_string())),
            Err(_) => Err(ImapError::Lost("write timed out".into())),
        }
    }

    /// The next whole response.
    async fn read(&mut self) -> Result<Reply, ImapError> {
        loop {
            let framed = self
                .framer
                .advance(&self.buf, &self.limits)
                .map_err(|e| ImapError::Protocol(e.to_string()))?;
            if let Some(n) = framed {
                let parsed = reply::parse(&self.buf[..n]);
                self.buf.drain(..n);
                return parsed.map_err(|e| ImapError::Unreadable(e.to_string()));
            }
            self.buf.reserve(64 << 10);
            let read = tokio::time::timeout(self.timeout, self.stream.read_buf(&mut self.buf));
            match read.await {
                Ok(Ok(0)) => return Err(ImapError::Lost("closed by the server".into())),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(ImapError::Lost(e.to_string())),
                Err(_) => return Err(ImapError::Lost("no answer within the timeout".into())),
            }
        }
    }
}

/// What the server offers that changes our commands.
#[derive(Clone, Copy, Debug, Default)]
pub struct Capabilities {
    pub special_use: bool,
    pub xlist: bool,
}

enum Part<'a> {
    /// Written as it is.
    Text(&'a [u8]),
    /// An astring: quoted when it can be, else a literal.
    Str(&'a [u8]),
}

fn quotable(s: &[u8]) -> bool {
    s.len() <= 1024 && s.iter().all(|&b| (0x20..0x7f).contains(&b))
}

fn quote(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in s {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// A failed handshake: an untrusted or mismatching certificate is told apart from the rest.
fn tls_error(url: &str, e: std::io::Error) -> ImapError {
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
    match inner {
        Some(rustls::Error::InvalidCertificate(c)) => {
            ImapError::Untrusted(url.to_string(), format!("{c:?}"))
        }
        _ => ImapError::Unreachable(url.to_string(), format!("TLS: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls() {
        assert_eq!(
            Server::parse("imaps://imap.old.it:993").unwrap(),
            Server {
                host: "imap.old.it".into(),
                port: 993
            }
        );
        assert_eq!(Server::parse("imaps://imap.old.it").unwrap().port, 993);
        assert_eq!(
            Server::parse("imaps://[::1]:1993").unwrap().url(),
            "imaps://[::1]:1993"
        );
        assert!(Server::parse("imap://imap.old.it:143").is_err());
        assert!(Server::parse("imaps://u@imap.old.it").is_err());
        assert!(Server::parse("imaps://h:99999").is_err());
    }

    /// A FETCH whose body holds a NUL byte (not IMAP4rev1, imap-codec refuses it) is reported
    /// once the command completes, and the connection goes on in step.
    #[tokio::test]
    async fn an_unreadable_fetch_leaves_the_connection_usable() {
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let script = async move {
            let mut got = vec![0u8; 4096];
            server.write_all(b"* OK ready\r\n").await.unwrap();
            let n = server.read(&mut got).await.unwrap();
            assert!(got[..n].starts_with(b"m1 UID FETCH 1:2 "));
            server
                .write_all(
                    b"* 1 FETCH (UID 1 BODY[] {3}\r\na\x00b)\r\n\
* 2 FETCH (UID 2 BODY[] {3}\r\nabc)\r\nm1 OK done\r\n",
                )
                .await
                .unwrap();
            let n = server.read(&mut got).await.unwrap();
            assert!(got[..n].starts_with(b"m2 UID FETCH 2 "));
            server
                .write_all(b"* 1 FETCH (UID 2 BODY[] {3}\r\nabc)\r\nm2 OK done\r\n")
                .await
                .unwrap();
        };
        let client = async move {
            let mut c = Connection::over(client, Limits::default(), Duration::from_secs(5));
            assert!(matches!(c.read().await, Ok(Reply::Other)));
            let first = c.uid_fetch("1:2", "(UID BODY.PEEK[])").await;
            assert!(matches!(first, Err(ImapError::Unreadable(_))), "{first:?}");
            let second = c.uid_fetch("2", "(UID BODY.PEEK[])").await.unwrap();
            assert_eq!(second[0].body.as_deref(), Some(&b"abc"[..]));
        };
        tokio::join!(script, client);
    }

    #[test]
    fn quoted_strings_escape_quotes_and_backslashes() {
        let mut out = Vec::new();
        quote(&mut out, br#"a"b\c"#);
        assert_eq!(out, br#""a\"b\\c""#);
        assert!(!quotable("è".as_bytes()));
    }
}
