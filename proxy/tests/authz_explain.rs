//! `mimir-proxy explain` prints the decision and the deciding rule for the shipped policy, with
//! exit status 0 (allowed), 1 (denied) or 2 (bad input).

use std::path::Path;
use std::process::Command;

fn explain(args: &[&str]) -> (i32, String, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(env!("CARGO_BIN_EXE_mimir-proxy"))
        .current_dir(&root)
        .env_remove("MIMIR_RBAC_CONFIG")
        .args(["--config", "config/policy.toml", "explain"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn mcp_tool_denial_names_rule_and_permission() {
    let (code, out, err) = explain(&[
        "--user",
        "alice",
        "--roles",
        "analyst",
        "POST",
        "/mcp",
        "--mcp-tool",
        "memory_node",
        "--mcp-operation",
        "delete",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("decision:  DENY\n"), "{out}");
    assert!(out.contains("rule:      #4 \"mcp\"\n"), "{out}");
    assert!(
        out.contains("nodes:delete required for MCP tool memory_node (operation delete)"),
        "{out}"
    );
}

#[test]
fn path_is_normalized_first() {
    let (code, out, _) = explain(&[
        "--user",
        "bob",
        "--roles",
        "developer",
        "GET",
        "/api/nodes/%2e%2e/keys",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("request:   GET /api/keys\n"), "{out}");
    assert!(out.contains("\"keys-list\""), "{out}");
    assert!(out.contains("keys:read required"), "{out}");
}

#[test]
fn allowed_with_default_role_and_claims() {
    let (code, out, _) = explain(&["--user", "carol", "GET", "/api/nodes/n1"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("effective: viewer"), "{out}");
    assert!(out.contains("decision:  ALLOW\n"), "{out}");
    let (code, out, _) = explain(&[
        "--user",
        "dave",
        "--claims",
        r#"{"roles":["developer"]}"#,
        "DELETE",
        "/api/nodes/n1",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("rule:      #12 \"nodes-delete\""), "{out}");
}

#[test]
fn refused_paths_and_bad_policy_exit_2() {
    let (code, _, err) = explain(&["--user", "bob", "GET", "/api/nodes%2fx"]);
    assert_eq!(code, 2);
    assert!(err.contains("the gateway answers 400"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("rbac.json");
    std::fs::write(
        &bad,
        r#"{"version":"1","claimPath":"roles","roleMappings":{"a":{"permissions":["x:"]}}}"#,
    )
    .unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(env!("CARGO_BIN_EXE_mimir-proxy"))
        .current_dir(&root)
        .env("MIMIR_RBAC_CONFIG", &bad)
        .args([
            "--config",
            "config/policy.toml",
            "explain",
            "--user",
            "u",
            "GET",
            "/health",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains(
            "rbac.json:1:76: roleMappings.a.permissions[0]: unknown permission syntax \"x:\""
        ),
        "{err}"
    );
}
