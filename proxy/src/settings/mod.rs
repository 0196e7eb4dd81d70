//! Configuration primitives every part of the proxy that has settings uses: where a value came
//! from and what is wrong with it ([`Origin`], [`Issue`], [`ConfigError`]), environment variables
//! ([`EnvSource`], [`env_value`]) and TOML documents that remember the position of every key
//! ([`Document`]). Uses nothing else of the crate, so the subsystems' own settings (authn, audit,
//! authz, traffic, keys) and the policy file that gathers them (`config`) can all build on it.

mod document;
pub mod env;
mod error;

pub use document::Document;
pub use env::{env_value, EnvSource, ProcessEnv};
pub use error::{ConfigError, Issue, Origin};
