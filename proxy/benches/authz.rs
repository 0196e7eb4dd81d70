//! Cost of one authorization decision with a large policy: 100 roles and 500 route rules (plus
//! the shipped MCP tool table). Target: ≤ 1 µs per request.
//!
//! `cargo bench -p mimir-proxy --bench authz`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use mimir_proxy::authz::{rbac, routes, Policy};
use mimir_proxy::request::mcp;
use std::fmt::Write as _;
use std::path::Path;

const ROLES: usize = 100;
const RULES: usize = 500;

/// 100 roles with 8 concrete permissions each, every tenth also holding a namespace wildcard.
fn rbac_json() -> String {
    let mut roles = Vec::new();
    for r in 0..ROLES {
        let mut perms: Vec<String> = (0..8)
            .map(|k| format!("\"svc{}:act{}\"", (r + k) % 50, k))
            .collect();
        if r % 10 == 0 {
            perms.push(format!("\"svc{}:*\"", r % 50));
        }
        perms.push("\"mcp:call:memory_node\"".into());
        perms.push("\"nodes:read\"".into());
        roles.push(format!(
            "\"role{r}\": {{\"permissions\": [{}]}}",
            perms.join(",")
        ));
    }
    format!(
        "{{\"version\":\"1.0\",\"claimPath\":\"roles\",\"defaultRole\":\"role0\",\"roleMappings\":{{{}}}}}",
        roles.join(",")
    )
}

/// 500 rules over 50 services, with literal, `*` and `**` segments; the shipped tool table.
fn routes_toml() -> String {
    let mut out = String::new();
    for i in 0..RULES {
        let svc = i % 50;
        let (method, path) = match i % 4 {
            0 => ("GET", format!("/api/svc{svc}/res{i}/*")),
            1 => ("POST", format!("/api/svc{svc}/res{i}")),
            2 => ("DELETE", format!("/api/svc{svc}/res{i}/*/items/*")),
            _ => ("*", format!("/api/svc{svc}/res{i}/**")),
        };
        let _ = writeln!(
            out,
            "[[rule]]\nname = \"r{i}\"\nmethods = [\"{method}\"]\npath = \"{path}\"\nany_of = [\"svc{svc}:act{}\", \"svc{svc}:admin\"]\nall_of = [\"svc{svc}:act{}\"]\n",
            i % 8,
            (i + 1) % 8
        );
    }
    out.push_str("[[rule]]\nname = \"mcp\"\nmethods = [\"POST\"]\npath = \"/mcp\"\naccess = \"authenticated\"\nmcp = true\n\n");
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/routes.toml"),
    )
    .unwrap();
    // Only the [mcp] and [tools] tables of the shipped file.
    let tables = &shipped[shipped.find("[mcp]").expect("shipped routes have [mcp]")..];
    out.push_str(tables);
    out
}

fn policy() -> Policy {
    let rbac = rbac::parse(&rbac::RbacOrigin::Inline, &rbac_json()).unwrap();
    let routes = routes::parse(Path::new("bench.toml"), &routes_toml()).unwrap();
    Policy::compile(&rbac, &routes).unwrap()
}

fn bench(c: &mut Criterion) {
    let policy = policy();
    let roles: Vec<String> = vec!["role7".into(), "role42".into(), "role90".into()];
    let one_role: Vec<String> = vec!["role40".into()];
    let call = mcp::parse(
        br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"memory_node","arguments":{"operation":"get","id":"n1"}}}"#,
        1 << 20,
        100,
    )
    .unwrap();

    // Sanity: the measured requests take the intended paths through the engine.
    assert!(
        policy
            .decide(&one_role, "GET", "/api/svc40/res440/x", None)
            .allowed
    );
    assert_eq!(
        policy
            .decide(&roles, "GET", "/api/svc49/res499/a/b", None)
            .rule
            .unwrap()
            .name
            .as_ref(),
        "r499"
    );
    assert!(policy.decide(&roles, "POST", "/mcp", Some(&call)).allowed);
    assert!(!policy.decide(&roles, "GET", "/nothing/here", None).allowed);

    let mut g = c.benchmark_group("authz_decide_100_roles_500_rules");
    g.bench_function("rest_allow_1_role", |b| {
        b.iter(|| {
            policy.decide(
                black_box(&one_role),
                black_box("GET"),
                black_box("/api/svc40/res440/x"),
                None,
            )
        })
    });
    g.bench_function("rest_last_rule_3_roles", |b| {
        b.iter(|| {
            policy.decide(
                black_box(&roles),
                black_box("GET"),
                black_box("/api/svc49/res499/a/b"),
                None,
            )
        })
    });
    g.bench_function("rest_deny_missing_permission", |b| {
        b.iter(|| {
            policy.decide(
                black_box(&roles),
                black_box("POST"),
                black_box("/api/svc1/res1"),
                None,
            )
        })
    });
    g.bench_function("no_rule_default_deny", |b| {
        b.iter(|| {
            policy.decide(
                black_box(&roles),
                black_box("GET"),
                black_box("/nothing/here"),
                None,
            )
        })
    });
    g.bench_function("mcp_tools_call", |b| {
        b.iter(|| {
            policy.decide(
                black_box(&roles),
                black_box("POST"),
                black_box("/mcp"),
                Some(black_box(&call)),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
