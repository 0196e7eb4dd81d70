//! Edges and neighbourhood walks.

use super::codec;
use super::exec::read_rows;
use super::read::nodes_by_id;
use crate::store::walk::Walk;
use crate::store::{Direction, Edge, StoreError, StoreResult, Subgraph};
use neo4rs::{query, Graph};

const EDGE_RESULT: &str = "RETURN r {.*} AS r, s.id AS source, t.id AS target";

fn direction_param(direction: Direction) -> &'static str {
    match direction {
        Direction::In => "in",
        Direction::Out => "out",
        Direction::Both => "both",
    }
}

fn edges_of_rows(rows: &[neo4rs::Row]) -> StoreResult<Vec<Edge>> {
    rows.iter()
        .map(|row| codec::edge_from(row.get("r")?, row.get("source")?, row.get("target")?))
        .collect()
}

pub(super) async fn get_edge(graph: &Graph, id: &str) -> StoreResult<Option<Edge>> {
    let q = query(&format!(
        "MATCH (s:Node)-[r:EDGE {{id: $id}}]->(t:Node) {EDGE_RESULT}"
    ))
    .param("id", id);
    Ok(edges_of_rows(&read_rows(graph, q).await?)?.pop())
}

async fn require_node(graph: &Graph, id: &str) -> StoreResult<()> {
    let q = query("MATCH (n:Node {id: $id}) RETURN n.id AS id").param("id", id);
    if read_rows(graph, q).await?.is_empty() {
        return Err(StoreError::NotFound(format!("node {id}")));
    }
    Ok(())
}

/// Edges touching any of `ids`, ordered by (created, id), without checking the nodes exist.
/// Two directed matches joined by `UNION`, so a self-loop comes back once.
async fn edges_touching(
    graph: &Graph,
    ids: &[String],
    direction: Direction,
    edge_type: Option<&str>,
) -> StoreResult<Vec<Edge>> {
    let q = query(&format!(
        "CALL {{
           MATCH (s:Node)-[r:EDGE]->(t:Node) WHERE s.id IN $ids AND $direction <> 'in'
           RETURN r, s, t
           UNION
           MATCH (s:Node)-[r:EDGE]->(t:Node) WHERE t.id IN $ids AND $direction <> 'out'
           RETURN r, s, t
         }}
         WITH r, s, t WHERE $type IS NULL OR r.type = $type
         {EDGE_RESULT} ORDER BY r.created, r.id"
    ))
    .param("ids", ids.to_vec())
    .param("direction", direction_param(direction))
    .param("type", edge_type.map(str::to_owned));
    edges_of_rows(&read_rows(graph, q).await?)
}

pub(super) async fn edges_of(
    graph: &Graph,
    id: &str,
    direction: Direction,
    edge_type: Option<&str>,
) -> StoreResult<Vec<Edge>> {
    require_node(graph, id).await?;
    edges_touching(graph, &[id.to_owned()], direction, edge_type).await
}

/// Whether `edge` leaves (or enters) `id` in a direction the walk follows.
fn follows(edge: &Edge, id: &str, direction: Direction) -> bool {
    (direction != Direction::In && edge.source == id)
        || (direction != Direction::Out && edge.target == id)
}

/// Breadth-first walk up to `depth` hops, one query per hop; nodes in discovery order (each
/// frontier node in turn, its edges by (created, id)), the start node excluded.
pub(super) async fn neighborhood(
    graph: &Graph,
    start: &str,
    direction: Direction,
    edge_type: Option<&str>,
    depth: usize,
) -> StoreResult<Subgraph> {
    require_node(graph, start).await?;
    let mut walk = Walk::new(start);
    for _ in 0..depth {
        let touching = edges_touching(graph, walk.frontier(), direction, edge_type).await?;
        let more = walk.hop(|id| {
            Ok(touching
                .iter()
                .filter(|e| follows(e, id, direction))
                .cloned()
                .collect())
        })?;
        if !more {
            break;
        }
    }
    let (found, edges) = walk.into_parts();
    let nodes = nodes_by_id(graph, &found).await?;
    Ok(Subgraph { nodes, edges })
}
