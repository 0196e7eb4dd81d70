//! The graph as one caller may see and change it. Every REST and MCP handler works through
//! this view: nodes above the caller's clearance are absent (reads, searches, counts, edges and
//! walks alike, so nothing reveals that they exist), writes are classified and scanned for
//! personal data, and nobody writes a node above their own clearance.
//!
//! Classification and PII tags live in the node's properties (`sensitivity`, `pii`), so both
//! stores keep them with no schema of their own; the view lifts them out into the node's
//! `sensitivity` and `pii` fields for callers. What a caller may see is decided here
//! ([`Classification::visibility`]) and filtered by the store itself
//! ([`GraphStore::restricted`]), so pages are full and nothing hidden is read.

use super::pii::{self, PiiMode};
use super::{Sensitivity, SensitivityDefaults, PII_KEY, SENSITIVITY_KEY};
use crate::store::properties::flatten;
use crate::store::visibility::Types;
use crate::store::{
    Direction, Edge, GraphStore, LockOutcome, NewNode, Node, NodeQuery, Properties, ScoredNode,
    StoreError, StoreResult, Subgraph, Visibility, WriteOp, WriteResult,
};
use async_trait::async_trait;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// How writes are classified: the default level per type and what PII detection does.
#[derive(Debug, Clone, Default)]
pub struct Classification {
    pub defaults: SensitivityDefaults,
    pub pii_mode: PiiMode,
}

impl Classification {
    /// The level of a stored node: its `sensitivity` property, or its type's default when it
    /// has none. An unreadable value counts as `restricted` (fail closed).
    pub fn level_of(&self, node: &Node) -> Sensitivity {
        match node.properties.get(SENSITIVITY_KEY) {
            None | Some(Value::Null) => self.defaults.for_type(&node.node_type),
            Some(Value::String(text)) => {
                Sensitivity::parse(text).unwrap_or(Sensitivity::Restricted)
            }
            Some(_) => Sensitivity::Restricted,
        }
    }

    /// The nodes a caller with `clearance` sees: those whose level is at most `clearance`
    /// (see [`Self::level_of`]); `None` when that is every node.
    pub fn visibility(&self, clearance: Sensitivity) -> Option<Visibility> {
        if clearance == Sensitivity::Restricted {
            // Even an unreadable label counts as restricted, so nothing is above this.
            return None;
        }
        let labels = Sensitivity::ALL
            .into_iter()
            .filter(|level| *level <= clearance)
            .map(|level| level.as_str().to_owned())
            .collect();
        let defaults = &self.defaults;
        let fallback_shown = defaults.fallback() <= clearance;
        // The named types whose default differs in visibility from the fallback's.
        let exceptions = defaults
            .named()
            .filter(|(_, level)| (*level <= clearance) != fallback_shown)
            .map(|(node_type, _)| node_type.to_owned())
            .collect();
        let unlabelled = if fallback_shown {
            Types::all_but(exceptions)
        } else {
            Types::only(exceptions)
        };
        Some(Visibility { labels, unlabelled })
    }

    /// The node as callers see it: level and PII kinds as fields, not properties.
    pub fn present(&self, mut node: Node) -> Node {
        node.sensitivity = Some(self.level_of(&node));
        node.properties.remove(SENSITIVITY_KEY);
        node.pii = match node.properties.remove(PII_KEY) {
            Some(Value::Array(kinds)) => kinds
                .into_iter()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        node
    }

    /// Scans `properties` (masking in mask mode) and sets `sensitivity` (raised in raise mode
    /// when personal data is found) and `pii`.
    fn classify(&self, properties: &mut Properties, level: Sensitivity) {
        let masking = self.pii_mode == PiiMode::Mask;
        let kinds = pii::inspect(properties, &[SENSITIVITY_KEY, PII_KEY], masking);
        let level = if self.pii_mode == PiiMode::Raise && !kinds.is_empty() {
            level.max(Sensitivity::Confidential)
        } else {
            level
        };
        properties.insert(SENSITIVITY_KEY.into(), level.as_str().into());
        let kinds: Vec<Value> = kinds.iter().map(|k| k.as_str().into()).collect();
        properties.insert(
            PII_KEY.into(),
            if kinds.is_empty() {
                Value::Null
            } else {
                kinds.into()
            },
        );
    }
}

/// A level a writer asked for: absent (`None`), `null` (back to the default) or a level name.
fn requested_level(value: Option<&Value>) -> StoreResult<Option<Option<Sensitivity>>> {
    match value {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(text)) => Sensitivity::parse(text)
            .map(|level| Some(Some(level)))
            .ok_or_else(|| invalid_level(text)),
        Some(other) => Err(invalid_level(&other.to_string())),
    }
}

