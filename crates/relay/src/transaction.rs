//! Mail transactions (RFC 5321 §3.3, §4.1.1.2–§4.1.1.5): every message of a batch on one
//! established session, MAIL FROM, one RCPT TO per recipient, DATA with the content
//! dot-stuffed (§4.5.2), RSET between transactions when one was left open. Each recipient
//! gets its own outcome; a broken connection turns what is still unknown into temporary
//! outcomes.

use tokio::io::{AsyncRead, AsyncWrite};
use tracing::debug;

use crate::batch::{Outgoing, RcptOutcome};
use crate::conversation::{has_control, Conversation};
use crate::error::Failure;
use crate::reply::{Extensions, Reply};

/// Sends every message of the batch; never fails as a whole.
pub(crate) async fn deliver<S>(
    mut conv: Conversation<S>,
    ext: &Extensions,
    batch: &[Outgoing<'_>],
) -> Vec<Vec<RcptOutcome>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut results = Vec::with_capacity(batch.len());
    let mut lost: Option<String> = None;
    let mut needs_rset = false;
    for msg in batch {
        let mut outcomes: Vec<Option<RcptOutcome>> = vec![None; msg.recipients.len()];
        if lost.is_none() {
            if let Err(f) = send_message(&mut conv, ext, msg, &mut outcomes, &mut needs_rset).await
            {
                debug!(peer = %conv.peer, error = %f, "SMTP connection lost");
                lost = Some(format!("connection lost: {f}"));
            }
        }
        let filled: Vec<RcptOutcome> = outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or_else(|| {
                    RcptOutcome::Temporary(
                        lost.clone()
                            .unwrap_or_else(|| "connection lost: no reply".to_string()),
                    )
                })
            })
            .collect();
        debug!(
            peer = %conv.peer,
            sender = msg.sender,
            recipients = filled.len(),
            delivered = filled.iter().filter(|o| matches!(o, RcptOutcome::Delivered(_))).count(),
            temporary = filled.iter().filter(|o| matches!(o, RcptOutcome::Temporary(_))).count(),
            permanent = filled.iter().filter(|o| matches!(o, RcptOutcome::Permanent(_))).count(),
            "SMTP message outcome"
        );
        results.push(filled);
    }
    if lost.is_none() {
        conv.quit().await;
    }
    results
}

/// One mail transaction. Outcomes that are known are written into
/// `outcomes`; on `Err` the connection is unusable and the caller fills the
/// rest in.
async fn send_message<S>(
    conv: &mut Conversation<S>,
    ext: &Extensions,
    msg: &Outgoing<'_>,
    outcomes: &mut [Option<RcptOutcome>],
    needs_rset: &mut bool,
) -> Result<(), Failure>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if msg.recipients.is_empty() {
        return Ok(());
    }
    if has_control(msg.sender) {
        let o = RcptOutcome::Permanent(format!(
            "501 5.1.7 invalid sender address {:?} (not sent)",
            msg.sender
        ));
        outcomes.iter_mut().for_each(|slot| *slot = Some(o.clone()));
        return Ok(());
    }
    if *needs_rset {
        let reply = conv.command("RSET").await?;
        closing(&reply)?;
        if reply.class() != 2 {
            return Err(Failure::Protocol(format!("RSET refused: {}", reply.text())));
        }
        *needs_rset = false;
    }

    let mut body = stuff_body(msg.bytes);
    let mut mail = format!("MAIL FROM:<{}>", msg.sender);
    if ext.size {
        mail.push_str(&format!(" SIZE={}", body.len()));
    }
    if ext.eightbitmime && !msg.bytes.is_ascii() {
        mail.push_str(" BODY=8BITMIME");
    }
    if ext.smtputf8 && (!msg.sender.is_ascii() || msg.recipients.iter().any(|r| !r.is_ascii())) {
        mail.push_str(" SMTPUTF8");
    }
    let reply = conv.command(&mail).await?;
    if reply.class() != 2 {
        let o = negative_outcome(&reply, "MAIL")?;
        outcomes.iter_mut().for_each(|slot| *slot = Some(o.clone()));
        return closing(&reply);
    }
    *needs_rset = true;

    let mut accepted = Vec::with_capacity(msg.recipients.len());
    for (i, rcpt) in msg.recipients.iter().enumerate() {
        if has_control(rcpt) {
            outcomes[i] = Some(RcptOutcome::Permanent(format!(
                "501 5.1.3 invalid recipient address {rcpt:?} (not sent)"
            )));
            continue;
        }
        let reply = conv.command(&format!("RCPT TO:<{rcpt}>")).await?;
        if reply.class() == 2 {
            accepted.push(i);
        } else {
            outcomes[i] = Some(negative_outcome(&reply, "RCPT")?);
            closing(&reply)?;
        }
    }
    if accepted.is_empty() {
        return Ok(());
    }

    let reply = conv.command("DATA").await?;
    if reply.class() != 3 {
        let o = negative_outcome(&reply, "DATA")?;
        for &i in &accepted {
            outcomes[i] = Some(o.clone());
        }
        return closing(&reply);
    }
    body.extend_from_slice(b".\r\n");
    conv.write_body(&body).await?;
    let reply = conv.read_reply("end of DATA").await?;
    let o = match reply.class() {
        2 => RcptOutcome::Delivered(reply.text()),
        _ => negative_outcome(&reply, "end of DATA")?,
    };
    *needs_rset = false;
    for &i in &accepted {
        outcomes[i] = Some(o.clone());
    }
    closing(&reply)
}

/// Outcome of a 4xx/5xx reply; anything else is a protocol violation.
fn negative_outcome(reply: &Reply, what: &str) -> Result<RcptOutcome, Failure> {
    match reply.class() {
        4 => Ok(RcptOutcome::Temporary(reply.text())),
        5 => Ok(RcptOutcome::Permanent(reply.text())),
        _ => Err(Failure::Protocol(format!(
            "unexpected reply to {what}: {}",
            reply.text()
        ))),
    }
}

/// A 421 reply means the server is closing the channel.
fn closing(reply: &Reply) -> Result<(), Failure> {
    if reply.code == 421 {
        Err(Failure::Closing(reply.text()))
    } else {
        Ok(())
    }
}

/// Normalises line ends to CRLF, dot-stuffs, and makes sure the content
/// ends with CRLF. The terminating ".\r\n" is not included.
pub(crate) fn stuff_body(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 32 + 8);
    let mut line_start = true;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\r' => {
                // CRLF, or a bare CR which SMTP cannot carry: both end a line.
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                out.extend_from_slice(b"\r\n");
                line_start = true;
            }
            b'\n' => {
                out.extend_from_slice(b"\r\n");
                line_start = true;
            }
            b => {
                if line_start && b == b'.' {
                    out.push(b'.');
                }
                out.push(b);
                line_start = false;
            }
        }
        i += 1;
    }
    if !line_start {
        out.extend_from_slice(b"\r\n");
    }
    out
}
