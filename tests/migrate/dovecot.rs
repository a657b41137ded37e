//! A real Dovecot IMAP server (Debian `dovecot-imapd`, installed by scripts/test.sh) for
//! the migration tests: its own configuration in a temporary directory, passwd-file users,
//! Maildir mailboxes written directly by the test (flags in the file names, keywords in
//! `dovecot-keywords`, the internal date in the file's mtime), implicit TLS on a loopback
//! port with a certificate of a test CA that pecd trusts only through `[migration]
//! tls_roots`. As root, Dovecot's login processes run as `dovenull` and the mail ones as
//! `dovecot`; as any other user, everything runs as that user.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crate::support::{free_port, tool};

pub struct Dovecot {
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    pub port: u16,
    /// (uid, gid) mail files must belong to.
    owner: (u32, u32),
}

/// One message to put in an old mailbox.
#[derive(Clone, Debug)]
pub struct OldMessage {
    pub bytes: Vec<u8>,
    /// Maildir flag letters: D draft, F flagged, R replied, S seen, T trashed.
    pub flags: String,
    pub keywords: Vec<String>,
    /// Unix seconds.
    pub date: i64,
}

fn id(args: &[&str]) -> u32 {
    tool(Command::new("id").args(args)).trim().parse().unwrap()
}

