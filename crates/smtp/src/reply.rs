//! SMTP replies. Every reply but the greeting and the EHLO lines carries an enhanced status
//! code (RFC 3463, advertised as ENHANCEDSTATUSCODES, RFC 2034). Each refusal has its own
//! constructor so that the code, the enhanced code and the text stay together.

use std::fmt::Write;

use pecd_common::net::Full;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// Enhanced status code, e.g. "5.7.1"; empty for the greeting and EHLO.
    pub status: &'static str,
    pub text: String,
}

impl Reply {
    pub fn new(code: u16, status: &'static str, text: impl Into<String>) -> Reply {
        Reply {
            code,
            status,
            text: text.into(),
        }
    }

    pub fn is_positive(&self) -> bool {
        self.code < 400
    }

    /// Appends the wire form (one line) to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let mut line = String::new();
        if self.status.is_empty() {
            let _ = write!(line, "{} {}\r\n", self.code, self.text);
        } else {
            let _ = write!(line, "{} {} {}\r\n", self.code, self.status, self.text);
        }
        out.extend_from_slice(line.as_bytes());
    }

    pub fn ok(text: impl Into<String>) -> Reply {
        Reply::new(250, "2.0.0", text)
    }
    pub fn bad_sequence(text: impl Into<String>) -> Reply {
        Reply::new(503, "5.5.1", text)
    }
    pub fn syntax(text: impl Into<String>) -> Reply {
        Reply::new(501, "5.5.2", text)
    }
    pub fn line_too_long(max: usize) -> Reply {
        Reply::new(500, "5.5.2", format!("Line too long (at most {max} bytes)"))
    }
    pub fn unknown_command() -> Reply {
        Reply::new(500, "5.5.1", "Command not recognised")
    }
    pub fn not_implemented() -> Reply {
        Reply::new(502, "5.5.1", "Command not implemented")
    }
    pub fn auth_required() -> Reply {
        Reply::new(530, "5.7.0", "Authentication required")
    }
    pub fn encryption_required() -> Reply {
        Reply::new(538, "5.7.11", "Encryption required: use STARTTLS first")
    }
    pub fn bad_credentials() -> Reply {
        Reply::new(535, "5.7.8", "Authentication credentials invalid")
    }
    pub fn password_expired() -> Reply {
        Reply::new(
            535,
            "5.7.8",
            "Password expired: set a new password from the provider's web interface, then retry",
        )
    }
    pub fn sender_mismatch() -> Reply {
        Reply::new(
            553,
            "5.7.1",
            "Sender address is not the authenticated mailbox",
        )
    }
    /// The provider's documented refusal (CLIENTS.md §3, PROVISIONING.md §8), as 550 5.7.1 or,
    /// when configured, 451 4.7.1 with the same text.
    pub fn over_sender_limit(address: &str, code: u16) -> Reply {
        let status = if code == 451 { "4.7.1" } else { "5.7.1" };
        Reply::new(
            code,
            status,
            format!("MAIL from: \"<{address}>\" blocked \"Class Of Service\" - Too much traffic from this sender"),
        )
    }
    pub fn too_big(max: u64) -> Reply {
        Reply::new(
            552,
            "5.3.4",
            format!("Message size exceeds the limit of {max} bytes"),
        )
    }
    pub fn too_many_recipients(max: usize) -> Reply {
        Reply::new(
            452,
            "4.5.3",
            format!("Too many recipients (at most {max} per message)"),
        )
    }
    pub fn no_relay(address: &str) -> Reply {
        Reply::new(
            550,
            "5.7.1",
            format!("<{address}>: relaying to domains other than ours is not available"),
        )
    }
    pub fn no_such_mailbox(address: &str) -> Reply {
        Reply::new(550, "5.1.1", format!("<{address}>: no such mailbox"))
    }
    pub fn mailbox_disabled(address: &str) -> Reply {
        Reply::new(550, "5.2.1", format!("<{address}>: mailbox disabled"))
    }
    pub fn mailbox_full(address: &str) -> Reply {
        Reply::new(452, "4.2.2", format!("<{address}>: mailbox full"))
    }
    pub fn store_unavailable() -> Reply {
        Reply::new(
            451,
            "4.3.0",
            "Temporary failure storing the message; try again later",
        )
    }
    pub fn too_many_connections(full: Full) -> Reply {
        let text = match full {
            Full::PerIp => "Too many connections from your address; try again later",
            Full::Total => "Too many connections; try again later",
        };
        Reply::new(421, "4.7.0", text)
    }
    pub fn idle_timeout() -> Reply {
        Reply::new(421, "4.4.2", "Idle timeout, closing connection")
    }
    pub fn shutting_down() -> Reply {
        Reply::new(421, "4.3.2", "Service shutting down")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_limit_text_is_the_documented_one() {
        let mut out = Vec::new();
        Reply::over_sender_limit("mario@pec.localhost", 550).write_to(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "550 5.7.1 MAIL from: \"<mario@pec.localhost>\" blocked \"Class Of Service\" - Too much traffic from this sender\r\n"
        );
        let mut out = Vec::new();
        Reply::over_sender_limit("mario@pec.localhost", 451).write_to(&mut out);
        assert!(String::from_utf8(out)
            .unwrap()
            .starts_with("451 4.7.1 MAIL from: \"<mario@pec.localhost>\" blocked"));
    }
}
