//! What goes into a batch and what comes out: one [`Outgoing`] message (SMTP envelope and
//! bytes) in, one [`RcptOutcome`] per recipient out.

/// One message to hand to the peer: SMTP envelope + bytes (CRLF line ends;
/// the client does dot-stuffing and adds the final CRLF.CRLF).
#[derive(Clone, Copy, Debug)]
pub struct Outgoing<'a> {
    pub sender: &'a str,
    pub recipients: &'a [String],
    pub bytes: &'a [u8],
}

/// Result for one recipient of one message. The string is the server reply
/// (code and text, e.g. `"250 2.0.0 Ok: queued as 1A2B"`), or a description
/// of why the connection was lost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RcptOutcome {
    Delivered(String),
    Temporary(String),
    Permanent(String),
}