fn invalid_level(text: &str) -> StoreError {
    StoreError::Invalid(format!(
        "sensitivity {text:?} must be one of public, internal, confidential, restricted"
    ))
}

pub struct GovernedStore {
    /// The store restricted to what the caller may see: every read goes through it.
    store: Arc<dyn GraphStore>,
    rules: Arc<Classification>,
    clearance: Sensitivity,
}

impl GovernedStore {
    pub fn new(
        inner: Arc<dyn GraphStore>,
        rules: Arc<Classification>,
        clearance: Sensitivity,
    ) -> Self {
        let store = match rules.visibility(clearance) {
            Some(visibility) => inner.restricted(&visibility),
            None => inner,
        };
        Self {
            store,
            rules,
            clearance,
        }
    }

    fn refuse_above_clearance(&self, level: Sensitivity) -> StoreResult<()> {
        if level > self.clearance {
            return Err(StoreError::Forbidden(format!(
                "cannot write a {level} node with {} clearance",
                self.clearance
            )));
        }
        Ok(())
    }

    /// The stored node `id` if the caller may see it, or `NotFound` (absent and hidden alike).
    async fn require_visible(&self, id: &str) -> StoreResult<Node> {
        self.store
            .get_node(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("node {id}")))
    }

    /// Write ops as the caller may issue them, classified. `added` tracks the nodes of this
    /// batch, so that a later op of the same batch sees them.
    async fn govern(&self, op: WriteOp, added: &mut HashMap<String, Node>) -> StoreResult<WriteOp> {
        Ok(match op {
            WriteOp::AddNode(new) => WriteOp::AddNode(self.govern_new(new, added)?),
            WriteOp::UpdateNode { id, properties } => {
                let existing = match added.get(&id) {
                    Some(node) => node.clone(),
                    None => self.require_visible(&id).await?,
                };
                let properties = self.govern_update(&existing, properties)?;
                let mut updated = existing;
                crate::store::records::update_node(&mut updated, properties.clone(), None, "");
                added.insert(id.clone(), updated);
                WriteOp::UpdateNode { id, properties }
            }
            WriteOp::DeleteNode { id } => {
                if !added.contains_key(&id) {
                    self.require_visible(&id).await?;
                }
                WriteOp::DeleteNode { id }
            }
            WriteOp::AddEdge(new) => {
                for end in [&new.source, &new.target] {
                    // Writes are not filtered: an end must be added earlier in the batch or
                    // be visible, or the edge would reach a hidden node.
                    if !added.contains_key(end) {
                        self.require_visible(end).await?;
                    }
                }
                WriteOp::AddEdge(new)
            }
            WriteOp::DeleteEdge { id } => {
                if self.store.get_edge(&id).await?.is_none() {
                    return Err(StoreError::NotFound(format!("edge {id}")));
                }
                WriteOp::DeleteEdge { id }
            }
        })
    }

    fn govern_new(
        &self,
        mut new: NewNode,
        added: &mut HashMap<String, Node>,
    ) -> StoreResult<NewNode> {
        let mut properties = flatten(std::mem::take(&mut new.properties));
        properties.remove(PII_KEY);
        let level = match requested_level(properties.get(SENSITIVITY_KEY))? {
            Some(Some(level)) => level,
            _ => self.rules.defaults.for_type(&new.node_type),
        };
        self.refuse_above_clearance(level)?;
        self.rules.classify(&mut properties, level);
        new.properties = properties;
        if let Some(id) = &new.id {
            let node = crate::store::records::new_node(new.clone(), None, "")?;
            added.insert(id.clone(), node);
        }
        Ok(new)
    }

    /// The changes to write: the caller's, plus the node's new classification and PII tags.
    fn govern_update(&self, existing: &Node, changes: Properties) -> StoreResult<Properties> {
        let mut changes = flatten(changes);
        changes.remove(PII_KEY);
        let level = match requested_level(changes.get(SENSITIVITY_KEY))? {
            Some(Some(level)) => {
                self.refuse_above_clearance(level)?;
                level
            }
            Some(None) => self.rules.defaults.for_type(&existing.node_type),
            None => self.rules.level_of(existing),
        };
        let mut merged = existing.clone();
        crate::store::records::update_node(&mut merged, changes.clone(), None, "");
        let mut properties = merged.properties;
        self.rules.classify(&mut properties, level);
        // Masking may have changed values, and classification sets its own keys: every value
        // of the classified node that differs from the stored one is written.
        for (key, value) in properties {
            if existing.properties.get(&key) != Some(&value) {
                changes.insert(key, value);
            }
        }
        Ok(changes)
    }

    fn present_result(&self, result: WriteResult) -> WriteResult {
        match result {
            WriteResult::Node(node) => WriteResult::Node(self.rules.present(node)),
            other => other,
        }
    }
}

