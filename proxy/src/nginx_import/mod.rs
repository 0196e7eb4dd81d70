//! `mimir-proxy import-nginx nginx.conf [--out policy.toml]`: translates nginx's security
//! directives (listeners and certificates, `ssl_protocols`, `limit_req`, `allow`/`deny`,
//! `proxy_pass`, the static `X-API-Key` check, `set_real_ip_from`) into a policy file, and
//! reports every directive it could not translate as `file:line: directive: why` on stderr.
//! docs/nginx.md describes each translation.
//!
//! Exit status: 0 when everything was translated, 1 when the policy was written but some
//! directives were not translated, 2 when the file could not be read, parsed or written.
//!
//! Uses nothing else of the crate: it writes a policy file as text.

pub mod access;
pub mod draft;
pub mod emit;
pub mod limits;
pub mod report;
pub mod tls;
pub mod upstream;
pub mod walk;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use report::Findings;

#[derive(Debug, Clone, clap::Args)]
pub struct ImportArgs {
    /// The nginx configuration file.
    #[arg(value_name = "NGINX_CONF")]
    pub file: PathBuf,
    /// Write the policy here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// The policy text and what could not be carried over.
pub struct Import {
    pub policy: String,
    pub findings: Findings,
}

/// Translate the nginx configuration in `text`, read from `file` (named in the report).
pub fn import_str(text: &str, file: &str) -> Result<Import, String> {
    let config = nginx_lint_parser::parse_string(text).map_err(|e| format!("{file}: {e}"))?;
    let (draft, findings) = walk::translate(&config, file);
    Ok(Import {
        policy: emit::policy(&draft, file),
        findings,
    })
}

pub fn import_file(path: &Path) -> Result<Import, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    import_str(&text, &path.display().to_string())
}

pub fn run(args: &ImportArgs) -> ExitCode {
    let import = match import_file(&args.file) {
        Ok(import) => import,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    for finding in &import.findings.0 {
        eprintln!("{finding}");
    }
    let written = match &args.out {
        Some(out) => std::fs::write(out, &import.policy)
            .map_err(|e| format!("{}: cannot write: {e}", out.display())),
        None => {
            print!("{}", import.policy);
            Ok(())
        }
    };
    if let Err(e) = written {
        eprintln!("{e}");
        return ExitCode::from(2);
    }
    let untranslated = import.findings.untranslated_count();
    if untranslated == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!("{untranslated} directive(s) not translated");
        ExitCode::from(1)
    }
}
