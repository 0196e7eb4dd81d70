//! Edges and neighbourhood walks.

use super::codec;
use super::exec::read_rows;
use super::read::{get_node, nodes_by_id, visible};
use crate::store::walk::Walk;
use crate::store::{Direction, Edge, StoreError, StoreResult, Subgraph};
use neo4rs::{query, BoltType, Graph};

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

/// Whether both ends `s` and `t` of an edge are shown (see `read::visible`).
fn ends_shown() -> String {
    format!("{} AND {}", visible("s"), visible("t"))
}

/// The edge `id` when both its ends are shown.
pub(super) async fn get_edge(graph: &Graph, id: &str, vis: &BoltType) -> StoreResult<Option<Edge>> {
    let q = query(&format!(
        "MATCH (s:Node)-[r:EDGE {{id: $id}}]->(t:Node) WHERE {} {EDGE_RESULT}",
        ends_shown()
    ))
    .param("id", id)
    .param("vis", vis.clone());
    Ok(edges_of_rows(&read_rows(graph, q).await?)?.pop())
}

async fn require_shown(graph: &Graph, id: &str, vis: &BoltType) -> StoreResult<()> {
    match get_node(graph, id, vis).await? {
        Some(_) => Ok(()),
        None => Err(StoreError::NotFound(format!("node {id}"))),
    }
}

/// Edges between shown nodes touching any of `ids`, ordered by (created, id), without checking
/// the nodes exist. Two directed matches joined by `UNION`, so a self-loop comes back once.
async fn edges_touching(
    graph: &Graph,
    ids: &[String],
    direction: Direction,
    edge_type: Option<&str>,
    vis: &BoltType,
) -> StoreResult<Vec<Edge>> {
    let q = query(&format!(
        "CALL {{
           MATCH (s:Node)-[r:EDGE]->(t:Node) WHERE s.id IN $ids AND $direction <> 'in'
           RETURN r, s, t
           UNION
           MATCH (s:Node)-[r:EDGE]->(t:Node) WHERE t.id IN $ids AND $direction <> 'out'
           RETURN r, s, t
         }}
         WITH r, s, t WHERE ($type IS NULL OR r.type = $type) AND {}
         {EDGE_RESULT} ORDER BY r.created, r.id",
        ends_shown()
    ))
    .param("vis", vis.clone())
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
    vis: &BoltType,
) -> StoreResult<Vec<Edge>> {
    require_shown(graph, id, vis).await?;
    edges_touching(graph, &[id.to_owned()], direction, edge_type, vis).await
}

/// Whether `edge` leaves (or enters) `id` in a direction the walk follows.
fn follows(edge: &Edge, id: &str, direction: Direction) -> bool {
    (direction != Direction::In && edge.source == id)
        || (direction != Direction::Out && edge.target == id)
}

/// Breadth-first walk up to `depth` hops over shown nodes, one query per hop; nodes in discovery order (each
/// frontier node in turn, its edges by (created, id)), the start node excluded.
pub(super) async fn neighborhood(
    graph: &Graph,
    start: &str,
    direction: Direction,
    edge_type: Option<&str>,
    depth: usize,
    vis: &BoltType,
) -> StoreResult<Subgraph> {
    require_shown(graph, start, vis).await?;
    let mut walk = Walk::new(start);
    for _ in 0..depth {
        let touching = edges_touching(graph, walk.frontier(), direction, edge_type, vis).await?;
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
