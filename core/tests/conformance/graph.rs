//! Conformance: neighbourhood walks.

use super::{add, assert_not_found, edge_ids, link, set, unique};
use mimir_core::store::{Direction, GraphStore, Node};
use serde_json::json;
use std::collections::{BTreeSet, HashMap};

// ---- graph walks ----

/// Breadth-first neighbourhood: depth, direction, edge type; the start node never included.
pub async fn neighborhood_depth_and_direction(store: &dyn GraphStore) {
    let t = unique("walk");
    let mut n = HashMap::new();
    for name in ["a", "b", "c", "d", "e", "f"] {
        n.insert(
            name,
            add(store, &t, Some(&format!("{t}-{name}")), json!({}))
                .await
                .id,
        );
    }
    let ab = link(store, &n["a"], &n["b"], "next").await.id;
    let bc = link(store, &n["b"], &n["c"], "next").await.id;
    let cd = link(store, &n["c"], &n["d"], "next").await.id;
    let ea = link(store, &n["e"], &n["a"], "next").await.id;
    let da = link(store, &n["d"], &n["a"], "loop").await.id;
    let af = link(store, &n["a"], &n["f"], "other").await.id;

    let walk = |direction, edge_type: Option<&'static str>, depth| {
        let start = n["a"].clone();
        async move {
            store
                .neighborhood(&start, direction, edge_type, depth)
                .await
                .expect("neighborhood")
        }
    };
    let names = |nodes: &[Node]| -> BTreeSet<String> {
        nodes
            .iter()
            .map(|node| node.id.rsplit('-').next().unwrap_or_default().to_owned())
            .collect()
    };

    let one = walk(Direction::Out, None, 1).await;
    assert_eq!(names(&one.nodes), set(["b", "f"]));
    assert_eq!(edge_ids(&one.edges), set([&ab, &af]));

    let typed = walk(Direction::Out, Some("next"), 2).await;
    let order: Vec<&str> = typed.nodes.iter().map(|node| node.id.as_str()).collect();
    assert_eq!(
        order,
        [n["b"].as_str(), n["c"].as_str()],
        "breadth-first order"
    );
    assert_eq!(edge_ids(&typed.edges), set([&ab, &bc]));

    let deep = walk(Direction::Out, None, 10).await;
    assert_eq!(
        names(&deep.nodes),
        set(["b", "c", "d", "f"]),
        "cycle back to the start is not a result"
    );
    assert_eq!(edge_ids(&deep.edges), set([&ab, &af, &bc, &cd, &da]));

    assert_eq!(
        names(&walk(Direction::In, None, 1).await.nodes),
        set(["d", "e"])
    );
    assert_eq!(
        edge_ids(&walk(Direction::In, Some("next"), 1).await.edges),
        set([&ea])
    );
    assert_eq!(
        names(&walk(Direction::Both, None, 1).await.nodes),
        set(["b", "d", "e", "f"])
    );

    let none = walk(Direction::Both, None, 0).await;
    assert!(
        none.nodes.is_empty() && none.edges.is_empty(),
        "depth 0 is empty"
    );
    let leaf = store
        .neighborhood(&n["f"], Direction::Out, None, 3)
        .await
        .expect("leaf");
    assert!(leaf.nodes.is_empty() && leaf.edges.is_empty());
    assert_not_found(
        store
            .neighborhood(&format!("{t}-missing"), Direction::Both, None, 1)
            .await,
        "walk from a missing node",
    );
}
