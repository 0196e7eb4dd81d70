//! Development users: upstream Mimir's `MIMIR_DEV_USER_<NAME>=username:password:role1,role2`
//! (and the legacy `MIMIR_DEV_USERNAME`/`MIMIR_DEV_PASSWORD` pair), plus users the embedding
//! program generates. Passwords are kept only as Argon2id hashes; a login with an unknown name
//! still runs one verification so that timing does not reveal which names exist.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};

use crate::settings::{env_value, EnvSource};

const ENV_PREFIX: &str = "MIMIR_DEV_USER_";
/// Roles of a dev user whose variable names none (upstream behaviour).
const DEFAULT_ROLE: &str = "viewer";
/// The users the embedded default generates, with their roles.
pub const DEFAULT_USERS: &[(&str, &[&str])] = &[
    ("admin", &["admin"]),
    ("developer", &["developer"]),
    ("analyst", &["analyst"]),
    ("viewer", &["viewer"]),
];

#[derive(Clone, PartialEq, Eq)]
pub struct DevUser {
    /// User id: the `<NAME>` of the variable, lowercased.
    pub id: String,
    pub username: String,
    pub roles: Vec<String>,
    /// PHC string of the Argon2id hash.
    password_hash: String,
}

impl std::fmt::Debug for DevUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevUser")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

impl DevUser {
    pub fn new(
        id: &str,
        username: &str,
        password: &str,
        roles: Vec<String>,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(!username.is_empty(), "dev user {id}: empty username");
        anyhow::ensure!(!password.is_empty(), "dev user {id}: empty password");
        Ok(Self {
            id: id.to_owned(),
            username: username.to_owned(),
            roles,
            password_hash: hash_password(password)?,
        })
    }
}

fn hash_password(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| anyhow::anyhow!("system random number generator failed"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .to_string())
}

/// Dev users from the environment, given the names of the variables that are set (`_FILE`
/// variants included). Malformed variables are errors, not silently skipped.
pub fn from_env(env: &dyn EnvSource, names: &[String]) -> anyhow::Result<Vec<DevUser>> {
    let mut names: Vec<&str> = names
        .iter()
        .filter(|n| n.starts_with(ENV_PREFIX))
        .map(|n| n.strip_suffix("_FILE").unwrap_or(n))
        .collect();
    names.sort_unstable();
    names.dedup();
    let mut users = Vec::new();
    for name in names {
        let Some(value) = env_value(env, name)? else {
            continue;
        };
        let id = name[ENV_PREFIX.len()..].to_ascii_lowercase();
        let mut parts = value.splitn(3, ':');
        let (Some(username), Some(password)) = (parts.next(), parts.next()) else {
            anyhow::bail!("{name}: expected username:password:role1,role2");
        };
        let roles = parse_roles(parts.next().unwrap_or(""));
        users.push(
            DevUser::new(&id, username, password, roles)
                .map_err(|e| anyhow::anyhow!("{name}: {e}"))?,
        );
    }
    if users.is_empty() {
        if let (Some(username), Some(password)) = (
            env_value(env, "MIMIR_DEV_USERNAME")?,
            env_value(env, "MIMIR_DEV_PASSWORD")?,
        ) {
            users.push(DevUser::new(
                "legacy-admin",
                &username,
                &password,
                vec!["admin".into()],
            )?);
        }
    }
    Ok(users)
}

fn parse_roles(text: &str) -> Vec<String> {
    let roles: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect();
    if roles.is_empty() {
        vec![DEFAULT_ROLE.into()]
    } else {
        roles
    }
}

/// The four default users with fresh random passwords, and the text to print once (the only
/// place the passwords ever appear).
pub fn generate_defaults() -> anyhow::Result<(Vec<DevUser>, String)> {
    let rng = SystemRandom::new();
    let mut users = Vec::new();
    let mut banner = String::from("development users (passwords are shown only now):\n");
    for (name, roles) in DEFAULT_USERS {
        let mut secret = [0u8; 18];
        rng.fill(&mut secret)
            .map_err(|_| anyhow::anyhow!("system random number generator failed"))?;
        let password = URL_SAFE_NO_PAD.encode(secret);
        let roles: Vec<String> = roles.iter().map(|r| (*r).to_owned()).collect();
        banner += &format!("  {name:<10} {password}  roles: {}\n", roles.join(","));
        users.push(DevUser::new(name, name, &password, roles)?);
    }
    Ok((users, banner))
}

pub struct DevUsers {
    users: Vec<DevUser>,
    /// Verified against when the name is unknown, so both paths cost the same.
    decoy: String,
}

impl DevUsers {
    pub fn new(users: Vec<DevUser>) -> anyhow::Result<Self> {
        Ok(Self {
            users,
            decoy: hash_password("decoy password never matches")?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Whether a user with id `id` exists.
    pub fn contains(&self, id: &str) -> bool {
        self.users.iter().any(|u| u.id == id)
    }

    /// The user if the password is right. CPU-heavy (Argon2): call it off the async threads.
    pub fn check(&self, username: &str, password: &str) -> Option<&DevUser> {
        let user = self.users.iter().find(|u| u.username == username);
        let hash = user.map_or(self.decoy.as_str(), |u| u.password_hash.as_str());
        let ok = PasswordHash::new(hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false);
        user.filter(|_| ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn parses_upstream_variables() {
        let env: HashMap<String, String> = [
            ("MIMIR_DEV_USER_ADMIN", "admin:s3cret:admin, developer"),
            ("MIMIR_DEV_USER_VIEWER", "view:pw"),
            ("MIMIR_DEV_USERNAME", "ignored"),
            ("MIMIR_DEV_PASSWORD", "ignored"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let mut names: Vec<String> = env.keys().cloned().collect();
        names.sort();
        let users = from_env(&env, &names).unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(
            (users[0].id.as_str(), users[0].username.as_str()),
            ("admin", "admin")
        );
        assert_eq!(users[0].roles, ["admin", "developer"]);
        assert_eq!(users[1].roles, ["viewer"]);
        assert!(!users[0].password_hash.contains("s3cret"));
        let dev = DevUsers::new(users).unwrap();
        assert_eq!(
            dev.check("admin", "s3cret").map(|u| u.id.as_str()),
            Some("admin")
        );
        assert!(dev.check("admin", "wrong").is_none());
        assert!(dev.check("nobody", "s3cret").is_none());

        let bad: HashMap<String, String> =
            [("MIMIR_DEV_USER_X".to_string(), "nopassword".to_string())].into();
        assert!(from_env(&bad, &["MIMIR_DEV_USER_X".into()]).is_err());
    }

    #[test]
    fn generated_defaults_have_distinct_random_passwords() {
        let (users, banner) = generate_defaults().unwrap();
        let (again, banner2) = generate_defaults().unwrap();
        assert_eq!(users.len(), 4);
        assert_ne!(banner, banner2);
        assert_ne!(users[0].password_hash, again[0].password_hash);
        assert!(banner.contains("analyst"));
    }
}
