//! The one pecd configuration template of the integration tests and the benches: every path
//! inside the server's data directory, loopback listeners on ephemeral ports, typed overrides
//! for what a test changes (provider identity, SMTP port, provider index, trust anchors, CRLs,
//! static routes) and extra sections appended as they are.
//!
//! The benches include this file with `#[path = "../../tests/support/config.rs"]`, so it
//! uses the standard library only.
#![allow(dead_code)]

use std::fmt::Display;
use std::path::Path;

/// A pecd configuration, rendered for one data directory by [`ServerConfig::render`].
#[derive(Clone, Debug)]
pub struct ServerConfig {
    name: String,
    domains: Vec<String>,
    service_address: String,
    smtp: String,
    /// Read the provider index from `providers.ldif` in the data directory.
    index: bool,
    /// The trust anchors file, relative to the data directory.
    trust_anchors: String,
    /// CRL files, as TOML strings.
    crls: Vec<String>,
    /// Static routes: domain and `host:port`.
    routes: Vec<(String, String)>,
    /// IMAPS and SMTPS listeners on fixed ports, which autoconfig then names.
    client_ports: Option<(u16, u16)>,
    extra: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig::new()
    }
}

impl ServerConfig {
    /// The test provider: pec.localhost and pec.example.it, trusting only its own CA, with
    /// no provider index and no routes.
    pub fn new() -> ServerConfig {
        ServerConfig {
            name: "pecd test provider".into(),
            domains: vec!["pec.localhost".into(), "pec.example.it".into()],
            service_address: "posta-certificata@pec.localhost".into(),
            smtp: "127.0.0.1:0".into(),
            index: false,
            trust_anchors: "certs/ca.pem".into(),
            crls: Vec::new(),
            routes: Vec::new(),
            client_ports: None,
            extra: String::new(),
        }
    }

    /// A provider named `name` managing only `domain`, its service mailbox
    /// posta-certificata@`domain`.
    pub fn provider(mut self, name: &str, domain: &str) -> ServerConfig {
        self.name = name.into();
        self.domains = vec![domain.into()];
        self.service_address = format!("posta-certificata@{domain}");
        self
    }

    /// The SMTP (port 25) listener on a fixed loopback port, for peers that route to it.
    pub fn smtp_port(mut self, port: u16) -> ServerConfig {
        self.smtp = format!("127.0.0.1:{port}");
        self
    }

    /// IMAPS and SMTPS (465) on fixed loopback ports, and `[http]` telling mail clients those
    /// ports on host `localhost`: what autoconfig describes is then what answers.
    pub fn client_ports(mut self, imaps: u16, submissions: u16) -> ServerConfig {
        self.client_ports = Some((imaps, submissions));
        self
    }

    /// Reads the provider index (PEC.md §8) from `providers.ldif` in the data directory.
    pub fn index(mut self) -> ServerConfig {
        self.index = true;
        self
    }

    /// Trusts the certificates of `file`, relative to the data directory.
    pub fn trust_anchors(mut self, file: &str) -> ServerConfig {
        self.trust_anchors = file.into();
        self
    }

    /// Checks peers' signatures against the CRLs of `files` (`peers.crls`).
    pub fn crls(mut self, files: &[&Path]) -> ServerConfig {
        self.crls = files.iter().map(|p| format!("{:?}", p.display())).collect();
        self
    }

    /// A static route: mail for `domain` goes to `addr` (`host:port`).
    pub fn route(mut self, domain: &str, addr: impl Display) -> ServerConfig {
        self.routes.push((domain.into(), addr.to_string()));
        self
    }

    /// Text appended after the template: new sections only.
    pub fn extra(mut self, text: &str) -> ServerConfig {
        self.extra.push_str(text);
        self
    }

    /// The provider's service address (posta-certificata@ of its first domain).
    pub fn service_address(&self) -> &str {
        &self.service_address
    }

    /// The configuration file's text for the data directory `dir`.
    pub fn render(&self, dir: &Path) -> String {
        let d = dir.display();
        let domains: Vec<String> = self.domains.iter().map(|x| format!("\"{x}\"")).collect();
        let mut peers = String::new();
        if self.index {
            peers.push_str(&format!("index = \"{d}/providers.ldif\"\n"));
        }
        peers.push_str(&format!("trust_anchors = \"{d}/{}\"\n", self.trust_anchors));
        if !self.crls.is_empty() {
            peers.push_str(&format!("crls = [{}]\n", self.crls.join(", ")));
        }
        if !self.routes.is_empty() {
            let routes: Vec<String> = self
                .routes
                .iter()
                .map(|(domain, addr)| format!("\"{domain}\" = \"{addr}\""))
                .collect();
            peers.push_str(&format!("routes = {{ {} }}\n", routes.join(", ")));
        }
        let (imaps, submissions, public) = match self.client_ports {
            Some((i, s)) => (
                format!("127.0.0.1:{i}"),
                format!("127.0.0.1:{s}"),
                format!("public_imap_port = {i}\npublic_submissions_port = {s}\n"),
            ),
            None => ("127.0.0.1:0".into(), "127.0.0.1:0".into(), String::new()),
        };
        format!(
            r#"[provider]
name = "{name}"
domains = [{domains}]
service_address = "{service}"

[listen]
smtp = "{smtp}"
submissions = "{submissions}"
imaps = "{imaps}"
pop3s = "127.0.0.1:0"

[tls]
cert = "{d}/certs/server.pem"
key = "{d}/certs/server.key"

[signing]
cert = "{d}/certs/signer.pem"
key = "{d}/certs/signer.key"
chain = "{d}/certs/ca.pem"

[peers]
{peers}
[store]
path = "{d}/store"

[http]
listen = "127.0.0.1:0"
metrics_listen = "127.0.0.1:0"
{public}
[control]
socket = "{d}/pecd.sock"
{extra}"#,
            name = self.name,
            domains = domains.join(", "),
            service = self.service_address,
            smtp = self.smtp,
            extra = self.extra,
        )
    }
}
