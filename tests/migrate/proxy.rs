//! A TCP proxy between pecd and Dovecot that can slow the server's bytes down (so a test can
//! act in the middle of an import) and cut the first connection after a number of bytes
//! from the server (a connection dropped in the middle of a FETCH). It relays TLS bytes
//! without reading them.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, Default)]
pub struct Behaviour {
    /// Cut the first connection once the server has sent this many bytes through it.
    pub cut_first_after: Option<u64>,
    /// Relay the server's bytes at about this rate.
    pub bytes_per_second: Option<u64>,
}

pub struct Proxy {
    pub port: u16,
    /// Connections accepted so far.
    pub connections: Arc<AtomicUsize>,
}

impl Proxy {
    pub fn start(upstream: u16, behaviour: Behaviour) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let cut = if n == 1 {
                    behaviour.cut_first_after
                } else {
                    None
                };
                relay(client, server, cut, behaviour.bytes_per_second);
            }
        });
        Proxy { port, connections }
    }

    pub fn url(&self) -> String {
        format!("imaps://localhost:{}", self.port)
    }
}

fn relay(client: TcpStream, server: TcpStream, cut: Option<u64>, rate: Option<u64>) {
    let (mut c_read, mut s_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut c_read, &mut s_write);
        let _ = s_write.shutdown(Shutdown::Write);
    });
    std::thread::spawn(move || {
        let (mut s_read, mut c_write) = (server, client);
        let mut buf = vec![0u8; 16 << 10];
        let mut total = 0u64;
        let start = Instant::now();
        loop {
            let n = match s_read.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let n = match cut {
                Some(limit) if total + n as u64 >= limit => (limit - total) as usize,
                _ => n,
            };
            if c_write.write_all(&buf[..n]).is_err() {
                break;
            }
            total += n as u64;
            if cut.is_some_and(|limit| total >= limit) {
                let _ = c_write.shutdown(Shutdown::Both);
                let _ = s_read.shutdown(Shutdown::Both);
                return;
            }
            if let Some(rate) = rate {
                let due = Duration::from_secs_f64(total as f64 / rate as f64);
                if let Some(wait) = due.checked_sub(start.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
        }
        let _ = c_write.shutdown(Shutdown::Write);
    });
}
