//! Mimir Gate proxy.
