//! The conversation (RFC 9051 §2.2, §7.1.1): the greeting, then each command read whole,
//! decoded with imap-codec (after the extended syntaxes of [`crate::extended`] are
//! recognised), run through [`crate::dispatch`] and answered in order, until LOGOUT or the
//! end of the connection.

use std::time::Duration;

use imap_codec::imap_types::response::{Code, Response, Status, StatusBody, StatusKind};
use imap_codec::imap_types::utils::escape_byte_string;
use imap_codec::{decode::Decoder, CommandCodec};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::session::{text, Session};
use crate::{capability, extended};

impl<S: AsyncRead + AsyncWrite + Unpin> Session<'_, S> {
    /// Runs the conversation to its end: LOGOUT, the client closing, a timeout or shutdown.
    pub async fn run(&mut self) -> std::io::Result<()> {
        let caps = capability::before_login();
        self.send(&Response::Status(Status::Untagged(StatusBody {
            kind: StatusKind::Ok,
            code: Some(Code::Capability(caps)),
            text: text("pecd IMAP4rev1 ready"),
        })));
        while let Some(raw) = self.read_command().await? {
            self.handle(&raw).await?;
            if self.logout {
                self.flush().await?;
                let limit = Duration::from_secs(self.ctx.config.imap.write_timeout_seconds);
                let _ = tokio::time::timeout(limit, self.stream.shutdown()).await;
                return Ok(());
            }
        }
        self.flush().await
    }

    async fn handle(&mut self, raw: &[u8]) -> std::io::Result<()> {
        if let Some(list) = extended::list(raw) {
            return self.dispatch_extended_list(raw, list).await;
        }
        if let Some(search) = extended::search(raw) {
            return match search {
                Err(msg) => {
                    self.bad_syntax(raw, msg);
                    Ok(())
                }
                Ok((rewritten, options)) => match CommandCodec::default().decode(&rewritten) {
                    Ok(([], command)) => self.dispatch(command, Some(options)).await,
                    _ => {
                        self.bad_syntax(raw, "Syntax error in SEARCH");
                        Ok(())
                    }
                },
            };
        }
        match CommandCodec::default().decode(raw) {
            Ok(([], command)) => self.dispatch(command, None).await,
            _ if extended::changedsince_zero(raw).is_some() => {
                let rewritten = extended::changedsince_zero(raw).expect("checked");
                match CommandCodec::default().decode(&rewritten) {
                    Ok(([], command)) => {
                        self.changed_since_zero = true;
                        let done = self.dispatch(command, None).await;
                        self.changed_since_zero = false;
                        done
                    }
                    _ => {
                        self.bad_syntax(raw, "Syntax error or unknown command");
                        Ok(())
                    }
                }
            }
            _ => {
                tracing::debug!(peer = %self.peer, command = %escape_byte_string(raw.get(..200).unwrap_or(raw)), "undecodable IMAP command");
                self.bad_syntax(raw, "Syntax error or unknown command");
                Ok(())
            }
        }
    }
}
