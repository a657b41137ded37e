//! Starts the real `pecd` binary on a temporary data directory and drives it with the real
//! `pecctl` binary.
#![allow(dead_code)]

pub mod cli;
pub mod config;
pub mod https;
pub mod imap;
pub mod pec;
pub mod peers;
pub mod pop3;
pub mod probe;
pub mod raw;
pub mod smtp;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub use config::ServerConfig;

pub const PECD: &str = env!("CARGO_BIN_EXE_pecd");
pub const PECCTL: &str = env!("CARGO_BIN_EXE_pecctl");
pub const PASSWORD: &str = "Pec-Strong9!";

pub struct Server {
    pub dir: tempfile::TempDir,
    pub child: Option<Child>,
    /// Extra arguments put before `serve`'s own (e.g. a wrapper such as strace).
    pub wrapper: Vec<String>,
}

/// The one way the tests start pecd: `server().users(&[MARIO]).start()`, with
/// `.extra("[limits]\n...")` or `.config(|c| c.index())` for another configuration.
pub fn server() -> Builder {
    Builder {
        config: ServerConfig::new(),
        users: Vec::new(),
        service_login: false,
    }
}

/// A pecd to start: its configuration and the mailboxes to create once it answers.
pub struct Builder {
    config: ServerConfig,
    users: Vec<String>,
    service_login: bool,
}

impl Builder {
    /// Appends `text` (new sections only) to the configuration.
    pub fn extra(mut self, text: &str) -> Builder {
        self.config = self.config.extra(text);
        self
    }

    /// Changes the configuration with the typed overrides of [`ServerConfig`].
    pub fn config(mut self, change: impl FnOnce(ServerConfig) -> ServerConfig) -> Builder {
        self.config = change(self.config);
        self
    }

    /// Mailboxes created with [`PASSWORD`] once pecd answers.
    pub fn users(mut self, users: &[&str]) -> Builder {
        self.users.extend(users.iter().map(|u| u.to_string()));
        self
    }

    /// Gives the provider's service mailbox (posta-certificata@, PEC.md §1.1) the password
    /// [`PASSWORD`], so a test can read the receipts sent to it.
    pub fn service_login(mut self) -> Builder {
        self.service_login = true;
        self
    }

    /// Writes the configuration without starting pecd (no mailbox is created).
    pub fn prepare(self) -> Server {
        assert!(
            self.users.is_empty() && !self.service_login,
            "mailboxes need a running pecd: use start()"
        );
        let s = Server {
            dir: tempfile::tempdir().unwrap(),
            child: None,
            wrapper: Vec::new(),
        };
        s.write_config(&self.config);
        s
    }

    /// Starts pecd and creates the mailboxes.
    pub fn start(mut self) -> Server {
        let users = std::mem::take(&mut self.users);
        let service = self
            .service_login
            .then(|| self.config.service_address().to_string());
        self.service_login = false;
        let mut s = self.prepare();
        s.spawn();
        for user in &users {
            s.create_mailbox(user);
        }
        if let Some(service) = service {
            s.set_password(&service);
        }
        s
    }
}

impl Server {
    /// Writes `config` as this server's configuration file (read at the next start).
    pub fn write_config(&self, config: &ServerConfig) {
        std::fs::write(self.config(), config.render(self.dir.path())).unwrap();
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("pecd.toml")
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("pecd.sock")
    }

