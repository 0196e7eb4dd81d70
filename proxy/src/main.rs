//! `mimir-proxy`: run the proxy, check a config file, or generate development certificates.

use clap::{Parser, Subcommand};
use mimir_proxy::config;
use std::path::PathBuf;
use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "mimir-proxy",
    version,
    about = "Mimir Gate: TLS-terminating security proxy"
)]
struct Cli {
    /// Policy file (TOML); MIMIR_* environment variables override it. Without it: built-in
    /// defaults plus the environment.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy (the default).
    Run,
    /// Validate a config file as the server would at startup; prints "OK" or the errors.
    CheckConfig {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Generate a development CA and a localhost server certificate signed by it.
    GenCerts {
        #[arg(long, default_value = "certs/dev")]
        dir: PathBuf,
    },
    /// Manage API keys in `auth.keys_file`.
    Keys {
        #[command(subcommand)]
        command: mimir_proxy::authn::cli::KeysCommand,
    },
    /// Refuse every API key, session and proxy-issued token issued until now.
    Lockdown,
    /// The OAuth authorization server's clients and grants (`[oauth]`).
    Oauth {
        #[command(subcommand)]
        command: mimir_proxy::authserver::cli::OAuthCommand,
    },
    /// Generate the Ed25519 key pair signing identity assertions to the core:
    /// DIR/identity.key (for the proxy) and DIR/identity.pub (for the core).
    IdentityKeygen {
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Show how the authorization policy decides a request, and which rule decides it.
    Explain(mimir_proxy::authz::explain::ExplainArgs),
    /// Test the authorization policy against case files, or compare two policies.
    Policy {
        #[command(subcommand)]
        command: mimir_proxy::policy::PolicyCommand,
    },
    /// Translate nginx security directives into a policy file; reports what it cannot.
    ImportNginx(mimir_proxy::nginx_import::ImportArgs),
    /// Verify, read and search audit files; generate a checkpoint signing key.
    Audit {
        #[command(subcommand)]
        command: mimir_proxy::audit::cli::AuditCommand,
    },
    /// Kubernetes mutating admission webhook adding the proxy sidecar to annotated pods.
    Inject(mimir_proxy::inject::InjectArgs),
}

/// Exit status for an invalid configuration (and other usage errors).
const EXIT_INVALID: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => run(cli.config),
        Command::CheckConfig { file } => match config::check(&file) {
            Ok(_) => {
                println!("OK");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(EXIT_INVALID)
            }
        },
        Command::Keys { command } => match config::load(cli.config.as_deref()) {
            Ok(cfg) => mimir_proxy::authn::cli::run_keys(command, &cfg.auth.keys_file),
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(EXIT_INVALID)
            }
        },
        Command::Explain(args) => match config::load(cli.config.as_deref()) {
            Ok(cfg) => mimir_proxy::authz::explain::run(&cfg.authz, &cfg.path_options(), &args),
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(EXIT_INVALID)
            }
        },
        Command::Policy { command } => match config::load(cli.config.as_deref()) {
            Ok(cfg) => mimir_proxy::policy::run(&command, &cfg),
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(EXIT_INVALID)
            }
        },
        Command::IdentityKeygen { out } => match mimir_proxy::keys::assertion::keygen(&out) {
            Ok((key, public)) => {
                println!(
                    "private key (proxy: identity.signing_key_file): {}",
                    key.display()
                );
                println!(
                    "public key (core: MIMIR_PROXY_PUBLIC_KEY_FILE):  {}",
                    public.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Lockdown => match config::load(cli.config.as_deref()) {
            Ok(cfg) => mimir_proxy::authn::cli::run_lockdown(&cfg.auth.lockdown_file),
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(EXIT_INVALID)
            }
        },
        Command::Oauth { command } => match config::load(cli.config.as_deref()) {
            Ok(cfg) => mimir_proxy::authserver::cli::run(command, &cfg.oauth, &cfg.auth.keys_file),
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(EXIT_INVALID)
            }
        },
        Command::Audit { command } => mimir_proxy::audit::cli::run(command),
        Command::ImportNginx(args) => mimir_proxy::nginx_import::run(&args),
        Command::Inject(args) => mimir_proxy::inject::run(args),
        Command::GenCerts { dir } => match mimir_proxy::keys::devcert::generate(&dir) {
            Ok(certs) => {
                println!("CA certificate (trust this): {}", certs.ca_cert.display());
                println!("CA key:                      {}", certs.ca_key.display());
                println!(
                    "server certificate (chain):  {}",
                    certs.server_cert.display()
                );
                println!(
                    "server key:                  {}",
                    certs.server_key.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

fn run(config_path: Option<PathBuf>) -> ExitCode {
    let config = match config::load(config_path.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    mimir_proxy::admin::logging::init(&config.log);
    match mimir_proxy::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}
