//! Which paths skip authentication. Everything not listed here needs a credential.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Authenticate, then forward.
    Protected,
    /// Forward without a credential (the core's health check).
    Public,
    /// Answered by the proxy itself.
    Local(Endpoint),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// RFC 9728 protected-resource metadata.
    ResourceMetadata,
    /// Which login methods exist (upstream `/auth/config`).
    AuthConfig,
    /// Username/password login (upstream `/auth/login`).
    Login,
    /// OAuth2-style password grant for scripts (upstream `/auth/token`).
    Token,
    /// The browser sign-in page and its dev-user form.
    LoginPage,
    /// Leave for an OpenID provider.
    OidcStart,
    /// Come back from it with an authorization code.
    OidcCallback,
    /// End the browser session.
    Logout,
}

pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

pub fn classify(path: &str) -> Route {
    match path {
        "/health" => Route::Public,
        "/auth/config" => Route::Local(Endpoint::AuthConfig),
        "/auth/login" => Route::Local(Endpoint::Login),
        "/auth/token" => Route::Local(Endpoint::Token),
        "/login" => Route::Local(Endpoint::LoginPage),
        "/auth/oauth/login" => Route::Local(Endpoint::OidcStart),
        "/auth/oauth/callback" => Route::Local(Endpoint::OidcCallback),
        "/auth/logout" => Route::Local(Endpoint::Logout),
        _ if path == METADATA_PATH
            || path
                .strip_prefix(METADATA_PATH)
                .is_some_and(|rest| rest.starts_with('/')) =>
        {
            Route::Local(Endpoint::ResourceMetadata)
        }
        _ => Route::Protected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_paths_are_public() {
        assert_eq!(classify("/health"), Route::Public);
        assert_eq!(
            classify("/.well-known/oauth-protected-resource/mcp"),
            Route::Local(Endpoint::ResourceMetadata)
        );
        for protected in [
            "/",
            "/mcp",
            "/api/nodes",
            "/health/x",
            "/healthz",
            "/auth",
            "/auth/config/x",
            "/login/x",
            "/auth/oauth",
            "/.well-known/oauth-protected-resourcex",
        ] {
            assert_eq!(classify(protected), Route::Protected, "{protected}");
        }
    }
}
