//! `mimir-gate`: the whole stack in one process on embedded defaults — the core (embedded
//! store under ./data) on loopback and the TLS proxy in front of it.

use clap::Parser;
use mimir_core::config::CoreConfig;
use mimir_proxy::config;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "mimir-gate",
    version,
    about = "Mimir core + Mimir Gate proxy in one process"
)]
struct Cli {
    /// Proxy policy file. The core is configured by its MIMIR_* environment variables.
    #[arg(long, default_value = "config/policy.toml")]
    config: PathBuf,
}

/// How long the core may take to open its listener before start-up is abandoned.
const CORE_START_TIMEOUT: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut proxy = match config::load(Some(&cli.config)) {
        Ok(proxy) => proxy,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    mimir_proxy::admin::logging::init(&proxy.log);
    if let Err(e) = add_default_dev_users(&mut proxy) {
        tracing::error!("{e:#}");
        return ExitCode::FAILURE;
    }
    let mut core = CoreConfig::parse_from(["mimir-gate"]);
    if let Err(e) = share_identity_key(&mut proxy, &mut core) {
        tracing::error!("{e:#}");
        return ExitCode::FAILURE;
    }
    let core_addr = core.bind;
    std::thread::spawn(move || run_core(core));
    if let Err(e) = wait_for(core_addr) {
        tracing::error!("{e}");
        return ExitCode::FAILURE;
    }
    // pingora owns its runtimes and exits the process after draining on SIGTERM.
    match mimir_proxy::run(proxy) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The embedded default's four users (admin, developer, analyst, viewer) with passwords
/// generated now and printed once, unless users are configured in the environment.
fn add_default_dev_users(proxy: &mut config::ProxyConfig) -> anyhow::Result<()> {
    let configured = std::env::vars()
        .any(|(name, _)| name.starts_with("MIMIR_DEV_USER_") || name == "MIMIR_DEV_USERNAME");
    if !configured {
        let (users, banner) = mimir_proxy::authn::dev::generate_defaults()?;
        eprintln!("{banner}");
        proxy.auth.extra_dev_users = users;
    }
    Ok(())
}

/// The core accepts only callers the proxy vouches for: it gets the public half of the key
/// signing identity assertions (`identity.signing_key_file`, or one generated now and handed to
/// the proxy in process) and the header they travel in.
fn share_identity_key(
    proxy: &mut config::ProxyConfig,
    core: &mut CoreConfig,
) -> anyhow::Result<()> {
    use mimir_proxy::keys::ed25519;
    let public = match &proxy.identity.signing_key_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)?;
            ed25519::public_pem_of(&text)?
        }
        None => {
            let (private, public) = ed25519::generate_pem_pair()?;
            proxy.identity.key_pem = Some(private);
            public
        }
    };
    core.proxy_public_key_pem = Some(public);
    core.proxy_public_key_file = None;
    core.require_proxy_identity = true;
    core.identity_header = proxy.headers.identity_header.clone();
    Ok(())
}

fn run_core(config: CoreConfig) {
    let result = tokio::runtime::Runtime::new()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(mimir_core::serve(config, std::future::pending())));
    if let Err(e) = result {
        tracing::error!("mimir core stopped: {e:#}");
        std::process::exit(1);
    }
}

fn wait_for(addr: SocketAddr) -> Result<(), String> {
    let started = Instant::now();
    while started.elapsed() < CORE_START_TIMEOUT {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("mimir core did not start listening on {addr}"))
}
