//! `mimir-proxy audit verify|tail|query|keygen`.

use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;

use super::chain::Hasher;
use super::checkpoint::{self, VerifyKey};
use super::query::{self, Filter};
use super::verify::{self, Options};

/// Exit status when verification finds a problem.
const EXIT_BROKEN: u8 = 1;
/// Exit status for unusable arguments (unreadable key, bad time).
const EXIT_USAGE: u8 = 2;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain (and checkpoint signatures) across the given files, rotated ones
    /// included, in any order; reports the first broken or missing record.
    Verify {
        /// Ed25519 public key (PEM) to check signed checkpoints with.
        #[arg(long, value_name = "FILE")]
        public_key: Option<PathBuf>,
        /// The HMAC key the files were written with, if any.
        #[arg(long, value_name = "FILE")]
        hmac_key: Option<PathBuf>,
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Print the last lines of an audit file.
    Tail {
        #[arg(short = 'n', long, default_value_t = 10)]
        lines: usize,
        /// Keep printing new records.
        #[arg(short, long)]
        follow: bool,
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Print the records that match every given filter.
    Query {
        #[arg(long)]
        user: Option<String>,
        /// `event.action`, e.g. user-login-failed.
        #[arg(long)]
        action: Option<String>,
        /// success or failure.
        #[arg(long)]
        outcome: Option<String>,
        /// RFC 3339 time, inclusive.
        #[arg(long, value_parser = query::parse_time)]
        since: Option<time::OffsetDateTime>,
        /// RFC 3339 time, exclusive.
        #[arg(long, value_parser = query::parse_time)]
        until: Option<time::OffsetDateTime>,
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Generate an Ed25519 key pair for signed checkpoints.
    Keygen {
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
}

pub fn run(command: AuditCommand) -> ExitCode {
    match command {
        AuditCommand::Verify {
            public_key,
            hmac_key,
            files,
        } => {
            let opts = match options(public_key, hmac_key) {
                Ok(opts) => opts,
                Err(e) => return usage(e),
            };
            match verify::verify(&files, &opts) {
                Ok(report) => {
                    println!("{report}");
                    ExitCode::SUCCESS
                }
                Err(broken) => {
                    println!("BROKEN: {broken}");
                    ExitCode::from(EXIT_BROKEN)
                }
            }
        }
        AuditCommand::Tail {
            lines,
            follow,
            file,
        } => report(query::tail(
            &file,
            lines,
            follow,
            &mut std::io::stdout().lock(),
        )),
        AuditCommand::Query {
            user,
            action,
            outcome,
            since,
            until,
            files,
        } => {
            let filter = Filter {
                user,
                action,
                outcome,
                since,
                until,
            };
            report(query::query(&files, &filter, &mut std::io::stdout().lock()).map(drop))
        }
        AuditCommand::Keygen { dir } => match checkpoint::generate(&dir) {
            Ok((private, public)) => {
                println!(
                    "private key (audit.file.signing_key_file): {}",
                    private.display()
                );
                println!(
                    "public key (audit verify --public-key):    {}",
                    public.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => usage(e),
        },
    }
}

fn options(public_key: Option<PathBuf>, hmac_key: Option<PathBuf>) -> anyhow::Result<Options> {
    use anyhow::Context;
    let key = public_key.map(|p| VerifyKey::load(&p)).transpose()?;
    let hmac = hmac_key
        .map(|p| std::fs::read(&p).with_context(|| format!("cannot read {}", p.display())))
        .transpose()?;
    Ok(Options {
        hasher: Hasher::from_key(hmac.as_deref()),
        key,
    })
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`| head`) is a normal end.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => usage(e),
    }
}

fn usage(e: anyhow::Error) -> ExitCode {
    eprintln!("error: {e:#}");
    ExitCode::from(EXIT_USAGE)
}
