//! Two-step confirmation of destructive tool calls. The first call gets a preview and an id; the
//! second must repeat the same parameters with `confirm: true` and that id. An id is single use,
//! expires after five minutes, and is bound to a digest of the parameters and to the caller.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const TTL: Duration = Duration::from_secs(5 * 60);
const CAPACITY: usize = 4096;
/// Arguments that steer the confirmation itself and so are not part of what is confirmed.
const CONTROL_ARGS: &[&str] = &["confirm", "confirmationId"];

pub type ParamsDigest = [u8; 32];

struct Pending {
    digest: ParamsDigest,
    actor: Option<String>,
    expires: Instant,
}

#[derive(Debug, PartialEq, Eq)]
pub enum ConfirmError {
    /// Never issued, already used, or expired.
    Unknown,
    /// Issued for other parameters or another caller.
    Mismatch,
}

pub struct ConfirmStore {
    pending: Mutex<HashMap<String, Pending>>,
    capacity: usize,
    ttl: Duration,
}

impl Default for ConfirmStore {
    fn default() -> Self {
        Self::new(CAPACITY, TTL)
    }
}

impl ConfirmStore {
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            pending: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            ttl,
        }
    }

    pub fn issue(&self, digest: ParamsDigest, actor: Option<&str>) -> String {
        let now = Instant::now();
        let mut pending = self.lock();
        pending.retain(|_, p| p.expires > now);
        if pending.len() >= self.capacity {
            let oldest = pending
                .iter()
                .min_by_key(|(_, p)| p.expires)
                .map(|(id, _)| id.clone());
            if let Some(id) = oldest {
                pending.remove(&id);
            }
        }
        let id = super::random_id();
        let entry = Pending {
            digest,
            actor: actor.map(str::to_string),
            expires: now + self.ttl,
        };
        pending.insert(id.clone(), entry);
        id
    }

    /// Consumes `id` whatever the outcome, so a presented id can never be tried twice.
    pub fn redeem(
        &self,
        id: &str,
        digest: ParamsDigest,
        actor: Option<&str>,
    ) -> Result<(), ConfirmError> {
        let entry = self.lock().remove(id).ok_or(ConfirmError::Unknown)?;
        if entry.expires <= Instant::now() {
            return Err(ConfirmError::Unknown);
        }
        if entry.digest != digest || entry.actor.as_deref() != actor {
            return Err(ConfirmError::Mismatch);
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// SHA-256 of the tool name and its arguments (without the control arguments), with object
/// keys sorted so that key order does not matter.
pub fn digest(tool: &str, args: &Map<String, Value>) -> ParamsDigest {
    let confirmed: Map<String, Value> = args
        .iter()
        .filter(|(k, _)| !CONTROL_ARGS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut canonical = String::new();
    write_canonical(&Value::Object(confirmed), &mut canonical);
    let mut hasher = Sha256::new();
    hasher.update(tool.as_bytes());
    hasher.update([0]);
    hasher.update(canonical.as_bytes());
    hasher.finalize().into()
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().filter(|(_, v)| !v.is_null()).collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn digest_ignores_key_order_nulls_and_control_args() {
        let a = digest(
            "memory_node",
            &args(json!({"operation":"delete","id":"n1","x":{"b":1,"a":2}})),
        );
        let b = digest(
            "memory_node",
            &args(
                json!({"x":{"a":2,"b":1},"id":"n1","operation":"delete","confirm":true,"confirmationId":"z","y":null}),
            ),
        );
        assert_eq!(a, b);
        assert_ne!(
            a,
            digest(
                "memory_node",
                &args(json!({"operation":"delete","id":"n2"}))
            )
        );
        assert_ne!(
            a,
            digest(
                "memory_clear",
                &args(json!({"operation":"delete","id":"n1","x":{"b":1,"a":2}}))
            )
        );
    }

    #[test]
    fn ids_are_single_use() {
        let store = ConfirmStore::default();
        let d = digest("t", &Map::new());
        let id = store.issue(d, Some("alice"));
        assert_eq!(id.len(), 32);
        assert_eq!(store.redeem(&id, d, Some("alice")), Ok(()));
        assert_eq!(
            store.redeem(&id, d, Some("alice")),
            Err(ConfirmError::Unknown)
        );
    }

    #[test]
    fn ids_are_bound_to_parameters_and_caller() {
        let store = ConfirmStore::default();
        let d = digest("t", &args(json!({"id":"a"})));
        let other = digest("t", &args(json!({"id":"b"})));
        let id = store.issue(d, Some("alice"));
        assert_eq!(
            store.redeem(&id, other, Some("alice")),
            Err(ConfirmError::Mismatch)
        );
        let id = store.issue(d, Some("alice"));
        assert_eq!(
            store.redeem(&id, d, Some("bob")),
            Err(ConfirmError::Mismatch)
        );
        let id = store.issue(d, Some("alice"));
        assert_eq!(store.redeem(&id, d, None), Err(ConfirmError::Mismatch));
        assert_eq!(
            store.redeem("0123", d, Some("alice")),
            Err(ConfirmError::Unknown)
        );
    }

    #[test]
    fn ids_expire() {
        let store = ConfirmStore::new(10, Duration::ZERO);
        let d = digest("t", &Map::new());
        let id = store.issue(d, None);
        assert_eq!(store.redeem(&id, d, None), Err(ConfirmError::Unknown));
    }

    #[test]
    fn the_store_is_bounded() {
        let store = ConfirmStore::new(3, TTL);
        let d = digest("t", &Map::new());
        let ids: Vec<String> = (0..5).map(|_| store.issue(d, None)).collect();
        assert_eq!(store.lock().len(), 3);
        assert_eq!(store.redeem(&ids[4], d, None), Ok(()));
    }
}
