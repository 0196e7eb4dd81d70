//! Embedded SQLite store (placeholder until the store lands).
pub struct EmbeddedStore;
