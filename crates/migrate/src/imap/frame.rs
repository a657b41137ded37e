//! Where one server response ends (RFC 3501 §2.2.2, §4.3): a line, and when it ends with a
//! literal announcement `{n}`, the `n` bytes and the line that follows them, and so on.
//! The framer only counts; it never copies and never allocates, and it refuses what the
//! limits do not allow (a line too long, a literal too large, too many literals) before the
//! bytes arrive, so a hostile server cannot make the client buffer without end.

/// What one response may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest line between two literals, CRLF excluded.
    pub line: usize,
    /// Largest literal.
    pub literal: u64,
    /// Most literals in one response.
    pub literals: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            line: 1 << 20,
            literal: 64 << 20,
            literals: 64,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("response line longer than {0} bytes")]
    LineTooLong(usize),
    #[error("literal of {0} bytes is over the limit")]
    LiteralTooLarge(u64),
    #[error("more than {0} literals in one response")]
    TooManyLiterals(usize),
}

/// Finds the end of the response at the start of a buffer that grows between calls; keeps
/// how far it got so that a large literal is not scanned again on each read.
#[derive(Clone, Debug, Default)]
pub struct Framer {
    /// Start of the line not yet scanned.
    pos: usize,
    literals: usize,
}

impl Framer {
    /// The length of the complete response at the start of `buf`, `None` when more bytes
    /// are needed. After `Some`, the framer starts over for the next response (the caller
    /// removes the response from the buffer).
    pub fn advance(&mut self, buf: &[u8], limits: &Limits) -> Result<Option<usize>, FrameError> {
        loop {
            if self.pos > buf.len() {
                return Ok(None);
            }
            let rest = &buf[self.pos..];
            let window = &rest[..rest.len().min(limits.line + 2)];
            let Some(eol) = window.windows(2).position(|w| w == b"\r\n") else {
                if rest.len() > limits.line + 1 {
                    return Err(FrameError::LineTooLong(limits.line));
                }
                return Ok(None);
            };
            match literal_length(&rest[..eol]) {
                Some(n) => {
                    if n > limits.literal {
                        return Err(FrameError::LiteralTooLarge(n));
                    }
                    self.literals += 1;
                    if self.literals > limits.literals {
                        return Err(FrameError::TooManyLiterals(limits.literals));
                    }
                    // n <= limits.literal, which fits in usize on the platforms we build for.
                    self.pos += eol + 2 + n as usize;
                }
                None => {
                    let end = self.pos + eol + 2;
                    *self = Framer::default();
                    return Ok(Some(end));
                }
            }
        }
    }
}

/// `n` when `line` ends with a literal announcement `{n}` (or `{n+}`, `~{n}`).
fn literal_length(line: &[u8]) -> Option<u64> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let digits = &inner[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(buf: &[u8]) -> Result<Option<usize>, FrameError> {
        Framer::default().advance(buf, &Limits::default())
    }

    #[test]
    fn a_line_is_one_response() {
        assert_eq!(whole(b"* 3 EXISTS\r\n* 1 RECENT\r\n"), Ok(Some(12)));
        assert_eq!(whole(b"* 3 EXIS"), Ok(None));
    }

    #[test]
    fn a_literal_and_the_line_after_it_belong_to_the_response() {
        let r = b"* 1 FETCH (BODY[] {5}\r\nab\r\nc UID 7)\r\nnext";
        assert_eq!(whole(r), Ok(Some(r.len() - 4)));
        assert_eq!(whole(&r[..25]), Ok(None));
    }

    #[test]
    fn growing_buffer_is_resumed_where_it_stopped() {
        let r = b"* 1 FETCH (BODY[] {5}\r\nab\r\nc UID 7)\r\n";
        let mut f = Framer::default();
        let limits = Limits::default();
        assert_eq!(f.advance(&r[..10], &limits), Ok(None));
        assert_eq!(f.advance(&r[..26], &limits), Ok(None));
        assert_eq!(f.advance(r, &limits), Ok(Some(r.len())));
    }

    #[test]
    fn limits_refuse_before_the_bytes_arrive() {
        let limits = Limits {
            line: 32,
            literal: 10,
            literals: 1,
        };
        let mut f = Framer::default();
        assert_eq!(
            f.advance(b"* 1 FETCH (BODY[] {11}\r\n", &limits),
            Err(FrameError::LiteralTooLarge(11))
        );
        assert_eq!(
            Framer::default().advance(&[b'a'; 80], &limits),
            Err(FrameError::LineTooLong(32))
        );
        assert_eq!(
            Framer::default().advance(b"* {1}\r\na{1}\r\nb\r\n", &limits),
            Err(FrameError::TooManyLiterals(1))
        );
    }
}
