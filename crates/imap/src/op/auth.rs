//! Logging in (RFC 9051 §6.2): LOGIN (§6.2.3) and AUTHENTICATE PLAIN (§6.2.2, RFC 4616) with
//! SASL-IR's initial response (RFC 4959). There is no STARTTLS: the listener is implicit TLS.
//! A login maps to a mailbox through [`pecd_archive::login::authenticate`], under the shared
//! brute-force throttle; failures use the response codes of RFC 5530.

use std::borrow::Cow;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use imap_codec::imap_types::auth::AuthMechanism;
use imap_codec::imap_types::core::AString;
use imap_codec::imap_types::secret::Secret;
use pecd_archive::login::{authenticate, refuse_authorization, AuthError};
use pecd_common::input::Line;
use pecd_common::throttle::login_key;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::capability;
use crate::error::{bad, no, Outcome};
use crate::session::{Login, Session};

impl<S: AsyncRead + AsyncWrite + Unpin> Session<'_, S> {
    /// LOGIN with a user id or mailbox address and its password.
    pub(crate) async fn login_with_password(
        &mut self,
        username: AString<'_>,
        password: Secret<AString<'_>>,
    ) -> Outcome {
        let login = String::from_utf8_lossy(username.as_ref()).into_owned();
        let password = String::from_utf8_lossy(password.declassify().as_ref()).into_owned();
        self.log_in(login, password).await
    }

    async fn log_in(&mut self, login: String, password: String) -> Outcome {
        let ip = self.peer.ip();
        let ctx = &self.ctx;
        let result = authenticate(&ctx.store, &ctx.logins, &ctx.config, ip, &login, password).await;
        let mailbox = match result {
            Ok(p) => p.mailbox,
            Err(AuthError::Invalid) => {
                tracing::info!(peer = %self.peer, login = ?login_key(&login), "IMAP login failed");
                return Err(no(Some("AUTHENTICATIONFAILED"), "Invalid credentials"));
            }
            // Refused by the brute-force protection, before any password check: the reply of
            // a wrong password. RFC 5530 §3 keeps UNAVAILABLE for a subsystem that is down
            // (clients retry it at once) and lets AUTHENTICATIONFAILED cover reasons the
            // server will not elaborate on; any different reply would tell a guesser from
            // when its guesses stopped being checked.
            Err(AuthError::Throttled) => {
                return Err(no(Some("AUTHENTICATIONFAILED"), "Invalid credentials"))
            }
            Err(AuthError::Expired) => {
                return Err(no(
                    Some("EXPIRED"),
                    pecd_archive::login::expired_text(&self.ctx.config),
                ))
            }
            Err(AuthError::Closed(text)) => return Err(no(Some("CONTACTADMIN"), text)),
            Err(AuthError::Unavailable) => {
                return Err(no(
                    Some("UNAVAILABLE"),
                    "Authentication temporarily unavailable",
                ))
            }
        };
        // Too many connections must never look like a bad password (CLIENTS.md §5 bug 9).
        let Some(slot) = self.ctx.connect(mailbox.id) else {
            return Err(no(
                Some("UNAVAILABLE"),
                format!(
                    "Too many connections for this mailbox (at most {})",
                    self.ctx.config.imap.max_connections_per_user
                ),
            ));
        };
        tracing::info!(peer = %self.peer, mailbox = %mailbox.address, "IMAP login");
        let notices = self.ctx.store.subscribe();
        self.login = Some(Login::new(mailbox, slot, notices));
        let caps: Vec<String> = capability::after_login()
            .into_inner()
            .iter()
            .map(|c| c.to_string())
            .collect();
        Ok(format!("[CAPABILITY {}] Logged in", caps.join(" ")))
    }

    /// AUTHENTICATE PLAIN (RFC 4959 initial response, or one `+` round).
    pub(crate) async fn authenticate(
        &mut self,
        mechanism: AuthMechanism<'_>,
        initial: Option<Secret<Cow<'_, [u8]>>>,
    ) -> std::io::Result<Outcome> {
        if mechanism != AuthMechanism::Plain {
            return Ok(Err(no(Some("CANNOT"), "Unsupported mechanism; use PLAIN")));
        }
        let response = match initial {
            Some(ir) => ir.declassify().to_vec(),
            None => {
                self.out.extend_from_slice(b"+ \r\n");
                let line = match self.next_line().await? {
                    Some(Line::Text(t)) => t,
                    Some(Line::TooLong) => return Ok(Err(bad("Response too long"))),
                    None => {
                        self.logout = true;
                        return Ok(Err(bad("Connection closed")));
                    }
                };
                if line == b"*" {
                    return Ok(Err(bad("Authentication cancelled")));
                }
                match STANDARD.decode(line.trim_ascii()) {
                    Ok(d) => d,
                    Err(_) => return Ok(Err(bad("Invalid base64"))),
                }
            }
        };
        let parts: Vec<&[u8]> = response.split(|&b| b == 0).collect();
        let [authz, login, password] = parts.as_slice() else {
            return Ok(Err(bad("Malformed PLAIN response")));
        };
        let (authz, login, password) = (
            String::from_utf8_lossy(authz).into_owned(),
            String::from_utf8_lossy(login).into_owned(),
            String::from_utf8_lossy(password).into_owned(),
        );
        // Acting as another mailbox is never allowed. A blocked client gets the reply of any
        // blocked attempt; otherwise the failure counts against its address only, never
        // against the login it named.
        if !authz.is_empty() && !authz.eq_ignore_ascii_case(&login) {
            return Ok(Err(
                match refuse_authorization(&self.ctx.logins, self.peer.ip(), &login) {
                    AuthError::Throttled => no(Some("AUTHENTICATIONFAILED"), "Invalid credentials"),
                    _ => no(
                        Some("AUTHORIZATIONFAILED"),
                        "Authorization identity must be empty or equal to the login",
                    ),
                },
            ));
        }
        Ok(self.log_in(login, password).await)
    }
}
