//! `mimir-proxy oauth clients|grants|revoke`: what the authorization server holds, and ending
//! grants. Listing reads the state file; revoking appends to the revocations file, which the
//! running gateway applies within a second (and audits).

use clap::Subcommand;
use std::path::Path;
use std::process::ExitCode;

use super::config::OAuthConfig;
use super::revocations::{Entry, Kind, List};
use super::store::State;
use crate::authn::now;

#[derive(Subcommand)]
pub enum OAuthCommand {
    /// List registered and configured clients.
    Clients,
    /// List grants (user, client, scope, times; never a token).
    Grants,
    /// End a grant, every grant of a client (and its registration), or every grant of a user
    /// (`<source>|<id>`, as `grants` lists them).
    Revoke {
        #[arg(value_enum)]
        kind: Kind,
        id: String,
    },
}

/// `keys_file` places the state files by default ([`OAuthConfig::files`]).
pub fn run(command: OAuthCommand, cfg: &OAuthConfig, keys_file: &Path) -> ExitCode {
    match oauth(command, cfg, keys_file) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn oauth(command: OAuthCommand, cfg: &OAuthConfig, keys_file: &Path) -> anyhow::Result<()> {
    let (state_file, revocations_file) = cfg.files(keys_file);
    let state = State::load(&state_file)?;
    match command {
        OAuthCommand::Clients => {
            println!("CLIENT ID\tKIND\tNAME\tREDIRECT URIS");
            for c in &cfg.clients {
                println!(
                    "{}\tconfigured\t{}\t{}",
                    c.client_id,
                    c.name,
                    c.redirect_uris.join(" ")
                );
            }
            for c in state.clients.values() {
                println!(
                    "{}\tregistered\t{}\t{}",
                    c.client_id,
                    c.name,
                    c.redirect_uris.join(" ")
                );
            }
        }
        OAuthCommand::Grants => {
            println!("GRANT ID\tUSER\tCLIENT ID\tSCOPE\tCREATED\tEXPIRES");
            for g in state.grants.values() {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    g.id,
                    g.qualified_id,
                    g.client_id,
                    g.scope().unwrap_or_else(|| "(all roles)".into()),
                    g.created_at,
                    g.expires_at
                );
            }
        }
        OAuthCommand::Revoke { kind, id } => {
            List::append(
                &revocations_file,
                Entry {
                    kind,
                    id: id.clone(),
                    at: now(),
                },
            )?;
            eprintln!("revoked {kind:?} {id}: a running gateway applies it within a second");
        }
    }
    Ok(())
}
