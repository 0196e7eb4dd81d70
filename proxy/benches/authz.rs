//! Cost of one authorization decision with a large policy: 100 roles and 500 route rules (plus
//! the shipped MCP tool table). Target: ≤ 1 µs per request.
//!
//! Shadow mode decides every request twice, the second time with a candidate policy of the same
//! size applying its own roles to the authenticated principal: ≤ 1 µs for both decisions. After
//! the criterion groups, a plain timing loop prints the ratio of live + shadow to live alone.
//!
//! `cargo bench -p mimir-proxy --bench authz`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use mimir_proxy::authn::{AuthMethod, Principal};
use mimir_proxy::authz::{rbac, routes, Authorizer, Decision, Policy};
use mimir_proxy::request::mcp::{self, McpRequest};
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

const ROLES: usize = 100;
const RULES: usize = 500;

/// 100 roles with 8 concrete permissions each, every tenth also holding a namespace wildcard.
fn rbac_json() -> String {
    rbac_json_with(0)
}

/// [`rbac_json`] with every role's permissions shifted by `shift` services: a candidate policy
/// of the same size that decides many requests otherwise.
fn rbac_json_with(shift: usize) -> String {
    let mut roles = Vec::new();
    for r in 0..ROLES {
        let mut perms: Vec<String> = (0..8)
            .map(|k| format!("\"svc{}:act{}\"", (r + k + shift) % 50, k))
            .collect();
        if r % 10 == 0 {
            perms.push(format!("\"svc{}:*\"", (r + shift) % 50));
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
    policy_with(&rbac_json())
}

fn policy_with(rbac_json: &str) -> Policy {
    let rbac = rbac::parse(&rbac::RbacOrigin::Inline, rbac_json).unwrap();
    let routes = routes::parse(Path::new("bench.toml"), &routes_toml()).unwrap();
    Policy::compile(&rbac, &routes).unwrap()
}

/// A caller presenting `roles` (all of them roles of both policies).
fn principal(roles: &[String]) -> Principal {
    Principal {
        user_id: "bench".into(),
        qualified_id: "bench|bench".into(),
        roles: roles.to_vec(),
        method: AuthMethod::Jwt,
        issuer: None,
        key_id: None,
        expires_at: None,
        issued_at: None,
        refresh_cookie: None,
        client: None,
    }
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

/// The gateway's stage 9 without and with a shadow policy: the live decision, then the shadow's
/// on the same request.
fn bench_shadow(c: &mut Criterion) {
    let authz = Authorizer::new(policy());
    authz.replace_shadow(policy_with(&rbac_json_with(1)));
    let roles: Vec<String> = vec!["role7".into(), "role40".into(), "role90".into()];
    let presented = principal(&roles);
    let call = mcp::parse(
        br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"memory_node","arguments":{"operation":"get","id":"n1"}}}"#,
        1 << 20,
        100,
    )
    .unwrap();
    let rest = ("GET", "/api/svc40/res440/x", None);
    let tool = ("POST", "/mcp", Some(&call));
    // Sanity: the candidate refuses the REST request (role40's `svc40:*` is `svc41:*` there) and
    // allows the MCP call, as the live policy does.
    let live = authz.decide(&roles, rest.0, rest.1, None);
    assert!(live.allowed);
    assert!(authz
        .shadow_disagrees(&presented, rest.0, rest.1, None, &live)
        .is_some_and(|d| !d.allowed));
    let live = authz.decide(&roles, tool.0, tool.1, tool.2);
    assert!(live.allowed);
    assert!(authz
        .shadow_disagrees(&presented, tool.0, tool.1, tool.2, &live)
        .is_none());

    let live_only = |(method, path, body): (&str, &str, Option<&McpRequest>)| {
        black_box(authz.decide(black_box(&roles), black_box(method), black_box(path), body))
    };
    let both =
        |(method, path, body): (&str, &str, Option<&McpRequest>)| -> (Decision, Option<Decision>) {
            let live = authz.decide(black_box(&roles), black_box(method), black_box(path), body);
            let shadow = authz.shadow_disagrees(black_box(&presented), method, path, body, &live);
            black_box((live, shadow))
        };
    let mut g = c.benchmark_group("authz_shadow_100_roles_500_rules");
    g.bench_function("rest_live", |b| b.iter(|| live_only(rest)));
    g.bench_function("rest_live_and_shadow_disagreeing", |b| {
        b.iter(|| both(rest))
    });
    g.bench_function("mcp_live", |b| b.iter(|| live_only(tool)));
    g.bench_function("mcp_live_and_shadow_agreeing", |b| b.iter(|| both(tool)));
    g.finish();

    // The ratio, from interleaved rounds of a plain loop (median of 15); `cargo bench` only, not
    // the single pass of `cargo test --benches`.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    for (name, request) in [("rest", rest), ("mcp", tool)] {
        let per_call = |f: &dyn Fn()| {
            const CALLS: u32 = 200_000;
            let start = Instant::now();
            for _ in 0..CALLS {
                f();
            }
            start.elapsed() / CALLS
        };
        let mut rounds: Vec<(Duration, Duration)> = (0..15)
            .map(|_| {
                let live = per_call(&|| {
                    live_only(request);
                });
                let both = per_call(&|| {
                    both(request);
                });
                (live, both)
            })
            .collect();
        rounds.sort_by_key(|(live, _)| *live);
        let live = rounds[rounds.len() / 2].0;
        rounds.sort_by_key(|(_, both)| *both);
        let both = rounds[rounds.len() / 2].1;
        println!(
            "shadow mode, {name}: live {live:?}, live + shadow {both:?}, ratio {:.2}",
            both.as_secs_f64() / live.as_secs_f64()
        );
    }
}

criterion_group!(benches, bench, bench_shadow);
criterion_main!(benches);