    pub fn store_path(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// The address a listener is bound to, from `pecctl status`.
    pub fn listener(&self, name: &str) -> std::net::SocketAddr {
        let status = self.json(&["status"]);
        status["listeners"][name]
            .as_str()
            .expect("listener in status")
            .parse()
            .unwrap()
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("certs/ca.pem")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pecd.log")).unwrap_or_default()
    }

    /// Starts pecd and waits until its control socket answers.
    pub fn spawn(&mut self) {
        let _ = std::fs::remove_file(self.socket());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("pecd.log"))
            .unwrap();
        let mut args: Vec<String> = self.wrapper.clone();
        args.extend([
            PECD.to_string(),
            "serve".into(),
            "--config".into(),
            self.config().display().to_string(),
        ]);
        let child = Command::new(&args[0])
            .args(&args[1..])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if std::os::unix::net::UnixStream::connect(self.socket()).is_ok() {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "pecd exited with {status} before it was ready:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "pecd did not open its control socket in time:\n{}",
            self.log()
        );
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("pecd running").id() as i32
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(self.pid(), sig) }, 0);
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        self.signal(libc::SIGTERM);
        self.terminate_wait()
    }

    /// Waits for a pecd that was already signalled to exit.
    pub fn terminate_wait(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "pecd did not stop after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs pecctl against this server, with `stdin` piped in.
    pub fn pecctl(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(PECCTL)
            .arg("--socket")
            .arg(self.socket())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A pecctl that ends without reading all of its input (a refusal that needs none)
        // closes the pipe first: its output and exit status are what the tests check.
        let written = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        if let Err(e) = written {
            assert_eq!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe,
                "pecctl's input: {e}"
            );
        }
        child.wait_with_output().unwrap()
    }

    /// pecctl --json, expecting success; returns the parsed document.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut full = vec!["--json"];
        full.extend_from_slice(args);
        let out = self.pecctl(&full, "");
        assert!(
            out.status.success(),
            "pecctl {args:?} failed: {}",
            text(&out)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Stops pecd and returns the messages in a mailbox's INBOX, oldest first, read from the
    /// store itself.
    pub async fn stored_inbox(&mut self, address: &str) -> Vec<String> {
        if self.child.is_some() {
            self.terminate();
        }
        let store = pecd_store::Store::open(&self.store_path()).unwrap();
        let m = store.find_mailbox(address).await.unwrap().unwrap();
        let inbox = store.folder(m.id, "INBOX").await.unwrap().unwrap();
        let mut out = Vec::new();
        for meta in store.messages(inbox.id).await.unwrap() {
            out.push(String::from_utf8(store.read_body(meta).await.unwrap()).unwrap());
        }
        out
    }

    /// Sets [`PASSWORD`] on an existing mailbox.
    pub fn set_password(&self, address: &str) {
        let out = self.pecctl(
            &["mailbox", "passwd", address, "--password-stdin"],
            &format!("{PASSWORD}\n"),
        );
        assert!(out.status.success(), "passwd {address}: {}", text(&out));
    }

    pub fn create_mailbox(&self, address: &str) {
        let out = self.pecctl(
            &["mailbox", "create", address, "--password-stdin"],
            &format!("{PASSWORD}\n"),
        );
        assert!(out.status.success(), "create {address}: {}", text(&out));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Runs a client tool that scripts/test.sh installs and returns its standard output; a tool
/// that is missing or fails panics with what it printed.
pub fn tool(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (scripts/test.sh installs it)"));
    assert!(out.status.success(), "{cmd:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Server {
    /// Runs a python script as `user` against `listener`; the script gets the CA file, the
    /// port, the user and the password as `sys.argv[1:]`.
    pub fn python(&self, script: &str, listener: &str, user: &str) -> String {
        tool(Command::new("python3").args([
            "-c",
            script,
            self.ca().to_str().unwrap(),
            &self.listener(listener).port().to_string(),
            user,
            PASSWORD,
        ]))
    }

    /// `curl SCHEME://mail.pec.localhost:PORT/PATH` as `user`, verifying the dev CA.
    pub fn curl(&self, scheme: &str, listener: &str, user: &str, path: &str) -> String {
        let port = self.listener(listener).port();
        tool(Command::new("curl").args([
            "-s",
            "--cacert",
            self.ca().to_str().unwrap(),
            "--resolve",
            &format!("mail.pec.localhost:{port}:127.0.0.1"),
            "--user",
            &format!("{user}:{PASSWORD}"),
            &format!("{scheme}://mail.pec.localhost:{port}/{path}"),
        ]))
    }
}

/// A loopback port free at the time of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn message(marker: &str, body_len: usize) -> Vec<u8> {
    let mut m = format!(
        "From: Mario Rossi <mario@pec.localhost>\r\nTo: luigi@pec.localhost\r\nSubject: {marker}\r\nMessage-ID: <{marker}@test>\r\nDate: Mon, 02 Nov 2026 10:00:00 +0100\r\n\r\n"
    )
    .into_bytes();
    while m.len() < body_len {
        m.extend_from_slice(b"Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n");
    }
    m
}
