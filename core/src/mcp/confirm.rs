//! Two-step confirmation of destructive tool calls. The first call gets a preview and an id; the
//! second must repeat the same parameters with `confirm: true` and that id. An id is single use,
//! expires after five minutes, and is bound to a digest of the parameters and to the caller.
//! Pending ids are bounded per caller (their oldest goes first) and in total (then refused).

use super::quota::{self, Full, Limits, Owned};
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

impl Owned for Pending {
    fn owner(&self) -> Option<&str> {
        self.actor.as_deref()
    }
    fn age(&self) -> Instant {
        self.expires
    }
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
    limits: Limits,
    ttl: Duration,
}

impl ConfirmStore {
    /// At most `per_user` pending ids per caller (`MIMIR_MCP_CONFIRMATIONS_PER_USER`).
    pub fn new(per_user: usize) -> Self {
        Self::with_limits(
            Limits {
                capacity: CAPACITY,
                per_user,
            },
            TTL,
        )
    }

    fn with_limits(limits: Limits, ttl: Duration) -> Self {
        Self {
            pending: Mutex::new(HashMap::new()),
            limits,
            ttl,
        }
    }

    /// A new pending id; `Full` when other callers hold every slot.
    pub fn issue(&self, digest: ParamsDigest, actor: Option<&str>) -> Result<String, Full> {
        let now = Instant::now();
        let mut pending = self.lock();
        pending.retain(|_, p| p.expires > now);
        quota::make_room(&mut pending, actor, self.limits)?;
        let id = super::random_id();
        let entry = Pending {
            digest,
            actor: actor.map(str::to_string),
            expires: now + self.ttl,
        };
        pending.insert(id.clone(), entry);
        Ok(id)
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

    fn limits(capacity: usize, per_user: usize) -> Limits {
        Limits { capacity, per_user }
    }

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
        let store = ConfirmStore::new(CAPACITY);
        let d = digest("t", &Map::new());
        let id = store.issue(d, Some("alice")).unwrap();
        assert_eq!(id.len(), 32);
        assert_eq!(store.redeem(&id, d, Some("alice")), Ok(()));
        assert_eq!(
            store.redeem(&id, d, Some("alice")),
            Err(ConfirmError::Unknown)
        );
    }

    #[test]
    fn ids_are_bound_to_parameters_and_caller() {
        let store = ConfirmStore::new(CAPACITY);
        let d = digest("t", &args(json!({"id":"a"})));
        let other = digest("t", &args(json!({"id":"b"})));
        let id = store.issue(d, Some("alice")).unwrap();
        assert_eq!(
            store.redeem(&id, other, Some("alice")),
            Err(ConfirmError::Mismatch)
        );
        let id = store.issue(d, Some("alice")).unwrap();
        assert_eq!(
            store.redeem(&id, d, Some("bob")),
            Err(ConfirmError::Mismatch)
        );
        let id = store.issue(d, Some("alice")).unwrap();
        assert_eq!(store.redeem(&id, d, None), Err(ConfirmError::Mismatch));
        assert_eq!(
            store.redeem("0123", d, Some("alice")),
            Err(ConfirmError::Unknown)
        );
    }

    #[test]
    fn ids_expire() {
        let store = ConfirmStore::with_limits(limits(10, 10), Duration::ZERO);
        let d = digest("t", &Map::new());
        let id = store.issue(d, None).unwrap();
        assert_eq!(store.redeem(&id, d, None), Err(ConfirmError::Unknown));
    }

    #[test]
    fn a_callers_oldest_id_goes_at_their_cap_and_a_full_store_refuses() {
        let store = ConfirmStore::with_limits(limits(4, 3), TTL);
        let d = digest("t", &Map::new());
        let bob = store.issue(d, Some("bob")).unwrap();
        let ids: Vec<String> = (0..5)
            .map(|_| store.issue(d, Some("alice")).unwrap())
            .collect();
        assert_eq!(store.lock().len(), 4);
        assert_eq!(store.issue(d, Some("carol")), Err(Full));
        assert_eq!(store.redeem(&ids[4], d, Some("alice")), Ok(()));
        let left = ids[..4]
            .iter()
            .filter(|id| store.redeem(id, d, Some("alice")).is_ok())
            .count();
        assert_eq!(left, 2, "two of alice's own ids made room");
        assert_eq!(
            store.redeem(&bob, d, Some("bob")),
            Ok(()),
            "never another caller's"
        );
    }
}
