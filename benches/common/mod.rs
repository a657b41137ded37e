//! Starting the real pecd (release build) for the load generators.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The configuration template of the integration tests.
#[path = "../../tests/support/config.rs"]
mod config;

use config::ServerConfig;

pub const PASSWORD: &str = "Bench-Pass9!";

/// A client TLS stream to pecd.
pub type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

/// Connects with TLS as a mail client does, Nagle off.
pub async fn tls_connect(
    addr: std::net::SocketAddr,
    config: &std::sync::Arc<tokio_rustls::rustls::ClientConfig>,
) -> Tls {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let name = rustls_pki_types::ServerName::try_from("mail.pec.localhost").unwrap();
    tokio_rustls::TlsConnector::from(config.clone())
        .connect(name, tcp)
        .await
        .unwrap()
}

pub struct Pecd {
    pub child: Child,
    _dir: tempfile::TempDir,
}

impl Pecd {
    pub fn socket(&self) -> PathBuf {
        self._dir.path().join("pecd.sock")
    }
}

impl Drop for Pecd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn pecctl(socket: &Path, args: &[&str], stdin: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pecctl"))
        .arg("--socket")
        .arg(socket)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all_sync(stdin.as_bytes());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "pecctl {args:?}");
    String::from_utf8(out.stdout).unwrap()
}

trait WriteAllSync {
    fn write_all_sync(self, data: &[u8]);
}

impl WriteAllSync for std::process::ChildStdin {
    fn write_all_sync(mut self, data: &[u8]) {
        std::io::Write::write_all(&mut self, data).unwrap();
    }
}

/// Starts pecd with `senders` mailboxes (limit lifted) and a sink; returns it, the address of
/// `listener` and the CA file.
pub fn start(senders: usize, listener: &str) -> (Pecd, std::net::SocketAddr, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig::new()
        .extra(
            "[smtp]\nmax_connections_per_ip = 5000\nmax_connections = 5000\n\
             [pop3]\nmax_connections_per_ip = 5000\nmax_connections = 5000\n\
             [imap]\nmax_connections_per_user = 5000\nmax_connections_per_ip = 5000\n\
             max_connections = 5000\n",
        )
        .render(dir.path());
    std::fs::write(dir.path().join("pecd.toml"), config).unwrap();
    // PECD_BENCH_BINARY runs another build of pecd under the same load (base against new).
    let binary =
        std::env::var_os("PECD_BENCH_BINARY").unwrap_or_else(|| env!("CARGO_BIN_EXE_pecd").into());
    let child = Command::new(binary)
        .args(["serve", "--config"])
        .arg(dir.path().join("pecd.toml"))
        .env("RUST_LOG", "warn")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Guarded at once, so a failure below does not leave pecd running.
    let pecd = Pecd { child, _dir: dir };
    let socket = pecd.socket();
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(Instant::now() < deadline, "pecd did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    for i in 0..senders {
        let address = format!("sender{i}@pec.localhost");
        pecctl(
            &socket,
            &["mailbox", "create", &address, "--password-stdin"],
            &format!("{PASSWORD}\n"),
        );
        pecctl(
            &socket,
            &["mailbox", "set", &address, "--sender-per-minute", "1000000"],
            "",
        );
    }
    pecctl(
        &socket,
        &[
            "mailbox",
            "create",
            "sink@pec.localhost",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    let status: serde_json::Value =
        serde_json::from_str(&pecctl(&socket, &["--json", "status"], "")).unwrap();
    let addr = status["listeners"][listener]
        .as_str()
        .expect("listener in status")
        .parse()
        .unwrap();
    let ca = pecd._dir.path().join("certs/ca.pem");
    (pecd, addr, ca)
}

/// Resident memory of process `pid` in KiB (`VmRSS` of /proc/<pid>/status) after it has
/// been left idle for `idle`.
pub fn idle_rss_kib(pid: u32, idle: Duration) -> u64 {
    std::thread::sleep(idle);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Seconds a bench leaves pecd idle before [`report_idle_rss`] reads its memory.
pub const IDLE_SECONDS: u64 = 5;

/// Prints pecd's resident memory after the bench's load, once it has been idle for
/// [`IDLE_SECONDS`] (target, issue 15: under 128 MB).
pub fn report_idle_rss(bench: &str, pecd: &Pecd) {
    let kib = idle_rss_kib(pecd.child.id(), Duration::from_secs(IDLE_SECONDS));
    println!(
        "{bench}: pecd RSS {IDLE_SECONDS} s after the load, idle: {kib} KiB = {:.1} MB (target < 128 MB)",
        kib as f64 * 1024.0 / 1e6
    );
}
