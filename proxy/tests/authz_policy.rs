//! The shipped policy (`config/rbac.json` + `config/routes.toml`) decides the core's routes and
//! MCP tools for the four roles as intended, and path tricks cannot reach a route under another
//! rule: every request goes through `normalize` first, exactly as the gateway does.

use mimir_proxy::authn::{AuthMethod, Principal};
use mimir_proxy::authz::config::{RbacSource, Sources};
use mimir_proxy::authz::{loader, Authorizer, Decision, Reason};
use mimir_proxy::request::mcp::{self, McpRequest};
use mimir_proxy::request::normalize::{normalize_target, PathError, PathOptions};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config")
}

fn shipped() -> Authorizer {
    let sources = Sources {
        rbac: RbacSource::File(config_dir().join("rbac.json")),
        routes: config_dir().join("routes.toml"),
        auth_header: None,
        poll_interval: Duration::from_secs(60),
        timeout: Duration::from_secs(5),
        ca: None,
        allow_http: false,
    };
    let snapshot = loader::load_blocking(&sources).unwrap_or_else(|e| panic!("{e}"));
    Authorizer::new(snapshot.policy)
}

const OPTS: PathOptions = PathOptions {
    allow_encoded_slash: false,
    max_bytes: 8192,
};

/// As the gateway: normalize the raw target, then decide on the path without the query.
fn decide_raw(
    authz: &Authorizer,
    roles: &[&str],
    method: &str,
    raw: &str,
) -> Result<Decision, PathError> {
    let target = normalize_target(raw.as_bytes(), &OPTS)?;
    let path = target.split('?').next().unwrap();
    let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
    Ok(authz.decide(&granted(authz, &roles), method, path, None))
}

/// As the gateway after authentication: the presented role or group names become the roles the
/// policy grants (group mappings, strict mode, default role), and only those are decided on.
fn granted(authz: &Authorizer, presented: &[String]) -> Vec<String> {
    let principal = Principal {
        user_id: "u".into(),
        qualified_id: "test|u".into(),
        roles: presented.to_vec(),
        method: AuthMethod::Jwt,
        issuer: None,
        key_id: None,
        expires_at: None,
        issued_at: None,
        refresh_cookie: None,
        client: None,
    };
    authz.grant(Arc::new(principal)).roles.clone()
}

fn allowed(authz: &Authorizer, role: &str, method: &str, path: &str) -> bool {
    decide_raw(authz, &[role], method, path).unwrap().allowed
}

/// Every route the core serves (core/src/api/mod.rs), with the role columns
/// admin, developer, analyst, viewer.
const CORE_ROUTES: &[(&str, &str, [bool; 4])] = &[
    ("GET", "/health", [true, true, true, true]),
    (
        "GET",
        "/api/nodes/query?type=memory",
        [true, true, true, true],
    ),
    ("GET", "/api/nodes/search?query=x", [true, true, true, true]),
    ("GET", "/api/nodes/types", [true, true, true, true]),
    ("GET", "/api/nodes/types/memory", [true, true, true, true]),
    (
        "GET",
        "/api/nodes/vector-search?query=x",
        [true, true, true, true],
    ),
    ("GET", "/api/nodes/n1", [true, true, true, true]),
    ("HEAD", "/api/nodes/n1", [true, true, true, true]),
    ("GET", "/api/nodes/n1/edges", [true, true, true, true]),
    ("GET", "/api/nodes/n1/neighbors", [true, true, true, true]),
    ("POST", "/api/nodes", [true, true, false, false]),
    ("PUT", "/api/nodes/n1", [true, true, false, false]),
    ("PATCH", "/api/nodes/n1", [true, true, false, false]),
    ("DELETE", "/api/nodes/n1", [true, true, false, false]),
    ("POST", "/api/edges", [true, true, false, false]),
    ("GET", "/api/edges/e1", [true, true, true, true]),
    ("DELETE", "/api/edges/e1", [true, true, false, false]),
    ("DELETE", "/mcp", [true, true, true, true]),
    // Routes upstream protects with keys:* and admin: admin only.
    ("GET", "/api/keys", [true, false, false, false]),
    ("POST", "/api/keys/generate", [true, false, false, false]),
    ("DELETE", "/api/keys/k1", [true, false, false, false]),
    ("GET", "/api/rbac", [true, false, false, false]),
    ("PUT", "/api/rbac", [true, false, false, false]),
    ("GET", "/api/rbac/permissions", [true, false, false, false]),
    // Files and search namespaces.
    ("GET", "/api/files/a.txt", [true, true, true, true]),
    ("POST", "/api/index-folder", [true, true, false, false]),
    ("POST", "/api/search", [true, true, true, true]),
];

