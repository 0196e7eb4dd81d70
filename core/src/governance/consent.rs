//! Consent flags per user (`analytics: true`, …), kept in the graph as one `consent` node per
//! user, classified `restricted` and about the user (so erasure removes it too).

use super::{SENSITIVITY_KEY, SUBJECT_KEY};
use crate::store::{GraphStore, NewNode, Properties, StoreError, StoreResult, WriteOp};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

pub const NODE_TYPE: &str = "consent";
const FLAG_PREFIX: &str = "flag_";
const MAX_FLAGS: usize = 64;
const MAX_FLAG_NAME: usize = 64;

/// A fixed-length id per user (user ids may be as long as an id may be).
pub(crate) fn node_id(user: &str) -> String {
    let digest = Sha256::digest(user.as_bytes());
    format!("{NODE_TYPE}-{}", hex::encode(&digest[..16]))
}

/// The user's flags and when they last changed (`None`: never set).
pub async fn get(
    store: &dyn GraphStore,
    user: &str,
) -> StoreResult<(Map<String, Value>, Option<String>)> {
    let Some(node) = store.get_node(&node_id(user)).await? else {
        return Ok((Map::new(), None));
    };
    let flags = node
        .properties
        .into_iter()
        .filter_map(|(key, value)| Some((key.strip_prefix(FLAG_PREFIX)?.to_owned(), value)))
        .collect();
    Ok((flags, Some(node.updated)))
}

/// Replaces the user's flags with `flags` (names of letters, digits, `_`, `-`; boolean values).
pub async fn put(
    store: &dyn GraphStore,
    user: &str,
    flags: &Map<String, Value>,
    actor: Option<&str>,
) -> StoreResult<()> {
    if flags.len() > MAX_FLAGS {
        return Err(StoreError::Invalid(format!(
            "at most {MAX_FLAGS} consent flags"
        )));
    }
    let mut properties = Properties::new();
    for (name, value) in flags {
        let valid_name = !name.is_empty()
            && name.len() <= MAX_FLAG_NAME
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid_name {
            return Err(StoreError::Invalid(format!(
                "consent flag {name:?} must be 1 to {MAX_FLAG_NAME} letters, digits, '_' or '-'"
            )));
        }
        if !value.is_boolean() {
            return Err(StoreError::Invalid(format!(
                "consent flag {name:?} must be true or false"
            )));
        }
        properties.insert(format!("{FLAG_PREFIX}{name}"), value.clone());
    }
    properties.insert(SUBJECT_KEY.into(), user.into());
    properties.insert(SENSITIVITY_KEY.into(), "restricted".into());
    let id = node_id(user);
    let op = match store.get_node(&id).await? {
        Some(existing) => {
            for key in existing.properties.keys() {
                properties.entry(key.clone()).or_insert(Value::Null);
            }
            WriteOp::UpdateNode { id, properties }
        }
        None => WriteOp::AddNode(NewNode {
            id: Some(id),
            node_type: NODE_TYPE.into(),
            properties,
        }),
    };
    store.apply(vec![op], actor).await?;
    Ok(())
}
