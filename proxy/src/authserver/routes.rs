//! The authorization server's paths. The endpoints sit at the root, where MCP clients written
//! for the 2025-03-26 specification look when they find no metadata; the metadata answers at
//! every well-known form clients try (RFC 8414 §3.1 path insertion, OpenID Connect Discovery's
//! appended form).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// RFC 8414 metadata (and the OpenID discovery form of it).
    Metadata,
    Authorize,
    Token,
    Register,
    Revoke,
    /// A signed-in user's consents: list and withdraw.
    Consents,
}

pub const AUTHORIZE_PATH: &str = "/authorize";
pub const TOKEN_PATH: &str = "/token";
pub const REGISTER_PATH: &str = "/register";
pub const REVOKE_PATH: &str = "/revoke";
pub const CONSENTS_PATH: &str = "/oauth/consents";

const AS_METADATA: &str = "/.well-known/oauth-authorization-server";
const OIDC_METADATA: &str = "/.well-known/openid-configuration";

fn at_or_under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

pub fn classify(path: &str) -> Option<Endpoint> {
    match path {
        AUTHORIZE_PATH => Some(Endpoint::Authorize),
        TOKEN_PATH => Some(Endpoint::Token),
        REGISTER_PATH => Some(Endpoint::Register),
        REVOKE_PATH => Some(Endpoint::Revoke),
        CONSENTS_PATH => Some(Endpoint::Consents),
        _ if at_or_under(path, AS_METADATA)
            || at_or_under(path, OIDC_METADATA)
            || path.ends_with(OIDC_METADATA) =>
        {
            Some(Endpoint::Metadata)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_answers_every_well_known_form() {
        for path in [
            "/.well-known/oauth-authorization-server",
            "/.well-known/oauth-authorization-server/mcp",
            "/.well-known/openid-configuration",
            "/.well-known/openid-configuration/mcp",
            "/mcp/.well-known/openid-configuration",
        ] {
            assert_eq!(classify(path), Some(Endpoint::Metadata), "{path}");
        }
        for other in [
            "/.well-known/oauth-authorization-serverx",
            "/authorize/x",
            "/tokens",
            "/api/nodes",
        ] {
            assert_eq!(classify(other), None, "{other}");
        }
    }
}
