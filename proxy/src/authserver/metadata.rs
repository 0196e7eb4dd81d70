//! Authorization server metadata (RFC 8414), also served as the OpenID discovery document that
//! some clients ask for first. The gateway issues no ID tokens; the document says what it does.

use serde_json::{json, Value};

use super::routes::{AUTHORIZE_PATH, REGISTER_PATH, REVOKE_PATH, TOKEN_PATH};

/// `issuer` is the gateway's origin; `scopes` the policy's role names.
pub fn document(issuer: &str, scopes: &[String], registration: bool, documents: bool) -> Value {
    let auth_methods = ["none", "client_secret_basic", "client_secret_post"];
    let mut doc = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}{AUTHORIZE_PATH}"),
        "token_endpoint": format!("{issuer}{TOKEN_PATH}"),
        "revocation_endpoint": format!("{issuer}{REVOKE_PATH}"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "scopes_supported": scopes,
        "authorization_response_iss_parameter_supported": true,
        "client_id_metadata_document_supported": documents,
    });
    if registration {
        doc["registration_endpoint"] = json!(format!("{issuer}{REGISTER_PATH}"));
    }
    doc
}
