//! A real OpenID provider (oidc-provider): its client-credentials access tokens (RFC 9068 JWTs
//! for our resource) pass the proxy with the roles from `realm_access.roles`; keys come from its
//! discovery document and JWKS, and stay usable while the provider is down.

mod authn_harness;
#[allow(dead_code)]
mod support;

use authn_harness::idp::Idp;
use authn_harness::AuthProxy;
use serde_json::Value;
use support::Upstream;

const RESOURCE: &str = "https://mimir.test";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_tokens_authenticate_and_survive_an_idp_outage() {
    let mut idp = Idp::start(RESOURCE);
    let upstream = Upstream::start().await;
    let proxy = AuthProxy::start(
        &upstream.addr.to_string(),
        &format!(
            r#"resource = "{RESOURCE}"
[[auth.issuers]]
issuer = "{}"
algorithms = ["RS256"]
role_claims = ["realm_access.roles"]
[oauth]
announce = "both"
"#,
            idp.issuer
        ),
        &[],
    )
    .await;
    let client = proxy.client();
    let first = idp.client_credentials_token(RESOURCE).await;
    let second = idp.client_credentials_token(RESOURCE).await;
    assert_ne!(first, second);

    let resp = client
        .post(proxy.url("/mcp"))
        .bearer_auth(&first)
        // A real JSON-RPC message: the proxy checks MCP bodies before they reach the core.
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", proxy.log());
    let echo: Value = resp.json().await.unwrap();
    // Known to the core by the issuer's host and port, its default source.
    let source = idp.issuer.trim_start_matches("http://");
    assert_eq!(
        echo["headers"]["x-user-id"][0],
        format!("{source}|mcp-agent")
    );
    assert_eq!(echo["headers"]["x-user-roles"][0], "developer");
    assert!(
        echo["headers"].get("authorization").is_none(),
        "no token passthrough"
    );

    let meta: Value = client
        .get(proxy.url("/.well-known/oauth-protected-resource"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["resource"], RESOURCE);
    // `announce = "both"`: the gateway's own authorization server first, then the provider.
    assert_eq!(
        meta["authorization_servers"],
        serde_json::json!([RESOURCE, idp.issuer])
    );

    // The provider's token with a tampered signature is refused.
    let other = idp.client_credentials_token(RESOURCE).await;
    let mut parts: Vec<String> = other.split('.').map(str::to_owned).collect();
    let replacement = if &parts[2][5..6] == "A" { "B" } else { "A" };
    parts[2].replace_range(5..6, replacement);
    let resp = client
        .get(proxy.url("/api/nodes"))
        .bearer_auth(parts.join("."))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    // The provider goes away: a token it signed earlier still verifies with the cached keys.
    idp.stop();
    let resp = client
        .get(proxy.url("/api/nodes"))
        .bearer_auth(&second)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", proxy.log());
}
