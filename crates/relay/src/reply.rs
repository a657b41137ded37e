//! Server replies (RFC 5321 §4.2): one reply line split into code, continuation and text; a
//! complete (multi-line) [`Reply`] kept as the server wrote it, enhanced status codes
//! included, for the log and the notices; and the EHLO keywords (RFC 5321 §4.1.1.1) the
//! client uses.

use crate::error::Failure;

/// ESMTP extensions the client makes use of.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Extensions {
    pub(crate) starttls: bool,
    pub(crate) size: bool,
    pub(crate) eightbitmime: bool,
    pub(crate) smtputf8: bool,
}

impl Extensions {
    pub(crate) fn from_ehlo(reply: &Reply) -> Self {
        let mut ext = Extensions::default();
        // The first line is the server's greeting, the others one keyword each.
        for line in reply.lines.iter().skip(1) {
            let keyword = line.split_ascii_whitespace().next().unwrap_or("");
            if keyword.eq_ignore_ascii_case("STARTTLS") {
                ext.starttls = true;
            } else if keyword.eq_ignore_ascii_case("SIZE") {
                ext.size = true;
            } else if keyword.eq_ignore_ascii_case("8BITMIME") {
                ext.eightbitmime = true;
            } else if keyword.eq_ignore_ascii_case("SMTPUTF8") {
                ext.smtputf8 = true;
            }
        }
        ext
    }
}

/// A complete server reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) code: u16,
    /// Text of each line, without code and separator.
    pub(crate) lines: Vec<String>,
}

impl Reply {
    pub(crate) fn class(&self) -> u16 {
        self.code / 100
    }

    /// Code followed by the text of all lines, e.g. `"550 5.1.1 No such user"`.
    pub(crate) fn text(&self) -> String {
        let mut out = self.code.to_string();
        for line in &self.lines {
            let line = line.trim();
            if !line.is_empty() {
                out.push(' ');
                out.push_str(line);
            }
        }
        out
    }
}

/// Splits one reply line into (code, is last line, text).
pub(crate) fn parse_reply_line(line: &[u8]) -> Result<(u16, bool, String), Failure> {
    let shown = || String::from_utf8_lossy(&line[..line.len().min(80)]).into_owned();
    if line.len() < 3 || !line[..3].iter().all(u8::is_ascii_digit) {
        return Err(Failure::Protocol(format!("malformed reply {:?}", shown())));
    }
    let code = u16::from(line[0] - b'0') * 100
        + u16::from(line[1] - b'0') * 10
        + u16::from(line[2] - b'0');
    if !(200..600).contains(&code) {
        return Err(Failure::Protocol(format!(
            "unexpected reply code {:?}",
            shown()
        )));
    }
    let last = match line.get(3) {
        None | Some(b' ') => true,
        Some(b'-') => false,
        Some(_) => return Err(Failure::Protocol(format!("malformed reply {:?}", shown()))),
    };
    let text = String::from_utf8_lossy(line.get(4..).unwrap_or(&[])).into_owned();
    Ok((code, last, text))
}
