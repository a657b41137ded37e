//! Where mail for a domain goes (RFC 5321 §5.1): the MX records by preference, or the domain
//! itself when it has none, as [`Target`]s (`host:25` and the name the server certificate
//! must carry). The system resolver configuration is read once, on first use.

use hickory_resolver::error::ResolveErrorKind;
use hickory_resolver::TokioAsyncResolver;
use tokio::sync::OnceCell;

/// One SMTP server to try: "host:port" and the name its certificate must carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub addr: String,
    pub name: String,
}

impl Target {
    /// A target for `host:port` (or `[address]:port`); the name is the host part.
    pub fn from_addr(addr: String) -> Target {
        let name = addr
            .rsplit_once(':')
            .map_or(addr.as_str(), |(h, _)| h)
            .trim_matches(['[', ']'])
            .to_string();
        Target { addr, name }
    }
}

/// MX lookups through the system's resolver configuration, made once and kept.
#[derive(Default)]
pub struct MxResolver {
    resolver: OnceCell<Option<TokioAsyncResolver>>,
}

impl MxResolver {
    pub fn new() -> MxResolver {
        MxResolver::default()
    }

    /// The servers for `domain`, most preferred first; empty when the lookup failed (the
    /// failure is logged) or no resolver configuration could be read.
    pub async fn lookup(&self, domain: &str) -> Vec<Target> {
        let resolver = self
            .resolver
            .get_or_init(|| async {
                TokioAsyncResolver::tokio_from_system_conf()
                    .map_err(|e| tracing::error!(error = %e, "no DNS resolver configuration"))
                    .ok()
            })
            .await;
        let Some(resolver) = resolver else {
            return Vec::new();
        };
        match resolver.mx_lookup(format!("{domain}.")).await {
            Ok(mx) => {
                let mut records: Vec<(u16, String)> = mx
                    .iter()
                    .map(|r| {
                        let host = r.exchange().to_utf8();
                        (r.preference(), host.trim_end_matches('.').to_string())
                    })
                    .collect();
                records.sort();
                records
                    .into_iter()
                    .filter(|(_, h)| !h.is_empty())
                    .map(|(_, h)| Target::from_addr(format!("{h}:25")))
                    .collect()
            }
            // No MX: the domain itself (RFC 5321 §5.1).
            Err(e) if matches!(e.kind(), ResolveErrorKind::NoRecordsFound { .. }) => {
                vec![Target::from_addr(format!("{domain}:25"))]
            }
            Err(e) => {
                tracing::warn!(domain, error = %e, "MX lookup failed");
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Target;

    #[test]
    fn target_names() {
        let t = Target::from_addr("mx.b.test:25".into());
        assert_eq!(
            (t.addr.as_str(), t.name.as_str()),
            ("mx.b.test:25", "mx.b.test")
        );
        assert_eq!(Target::from_addr("[::1]:2525".into()).name, "::1");
        assert_eq!(Target::from_addr("127.0.0.1:25".into()).name, "127.0.0.1");
    }
}
