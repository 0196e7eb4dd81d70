//! `mimir-proxy policy test` and `policy diff` through the real binary: the shipped case file
//! passes against the shipped policy and covers all of it; failures are reported (exit status,
//! the failing case and its deciding rule, JUnit XML); bad case files are refused with file, line
//! and field; a policy change shows up as changed decisions and warnings.

#[allow(dead_code)]
mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `mimir-proxy --config config/policy.toml policy ARGS` in the repository root: (status,
/// stdout, stderr).
fn policy(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(support::BIN)
        .current_dir(root())
        .env_remove("MIMIR_RBAC_CONFIG")
        .args(["--config", "config/policy.toml", "policy"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn the_shipped_cases_pass_and_cover_the_shipped_policy() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let (code, out, err) = policy(&["test", "config/policy-tests.toml", "--junit", path(&junit)]);
    assert_eq!(code, 0, "{out}{err}");
    let summary = out
        .lines()
        .find(|l| l.starts_with("config/policy-tests.toml: "))
        .unwrap_or_else(|| panic!("no summary: {out}"));
    let checks: usize = summary["config/policy-tests.toml: ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // Every role, the default role and anonymous against every rule and tool operation.
    assert!(checks > 700, "{summary}");
    assert!(summary.ends_with(" 0 failed"), "{summary}");
    assert!(!out.contains("not covered"), "{out}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains(&format!("tests=\"{checks}\" failures=\"0\"")),
        "{xml}"
    );
    assert!(
        xml.contains("name=\"POST /mcp tools/call memory_clear [admin]\""),
        "{xml}"
    );
}

#[test]
fn failures_are_reported_with_the_deciding_rule_and_in_junit() {
    let dir = tempfile::tempdir().unwrap();
    // A real keys file: one live key, one revoked (by the CLI).
    support::create_key(dir.path(), "ci-bot", "developer");
    let old = support::create_key(dir.path(), "old-bot", "admin");
    let old_id = old.split('_').nth(1).unwrap();
    let out = Command::new(support::BIN)
        .args(["keys", "revoke", "--config"])
        .arg(dir.path().join("keys.toml"))
        .arg(old_id)
        .output()
        .unwrap();
    assert!(out.status.success(), "keys revoke: {out:?}");
    let cases = dir.path().join("cases.toml");
    std::fs::write(
        &cases,
        r#"[callers]
bot = { api_key = "ci-bot" }
old = { api_key = "old-bot" }
viewer = { roles = ["viewer"] }

[[case]]
name = "the bot may delete nodes"
method = "DELETE"
path = "/api/nodes/n1"
rule = "nodes-delete"
expect = { bot = "allow", old = "401", viewer = "deny:missing_permission" }

[[case]]
name = "viewers list keys <wrong>"
caller = "viewer"
method = "GET"
path = "/api/keys"
expect = "allow"

[[case]]
name = "the bot clears the graph"
caller = "bot"
method = "POST"
path = "/mcp"
mcp_tool = "memory_clear"
expect = "deny:no_rule"
"#,
    )
    .unwrap();
    let junit = dir.path().join("junit.xml");
    let keys = dir.path().join("keys.json");
    let (code, out, err) = policy(&[
        "test",
        path(&cases),
        "--keys",
        path(&keys),
        "--junit",
        path(&junit),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    let fail = |line: usize, name: &str, caller: &str| {
        format!("FAIL {}:{line}: {name:?} as {caller}: ", cases.display())
    };
    assert!(
        out.contains(&(fail(13, "viewers list keys <wrong>", "viewer") + "GET /api/keys\n")),
        "{out}"
    );
    assert!(
        out.contains("expected allow, got deny:missing_permission by rule #21 \"keys-list\": permission denied: keys:read required"),
        "{out}"
    );
    assert!(
        out.contains(&fail(20, "the bot clears the graph", "bot")),
        "{out}"
    );
    assert!(
        out.contains("expected deny:no_rule, got deny:missing_permission by rule #4 \"mcp\""),
        "{out}"
    );
    assert!(!out.contains("the bot may delete nodes"), "{out}");
    assert!(
        out.contains(&format!("{}: 5 checks, 2 failed", cases.display())),
        "{out}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("tests=\"5\" failures=\"2\""), "{xml}");
    assert!(
        xml.contains("name=\"viewers list keys &lt;wrong&gt; [viewer]\""),
        "{xml}"
    );
    assert!(
        xml.contains("<failure message=\"expected allow, got deny:missing_permission by rule #21 &quot;keys-list&quot;"),
        "{xml}"
    );
    assert!(
        xml.contains("name=\"the bot may delete nodes [old]\" file=\"")
            && xml.contains("line=\"6\"/>"),
        "{xml}"
    );
    assert_eq!(xml.matches("<failure ").count(), 2, "{xml}");
}

#[test]
fn bad_case_files_name_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("bad.toml");
    std::fs::write(
        &cases,
        r#"[callers]
dev = { roles = ["devloper"] }
ops = { roles = ["admin"] }

[[case]]
caller = "ops"
method = "POST"
path = "/mcp"
mcp_tool = "memory_nod"
expect = "deny"

[[case]]
method = "GET"
path = "/api/nodes/n1"
expect = { ops = "allow", nobody = "deny" }
missing = ["nodes:fly"]
"#,
    )
    .unwrap();
    let (code, out, err) = policy(&["test", path(&cases)]);
    assert_eq!(code, 2, "{out}{err}");
    let file = cases.display();
    for expected in [
        format!("{file}:2:18: callers.dev.roles[0]: \"devloper\" is neither a role nor a groupMappings group of config/rbac.json"),
        format!("{file}:9:12: case[0].mcp_tool: \"memory_nod\" is not in [tools]"),
        format!("{file}:15:36: case[1].expect.nobody: no caller named \"nobody\" in [callers]"),
        format!("{file}:16:12: case[1].missing[0]: \"nodes:fly\" is a permission no rule"),
    ] {
        assert!(err.contains(&expected), "{expected}\nnot in:\n{err}");
    }
    std::fs::write(
        &cases,
        "[[case]]\nmethod = \"GET\"\npath = \"/x\"\nexpect = \"alow\"\n",
    )
    .unwrap();
    let (code, _, err) = policy(&["test", path(&cases)]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with(&format!(
            "{file}:4:10: case[0].expect: unknown outcome \"alow\""
        )),
        "{err}"
    );
}

/// The shipped policy with the developer role lacking `nodes:delete`, and a rule after
/// `nodes-read` that it shadows.
fn candidate(dir: &Path) {
    let rbac = std::fs::read_to_string(root().join("config/rbac.json")).unwrap();
    let routes = std::fs::read_to_string(root().join("config/routes.toml")).unwrap();
    std::fs::write(
        dir.join("rbac.json"),
        rbac.replacen(
            "\"nodes:delete\",\n        \"search:execute\"",
            "\"search:execute\"",
            1,
        ),
    )
    .unwrap();
    let shadowed = "[[rule]]\nname = \"node-details\"\nmethods = [\"GET\"]\npath = \"/api/nodes/*/details\"\nall_of = [\"admin\"]\n\n# --- edges";
    std::fs::write(
        dir.join("routes.toml"),
        routes.replacen("# --- edges", shadowed, 1),
    )
    .unwrap();
}

#[test]
fn diff_lists_changed_decisions_and_warns_about_the_new_policy() {
    let dir = tempfile::tempdir().unwrap();
    candidate(dir.path());
    let (code, out, err) = policy(&["diff", "config", path(dir.path())]);
    assert_eq!(code, 1, "{out}{err}");
    let row = out
        .lines()
        .find(|l| l.starts_with("developer ") && l.contains("DELETE /api/nodes/*"))
        .unwrap_or_else(|| panic!("no developer DELETE row:\n{out}"));
    assert!(row.contains("allow by \"nodes-delete\""), "{row}");
    assert!(
        row.contains("deny:missing_permission by \"nodes-delete\" (nodes:delete)"),
        "{row}"
    );
    assert!(
        out.contains("tools/call memory_node delete"),
        "MCP operations are compared too:\n{out}"
    );
    assert!(
        !out.lines().any(|l| l.starts_with("analyst ")),
        "the analyst's decisions do not change:\n{out}"
    );
    assert!(
        out.contains("rule[13].name: rule \"node-details\" can never match: rule \"nodes-read\" match every request it does first"),
        "{out}"
    );
    assert!(
        out.contains(
            "rbac.json:26:5: roleMappings.analyst.permissions[4]: \"chat:use\" grants nothing"
        ),
        "{out}"
    );

    let (code, out, _) = policy(&["diff", "config", path(dir.path()), "--json"]);
    assert_eq!(code, 1);
    let report: Value = serde_json::from_str(&out).unwrap();
    let changes = report["changes"].as_array().unwrap();
    let developer_delete = changes
        .iter()
        .find(|c| {
            c["caller"] == "developer" && c["method"] == "DELETE" && c["path"] == "/api/nodes/*"
        })
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(developer_delete["old"]["decision"], "allow");
    assert_eq!(developer_delete["new"]["reason"], "missing_permission");
    assert_eq!(developer_delete["new"]["missing_all_of"][0], "nodes:delete");
    assert!(changes.iter().all(|c| c["caller"] == "developer"), "{out}");
    let shadowed = report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["kind"] == "shadowed_rule")
        .unwrap();
    assert_eq!(shadowed["field"], "rule[13].name");
    assert!(
        shadowed["line"].as_u64().is_some_and(|l| l > 1),
        "{shadowed}"
    );

    // The same policy on both sides: nothing changes.
    let (code, out, _) = policy(&["diff", "--new-rbac", "config/rbac.json"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("no decision changes"), "{out}");
}
