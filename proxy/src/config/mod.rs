//! The proxy's policy file (TOML) and its environment overrides, loaded and validated as one
//! [`ProxyConfig`]. Field names and defaults here are the documented contract
//! (docs/configuration.md).
//!
//! Uses `settings` and the subsystems whose sections it gathers (`authn`, `audit`, `authz`,
//! `traffic`, `keys`, `admin`) and `request`; nothing below it uses `config`, only the parts that
//! run the proxy (`pipeline`, `gateway`, `server`, `tls`, `authverify`).

mod defaults;
mod env;
mod load;
mod origins;
mod sections;
mod validate;

pub use load::{check, load, load_with_env, parse_with_env};
pub use sections::{
    HeaderConfig, LimitConfig, PathConfig, ProxyConfig, ServerConfig, TlsConfig, UpstreamConfig,
};
