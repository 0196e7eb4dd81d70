//! The proxy's own key material: Ed25519 key pairs ([`ed25519`]: generation, PEM files), the
//! signed identity assertion for the core ([`assertion`], configured by `[identity]`:
//! [`identity_config`]) and the development CA and server certificate ([`devcert`]). Verifying
//! other parties' keys (JWKS, API keys) is authentication's ([`crate::authn`]).
//! Uses [`crate::settings`] and [`crate::request`] only.

pub mod assertion;
pub mod devcert;
pub mod ed25519;
pub mod identity_config;
