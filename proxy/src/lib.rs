//! Mimir Gate proxy: terminates TLS, normalizes and cleans every request once, and forwards it
//! to the Mimir core. [`run`] starts it from a loaded [`config::ProxyConfig`].
pub mod admin;
pub mod assertion;
pub mod audit;
pub mod authn;
pub mod authn_guarded;
pub mod authverify;
pub mod authz;
pub mod config;
pub mod connlimit;
pub mod devcert;
pub mod ed25519;
pub mod errors;
pub mod forwarded;
pub mod framing;
pub mod gateway;
pub mod identity;
pub mod inject;
pub mod ipfilter;
pub mod logging;
pub mod metrics;
pub mod nginx_import;
pub mod normalize;
pub mod pipeline;
pub mod ratelimit;
pub mod request_id;
pub mod server;
pub mod tls;
pub mod unauthenticated;

pub use server::run;
