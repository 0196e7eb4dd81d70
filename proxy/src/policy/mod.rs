//! `mimir-proxy policy`: the security team's commands around the authorization policy files
//! (docs/policy-workflow.md). `test` runs case files against a policy; `diff` shows what a change
//! decides differently ([`crate::authz::diff`]).
//!
//! Uses `authz` (loading, deciding, comparing), `authn` (API keys, the paths authentication
//! answers before the policy), `authserver` (its endpoints), `pipeline` (how a request without
//! a credential is answered), `request` and `config`; nothing uses it but `main`.

pub mod cases;
pub mod junit;
pub mod runner;

use crate::authz::config::{AuthzConfig, RbacSource, Sources};
use crate::authz::diff;
use crate::authz::loader::{self, Loaded};
use crate::config::ProxyConfig;
use crate::settings::ProcessEnv;
use cases::{CaseFile, Context};
use runner::{Check, Coverage, Front};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// Run case files against the policy; prints each failing case with the rule that decided
    /// it. Exit status: 0 all passed, 1 a case failed, 2 invalid cases or policy.
    Test(TestArgs),
    /// What NEW decides differently from OLD for every caller, route rule and MCP tool; rules
    /// that can never match and permissions no rule uses. Exit status: 0 no decision changes,
    /// 1 decisions change, 2 invalid policy.
    Diff(DiffArgs),
}

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Case files (TOML).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The RBAC document to test (default: the configured `[authz] rbac`).
    #[arg(long, value_name = "FILE")]
    pub rbac: Option<PathBuf>,
    /// The route rules to test (default: the configured `[authz] routes`).
    #[arg(long, value_name = "FILE")]
    pub routes: Option<PathBuf>,
    /// The API keys file for callers with `api_key` (default: the configured `auth.keys_file`).
    #[arg(long, value_name = "FILE")]
    pub keys: Option<PathBuf>,
    /// Also write the results as JUnit XML to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// Directories holding each side's `rbac.json` and `routes.toml`. Any file not given here
    /// or below is the configured one (`[authz]`).
    #[arg(num_args = 2, value_names = ["OLD_DIR", "NEW_DIR"])]
    pub dirs: Option<Vec<PathBuf>>,
    #[arg(long, value_name = "FILE")]
    pub old_rbac: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    pub old_routes: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    pub new_rbac: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    pub new_routes: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

const EXIT_FAILED: u8 = 1;
const EXIT_INVALID: u8 = 2;

pub fn run(command: &PolicyCommand, cfg: &ProxyConfig) -> ExitCode {
    let result = match command {
        PolicyCommand::Test(args) => test(args, cfg),
        PolicyCommand::Diff(args) => diff(args, &cfg.authz),
    };
    result.unwrap_or_else(|e| {
        eprintln!("{e}");
        ExitCode::from(EXIT_INVALID)
    })
}

/// The configured policy, with `rbac` and `routes` replacing its files when given.
fn load(cfg: &AuthzConfig, rbac: Option<&Path>, routes: Option<&Path>) -> Result<Loaded, String> {
    let mut sources = Sources::from_config(cfg, &ProcessEnv).map_err(|e| e.to_string())?;
    if let Some(rbac) = rbac {
        sources.rbac = RbacSource::File(rbac.to_owned());
    }
    if let Some(routes) = routes {
        sources.routes = routes.to_owned();
    }
    loader::load_documents_blocking(&sources).map_err(|e| e.to_string())
}