#[async_trait]
impl GraphStore for GovernedStore {
    fn restricted(&self, visibility: &Visibility) -> Arc<dyn GraphStore> {
        Arc::new(Self {
            store: self.store.restricted(visibility),
            rules: Arc::clone(&self.rules),
            clearance: self.clearance,
        })
    }

    async fn apply(&self, ops: Vec<WriteOp>, actor: Option<&str>) -> StoreResult<Vec<WriteResult>> {
        let mut added = HashMap::new();
        let mut governed = Vec::with_capacity(ops.len());
        for op in ops {
            governed.push(self.govern(op, &mut added).await?);
        }
        let results = self.store.apply(governed, actor).await?;
        Ok(results
            .into_iter()
            .map(|r| self.present_result(r))
            .collect())
    }

    async fn get_node(&self, id: &str) -> StoreResult<Option<Node>> {
        Ok(self
            .store
            .get_node(id)
            .await?
            .map(|n| self.rules.present(n)))
    }

    async fn query_nodes(&self, query: &NodeQuery) -> StoreResult<Vec<Node>> {
        let nodes = self.store.query_nodes(query).await?;
        Ok(nodes.into_iter().map(|n| self.rules.present(n)).collect())
    }

    async fn count_nodes(&self, node_types: &[String]) -> StoreResult<usize> {
        self.store.count_nodes(node_types).await
    }

    async fn count_by_type(&self) -> StoreResult<Vec<(String, usize)>> {
        self.store.count_by_type().await
    }

    async fn search_nodes(
        &self,
        text: &str,
        node_types: &[String],
        limit: usize,
    ) -> StoreResult<Vec<Node>> {
        let nodes = self.store.search_nodes(text, node_types, limit).await?;
        Ok(nodes.into_iter().map(|n| self.rules.present(n)).collect())
    }

    async fn vector_search(
        &self,
        query: &[f32],
        node_types: &[String],
        limit: usize,
        min_similarity: f32,
    ) -> StoreResult<Vec<ScoredNode>> {
        let scored = self
            .store
            .vector_search(query, node_types, limit, min_similarity)
            .await?;
        Ok(scored
            .into_iter()
            .map(|s| ScoredNode {
                node: self.rules.present(s.node),
                similarity: s.similarity,
            })
            .collect())
    }

    async fn get_edge(&self, id: &str) -> StoreResult<Option<Edge>> {
        self.store.get_edge(id).await
    }

    async fn edges_of(
        &self,
        node_id: &str,
        direction: Direction,
        edge_type: Option<&str>,
    ) -> StoreResult<Vec<Edge>> {
        self.store.edges_of(node_id, direction, edge_type).await
    }

    async fn neighborhood(
        &self,
        node_id: &str,
        direction: Direction,
        edge_type: Option<&str>,
        depth: usize,
    ) -> StoreResult<Subgraph> {
        let walk = self
            .store
            .neighborhood(node_id, direction, edge_type, depth)
            .await?;
        Ok(Subgraph {
            nodes: walk
                .nodes
                .into_iter()
                .map(|n| self.rules.present(n))
                .collect(),
            edges: walk.edges,
        })
    }

    /// Only what the caller can see is theirs to clear.
    async fn clear(&self, node_type: Option<&str>) -> StoreResult<usize> {
        self.store.clear(node_type).await
    }

    async fn acquire_lock(
        &self,
        node_id: &str,
        agent_id: &str,
        timeout_ms: u64,
    ) -> StoreResult<LockOutcome> {
        self.require_visible(node_id).await?;
        self.store.acquire_lock(node_id, agent_id, timeout_ms).await
    }

    async fn release_lock(&self, node_id: &str, agent_id: &str) -> StoreResult<LockOutcome> {
        self.require_visible(node_id).await?;
        self.store.release_lock(node_id, agent_id).await
    }

    async fn cleanup_locks(&self) -> StoreResult<usize> {
        self.store.cleanup_locks().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(defaults: &str) -> Classification {
        Classification {
            defaults: SensitivityDefaults::parse(defaults).expect("defaults"),
            pii_mode: PiiMode::default(),
        }
    }

    #[test]
    fn visibility_follows_levels_and_type_defaults() {
        let shown = rules("person=confidential").visibility(Sensitivity::Internal);
        assert_eq!(
            shown,
            Some(Visibility {
                labels: vec!["public".into(), "internal".into()],
                unlabelled: Types::all_but(vec!["person".into()]),
            })
        );
        let shown = rules("*=confidential, note=public, memo=restricted")
            .visibility(Sensitivity::Public)
            .expect("restricted");
        assert_eq!(shown.labels, ["public"]);
        assert_eq!(shown.unlabelled, Types::only(vec!["note".into()]));
        assert_eq!(rules("").visibility(Sensitivity::Restricted), None);
    }
}
