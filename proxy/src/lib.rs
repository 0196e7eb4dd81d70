//! Mimir Gate proxy: terminates TLS, normalizes and cleans every request once, and forwards it
//! to the Mimir core. [`run`] starts it from a loaded [`config::ProxyConfig`]. The folders, from
//! the ones that use nothing of the crate up to the ones that wire everything, are mapped in
//! docs/README.md.
pub mod admin;
pub mod audit;
pub mod authn;
pub mod authserver;
pub mod authverify;
pub mod authz;
pub mod config;
pub mod gateway;
pub mod hexstr;
pub mod inject;
pub mod keys;
pub mod nginx_import;
pub mod pipeline;
pub mod policy;
pub mod reply;
pub mod request;
pub mod server;
pub mod settings;
pub mod tls;
pub mod traffic;

pub use server::run;
