//! The breadth-first neighbourhood walk of [`GraphStore::neighborhood`](super::GraphStore),
//! shared by the backends; each supplies the edges of a hop its own way.

use super::{Edge, StoreResult};
use std::collections::HashSet;

/// A walk from one start node: the nodes found in discovery order (the start node excluded)
/// and the edges walked, each once.
pub(crate) struct Walk {
    seen: HashSet<String>,
    walked: HashSet<String>,
    found: Vec<String>,
    edges: Vec<Edge>,
    frontier: Vec<String>,
}

impl Walk {
    pub(crate) fn new(start: &str) -> Self {
        Self {
            seen: HashSet::from([start.to_owned()]),
            walked: HashSet::new(),
            found: Vec::new(),
            edges: Vec::new(),
            frontier: vec![start.to_owned()],
        }
    }

    /// The nodes the next hop starts from.
    pub(crate) fn frontier(&self) -> &[String] {
        &self.frontier
    }

    /// One hop: `edges_from(id)` gives the edges followed from frontier node `id`, by (created,
    /// id). False when the hop found no new node, so the walk is over.
    pub(crate) fn hop(
        &mut self,
        mut edges_from: impl FnMut(&str) -> StoreResult<Vec<Edge>>,
    ) -> StoreResult<bool> {
        let mut next = Vec::new();
        for id in &self.frontier {
            for edge in edges_from(id)? {
                let other = if edge.source == *id {
                    &edge.target
                } else {
                    &edge.source
                };
                if self.seen.insert(other.clone()) {
                    next.push(other.clone());
                }
                if self.walked.insert(edge.id.clone()) {
                    self.edges.push(edge);
                }
            }
        }
        if next.is_empty() {
            return Ok(false);
        }
        self.found.extend(next.iter().cloned());
        self.frontier = next;
        Ok(true)
    }

    /// The ids of the nodes found and the edges walked.
    pub(crate) fn into_parts(self) -> (Vec<String>, Vec<Edge>) {
        (self.found, self.edges)
    }
}
