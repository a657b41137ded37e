//! The trace pecd adds to every message at the end of DATA: the Received: header. Sender
//! and header checks belong to the PEC engine (PEC.md §6.1).

/// Everything the session knows for the Received: header (RFC 5321 §4.4, RFC 3848).
pub struct Trace<'a> {
    pub helo: &'a str,
    pub peer_ip: std::net::IpAddr,
    pub hostname: &'a str,
    pub tls: bool,
    pub authenticated: bool,
    pub id: &'a str,
}

/// The Received: field for a message (RFC 5321 §4.4), CRLF-terminated.
pub fn received(trace: &Trace<'_>) -> String {
    let with = match (trace.tls, trace.authenticated) {
        (true, true) => "ESMTPSA",
        (true, false) => "ESMTPS",
        (false, true) => "ESMTPA",
        (false, false) => "ESMTP",
    };
    let date = chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S +0000");
    format!(
        "Received: from {} ([{}])\r\n\tby {} (pecd) with {} id {};\r\n\t{}\r\n",
        trace.helo, trace.peer_ip, trace.hostname, with, trace.id, date
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_names_the_protocol_of_rfc_3848() {
        let mut trace = Trace {
            helo: "client",
            peer_ip: [127, 0, 0, 1].into(),
            hostname: "mail.pec.localhost",
            tls: true,
            authenticated: true,
            id: "abc123",
        };
        let r = received(&trace);
        assert!(r.starts_with("Received: from client ([127.0.0.1])\r\n\tby mail.pec.localhost (pecd) with ESMTPSA id abc123;\r\n\t"));
        assert!(r.ends_with("+0000\r\n"));
        trace.tls = false;
        trace.authenticated = false;
        assert!(received(&trace).contains(" with ESMTP id "));
    }
}
