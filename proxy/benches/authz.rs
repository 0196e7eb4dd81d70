//! Cost of one authorization decision with a large policy: 100 roles and 500 route rules (plus
//! the shipped MCP tool table). Target: ≤ 1 µs per request.
//!
//! Shadow mode decides every request twice, the second time with a candidate policy of the same
//! size applying its own roles to the authenticated principal: ≤ 1 µs for both decisions. After
//! the criterion groups, a plain loop timed in thread CPU time prints the ratio of live + shadow
//! to live alone.
//!
//! `cargo bench -p mimir-proxy --bench authz`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use mimir_proxy::authn::{AuthMethod, Principal};
use mimir_proxy::authz::{rbac, routes, Authorizer, Policy};
use mimir_proxy::request::mcp::{self, McpRequest};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

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
    policy_from(&rbac_json(), &routes_toml())
}

fn policy_from(rbac_json: &str, routes_toml: &str) -> Policy {
    let rbac = rbac::parse(&rbac::RbacOrigin::Inline, rbac_json).unwrap();
    let routes = routes::parse(Path::new("bench.toml"), routes_toml).unwrap();
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

/// The gateway's stage 9 without and with a shadow policy: the live decision alone, and with the
/// shadow's on the same request ([`Authorizer::decide_shadowed`]). The candidate shifts every
/// role's permissions; with the live routes (an RBAC change: the shadow reuses the live rule) or
/// with one more rule (its own route lookup).
fn bench_shadow(c: &mut Criterion) {
    let candidate = rbac_json_with(1);
    let other_routes =
        routes_toml() + "\n[[rule]]\nname = \"extra\"\npath = \"/extra\"\naccess = \"deny\"\n";
    let shadowed = |routes: &str| {
        let authz = Authorizer::new(policy());
        authz.replace_shadow(policy_from(&candidate, routes));
        authz
    };
    let (same, other) = (shadowed(&routes_toml()), shadowed(&other_routes));
    let roles: Vec<String> = vec!["role7".into(), "role40".into(), "role90".into()];
    let presented = principal(&roles);
    let call = mcp::parse(
        br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"memory_node","arguments":{"operation":"get","id":"n1"}}}"#,
        1 << 20,
        100,
    )
    .unwrap();
    let rest: Request = ("GET", "/api/svc40/res440/x", None);
    let tool: Request = ("POST", "/mcp", Some(&call));
    let live_only = |(method, path, body): Request| {
        black_box(same.decide(black_box(&roles), black_box(method), black_box(path), body))
    };
    let both = |authz: &Authorizer, (method, path, body): Request| {
        let (roles, presented) = (black_box(&roles), Some(black_box(&presented)));
        black_box(authz.decide_shadowed(roles, presented, black_box(method), path, body))
    };
    // Sanity: the candidate refuses the REST request (role40's `svc40:*` is `svc41:*` there) and
    // allows the MCP call, as the live policy does.
    for authz in [&same, &other] {
        let (live, shadow) = both(authz, rest);
        assert!(live.allowed && shadow.is_some_and(|d| !d.allowed && d.rule.is_some()));
        let (live, shadow) = both(authz, tool);
        assert!(live.allowed && shadow.is_none());
    }

    let mut g = c.benchmark_group("authz_shadow_100_roles_500_rules");
    for (name, request) in [("rest_disagreeing", rest), ("mcp_agreeing", tool)] {
        g.bench_function(format!("{name}_live"), |b| b.iter(|| live_only(request)));
        g.bench_function(format!("{name}_live_and_shadow_same_routes"), |b| {
            b.iter(|| both(&same, request))
        });
        g.bench_function(format!("{name}_live_and_shadow_other_routes"), |b| {
            b.iter(|| both(&other, request))
        });
    }
    g.finish();

    // The ratio, from interleaved rounds of a plain loop (median of 15 rounds, thread CPU time);
    // `cargo bench` only, not the single pass of `cargo test --benches`.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    // The thread's CPU time, not the wall clock: a shared machine's other work does not count.
    let cpu_time = || {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid timespec for the call to fill.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    };
    let per_call = |f: &dyn Fn()| {
        const CALLS: u32 = 200_000;
        let start = cpu_time();
        for _ in 0..CALLS {
            f();
        }
        (cpu_time() - start) / CALLS
    };
    let median = |mut times: Vec<Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    for (name, request) in [
        ("rest, shadow disagreeing", rest),
        ("mcp, shadow agreeing", tool),
    ] {
        let rounds: Vec<[Duration; 3]> = (0..15)
            .map(|_| {
                [
                    per_call(&|| {
                        live_only(request);
                    }),
                    per_call(&|| {
                        both(&same, request);
                    }),
                    per_call(&|| {
                        both(&other, request);
                    }),
                ]
            })
            .collect();
        let [live, same_routes, other_routes] =
            [0, 1, 2].map(|i| median(rounds.iter().map(|r| r[i]).collect()));
        let ratio = |t: Duration| t.as_secs_f64() / live.as_secs_f64();
        println!(
            "shadow mode, {name}: live {live:?}; live + shadow {same_routes:?} (same routes, ratio {:.2}), {other_routes:?} (other routes, ratio {:.2})",
            ratio(same_routes),
            ratio(other_routes)
        );
    }
}

type Request<'a> = (&'a str, &'a str, Option<&'a McpRequest>);

criterion_group!(benches, bench, bench_shadow);
criterion_main!(benches);
