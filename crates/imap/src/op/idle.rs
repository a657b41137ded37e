//! IDLE (RFC 2177, RFC 9051 §6.3.13): changes are reported as they are committed, with a
//! heartbeat so that NATs keep the connection (CLIENTS.md §5 bug 10). A `DONE` sent in the
//! same packet as IDLE is honoured, and commands pipelined after it wait their turn
//! (CLIENTS.md §5 bug 1).

use std::time::Duration;

use pecd_common::input::{Line, Read};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::broadcast::error::RecvError;

use crate::error::Outcome;
use crate::session::Session;

impl<S: AsyncRead + AsyncWrite + Unpin> Session<'_, S> {
    /// Runs IDLE until `DONE`; `None` when the connection ended during IDLE (then nothing
    /// more is said).
    pub(crate) async fn idle(&mut self) -> std::io::Result<Option<Outcome>> {
        if !self.idle_until_done().await? {
            return Ok(None);
        }
        Ok(Some(Ok("IDLE terminated".into())))
    }

    /// Returns `false` when the connection ended during IDLE.
    async fn idle_until_done(&mut self) -> std::io::Result<bool> {
        self.out.extend_from_slice(b"+ idling\r\n");
        if let Err(e) = self.sync(true).await {
            tracing::warn!(error = %e, "could not update the selected folder");
        }
        let heartbeat = Duration::from_secs(self.ctx.config.imap.idle_heartbeat_seconds);
        let mailbox = self.mailbox_id();
        loop {
            // DONE may already be buffered (sent in the same packet as IDLE's predecessor).
            match self.input.next_line(self.ctx.config.imap.max_command_bytes) {
                Some(Line::Text(t)) if t.eq_ignore_ascii_case(b"DONE") => return Ok(true),
                Some(_) => {
                    self.out.extend_from_slice(b"* BAD Expected DONE\r\n");
                    return Ok(true);
                }
                None => {}
            }
            self.flush().await?;
            let login = self.login.as_mut().expect("authenticated");
            let event = tokio::select! {
                read = self.input.read_from(&mut self.stream, heartbeat, &self.shutdown) => Ok(read?),
                notice = login.notices.recv() => Err(notice),
            };
            match event {
                Ok(Read::Data) => {}
                Ok(Read::Eof) => return Ok(false),
                Ok(Read::Timeout) => self.untagged_ok(None, "Still here"),
                Ok(Read::Shutdown) => {
                    self.out
                        .extend_from_slice(b"* BYE [UNAVAILABLE] Server shutting down\r\n");
                    self.flush().await?;
                    return Ok(false);
                }
                Err(Ok(notice)) if notice.mailbox_id != mailbox => {}
                Err(Ok(_)) | Err(Err(RecvError::Lagged(_))) => {
                    if let Some(sel) = self.selected.as_mut() {
                        sel.dirty = true;
                    }
                    if let Err(e) = self.sync(true).await {
                        tracing::warn!(error = %e, "could not update the selected folder");
                    }
                }
                Err(Err(RecvError::Closed)) => return Ok(false),
            }
        }
    }
}
