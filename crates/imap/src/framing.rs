//! Splits the client's bytes into whole commands: a command is a line, or a line that ends
//! with a literal announcement (`{n}`, `{n+}` for LITERAL+, `~{n}` for literal8), followed by
//! `n` raw bytes and the rest of the command. The assembled bytes go to imap-codec as one
//! message, so nothing inside a literal is ever read as a command.

/// A literal announced at the end of a command line.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct Announcement {
    pub length: u64,
    /// `{n}`: the client waits for our `+` before sending the bytes.
    pub synchronizing: bool,
}

/// The literal announced at the end of `line` (CRLF already removed), if any.
pub fn announcement(line: &[u8]) -> Option<Announcement> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let mut digits = &inner[open + 1..];
    let synchronizing = match digits.strip_suffix(b"+") {
        Some(d) => {
            digits = d;
            false
        }
        None => true,
    };
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let length = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(Announcement {
        length,
        synchronizing,
    })
}

/// The tag of a command (its first word), when it looks like one; used to answer commands
/// that cannot be decoded.
pub fn tag_of(command: &[u8]) -> Option<&str> {
    let end = command
        .iter()
        .position(|&b| b == b' ' || b == b'\r' || b == b'\n')
        .unwrap_or(command.len());
    let tag = std::str::from_utf8(&command[..end]).ok()?;
    let valid = !tag.is_empty()
        && tag.bytes().all(|b| {
            b.is_ascii_graphic()
                && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b'+')
        });
    valid.then_some(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements() {
        let a = |s: &str| announcement(s.as_bytes());
        assert_eq!(
            a("A1 APPEND INBOX {310}"),
            Some(Announcement {
                length: 310,
                synchronizing: true
            })
        );
        assert_eq!(
            a("A1 APPEND INBOX (\\Seen) {5+}"),
            Some(Announcement {
                length: 5,
                synchronizing: false
            })
        );
        assert_eq!(a("A1 APPEND INBOX UTF8 (~{12}").map(|x| x.length), Some(12));
        assert_eq!(
            a("A1 LOGIN {3} x"),
            None,
            "the announcement must end the line"
        );
        assert_eq!(a("A1 LOGIN {3}").map(|x| x.length), Some(3));
        assert_eq!(a("A1 SELECT {}"), None);
        assert_eq!(a("A1 SELECT {1x}"), None);
        assert_eq!(a("A1 SELECT {99999999999999999999}"), None);
        assert_eq!(a("A1 NOOP"), None);
    }

    #[test]
    fn tags() {
        assert_eq!(tag_of(b"a001 NOOP\r\n"), Some("a001"));
        assert_eq!(tag_of(b"* NOOP"), None);
        assert_eq!(tag_of(b"+ x"), None);
        assert_eq!(tag_of(b""), None);
    }
}
