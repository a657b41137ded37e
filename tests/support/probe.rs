//! What the hostile tests check after every attack: pecd still answers on all four ports, and
//! an honest holder's sessions (IMAP and SMTP, opened before the attack) were never kept
//! waiting longer than a bound while it ran.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;

use super::imap::Imap;
use super::smtp::Conn;
use super::Server;

/// How long an answer may take before a port counts as down.
const ANSWER: Duration = Duration::from_secs(10);

/// Reads until `want` appears in what came (or EOF), within [`ANSWER`].
async fn greeting<S: AsyncReadExt + Unpin>(stream: &mut S, want: &str) -> String {
    let mut got = Vec::new();
    let mut chunk = [0u8; 512];
    let read = async {
        while !String::from_utf8_lossy(&got).contains(want) {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
        }
    };
    let _ = tokio::time::timeout(ANSWER, read).await;
    String::from_utf8_lossy(&got).into_owned()
}

/// Panics unless a new connection gets its greeting on SMTP (25), submissions (465), IMAPS
/// (993) and POP3S (995), and the control socket answers `status`.
pub async fn all_ports_answer(s: &Server) {
    let status = s.pecctl(&["status"], "");
    assert!(
        status.status.success(),
        "control socket: {}\n{}",
        super::text(&status),
        s.log()
    );
    for (listener, tls, want) in [
        ("smtp", false, "220 "),
        ("submissions", true, "220 "),
        ("imaps", true, "* OK"),
        ("pop3s", true, "+OK"),
    ] {
        let addr = s.listener(listener);
        let tcp = tokio::time::timeout(ANSWER, tokio::net::TcpStream::connect(addr))
            .await
            .unwrap_or_else(|_| panic!("{listener}: connect timed out"))
            .unwrap_or_else(|e| panic!("{listener}: {e}\n{}", s.log()));
        let got = if tls {
            let connector = TlsConnector::from(super::smtp::tls_config(&s.ca()));
            let name = ServerName::try_from("localhost").unwrap();
            let mut stream = tokio::time::timeout(ANSWER, connector.connect(name, tcp))
                .await
                .unwrap_or_else(|_| panic!("{listener}: TLS handshake timed out"))
                .unwrap_or_else(|e| panic!("{listener}: TLS: {e}"));
            let got = greeting(&mut stream, want).await;
            let _ = stream.shutdown().await;
            got
        } else {
            let mut tcp = tcp;
            greeting(&mut tcp, want).await
        };
        assert!(
            got.contains(want),
            "{listener} did not greet ({got:?})\n{}",
            s.log()
        );
    }
}

/// An honest holder who keeps an IMAP session (NOOP) and an SMTP session (NOOP) busy
/// during an attack and records the slowest answer.
pub struct Watch {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Duration>,
}

impl Watch {
    /// Logs `user` in over IMAPS and opens an SMTP submission session, then starts the loop.
    pub async fn start(s: &Server, user: &str) -> Watch {
        let mut imap = Imap::login(s, user).await;
        imap.ok("SELECT INBOX").await;
        let (mut smtp, _) = Conn::tls(s.listener("submissions"), &s.ca()).await;
        smtp.login(user, super::PASSWORD).await;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut worst = Duration::ZERO;
            while !flag.load(Ordering::Relaxed) {
                let t = Instant::now();
                let r = imap.cmd("NOOP").await;
                assert!(r.last().is_some_and(|l| l.contains("OK")), "{r:?}");
                let r = smtp.cmd("NOOP").await;
                assert!(r.starts_with("250"), "{r}");
                worst = worst.max(t.elapsed());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            worst
        });
        Watch { stop, task }
    }

    /// Stops the loop and returns the slowest IMAP + SMTP round seen.
    pub async fn worst(self) -> Duration {
        self.stop.store(true, Ordering::Relaxed);
        self.task
            .await
            .expect("the honest holder's sessions stayed usable")
    }

    /// Stops the loop and asserts no round took longer than `bound`.
    pub async fn assert_within(self, bound: Duration, what: &str) {
        let worst = self.worst().await;
        eprintln!("{what}: the honest holder waited at most {worst:?}");
        assert!(
            worst <= bound,
            "{what}: the honest holder waited {worst:?} (bound {bound:?})"
        );
    }
}
