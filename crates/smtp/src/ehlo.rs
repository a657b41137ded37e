//! The EHLO reply: one function computes the advertised extensions from the session state
//! (STYLE.md example 2), golden-tested per listener and authentication state.

/// Which listener a session came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    /// Cleartext with STARTTLS (production port 25): users with AUTH, and peers delivering.
    Smtp,
    /// Implicit TLS (production port 465, RFC 8314): users only.
    Submissions,
}

impl Listener {
    pub fn name(self) -> &'static str {
        match self {
            Listener::Smtp => "smtp",
            Listener::Submissions => "submissions",
        }
    }
}

/// What the extensions depend on.
#[derive(Clone, Copy, Debug)]
pub struct EhloState {
    pub listener: Listener,
    pub tls: bool,
    pub authenticated: bool,
    pub max_message_bytes: u64,
}

/// The extensions to advertise, in order.
pub fn capabilities(st: &EhloState) -> Vec<String> {
    let mut caps = vec![
        "PIPELINING".to_string(),                 // RFC 2920
        format!("SIZE {}", st.max_message_bytes), // RFC 1870
        "8BITMIME".into(),                        // RFC 6152
        "SMTPUTF8".into(),                        // RFC 6531
        "ENHANCEDSTATUSCODES".into(),             // RFC 2034
        "CHUNKING".into(),                        // RFC 3030
    ];
    if st.listener == Listener::Smtp && !st.tls {
        caps.push("STARTTLS".into()); // RFC 3207: only before TLS
    }
    if st.tls && !st.authenticated {
        // RFC 4954; only under TLS so that passwords never cross in clear. PLAIN first
        // (mox #253), LOGIN for Outlook (CLIENTS.md §5 bugs 2, 3, 13).
        caps.push("AUTH PLAIN LOGIN".into());
    }
    caps
}

/// The full multi-line EHLO reply.
pub fn reply(hostname: &str, client: &str, st: &EhloState) -> Vec<u8> {
    let mut lines = vec![format!("{hostname} greets {client}")];
    lines.extend(capabilities(st));
    let mut out = Vec::new();
    let last = lines.len() - 1;
    for (i, line) in lines.iter().enumerate() {
        let sep = if i == last { ' ' } else { '-' };
        out.extend_from_slice(format!("250{sep}{line}\r\n").as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn golden(listener: Listener, tls: bool, authenticated: bool) -> String {
        let st = EhloState {
            listener,
            tls,
            authenticated,
            max_message_bytes: 31457280,
        };
        String::from_utf8(reply("mail.pec.localhost", "client.example", &st)).unwrap()
    }

    const COMMON: &str = "250-mail.pec.localhost greets client.example\r\n250-PIPELINING\r\n250-SIZE 31457280\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n";

    #[test]
    fn port_25_before_starttls_offers_starttls_and_no_auth() {
        assert_eq!(
            golden(Listener::Smtp, false, false),
            format!("{COMMON}250-CHUNKING\r\n250 STARTTLS\r\n")
        );
    }

    #[test]
    fn port_25_after_starttls_offers_auth_plain_login() {
        assert_eq!(
            golden(Listener::Smtp, true, false),
            format!("{COMMON}250-CHUNKING\r\n250 AUTH PLAIN LOGIN\r\n")
        );
    }

    #[test]
    fn port_465_offers_auth_and_never_starttls() {
        assert_eq!(
            golden(Listener::Submissions, true, false),
            format!("{COMMON}250-CHUNKING\r\n250 AUTH PLAIN LOGIN\r\n")
        );
    }

    #[test]
    fn after_auth_no_more_auth() {
        assert_eq!(
            golden(Listener::Submissions, true, true),
            format!("{COMMON}250 CHUNKING\r\n")
        );
        assert_eq!(
            golden(Listener::Smtp, true, true),
            format!("{COMMON}250 CHUNKING\r\n")
        );
    }
}
