//! What the fuzz targets share: an in-memory stream for the protocol sessions, a scratch
//! world (config, development certificates, a store with one mailbox and a few messages) that
//! lives in a temporary directory, and the fixed signing identity of the S/MIME targets.
//!
//! Nothing here touches the disk outside temporary directories, which go to /dev/shm when
//! the machine has it (tmpfs: the store's fsyncs cost nothing there). A session target's
//! world is rebuilt in a fresh directory every [`RECYCLE`] inputs, so what inputs change in
//! the store (appends, expunges, deletions at QUIT) neither piles up nor drifts for long.

use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context as TaskContext, Poll};

use pecd_common::config::Config;
use pecd_store::{Flags, NewMessage, Store};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::runtime::Runtime;

/// The mailbox every session target logs in to, and its password.
pub const USER: &str = "luigi@pec.localhost";
pub const PASSWORD: &str = "Fuzz-Pass-1";

/// Inputs a session world serves before it is rebuilt from scratch.
pub const RECYCLE: usize = 2000;

/// One single-threaded runtime per process (the store and engine still use its blocking pool).
pub fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

/// A temporary directory, on tmpfs when there is one.
pub fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let mut b = tempfile::Builder::new();
    b.prefix("pecd-fuzz-");
    if shm.is_dir() {
        if let Ok(d) = b.tempdir_in(shm) {
            return d;
        }
    }
    b.tempdir().expect("temporary directory")
}

/// An argon2id PHC string with the smallest parameters: the session targets verify real
/// hashes through the normal login path without spending 50 ms on each attempt.
pub fn cheap_hash(password: &str) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let params = argon2::Params::new(8, 1, 1, None).expect("argon2 parameters");
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::encode_b64(b"pecd-fuzz-salt16").expect("salt");
    argon
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hash")
        .to_string()
}

/// The client side of a session: the fuzz input, handed out `chunk` bytes per read so that
/// lines and literals arrive split at every place; whatever the server writes is dropped.
pub struct Wire<'a> {
    input: &'a [u8],
    chunk: usize,
}

impl<'a> Wire<'a> {
    pub fn new(input: &'a [u8], chunk: usize) -> Wire<'a> {
        Wire {
            input,
            chunk: chunk.max(1),
        }
    }
}

impl AsyncRead for Wire<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self.input.len().min(self.chunk).min(buf.remaining());
        let (now, rest) = self.input.split_at(n);
        buf.put_slice(now);
        self.input = rest;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Wire<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The first byte of a session input chooses how it is delivered; the rest is the client's
/// bytes. Returns (option bits, read chunk size, client bytes).
pub fn split_options(data: &[u8]) -> (u8, usize, &[u8]) {
    match data.split_first() {
        Some((&o, rest)) => {
            let chunk = match o & 0x0f {
                0 => usize::MAX,
                n => 1 << (n - 1),
            };
            (o, chunk, rest)
        }
        None => (0, usize::MAX, data),
    }
}

/// Messages put in the INBOX of [`USER`] for the IMAP and POP3 targets: plain, multipart
/// with an attachment, and a forwarded message.
pub const MESSAGES: [&[u8]; 3] = [
    b"Return-Path: <mario.rossi@example.it>\r\nFrom: Mario Rossi <mario.rossi@example.it>\r\n\
To: luigi@pec.localhost\r\nSubject: Offerta\r\nDate: Mon, 4 Nov 2024 10:00:00 +0100\r\n\
Message-ID: <a1@example.it>\r\n\r\nBuongiorno,\r\nin allegato l'offerta.\r\n.\r\n",
    b"From: anna@example.org\r\nTo: luigi@pec.localhost, carol@example.org\r\nCc: bob@example.org\r\n\
Subject: =?UTF-8?Q?Fattura_n=C2=B0_7?=\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\npreamble\r\n--b1\r\n\
Content-Type: multipart/alternative; boundary=\"b2\"\r\n\r\n--b2\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
testo\r\n--b2\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>testo</p>\r\n--b2--\r\n--b1\r\n\
Content-Type: application/pdf; name=\"fattura.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\
Content-Disposition: attachment; filename=\"fattura.pdf\"\r\n\r\nJVBERi0xLjQK\r\n--b1--\r\n",
    b"From: Anna Bianchi <anna@example.org>\r\nTo: luigi@pec.localhost\r\nSubject: Fwd: x\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=f\r\n\r\n--f\r\n\
Content-Type: text/plain\r\n\r\nsee below\r\n--f\r\nContent-Type: message/rfc822\r\n\r\n\
From: x@example.net\r\nSubject: inner\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E8\r\n--f--\r\n",
];

/// The development certificates, made once per process (an RSA key pair is slow).
fn certificates() -> &'static (tempfile::TempDir, Config) {
    static CERTS: OnceLock<(tempfile::TempDir, Config)> = OnceLock::new();
    CERTS.get_or_init(|| {
        let dir = scratch_dir();
        let config = pecd_common::certs::dev_config_in(dir.path()).expect("dev certificates");
        (dir, config)
    })
}