impl Dovecot {
    /// Starts Dovecot with `users` (login, password) and waits until it answers.
    pub fn start(users: &[(&str, &str)]) -> Dovecot {
        let dir = tempfile::tempdir().unwrap();
        let root = unsafe { libc::geteuid() } == 0;
        let owner = if root {
            (id(&["-u", "dovecot"]), id(&["-g", "dovecot"]))
        } else {
            (id(&["-u"]), id(&["-g"]))
        };
        let d = dir.path();
        if root {
            // The mail processes run as `dovecot` and must reach the homes below.
            tool(Command::new("chmod").args(["755", d.to_str().unwrap()]));
        }
        certificates(d);
        let mut passwd = String::new();
        for (login, password) in users {
            let home = d.join("home").join(login);
            std::fs::create_dir_all(home.join("Maildir")).unwrap();
            passwd.push_str(&format!(
                "{login}:{{PLAIN}}{password}:{}:{}::{}::\n",
                owner.0,
                owner.1,
                home.display()
            ));
        }
        std::fs::write(d.join("passwd"), passwd).unwrap();
        let port = free_port();
        std::fs::write(d.join("dovecot.conf"), config(d, port, root)).unwrap();
        for sub in ["run", "state"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        let mut dovecot = Dovecot {
            dir,
            child: None,
            port,
            owner,
        };
        dovecot.chown();
        dovecot.spawn();
        dovecot
    }

    fn spawn(&mut self) {
        let conf = self.dir.path().join("dovecot.conf");
        let child = Command::new("dovecot")
            .args(["-F", "-c", conf.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dovecot (Debian dovecot-imapd; scripts/test.sh installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "dovecot did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    /// The test CA that signed the server's certificate.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    pub fn url(&self) -> String {
        format!("imaps://localhost:{}", self.port)
    }

    fn maildir(&self, login: &str, folder: &str) -> PathBuf {
        let base = self.dir.path().join("home").join(login).join("Maildir");
        if folder == "INBOX" {
            base
        } else {
            base.join(format!(".{}", utf7(folder).replace('/', ".")))
        }
    }

    /// Writes `messages` into `folder` of `login` (created when missing; `/` separates
    /// levels). Call before the first login to that mailbox, or Dovecot's caches may not
    /// see them at once.
    pub fn fill(&self, login: &str, folder: &str, messages: &[OldMessage]) {
        let dir = self.maildir(login, folder);
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let mut keywords: Vec<String> = Vec::new();
        for m in messages {
            for k in &m.keywords {
                if !keywords.contains(k) {
                    keywords.push(k.clone());
                }
            }
        }
        assert!(keywords.len() <= 26);
        let list: String = keywords
            .iter()
            .enumerate()
            .map(|(i, k)| format!("{i} {k}\n"))
            .collect();
        std::fs::write(dir.join("dovecot-keywords"), list).unwrap();
        for (i, m) in messages.iter().enumerate() {
            let mut letters: Vec<char> = m.flags.chars().collect();
            for k in &m.keywords {
                let n = keywords.iter().position(|x| x == k).unwrap();
                letters.push((b'a' + n as u8) as char);
            }
            letters.sort_unstable();
            let name: String = letters.into_iter().collect();
            let file = dir
                .join("cur")
                .join(format!("{}.M{i}P1.pecdtest:2,{name}", 1_700_000_000 + i));
            std::fs::write(&file, &m.bytes).unwrap();
            let when = SystemTime::UNIX_EPOCH + Duration::from_secs(m.date as u64);
            std::fs::File::options()
                .write(true)
                .open(&file)
                .unwrap()
                .set_modified(when)
                .unwrap();
        }
        self.chown();
    }

    /// Gives the mail files to the user the mail processes run as.
    fn chown(&self) {
        let home = self.dir.path().join("home");
        tool(Command::new("chown").args([
            "-R",
            &format!("{}:{}", self.owner.0, self.owner.1),
            home.to_str().unwrap(),
        ]));
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on our own child: SIGTERM makes the master stop its children.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let _ = child.wait();
        }
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A test CA and a certificate for localhost and 127.0.0.1 signed by it.
fn certificates(d: &Path) {
    let p = |n: &str| d.join(n).display().to_string();
    tool(Command::new("openssl").args([
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=Old Provider Test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout",
        &p("ca.key"),
        "-out",
        &p("ca.pem"),
    ]));
    tool(Command::new("openssl").args([
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        &p("key.pem"),
        "-out",
        &p("req.csr"),
    ]));
    std::fs::write(
        d.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    tool(Command::new("openssl").args([
        "x509",
        "-req",
        "-in",
        &p("req.csr"),
        "-CA",
        &p("ca.pem"),
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &p("ext.cnf"),
        "-out",
        &p("cert.pem"),
    ]));
    if unsafe { libc::geteuid() } == 0 {
        tool(Command::new("chmod").args(["644", &p("key.pem")]));
    }
}

fn config(d: &Path, port: u16, root: bool) -> String {
    let (login_user, internal_user, internal_group) = if root {
        (
            "dovenull".to_string(),
            "dovecot".to_string(),
            "dovecot".to_string(),
        )
    } else {
        let me = tool(Command::new("id").arg("-un")).trim().to_string();
        let group = tool(Command::new("id").arg("-gn")).trim().to_string();
        (me.clone(), me, group)
    };
    let d = d.display();
    format!(
        r#"base_dir = {d}/run
state_dir = {d}/state
instance_name = pecdtest{port}
protocols = imap
listen = 127.0.0.1
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
first_valid_uid = 0
ssl = required
ssl_cert = <{d}/cert.pem
ssl_key = <{d}/key.pem
log_path = {d}/dovecot.log
auth_mechanisms = plain
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {d}/passwd
}}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = /
  mailbox "Posta inviata" {{
    special_use = \Sent
  }}
  mailbox Bozze {{
    special_use = \Drafts
  }}
  mailbox Cestino {{
    special_use = \Trash
  }}
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = {port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  chroot =
}}
"#
    )
}

/// Modified UTF-7 (RFC 3501 §5.1.3) of a folder name, as Dovecot names its Maildir
/// directories.
pub fn utf7(name: &str) -> String {
    let mut out = String::new();
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if pending.is_empty() {
            return;
        }
        let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
        let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD_NO_PAD, bytes);
        out.push('&');
        out.push_str(&b64.replace('/', ","));
        out.push('-');
        pending.clear();
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    out
}