const ROLES: [&str; 4] = ["admin", "developer", "analyst", "viewer"];

#[test]
fn core_routes_by_role() {
    let authz = shipped();
    let mut wrong = Vec::new();
    for (method, path, expected) in CORE_ROUTES {
        for (role, want) in ROLES.iter().zip(expected) {
            let d = decide_raw(&authz, &[role], method, path).unwrap();
            if d.allowed != *want {
                wrong.push(format!("{role} {method} {path}: {d}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn unknown_routes_are_denied_by_default_even_for_admin() {
    let authz = shipped();
    for (method, path) in [
        ("GET", "/"),
        ("GET", "/api"),
        ("GET", "/api/unknown"),
        ("POST", "/api/nodes/n1"),
        ("GET", "/api/edges/"),
        ("TRACE", "/api/nodes/n1"),
        ("get", "/api/nodes/n1"),
        ("GET", "/v1/chat/completions"),
    ] {
        let d = decide_raw(&authz, &["admin"], method, path).unwrap();
        assert!(!d.allowed, "{method} {path}: {d}");
        assert_eq!(d.reason, Reason::NoRule, "{method} {path}");
        assert_eq!(d.rule, None);
    }
}

#[test]
fn denial_names_rule_and_missing_permission() {
    let authz = shipped();
    let d = decide_raw(&authz, &["viewer"], "DELETE", "/api/nodes/n1").unwrap();
    assert!(!d.allowed);
    assert_eq!(d.reason, Reason::MissingPermission);
    assert_eq!(d.rule.as_ref().unwrap().name.as_ref(), "nodes-delete");
    assert_eq!(d.missing_all_of, ["nodes:delete"]);
    let d = decide_raw(&authz, &["developer"], "GET", "/api/keys").unwrap();
    assert_eq!(d.missing_all_of, ["keys:read"]);
    assert_eq!(
        d.message(),
        "permission denied: keys:read required for this request"
    );
}

#[test]
fn roles_default_and_unknown() {
    let authz = shipped();
    // No roles: the default role (viewer) applies.
    assert!(allowed(&authz, "viewer", "GET", "/api/nodes/n1"));
    let d = decide_raw(&authz, &[], "GET", "/api/nodes/n1").unwrap();
    assert!(d.allowed);
    let d = decide_raw(&authz, &[], "POST", "/api/nodes").unwrap();
    assert!(!d.allowed);
    // Unknown roles count for nothing (and do not trigger the default).
    let d = decide_raw(&authz, &["root", "Admin"], "GET", "/api/nodes/n1").unwrap();
    assert!(!d.allowed);
    // Several roles: the union.
    let d = decide_raw(&authz, &["viewer", "developer"], "DELETE", "/api/nodes/n1").unwrap();
    assert!(d.allowed);
}

/// Path confusion: every variant either reaches the rule of the path it really names, or is
/// refused by normalization (the gateway's 400). None reaches a more permissive rule.
#[test]
fn path_confusion_does_not_bypass() {
    let authz = shipped();
    // Developer may read nodes but not keys; each variant names /api/keys.
    for raw in [
        "/api/nodes/../keys",
        "/api/nodes/%2e%2e/keys",
        "/api/nodes/%2E%2E/keys",
        "/api/nodes/.%2e/keys",
        "/api/nodes/n1/../../keys",
        "//api/keys",
        "/api//keys",
        "/api/./keys",
        "/./api/keys",
        "/api/nodes/./../keys",
        "/%61pi/keys",
        "/api/%6Beys",
        "/../api/keys",
        "/api/keys/",
        "/api/keys/.",
        "/api/keys?x=/api/nodes/n1",
    ] {
        let d = decide_raw(&authz, &["developer"], "GET", raw).unwrap();
        assert!(!d.allowed, "{raw} must not be allowed: {d}");
    }
    // Case differs: a different (unknown) path, default-denied, not the nodes rule.
    for raw in ["/API/keys", "/Api/Nodes/n1", "/api/NODES/n1"] {
        let d = decide_raw(&authz, &["admin"], "GET", raw).unwrap();
        assert_eq!(d.reason, Reason::NoRule, "{raw}");
    }
    // Encoded separators and backslashes never reach a decision.
    for raw in [
        "/api/nodes%2f..%2fkeys",
        "/api/nodes%2F..%2Fkeys",
        "/api/nodes\\..\\keys",
        "/api/nodes/%5c..%5ckeys",
        "/api/nodes/%00/../keys",
        "/api/nodes/%c0%ae%c0%ae/keys",
    ] {
        assert!(
            decide_raw(&authz, &["developer"], "GET", raw).is_err(),
            "{raw}"
        );
    }
    // Dot segments resolve to the real target: /api/keys/../nodes/n1 is /api/nodes/n1.
    let d = decide_raw(&authz, &["viewer"], "DELETE", "/api/keys/../nodes/n1").unwrap();
    assert_eq!(d.rule.unwrap().name.as_ref(), "nodes-delete");
    assert!(!d.allowed);
}

fn call(tool: &str, operation: Option<&str>) -> Vec<u8> {
    let mut args = json!({});
    if let Some(op) = operation {
        args["operation"] = json!(op);
    }
    json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":tool,"arguments":args}})
        .to_string()
        .into_bytes()
}

fn mcp_decide(authz: &Authorizer, role: &str, body: &[u8]) -> Decision {
    let request: McpRequest = authz.parse_mcp(body).unwrap();
    assert!(authz.needs_mcp_body("POST", "/mcp"));
    authz.decide(&[role.to_owned()], "POST", "/mcp", Some(&request))
}

#[test]
fn mcp_tools_need_call_and_data_permissions() {
    let authz = shipped();
    let cases: &[(&str, Option<&str>, [bool; 4])] = &[
        ("memory_node", Some("get"), [true, true, true, false]),
        ("memory_node", Some("search"), [true, true, true, false]),
        ("memory_node", Some("add"), [true, true, false, false]),
        ("memory_node", Some("delete"), [true, true, false, false]),
        ("memory_node", Some("explode"), [false, false, false, false]),
        ("memory_node", None, [false, false, false, false]),
        ("memory_edge", Some("add"), [true, true, false, false]),
        ("memory_edge", Some("subgraph"), [true, true, true, false]),
        (
            "memory_batch",
            Some("delete_nodes"),
            [true, true, false, false],
        ),
        ("todo_list", Some("archive"), [true, true, false, false]),
        ("memory_clear", None, [true, false, false, false]),
        ("vector_search_nodes", None, [true, true, true, false]),
        ("index_folder", None, [true, true, false, false]),
        ("list_folders", None, [true, true, true, false]),
        ("execute_workflow", None, [false, false, false, false]),
    ];
    let mut wrong = Vec::new();
    for (tool, op, expected) in cases {
        for (role, want) in ROLES.iter().zip(expected) {
            let d = mcp_decide(&authz, role, &call(tool, *op));
            if d.allowed != *want {
                wrong.push(format!("{role} {tool} {op:?}: {d}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    let d = mcp_decide(&authz, "analyst", &call("memory_node", Some("delete")));
    assert_eq!(d.reason, Reason::MissingPermission);
    assert_eq!(d.missing_all_of, ["nodes:delete"]);
    let m = d.mcp.unwrap();
    assert_eq!(
        (m.tool.as_deref(), m.operation.as_deref()),
        (Some("memory_node"), Some("delete"))
    );
    let d = mcp_decide(&authz, "viewer", &call("memory_node", Some("get")));
    assert_eq!(d.missing_all_of, ["mcp:call:memory_node"]);
    let d = mcp_decide(&authz, "developer", &call("memory_clear", None));
    assert_eq!(d.missing_all_of, ["admin"]);
    let d = mcp_decide(&authz, "admin", &call("execute_workflow", None));
    assert_eq!(d.reason, Reason::McpUnknownTool);
    let d = mcp_decide(&authz, "admin", &call("memory_node", Some("explode")));
    assert_eq!(d.reason, Reason::McpUnknownOperation);
}

#[test]
fn mcp_methods_and_batches() {
    let authz = shipped();
    let msg = |id: i64, method: &str| json!({"jsonrpc":"2.0","id":id,"method":method});
    for method in ["initialize", "ping", "tools/list"] {
        let body = msg(1, method).to_string();
        assert!(
            mcp_decide(&authz, "viewer", body.as_bytes()).allowed,
            "{method}"
        );
    }
    let note = json!({"jsonrpc":"2.0","method":"notifications/initialized"}).to_string();
    assert!(mcp_decide(&authz, "viewer", note.as_bytes()).allowed);
    // Unknown methods are refused by default, even for admin.
    for method in [
        "resources/list",
        "prompts/get",
        "tools/CALL",
        "sampling/createMessage",
    ] {
        let d = mcp_decide(&authz, "admin", msg(1, method).to_string().as_bytes());
        assert_eq!(d.reason, Reason::McpMethodNotAllowed, "{method}");
    }
    // A client response is refused.
    let response = json!({"jsonrpc":"2.0","id":1,"result":{}}).to_string();
    assert_eq!(
        mcp_decide(&authz, "admin", response.as_bytes()).reason,
        Reason::McpResponse
    );

    // One forbidden message refuses the whole batch, and names it.
    let get: Value = serde_json::from_slice(&call("memory_node", Some("get"))).unwrap();
    let delete: Value = serde_json::from_slice(&call("memory_node", Some("delete"))).unwrap();
    let batch = json!([msg(1, "ping"), get, delete]).to_string();
    let d = mcp_decide(&authz, "analyst", batch.as_bytes());
    assert!(!d.allowed);
    assert_eq!(d.mcp.unwrap().index, 2);
    assert!(mcp_decide(&authz, "developer", batch.as_bytes()).allowed);
    // A tools/call hidden in a notification is still checked.
    let hidden = json!({"jsonrpc":"2.0","method":"tools/call","params":{"name":"memory_clear","arguments":{"type":"ALL"}}});
    let d = mcp_decide(&authz, "developer", hidden.to_string().as_bytes());
    assert!(!d.allowed);
    // Without a parsed body, the MCP rule refuses.
    let d = authz.decide(&["admin".into()], "POST", "/mcp", None);
    assert_eq!(d.reason, Reason::McpBodyRequired);
}

#[test]
fn mcp_body_limits_come_from_the_policy() {
    let authz = shipped();
    let big = vec![b' '; 1024 * 1024 + 1];
    assert_eq!(
        authz.parse_mcp(&big),
        Err(mcp::McpParseError::TooLarge { limit: 1024 * 1024 })
    );
    let batch = Value::Array(vec![json!({"jsonrpc":"2.0","method":"ping"}); 101]).to_string();
    assert_eq!(
        authz.parse_mcp(batch.as_bytes()),
        Err(mcp::McpParseError::BatchTooLarge { limit: 100 })
    );
}

#[test]
fn group_mappings_and_claims() {
    let dir = tempfile::tempdir().unwrap();
    let rbac = dir.path().join("rbac.json");
    std::fs::write(
        &rbac,
        r#"{"version":"2","claimPath":"realm_access.roles","defaultRole":"viewer",
            "roleMappings":{"developer":{"permissions":["nodes:*"]},"viewer":{"permissions":["nodes:read"]}},
            "groupMappings":{"eng-team":["developer"]},"strictGroupMappings":true}"#,
    )
    .unwrap();
    let sources = Sources {
        rbac: RbacSource::File(rbac),
        routes: config_dir().join("routes.toml"),
        auth_header: None,
        poll_interval: Duration::from_secs(60),
        timeout: Duration::from_secs(5),
        ca: None,
        allow_http: false,
    };
    let authz = Authorizer::new(loader::load_blocking(&sources).unwrap().policy);
    let claims = json!({"realm_access": {"roles": ["eng-team", "developer"]}});
    let roles = authz.roles_for_claims(&claims);
    assert_eq!(roles, ["eng-team", "developer"]);
    assert_eq!(authz.policy().effective_roles(&roles), ["developer"]);
    let effective = granted(&authz, &roles);
    assert_eq!(effective, ["developer"]);
    assert!(
        authz
            .decide(&effective, "DELETE", "/api/nodes/n1", None)
            .allowed
    );
    // Strict: a claim value naming a role directly does not count, not even for the default.
    let direct = vec!["developer".to_owned()];
    assert!(authz.policy().effective_roles(&direct).is_empty());
    let effective = granted(&authz, &direct);
    assert!(effective.is_empty());
    assert!(
        !authz
            .decide(&effective, "GET", "/api/nodes/n1", None)
            .allowed
    );
    // Decisions take granted roles only: presented group names grant nothing there.
    assert!(
        !authz
            .decide(&roles[..1], "DELETE", "/api/nodes/n1", None)
            .allowed
    );
}

#[test]
fn authz_section_of_the_policy_file() {
    use mimir_proxy::config;
    use std::collections::HashMap;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.toml");
    let load = |body: &str| {
        std::fs::write(&file, format!("[tls]\ngenerate_dev_cert = true\n\n{body}")).unwrap();
        config::load_with_env(Some(&file), &HashMap::new())
    };
    let cfg = load("[authz]\nrbac = \"https://policy.example/rbac.json\"\nroutes = \"/etc/mimir/routes.toml\"\n").unwrap();
    assert_eq!(cfg.authz.routes, Path::new("/etc/mimir/routes.toml"));
    let err = load("[authz]\nrbac_poll_seconds = 0\n")
        .unwrap_err()
        .to_string();
    assert!(err.ends_with("policy.toml:5:21: authz.rbac_poll_seconds: invalid value: integer `0`, expected a nonzero u64"), "{err}");
    let err = load("[authz]\nrbac_url = \"x\"\n").unwrap_err().to_string();
    assert!(
        err.contains("authz.rbac_url: unknown field `rbac_url`"),
        "{err}"
    );
}