/// The default configuration with the development certificates of this process.
pub fn dev_config() -> &'static Config {
    &certificates().1
}

/// A configuration, store and mailbox in a temporary directory.
pub struct World {
    pub config: Arc<Config>,
    pub store: Store,
    _dir: tempfile::TempDir,
}

impl World {
    /// A fresh store with [`USER`] (password [`PASSWORD`]) and, when `with_messages`, the
    /// [`MESSAGES`] in its INBOX. Limits that only slow a fuzzer down (the failed-login
    /// throttle, the per-sender limit) are lifted.
    pub async fn new(with_messages: bool) -> World {
        let dir = scratch_dir();
        let mut config = certificates().1.clone();
        config.store.path = dir.path().join("store");
        config.auth.failures_per_login = u32::MAX;
        config.auth.failures_per_ip = u32::MAX;
        config.limits.sender_per_minute = 1_000_000;
        config.limits.max_message_bytes = 1 << 20;
        let store = Store::open(&config.store.path).expect("store");
        let mailbox = store
            .create_mailbox(USER, &cheap_hash(PASSWORD), 64 << 20)
            .await
            .expect("mailbox");
        if with_messages {
            for (i, bytes) in MESSAGES.iter().enumerate() {
                store
                    .append(
                        mailbox.id,
                        "INBOX",
                        NewMessage {
                            bytes: bytes.to_vec(),
                            flags: Flags(i as u8),
                            keywords: vec!["$Label1".into()],
                            internal_date: Some(1_730_710_800 + i as i64 * 86_400),
                        },
                    )
                    .await
                    .expect("append");
            }
        }
        World {
            config: Arc::new(config),
            store,
            _dir: dir,
        }
    }
}

/// What a session target builds over a [`World`] (its service context first, so that it is
/// dropped before the world's directory goes; then the world),
/// rebuilt on first use and every [`RECYCLE`] inputs.
pub struct Recycled<T> {
    slot: Mutex<Option<(usize, Arc<T>)>>,
}

impl<T> Default for Recycled<T> {
    fn default() -> Self {
        Recycled {
            slot: Mutex::new(None),
        }
    }
}

impl<T> Recycled<T> {
    pub fn get(&self, make: impl FnOnce() -> T) -> Arc<T> {
        let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        match slot.as_mut() {
            Some((n, value)) if *n < RECYCLE => {
                *n += 1;
                value.clone()
            }
            _ => {
                // Drop the old world (and its directory) before making the next one.
                *slot = None;
                let value = Arc::new(make());
                *slot = Some((1, value.clone()));
                value
            }
        }
    }
}

/// The fixed signing identity of the S/MIME targets: the development CA and provider
/// certificate that signed the seeds of fuzz/corpus/smime and fuzz/corpus/engine_incoming
/// (made by `examples/make_seeds.rs`; only the certificates are kept, not the key).
pub mod identity {
    use openssl::x509::X509;
    use pecd_signer::{ProviderEntry, ProviderIndex};
    use std::sync::OnceLock;

    pub const CA_PEM: &[u8] = include_bytes!("../fixtures/ca.pem");
    pub const SIGNER_PEM: &[u8] = include_bytes!("../fixtures/signer.pem");
    pub const PROVIDER: &str = "pecd development provider";
    pub const SERVICE_ADDRESS: &str = "posta-certificata@pec.localhost";

    pub fn anchors() -> &'static [X509] {
        static A: OnceLock<Vec<X509>> = OnceLock::new();
        A.get_or_init(|| X509::stack_from_pem(CA_PEM).expect("fixtures/ca.pem"))
    }

    /// The provider index with the signer's entry, as the engine loads it.
    pub fn index() -> &'static ProviderIndex {
        static I: OnceLock<ProviderIndex> = OnceLock::new();
        I.get_or_init(|| {
            let cert = X509::from_pem(SIGNER_PEM).expect("fixtures/signer.pem");
            ProviderIndex::new(vec![ProviderEntry::own(
                PROVIDER,
                &cert,
                SERVICE_ADDRESS,
                &["pec.localhost".to_string()],
            )])
        })
    }
}
