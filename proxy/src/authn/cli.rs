//! `mimir-proxy keys create|list|revoke` and `mimir-proxy lockdown`. They edit the files a
//! running proxy watches, so changes take effect within a second without a restart.

use clap::Subcommand;
use std::path::Path;
use std::process::ExitCode;

use super::keystore::{KeyFile, KeyRecord};
use super::{apikey, lockdown, now};
use crate::request::header_value::is_header_safe;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it once; only its hash is stored.
    Create {
        /// Label shown in listings and used as the user id (`apikey:<name>`; `apikey|<name>` for
        /// the core).
        #[arg(long)]
        name: String,
        /// Comma-separated roles.
        #[arg(long, value_delimiter = ',')]
        roles: Vec<String>,
        /// Lifetime such as 90d, 12h, 30m, or `never`.
        #[arg(long, default_value = "90d")]
        expires: String,
    },
    /// List keys (ids, names, roles, times; never the keys).
    List,
    /// Revoke a key by id.
    Revoke { id: String },
}

pub fn run_keys(command: KeysCommand, file: &Path) -> ExitCode {
    match keys(command, file) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn keys(command: KeysCommand, file: &Path) -> anyhow::Result<()> {
    let mut keys = KeyFile::load(file)?;
    let now = now();
    match command {
        KeysCommand::Create {
            name,
            roles,
            expires,
        } => {
            anyhow::ensure!(
                is_header_safe(&name, true),
                "--name must be printable ASCII without spaces or commas"
            );
            let roles: Vec<String> = roles
                .into_iter()
                .map(|r| r.trim().to_owned())
                .filter(|r| !r.is_empty())
                .collect();
            if let Some(bad) = roles.iter().find(|r| !is_header_safe(r, true)) {
                anyhow::bail!("invalid role {bad:?}");
            }
            let lifetime = parse_lifetime(&expires)?;
            let new = apikey::generate()?;
            keys.keys.push(KeyRecord {
                id: new.id.clone(),
                name,
                roles,
                created_at: now,
                expires_at: lifetime.map(|l| now + l),
                revoked_at: None,
                hash: new.hash,
            });
            keys.save(file)?;
            eprintln!(
                "key id {} (store the key now: it is not shown again)",
                new.id
            );
            println!("{}", new.key);
        }
        KeysCommand::List => {
            println!(
                "{:<14} {:<20} {:<24} {:<11} {:<11} status",
                "id", "name", "roles", "created", "expires"
            );
            for k in &keys.keys {
                let status = if k.revoked_at.is_some() {
                    "revoked"
                } else if k.expires_at.is_some_and(|e| now >= e) {
                    "expired"
                } else {
                    "active"
                };
                println!(
                    "{:<14} {:<20} {:<24} {:<11} {:<11} {status}",
                    k.id,
                    k.name,
                    k.roles.join(","),
                    k.created_at,
                    k.expires_at.map_or("never".into(), |e| e.to_string()),
                );
            }
        }
        KeysCommand::Revoke { id } => {
            let key = keys
                .keys
                .iter_mut()
                .find(|k| k.id == id)
                .ok_or_else(|| anyhow::anyhow!("no key with id {id:?}"))?;
            key.revoked_at.get_or_insert(now);
            keys.save(file)?;
            println!("revoked {id}");
        }
    }
    Ok(())
}

/// `90d`, `12h`, `30m`, `45s` → seconds; `never` → `None`.
fn parse_lifetime(text: &str) -> anyhow::Result<Option<u64>> {
    if text == "never" {
        return Ok(None);
    }
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let multiplier = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => anyhow::bail!("--expires {text:?}: expected e.g. 90d, 12h, 30m, 45s or never"),
    };
    let n: u64 = number.parse().map_err(|_| {
        anyhow::anyhow!("--expires {text:?}: expected e.g. 90d, 12h, 30m, 45s or never")
    })?;
    anyhow::ensure!(n > 0, "--expires must be positive");
    Ok(Some(n * multiplier))
}

pub fn run_lockdown(file: &Path) -> ExitCode {
    let now = now();
    match lockdown::declare(file, now) {
        Ok(()) => {
            println!(
                "lockdown at {now}: every API key, session and proxy-issued token issued until now is refused \
                 (running proxies notice within a second; create new keys with `mimir-proxy keys create`)"
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes() {
        assert_eq!(parse_lifetime("90d").unwrap(), Some(90 * 86_400));
        assert_eq!(parse_lifetime("12h").unwrap(), Some(43_200));
        assert_eq!(parse_lifetime("never").unwrap(), None);
        for bad in ["", "d", "0d", "-1d", "10", "10y", "1.5h"] {
            assert!(parse_lifetime(bad).is_err(), "{bad}");
        }
    }
}
