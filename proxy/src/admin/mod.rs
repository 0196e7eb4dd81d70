//! Running the proxy in operation: the admin listener (health, readiness, metrics, and the
//! endpoint nginx asks), the Prometheus metrics every part records into, and process-wide logging.
//! Uses nothing else of the crate: the parts it serves for (readiness of the audit trail,
//! `auth_request`) are handed in, so everything else may record metrics.

pub mod listener;
pub mod logging;
pub mod metrics;
