//! SMTP replies. Every reply but the greeting and the EHLO lines carries an enhanced status
//! code (RFC 3463, advertised as ENHANCEDSTATUSCODES, RFC 2034). Each refusal has its own
//! constructor so that the code, the enhanced code and the text stay together.

use std::fmt::Write;

use pecd_common::net::Full;
use pecd_engine::{EngineError, Incoming, Outcome, MAX_MIME_DEPTH};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// Enhanced status code, e.g. "5.7.1"; empty for the greeting and EHLO.
    pub status: &'static str,
    pub text: String,
}

impl Reply {
    /// Counts the answer to a message's DATA in the process's metrics: accepted, refused
    /// for now (4xx) or refused (5xx), for a holder's submission or mail from outside.
    pub fn count_message(&self, submission: bool) {
        let kind = if submission { "submission" } else { "incoming" };
        let outcome = match self.code {
            200..=299 => "accepted",
            400..=499 => "refused-temporary",
            _ => "refused",
        };
        let m = pecd_common::metrics::metrics();
        pecd_common::metrics::count2(&m.messages, [("outcome", outcome), ("kind", kind)]);
    }

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
    /// An expired password (PROVISIONING.md §7): where to change it, never "invalid".
    pub fn password_expired(config: &pecd_common::config::Config) -> Reply {
        Reply::new(535, "5.7.8", pecd_archive::login::expired_text(config))
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
    /// The reply of an engine error: its own code, enhanced code and safe text.
    pub fn from_engine(e: &EngineError) -> Reply {
        let r = e.smtp_reply();
        Reply::new(r.code, r.enhanced, r.text)
    }
    pub fn greeting(hostname: &str) -> Reply {
        Reply::new(220, "", format!("{hostname} ESMTP pecd"))
    }
    pub fn helo(hostname: &str, client: &str) -> Reply {
        Reply::new(250, "", format!("{hostname} greets {client}"))
    }
    pub fn starttls_ready() -> Reply {
        Reply::new(220, "2.0.0", "Ready to start TLS")
    }
    pub fn vrfy() -> Reply {
        Reply::new(
            252,
            "2.5.0",
            "Cannot VRFY user, but will accept the message",
        )
    }
    pub fn help() -> Reply {
        Reply::new(214, "2.0.0", "See RFC 5321")
    }
    pub fn bye() -> Reply {
        Reply::new(221, "2.0.0", "Bye")
    }
    /// A SASL challenge (RFC 4954 §4), already base64.
    pub fn sasl_challenge(challenge: &str) -> Reply {
        Reply::new(334, "", challenge)
    }
    pub fn unknown_mechanism() -> Reply {
        Reply::new(504, "5.5.4", "Unrecognised authentication mechanism")
    }
    pub fn auth_cancelled() -> Reply {
        Reply::new(501, "5.0.0", "Authentication cancelled")
    }
    pub fn auth_malformed() -> Reply {
        Reply::new(501, "5.5.2", "Malformed authentication response")
    }
    pub fn auth_ok() -> Reply {
        Reply::new(235, "2.7.0", "Authentication successful")
    }
    pub fn auth_unavailable() -> Reply {
        Reply::new(454, "4.7.0", "Temporary authentication failure")
    }
    pub fn bad_sender_syntax() -> Reply {
        Reply::new(501, "5.1.7", "Bad sender address syntax")
    }
    pub fn bad_recipient_syntax() -> Reply {
        Reply::new(501, "5.1.3", "Bad recipient address syntax")
    }
    /// MAIL FROM of a holder whose mailbox was deleted after AUTH.
    pub fn sender_gone() -> Reply {
        Reply::new(550, "5.7.1", "Mailbox no longer exists")
    }
    pub fn sender_revoked() -> Reply {
        Reply::new(550, "5.7.1", "Mailbox revoked: it can no longer send")
    }
    pub fn sender_ok() -> Reply {
        Reply::new(250, "2.1.0", "Sender OK")
    }
    pub fn recipient_ok() -> Reply {
        Reply::new(250, "2.1.5", "Recipient OK")
    }
    pub fn start_data() -> Reply {
        Reply::new(354, "", "Start mail input; end with <CRLF>.<CRLF>")
    }
    pub fn invalid_parameter(param: &str) -> Reply {
        Reply::new(501, "5.5.4", format!("Invalid parameter {param}"))
    }
    pub fn unsupported_parameter(param: &str) -> Reply {
        Reply::new(504, "5.5.4", format!("Unsupported parameter {param}"))
    }
    pub fn response_too_long() -> Reply {
        Reply::new(500, "5.5.2", "Line too long")
    }
    /// The end of an authenticated submission (PEC.md §6.1).
    pub fn for_outcome(outcome: &Outcome) -> Reply {
        match outcome {
            Outcome::Accepted { pec_id } => Reply::ok(format!("Message accepted as {pec_id}")),
            Outcome::Duplicate { pec_id } => {
                Reply::ok(format!("Message accepted as {pec_id} (already certified)"))
            }
            Outcome::NotAccepted { reason } => Reply::new(
                550,
                "5.7.1",
                format!("Not accepted into PEC: {reason}; an avviso di non accettazione was sent"),
            ),
            Outcome::Infected { finding } => Reply::new(
                554,
                "5.7.0",
                format!("Virus found ({finding}); the message was not accepted"),
            ),
        }
    }
    /// The end of a message from outside (PEC.md §6.3); `id` names our transaction.
    pub fn for_incoming(incoming: &Incoming, id: &str) -> Reply {
        match incoming {
            Incoming::Envelope { pec_id } => {
                Reply::ok(format!("Envelope {pec_id} taken in charge"))
            }
            Incoming::Duplicate { pec_id } => {
                Reply::ok(format!("Envelope {pec_id} already taken in charge"))
            }
            Incoming::VirusDetected { pec_id, .. } => Reply::ok(format!(
                "Envelope {pec_id} taken; virus found, not delivered"
            )),
            Incoming::Receipt { .. } => Reply::ok(format!("Receipt accepted as {id}")),
            Incoming::Anomaly { .. } => Reply::ok(format!("Message accepted as {id}")),
            Incoming::Refused => Reply::new(
                550,
                "5.7.1",
                "This mailbox accepts certified mail (PEC) only",
            ),
            Incoming::Infected(finding) => Reply::new(
                554,
                "5.7.0",
                format!("Virus found ({finding}); message refused"),
            ),
            Incoming::NoMailbox => Reply::new(550, "5.1.1", "No such mailbox here"),
            Incoming::TooDeep => Reply::new(
                554,
                "5.6.0",
                format!("MIME parts nested deeper than {MAX_MIME_DEPTH} levels"),
            ),
            Incoming::RepeatedReceipt { .. } => Reply::ok("Receipt already delivered"),
            Incoming::Misaddressed => Reply::new(
                550,
                "5.7.1",
                "This receipt is not addressed to this recipient",
            ),
            Incoming::MailboxFull => Reply::new(452, "4.2.2", "Mailbox full, try again later"),
        }
    }
    /// The reply to a command line smtp-proto could not parse.
    pub fn parse_error(e: smtp_proto::Error) -> Reply {
        use smtp_proto::Error as E;
        match e {
            E::UnknownCommand => Reply::unknown_command(),
            E::InvalidSenderAddress => Reply::bad_sender_syntax(),
            E::InvalidRecipientAddress => Reply::bad_recipient_syntax(),
            E::SyntaxError { syntax } => Reply::syntax(format!("Syntax: {syntax}")),
            E::InvalidParameter { param } => Reply::invalid_parameter(param),
            E::UnsupportedParameter { param } => Reply::unsupported_parameter(&param),
            E::ResponseTooLong => Reply::response_too_long(),
            E::NeedsMoreData { .. } | E::InvalidResponse { .. } => Reply::syntax("Syntax error"),
        }
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