fn test(args: &TestArgs, cfg: &ProxyConfig) -> Result<ExitCode, String> {
    let policy = load(&cfg.authz, args.rbac.as_deref(), args.routes.as_deref())?;
    let keys_file = args.keys.as_ref().unwrap_or(&cfg.auth.keys_file);
    let paths = cfg.path_options();
    let cx = Context {
        policy: &policy,
        keys_file,
        paths: &paths,
    };
    let mut files = Vec::new();
    let mut issues = Vec::new();
    for path in &args.files {
        match cases::load(path, &cx) {
            Ok(file) => files.push(file),
            Err(found) => issues.extend(found),
        }
    }
    if !issues.is_empty() {
        let lines: Vec<String> = issues.iter().map(ToString::to_string).collect();
        return Err(lines.join("\n"));
    }
    let front = Front {
        oauth: cfg.oauth.enabled,
        paths,
    };
    let mut coverage = Coverage::default();
    let results: Vec<(&CaseFile, Vec<Check>)> = files
        .iter()
        .map(|file| {
            (
                file,
                runner::run(file, &policy.policy, &front, &mut coverage),
            )
        })
        .collect();
    println!(
        "policy: {} + {}",
        policy.rbac_origin,
        policy.routes_path.display()
    );
    let mut failed = 0;
    for (file, checks) in &results {
        let failures: Vec<&Check> = checks.iter().filter(|c| c.failure.is_some()).collect();
        for check in &failures {
            println!(
                "FAIL {}:{}: {:?} as {}: {}\n     {}",
                file.path.display(),
                check.case.line,
                check.case.name,
                check.caller.name,
                check.request(),
                check.failure.as_deref().unwrap_or_default()
            );
        }
        println!(
            "{}: {} checks, {} failed",
            file.path.display(),
            checks.len(),
            failures.len()
        );
        failed += failures.len();
    }
    for (kind, names) in uncovered(&policy, &coverage) {
        if !names.is_empty() {
            println!("not covered by any case: {kind} {}", names.join(", "));
        }
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, junit::render(&suites(&results)))
            .map_err(|e| format!("{}: cannot write the JUnit report: {e}", path.display()))?;
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    })
}

fn suites(results: &[(&CaseFile, Vec<Check>)]) -> Vec<junit::Suite> {
    results
        .iter()
        .map(|(file, checks)| {
            let name = file.path.display().to_string();
            let cases = checks
                .iter()
                .map(|check| junit::TestCase {
                    name: format!("{} [{}]", check.case.name, check.caller.name),
                    file: name.clone(),
                    line: check.case.line,
                    failure: check.failure.as_ref().map(|why| {
                        let details = format!(
                            "{}:{}: {} as {}: {}",
                            name,
                            check.case.line,
                            check.request(),
                            check.caller.name,
                            why
                        );
                        (why.clone(), details)
                    }),
                })
                .collect();
            junit::Suite { name, cases }
        })
        .collect()
}

/// Rules no case's request falls under, tool calls (`tool` or `tool.operation`) no case makes,
/// roles no decided case granted: (kind, names).
fn uncovered(policy: &Loaded, coverage: &Coverage) -> [(&'static str, Vec<String>); 3] {
    let rules = policy
        .routes
        .rules
        .iter()
        .enumerate()
        .filter(|(i, _)| !coverage.rules.contains(i))
        .map(|(_, r)| r.name.clone());
    let calls = policy.routes.tools.iter().flat_map(|(tool, def)| {
        let ops: Vec<Option<String>> = match &def.operations {
            Some(ops) => ops.keys().cloned().map(Some).collect(),
            None => vec![None],
        };
        ops.into_iter()
            .filter(|op| !coverage.calls.contains(&(tool.clone(), op.clone())))
            .map(move |op| match op {
                Some(op) => format!("{tool}.{op}"),
                None => tool.clone(),
            })
    });
    let roles = policy
        .rbac
        .role_mappings
        .0
        .iter()
        .map(|(role, _)| role)
        .filter(|role| !coverage.roles.contains(*role))
        .cloned();
    [
        ("rules", rules.collect()),
        ("tools", calls.collect()),
        ("roles", roles.collect()),
    ]
}

fn diff(args: &DiffArgs, cfg: &AuthzConfig) -> Result<ExitCode, String> {
    let dir = |i: usize| args.dirs.as_ref().map(|d| d[i].clone());
    let file = |flag: &Option<PathBuf>, i: usize, name: &str| {
        flag.clone().or_else(|| dir(i).map(|d| d.join(name)))
    };
    let old = load(
        cfg,
        file(&args.old_rbac, 0, "rbac.json").as_deref(),
        file(&args.old_routes, 0, "routes.toml").as_deref(),
    )?;
    let new = load(
        cfg,
        file(&args.new_rbac, 1, "rbac.json").as_deref(),
        file(&args.new_routes, 1, "routes.toml").as_deref(),
    )?;
    let report = diff::compare(&old, &new);
    if args.json {
        println!("{}", report.to_json(&old, &new));
    } else {
        print!("{}", report.to_table(&old, &new));
    }
    Ok(if report.changes.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    })
}
