//! The graph as one caller may see and change it. Every REST and MCP handler works through
//! this view: nodes above the caller's clearance are absent (reads, searches, counts, edges and
//! walks alike, so nothing reveals that they exist), writes are classified and scanned for
//! personal data, and nobody writes a node above their own clearance.
//!
//! Classification and PII tags live in the node's properties (`sensitivity`, `pii`), so both
//! stores keep them with no schema of their own; the view lifts them out into the node's
//! `sensitivity` and `pii` fields for callers.

use super::pii::{self, PiiMode};
use super::{Sensitivity, SensitivityDefaults, PII_KEY, SENSITIVITY_KEY};
use crate::store::properties::flatten;
use crate::store::walk::Walk;
use crate::store::{
    Direction, Edge, GraphStore, LockOutcome, NewNode, Node, NodeQuery, Properties, ScoredNode,
    StoreError, StoreResult, Subgraph, WriteOp, WriteResult,
};
use async_trait::async_trait;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Nodes read per page when results must be filtered before a limit applies.
const PAGE: usize = 500;

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
    inner: Arc<dyn GraphStore>,
    rules: Arc<Classification>,
    clearance: Sensitivity,
}

impl GovernedStore {
    pub fn new(
        inner: Arc<dyn GraphStore>,
        rules: Arc<Classification>,
        clearance: Sensitivity,
    ) -> Self {
        Self {
            inner,
            rules,
            clearance,
        }
    }

    fn visible(&self, node: &Node) -> bool {
        self.rules.level_of(node) <= self.clearance
    }

    /// Whether no stored node is above the caller's clearance, so that listings and counts can
    /// be answered by the store directly (the common case: most graphs hold no node above
    /// the default level). One filtered lookup per level above the clearance.
    async fn sees_all(&self) -> StoreResult<bool> {
        if self.clearance == Sensitivity::Restricted {
            return Ok(true);
        }
        if self.rules.defaults.highest() > self.clearance {
            return Ok(false);
        }
        for level in Sensitivity::ALL.iter().filter(|l| **l > self.clearance) {
            let query = NodeQuery {
                filters: [(SENSITIVITY_KEY.to_owned(), Value::from(level.as_str()))]
                    .into_iter()
                    .collect(),
                limit: 1,
                ..NodeQuery::default()
            };
            if !self.inner.query_nodes(&query).await?.is_empty() {
                return Ok(false);
            }
        }
        Ok(true)
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

    /// The stored node `id` if the caller may see it (`None` when absent or hidden).
    async fn visible_raw(&self, id: &str) -> StoreResult<Option<Node>> {
        Ok(self.inner.get_node(id).await?.filter(|n| self.visible(n)))
    }

    async fn require_visible(&self, id: &str) -> StoreResult<Node> {
        self.visible_raw(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("node {id}")))
    }

    /// Whether each of `ids` is visible, looked up once each.
    async fn visibility(
        &self,
        ids: impl IntoIterator<Item = &String>,
    ) -> StoreResult<HashSet<String>> {
        let mut visible = HashSet::new();
        let mut checked = HashSet::new();
        for id in ids {
            if checked.insert(id.clone()) && self.visible_raw(id).await?.is_some() {
                visible.insert(id.clone());
            }
        }
        Ok(visible)
    }

    async fn edge_visible(&self, edge: &Edge) -> StoreResult<bool> {
        Ok(self.visible_raw(&edge.source).await?.is_some()
            && self.visible_raw(&edge.target).await?.is_some())
    }

