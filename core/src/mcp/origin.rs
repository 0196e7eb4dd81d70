//! `Origin` validation against DNS rebinding (required by the Streamable HTTP spec): a web page
//! on another site must not be able to drive a local MCP server through the user's browser.

const LOOPBACK_HOSTS: &[&str] = &["localhost", "127.0.0.1", "[::1]"];

pub struct OriginPolicy {
    /// Exact origins from `MIMIR_ALLOWED_ORIGINS`; empty means loopback origins only.
    allowed: Vec<String>,
}

impl OriginPolicy {
    /// From a comma list of origins such as `https://mimir.example.com`.
    pub fn from_list(list: Option<&str>) -> Self {
        let allowed = super::comma_list(list)
            .iter()
            .map(|o| normalize(o))
            .collect();
        Self { allowed }
    }

    pub fn allows(&self, origin: &str) -> bool {
        if self.allowed.is_empty() {
            host_of(origin).is_some_and(|host| LOOPBACK_HOSTS.contains(&host.as_str()))
        } else {
            self.allowed.contains(&normalize(origin))
        }
    }
}

fn normalize(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// The lower-cased host of an `http(s)://host[:port]` origin; `None` for anything else
/// (including the opaque origin `null`).
fn host_of(origin: &str) -> Option<String> {
    let origin = origin.trim().to_ascii_lowercase();
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))?;
    if authority.is_empty() || authority.contains(['/', '@', '?', '#']) {
        return None;
    }
    let host_len = if authority.starts_with('[') {
        authority.find(']')? + 1
    } else {
        authority.find(':').unwrap_or(authority.len())
    };
    let (host, rest) = authority.split_at(host_len);
    let port_valid = rest.is_empty()
        || rest
            .strip_prefix(':')
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()));
    (port_valid && !host.is_empty()).then(|| host.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_origins_are_allowed_by_default() {
        let policy = OriginPolicy::from_list(None);
        for origin in [
            "http://localhost",
            "http://localhost:3000",
            "https://127.0.0.1:8443",
            "http://[::1]:80",
            "HTTP://LOCALHOST",
        ] {
            assert!(policy.allows(origin), "{origin}");
        }
    }

    #[test]
    fn foreign_and_malformed_origins_are_refused() {
        let policy = OriginPolicy::from_list(Some(""));
        for origin in [
            "http://evil.example",
            "http://localhost.evil.example",
            "http://127.0.0.1.nip.io",
            "http://localhost@evil.example",
            "http://localhost:80x",
            "http://[::1]x",
            "null",
            "file://",
            "localhost",
            "",
        ] {
            assert!(!policy.allows(origin), "{origin}");
        }
    }

    #[test]
    fn a_configured_list_replaces_the_default() {
        let policy =
            OriginPolicy::from_list(Some("https://mimir.example.com/, https://ops.example.com"));
        assert!(policy.allows("https://mimir.example.com"));
        assert!(policy.allows("HTTPS://OPS.EXAMPLE.COM"));
        assert!(!policy.allows("http://mimir.example.com"));
        assert!(!policy.allows("http://localhost"));
    }
}
