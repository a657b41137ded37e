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

impl DataReceiver {
    pub fn new(max: usize) -> DataReceiver {
        DataReceiver {
            state: State::LineStart,
            message: Vec::new(),
            max,
            too_big: false,
        }
    }

    fn push(&mut self, b: u8) {
        if self.message.len() < self.max {
            self.message.push(b);
        } else {
            self.too_big = true;
        }
    }

    fn ordinary(&mut self, b: u8) {
        self.push(b);
        self.state = if b == b'\n' {
            State::LineStart
        } else {
            State::Mid
        };
    }

    /// Feeds bytes; returns how many were consumed and whether the end marker was seen (the
    /// bytes after it belong to the next command).
    pub fn ingest(&mut self, bytes: &[u8]) -> (usize, bool) {
        for (i, &b) in bytes.iter().enumerate() {
            match self.state {
                State::LineStart if b == b'.' => self.state = State::Dot,
                State::LineStart | State::Mid => self.ordinary(b),
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
                    self.push(b'\r');
                    self.ordinary(b);
                }
            }
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
