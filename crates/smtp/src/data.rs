//! The DATA receiver (RFC 5321 §4.1.1.4, §4.5.2): collects lines until `CRLF . CRLF`,
//! removes dot-stuffing, and stops keeping bytes past the size limit while still reading to
//! the end, so an oversized message is refused with 552 and the connection stays usable.

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    LineStart,
    Mid,
    Dot,
    DotCr,
}

pub struct DataReceiver {
    state: State,
    pub message: Vec<u8>,
    max: usize,
    pub too_big: bool,
}

/// What a DATA buffer starts with: most messages fit without growing it.
const INITIAL_CAPACITY: usize = 16 * 1024;

impl DataReceiver {
    pub fn new(max: usize) -> DataReceiver {
        DataReceiver {
            state: State::LineStart,
            message: Vec::with_capacity(max.min(INITIAL_CAPACITY)),
            max,
            too_big: false,
        }
    }

    /// Keeps `bytes` up to the size limit; past it, only notes that the message is too big.
    fn push_slice(&mut self, bytes: &[u8]) {
        let room = self.max.saturating_sub(self.message.len());
        if bytes.len() > room {
            self.message.extend_from_slice(&bytes[..room]);
            self.too_big = true;
        } else {
            self.message.extend_from_slice(bytes);
        }
    }

    fn ordinary(&mut self, b: u8) {
        self.push_slice(&[b]);
        self.state = if b == b'\n' {
            State::LineStart
        } else {
            State::Mid
        };
    }

    /// Feeds bytes; returns how many were consumed and whether the end marker was seen (the
    /// bytes after it belong to the next command). Inside a line, everything up to its LF is
    /// kept in one copy.
    pub fn ingest(&mut self, bytes: &[u8]) -> (usize, bool) {
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            match self.state {
                State::Mid => {
                    let (end, state) = match memchr::memchr(b'\n', &bytes[i..]) {
                        Some(p) => (i + p + 1, State::LineStart),
                        None => (bytes.len(), State::Mid),
                    };
                    self.push_slice(&bytes[i..end]);
                    self.state = state;
                    i = end;
                    continue;
                }
                State::LineStart if b == b'.' => self.state = State::Dot,
                State::LineStart => self.ordinary(b),
                State::Dot => match b {
                    b'\r' => self.state = State::DotCr,
                    // A lone "." ended by a bare LF: accepted as the end, as common MTAs do.
                    b'\n' => return (i + 1, true),
                    _ => self.ordinary(b),
                },
                State::DotCr => {
                    if b == b'\n' {
                        return (i + 1, true);
                    }
                    self.push_slice(b"\r");
                    self.ordinary(b);
                }
            }
            i += 1;
        }
        (bytes.len(), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8], max: usize) -> (Vec<u8>, bool, usize) {
        let mut r = DataReceiver::new(max);
        let mut consumed = 0;
        // Byte by byte, to show that any split of the stream works.
        for chunk in input.chunks(1) {
            let (n, done) = r.ingest(chunk);
            consumed += n;
            if done {
                return (r.message, r.too_big, consumed);
            }
        }
        panic!("end marker not found");
    }

    #[test]
    fn unstuffs_and_stops_at_the_marker() {
        let input = b"Subject: x\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n";
        let (msg, big, consumed) = run(input, 1000);
        assert_eq!(msg, b"Subject: x\r\n\r\n.leading dot\r\n");
        assert!(!big);
        assert_eq!(&input[consumed..], b"QUIT\r\n");
    }

    #[test]
    fn any_split_gives_the_same_message() {
        let input = b"A: b\r\n\r\n..x\r\n.\ry\r\nlong line without end\nz\r\n.\r\nQUIT\r\n";
        let (whole, _, used) = run(input, 1000);
        for size in 1..input.len() {
            let mut r = DataReceiver::new(1000);
            let mut consumed = 0;
            for chunk in input.chunks(size) {
                let (n, done) = r.ingest(chunk);
                consumed += n;
                if done {
                    break;
                }
            }
            assert_eq!((&r.message, consumed), (&whole, used), "chunks of {size}");
        }
        for max in 0..whole.len() + 2 {
            let (msg, big, _) = run(input, max);
            assert_eq!(msg, whole[..max.min(whole.len())]);
            assert_eq!(big, max < whole.len());
        }
    }

    #[test]
    fn empty_message_and_dot_cr_inside_a_line() {
        assert_eq!(run(b".\r\n", 10).0, b"");
        assert_eq!(run(b".\rx\r\n.\r\n", 10).0, b"\rx\r\n");
    }

    #[test]
    fn oversize_is_flagged_but_read_to_the_end() {
        let (msg, big, _) = run(b"0123456789abcdef\r\n.\r\n", 8);
        assert!(big);
        assert_eq!(msg.len(), 8);
    }
}