    /// Every visible stored node of `query` (its limit and offset ignored), read page by page
    /// until `want` are found.
    async fn visible_nodes(&self, query: &NodeQuery, want: usize) -> StoreResult<Vec<Node>> {
        let mut found = Vec::new();
        let mut offset = 0;
        loop {
            let page = NodeQuery {
                limit: PAGE,
                offset,
                ..query.clone()
            };
            let nodes = self.inner.query_nodes(&page).await?;
            let read = nodes.len();
            found.extend(nodes.into_iter().filter(|n| self.visible(n)));
            if read < PAGE || found.len() >= want {
                return Ok(found);
            }
            offset += read;
        }
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
                    // A node unknown here may be added earlier in the batch or be missing;
                    // the store decides. Only an existing hidden node is refused here.
                    if !added.contains_key(end) && self.inner.get_node(end).await?.is_some() {
                        self.require_visible(end).await?;
                    }
                }
                WriteOp::AddEdge(new)
            }
            WriteOp::DeleteEdge { id } => {
                if let Some(edge) = self.inner.get_edge(&id).await? {
                    if !self.edge_visible(&edge).await? {
                        return Err(StoreError::NotFound(format!("edge {id}")));
                    }
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

    /// Visible nodes reachable from `start` within `depth` hops of the stored walk, without
    /// passing through hidden nodes. The stored walk holds every edge such a walk can use.
    fn visible_walk(
        start: &str,
        stored: &Subgraph,
        visible: &HashSet<String>,
        direction: Direction,
        depth: usize,
    ) -> (Vec<String>, Vec<Edge>) {
        let mut adjacent: HashMap<&str, Vec<&Edge>> = HashMap::new();
        for edge in &stored.edges {
            if visible.contains(&edge.source) && visible.contains(&edge.target) {
                if direction != Direction::In {
                    adjacent.entry(&edge.source).or_default().push(edge);
                }
                if direction != Direction::Out {
                    adjacent.entry(&edge.target).or_default().push(edge);
                }
            }
        }
        for edges in adjacent.values_mut() {
            edges.sort_by(|a, b| (&a.created, &a.id).cmp(&(&b.created, &b.id)));
            edges.dedup_by(|a, b| a.id == b.id);
        }
        let mut walk = Walk::new(start);
        for _ in 0..depth {
            let hop = walk.hop(|id| {
                Ok(adjacent
                    .get(id)
                    .map(|edges| edges.iter().map(|e| (*e).clone()).collect())
                    .unwrap_or_default())
            });
            if !matches!(hop, Ok(true)) {
                break;
            }
        }
        walk.into_parts()
    }
}

#[async_trait]
impl GraphStore for GovernedStore {
    async fn apply(&self, ops: Vec<WriteOp>, actor: Option<&str>) -> StoreResult<Vec<WriteResult>> {
        let mut added = HashMap::new();
        let mut governed = Vec::with_capacity(ops.len());
        for op in ops {
            governed.push(self.govern(op, &mut added).await?);
        }
        let results = self.inner.apply(governed, actor).await?;
        Ok(results
            .into_iter()
            .map(|r| self.present_result(r))
            .collect())
    }

    async fn get_node(&self, id: &str) -> StoreResult<Option<Node>> {
        Ok(self.visible_raw(id).await?.map(|n| self.rules.present(n)))
    }

    async fn query_nodes(&self, query: &NodeQuery) -> StoreResult<Vec<Node>> {
        let nodes = if self.sees_all().await? {
            // Still filtered: a stored level no writer could have set counts as restricted.
            let mut nodes = self.inner.query_nodes(query).await?;
            nodes.retain(|n| self.visible(n));
            nodes
        } else {
            let want = match query.limit {
                0 => usize::MAX,
                limit => query.offset.saturating_add(limit),
            };
            let visible = self
                .visible_nodes(query, want)
                .await?
                .into_iter()
                .skip(query.offset);
            match query.limit {
                0 => visible.collect(),
                limit => visible.take(limit).collect(),
            }
        };
        Ok(nodes.into_iter().map(|n| self.rules.present(n)).collect())
    }

    async fn count_nodes(&self, node_types: &[String]) -> StoreResult<usize> {
        if self.sees_all().await? {
            return self.inner.count_nodes(node_types).await;
        }
        let query = NodeQuery {
            node_types: node_types.to_vec(),
            ..NodeQuery::default()
        };
        Ok(self.visible_nodes(&query, usize::MAX).await?.len())
    }

    async fn count_by_type(&self) -> StoreResult<Vec<(String, usize)>> {
        if self.sees_all().await? {
            return self.inner.count_by_type().await;
        }
        let mut counts = std::collections::BTreeMap::<String, usize>::new();
        for node in self
            .visible_nodes(&NodeQuery::default(), usize::MAX)
            .await?
        {
            *counts.entry(node.node_type).or_default() += 1;
        }
        Ok(counts.into_iter().collect())
    }

    async fn search_nodes(
        &self,
        text: &str,
        node_types: &[String],
        limit: usize,
    ) -> StoreResult<Vec<Node>> {
        let mut nodes = self.inner.search_nodes(text, node_types, limit).await?;
        // A full page with hidden nodes in it may hide visible matches past the limit.
        if limit > 0 && nodes.len() == limit && !nodes.iter().all(|n| self.visible(n)) {
            nodes = self.inner.search_nodes(text, node_types, 0).await?;
        }
        let visible = nodes.into_iter().filter(|n| self.visible(n));
        let visible: Vec<Node> = match limit {
            0 => visible.collect(),
            limit => visible.take(limit).collect(),
        };
        Ok(visible.into_iter().map(|n| self.rules.present(n)).collect())
    }

    async fn vector_search(
        &self,
        query: &[f32],
        node_types: &[String],
        limit: usize,
        min_similarity: f32,
    ) -> StoreResult<Vec<ScoredNode>> {
        let search = |limit| {
            self.inner
                .vector_search(query, node_types, limit, min_similarity)
        };
        let mut scored = search(limit).await?;
        if limit > 0 && scored.len() == limit && !scored.iter().all(|s| self.visible(&s.node)) {
            scored = search(0).await?;
        }
        scored.retain(|s| self.visible(&s.node));
        if limit > 0 {
            scored.truncate(limit);
        }
        Ok(scored
            .into_iter()
            .map(|s| ScoredNode {
                node: self.rules.present(s.node),
                similarity: s.similarity,
            })
            .collect())
    }

    async fn get_edge(&self, id: &str) -> StoreResult<Option<Edge>> {
        match self.inner.get_edge(id).await? {
            Some(edge) if self.edge_visible(&edge).await? => Ok(Some(edge)),
            _ => Ok(None),
        }
    }

    async fn edges_of(
        &self,
        node_id: &str,
        direction: Direction,
        edge_type: Option<&str>,
    ) -> StoreResult<Vec<Edge>> {
        self.require_visible(node_id).await?;
        let edges = self.inner.edges_of(node_id, direction, edge_type).await?;
        let ends: Vec<&String> = edges.iter().flat_map(|e| [&e.source, &e.target]).collect();
        let visible = self.visibility(ends).await?;
        Ok(edges
            .into_iter()
            .filter(|e| visible.contains(&e.source) && visible.contains(&e.target))
            .collect())
    }

    async fn neighborhood(
        &self,
        node_id: &str,
        direction: Direction,
        edge_type: Option<&str>,
        depth: usize,
    ) -> StoreResult<Subgraph> {
        self.require_visible(node_id).await?;
        let stored = self
            .inner
            .neighborhood(node_id, direction, edge_type, depth)
            .await?;
        let mut visible: HashSet<String> = stored
            .nodes
            .iter()
            .filter(|n| self.visible(n))
            .map(|n| n.id.clone())
            .collect();
        visible.insert(node_id.to_owned());
        let (found, edges) = Self::visible_walk(node_id, &stored, &visible, direction, depth);
        let mut by_id: HashMap<String, Node> = stored
            .nodes
            .into_iter()
            .map(|n| (n.id.clone(), n))
            .collect();
        let nodes = found
            .iter()
            .filter_map(|id| by_id.remove(id))
            .map(|n| self.rules.present(n))
            .collect();
        Ok(Subgraph { nodes, edges })
    }

    async fn clear(&self, node_type: Option<&str>) -> StoreResult<usize> {
        if self.clearance == Sensitivity::Restricted {
            return self.inner.clear(node_type).await;
        }
        // Only what the caller can see is theirs to clear.
        let query = NodeQuery {
            node_types: node_type.map(|t| vec![t.to_owned()]).unwrap_or_default(),
            ..NodeQuery::default()
        };
        let ids: Vec<String> = self
            .visible_nodes(&query, usize::MAX)
            .await?
            .into_iter()
            .map(|n| n.id)
            .collect();
        let count = ids.len();
        for chunk in ids.chunks(PAGE) {
            let ops = chunk
                .iter()
                .map(|id| WriteOp::DeleteNode { id: id.clone() })
                .collect();
            self.inner.apply(ops, None).await?;
        }
        Ok(count)
    }

    async fn acquire_lock(
        &self,
        node_id: &str,
        agent_id: &str,
        timeout_ms: u64,
    ) -> StoreResult<LockOutcome> {
        self.require_visible(node_id).await?;
        self.inner.acquire_lock(node_id, agent_id, timeout_ms).await
    }

    async fn release_lock(&self, node_id: &str, agent_id: &str) -> StoreResult<LockOutcome> {
        self.require_visible(node_id).await?;
        self.inner.release_lock(node_id, agent_id).await
    }

    async fn cleanup_locks(&self) -> StoreResult<usize> {
        self.inner.cleanup_locks().await
    }
}
