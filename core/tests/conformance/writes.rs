//! Conformance: node and edge writes, batches, cascades, clearing.

use super::{
    add, as_edge, as_node, assert_invalid, assert_not_found, assert_rfc3339, edge_ids, link,
    new_edge, new_node, node, props, set, unique, write_one,
};
use mimir_core::store::{
    Direction, GraphStore, NewEdge, Properties, StoreError, WriteOp, WriteResult,
};
use serde_json::json;
use std::collections::BTreeSet;

// ---- nodes and edges ----

/// Add (given and generated ids), get, merge-update with `null` removal, flattening, actors.
pub async fn node_crud(store: &dyn GraphStore) {
    let t = unique("note");
    let given = format!("{t}-given");
    let op = new_node(
        &t,
        Some(&given),
        json!({"title": "Hello", "n": 1, "gone": null, "meta": {"lang": "en", "tags": ["a"]}}),
    );
    let created = as_node(write_one(store, op, Some("alice")).await.expect("add"));
    assert_eq!(created.id, given);
    assert_eq!(created.node_type, t);
    assert_eq!(
        created.properties,
        props(json!({"title": "Hello", "n": 1, "meta_lang": "en", "meta_tags": ["a"]}))
    );
    assert_eq!(created.created, created.updated);
    assert_rfc3339(&created.created);
    assert_eq!(created.created_by.as_deref(), Some("alice"));
    assert_eq!(created.updated_by.as_deref(), Some("alice"));
    assert_eq!(
        store.get_node(&given).await.expect("get"),
        Some(created.clone())
    );

    let generated = add(store, &t, None, json!({})).await;
    let suffix = generated
        .id
        .strip_prefix(&format!("{t}-"))
        .expect("generated id is <type>-<uuid>");
    assert!(
        suffix.len() == 32 && suffix.chars().all(|c| c.is_ascii_hexdigit()),
        "uuid suffix {suffix}"
    );
    assert_eq!(generated.created_by, None);

    assert_eq!(
        store.get_node(&format!("{t}-missing")).await.expect("get"),
        None
    );

    let changes = props(json!({"title": "Bye", "n": null, "extra": {"x": true}}));
    let update = WriteOp::UpdateNode {
        id: given.clone(),
        properties: changes,
    };
    let updated = as_node(write_one(store, update, Some("bob")).await.expect("update"));
    assert_eq!(
        updated.properties,
        props(json!({"title": "Bye", "meta_lang": "en", "meta_tags": ["a"], "extra_x": true}))
    );
    assert_eq!(updated.created, created.created);
    assert!(updated.updated >= created.updated);
    assert_eq!(updated.created_by.as_deref(), Some("alice"));
    assert_eq!(updated.updated_by.as_deref(), Some("bob"));
    assert_eq!(node(store, &given).await, updated);

    let missing = WriteOp::UpdateNode {
        id: format!("{t}-missing"),
        properties: Properties::new(),
    };
    assert_not_found(
        store.apply(vec![missing], None).await,
        "update of a missing node",
    );

    let deleted = write_one(store, WriteOp::DeleteNode { id: given.clone() }, None)
        .await
        .expect("delete");
    assert!(
        matches!(deleted, WriteResult::Deleted { ref id, edges_removed: 0 } if *id == given),
        "{deleted:?}"
    );
    assert_eq!(store.get_node(&given).await.expect("get"), None);
    assert_not_found(
        store
            .apply(vec![WriteOp::DeleteNode { id: given }], None)
            .await,
        "second delete",
    );
}

/// Bad types and ids are `Invalid`; a duplicate id is a `Conflict`.
pub async fn node_validation(store: &dyn GraphStore) {
    let t = unique("valid");
    assert_invalid(
        store.apply(vec![new_node("", None, json!({}))], None).await,
        "empty type",
    );
    assert_invalid(
        store
            .apply(vec![new_node("  ", None, json!({}))], None)
            .await,
        "blank type",
    );
    assert_invalid(
        store
            .apply(vec![new_node(&t, Some(""), json!({}))], None)
            .await,
        "empty id",
    );
    assert_invalid(
        store
            .apply(vec![new_node(&t, Some("a\nb"), json!({}))], None)
            .await,
        "control character in id",
    );

    let id = format!("{t}-dup");
    add(store, &t, Some(&id), json!({"v": 1})).await;
    let again = store
        .apply(vec![new_node(&t, Some(&id), json!({"v": 2}))], None)
        .await;
    assert!(
        matches!(again, Err(StoreError::Conflict(_))),
        "duplicate id: {again:?}"
    );
    assert_eq!(
        node(store, &id).await.properties,
        props(json!({"v": 1})),
        "the first node is untouched"
    );
}

/// Add, get and delete edges; `edges_of` by direction and type.
pub async fn edge_crud(store: &dyn GraphStore) {
    let t = unique("edge");
    let a = add(store, &t, None, json!({})).await.id;
    let b = add(store, &t, None, json!({})).await.id;

    let op = WriteOp::AddEdge(NewEdge {
        source: a.clone(),
        target: b.clone(),
        edge_type: "relates_to".into(),
        properties: props(json!({"w": 1, "why": {"k": "v"}})),
    });
    let ab = as_edge(write_one(store, op, Some("carol")).await.expect("add edge"));
    assert!(ab.id.starts_with("edge-"), "edge id {}", ab.id);
    assert_eq!(
        (
            ab.source.as_str(),
            ab.target.as_str(),
            ab.edge_type.as_str()
        ),
        (a.as_str(), b.as_str(), "relates_to")
    );
    assert_eq!(ab.properties, props(json!({"w": 1, "why_k": "v"})));
    assert_eq!(ab.created_by.as_deref(), Some("carol"));
    assert_rfc3339(&ab.created);
    assert_eq!(
        store.get_edge(&ab.id).await.expect("get edge"),
        Some(ab.clone())
    );
    assert_eq!(
        store.get_edge("edge-missing").await.expect("get edge"),
        None
    );

    let ba = link(store, &b, &a, "depends_on").await;
    let edges = |id: &str, direction, edge_type: Option<&'static str>| {
        let id = id.to_owned();
        async move {
            edge_ids(
                &store
                    .edges_of(&id, direction, edge_type)
                    .await
                    .expect("edges_of"),
            )
        }
    };
    assert_eq!(edges(&a, Direction::Out, None).await, set([&ab.id]));
    assert_eq!(edges(&a, Direction::In, None).await, set([&ba.id]));
    assert_eq!(
        edges(&a, Direction::Both, None).await,
        set([&ab.id, &ba.id])
    );
    assert_eq!(
        edges(&a, Direction::Both, Some("depends_on")).await,
        set([&ba.id])
    );
    assert_eq!(
        edges(&b, Direction::Out, Some("relates_to")).await,
        BTreeSet::new()
    );
    assert_not_found(
        store
            .edges_of(&format!("{t}-missing"), Direction::Both, None)
            .await,
        "edges of a missing node",
    );

    let dangling = new_edge(&a, &format!("{t}-missing"), "relates_to");
    assert_not_found(
        store.apply(vec![dangling], None).await,
        "edge to a missing node",
    );
    assert_invalid(
        store.apply(vec![new_edge(&a, &b, "")], None).await,
        "edge without type",
    );

    let deleted = write_one(store, WriteOp::DeleteEdge { id: ab.id.clone() }, None)
        .await
        .expect("delete edge");
    assert!(
        matches!(deleted, WriteResult::Deleted { ref id, edges_removed: 1 } if *id == ab.id),
        "{deleted:?}"
    );
    assert_eq!(store.get_edge(&ab.id).await.expect("get edge"), None);
    assert_not_found(
        store
            .apply(vec![WriteOp::DeleteEdge { id: ab.id }], None)
            .await,
        "second edge delete",
    );
    assert!(
        store.get_node(&a).await.expect("get").is_some(),
        "deleting an edge keeps its nodes"
    );
}

/// A batch commits whole, in order, or leaves no trace.
pub async fn batch_is_transactional(store: &dyn GraphStore) {
    let t = unique("batch");
    let (x1, x2) = (format!("{t}-x1"), format!("{t}-x2"));
    let results = store
        .apply(
            vec![
                new_node(&t, Some(&x1), json!({"v": 1})),
                new_node(&t, Some(&x2), json!({})),
                new_edge(&x1, &x2, "calls"),
                WriteOp::UpdateNode {
                    id: x1.clone(),
                    properties: props(json!({"v": 2})),
                },
            ],
            Some("dave"),
        )
        .await
        .expect("a valid batch commits");
    assert_eq!(results.len(), 4);
    assert!(
        matches!(&results[2], WriteResult::Edge(e) if e.source == x1 && e.target == x2),
        "{:?}",
        results[2]
    );
    assert_eq!(node(store, &x1).await.properties, props(json!({"v": 2})));
    assert_eq!(
        store.apply(vec![], None).await.expect("empty batch").len(),
        0
    );

    let before = store
        .count_nodes(std::slice::from_ref(&t))
        .await
        .expect("count");
    let y1 = format!("{t}-y1");
    let failing = vec![
        new_node(&t, Some(&y1), json!({})),
        WriteOp::UpdateNode {
            id: x1.clone(),
            properties: props(json!({"flag": "changed"})),
        },
        new_edge(&y1, &format!("{t}-missing"), "calls"),
    ];
    assert_not_found(
        store.apply(failing, None).await,
        "batch with a dangling edge",
    );
    assert_eq!(
        store.get_node(&y1).await.expect("get"),
        None,
        "node of the failed batch rolled back"
    );
    assert_eq!(
        node(store, &x1).await.properties,
        props(json!({"v": 2})),
        "update of the failed batch rolled back"
    );
    assert_eq!(
        store
            .count_nodes(std::slice::from_ref(&t))
            .await
            .expect("count"),
        before
    );

    let z1 = format!("{t}-z1");
    let conflicting = vec![
        new_node(&t, Some(&z1), json!({})),
        new_node(&t, Some(&x1), json!({})),
    ];
    let result = store.apply(conflicting, None).await;
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "duplicate id in a batch: {result:?}"
    );
    assert_eq!(store.get_node(&z1).await.expect("get"), None);

    let deleting = vec![
        WriteOp::DeleteNode { id: x2.clone() },
        WriteOp::DeleteEdge {
            id: "edge-missing".into(),
        },
    ];
    assert_not_found(
        store.apply(deleting, None).await,
        "batch deleting a missing edge",
    );
    assert!(
        store.get_node(&x2).await.expect("get").is_some(),
        "delete of the failed batch rolled back"
    );
    assert_eq!(
        store
            .edges_of(&x2, Direction::In, None)
            .await
            .expect("edges")
            .len(),
        1,
        "its edge is back too"
    );
}

/// Deleting a node removes exactly the edges touching it and reports how many.
pub async fn delete_cascades_to_edges(store: &dyn GraphStore) {
    let t = unique("cascade");
    let hub = add(store, &t, None, json!({})).await.id;
    let a = add(store, &t, None, json!({})).await.id;
    let b = add(store, &t, None, json!({})).await.id;
    let touching = [
        link(store, &hub, &a, "x").await,
        link(store, &b, &hub, "x").await,
        link(store, &hub, &hub, "self").await,
    ];
    let kept = link(store, &a, &b, "x").await;

    let result = write_one(store, WriteOp::DeleteNode { id: hub.clone() }, None)
        .await
        .expect("delete");
    assert!(
        matches!(result, WriteResult::Deleted { ref id, edges_removed: 3 } if *id == hub),
        "{result:?}"
    );
    for edge in touching {
        assert_eq!(
            store.get_edge(&edge.id).await.expect("get edge"),
            None,
            "edge {} removed",
            edge.id
        );
    }
    assert_eq!(
        store.get_edge(&kept.id).await.expect("get edge"),
        Some(kept.clone())
    );
    assert_eq!(
        edge_ids(
            &store
                .edges_of(&a, Direction::Both, None)
                .await
                .expect("edges")
        ),
        set([&kept.id])
    );
}

// ---- clearing ----

/// `clear(Some(type))` removes that type's nodes and their edges only.
pub async fn clear_by_type(store: &dyn GraphStore) {
    let gone = unique("clear");
    let kept = unique("clear");
    let mut doomed = Vec::new();
    for _ in 0..3 {
        doomed.push(add(store, &gone, None, json!({})).await.id);
    }
    let k1 = add(store, &kept, None, json!({})).await.id;
    let k2 = add(store, &kept, None, json!({})).await.id;
    let crossing = link(store, &doomed[0], &k1, "x").await;
    let inside = link(store, &k1, &k2, "x").await;

    assert_eq!(store.clear(Some(&gone)).await.expect("clear"), 3);
    assert_eq!(
        store
            .count_nodes(std::slice::from_ref(&gone))
            .await
            .expect("count"),
        0
    );
    assert_eq!(
        store
            .count_nodes(std::slice::from_ref(&kept))
            .await
            .expect("count"),
        2
    );
    assert_eq!(store.get_edge(&crossing.id).await.expect("get edge"), None);
    assert_eq!(
        store.get_edge(&inside.id).await.expect("get edge"),
        Some(inside)
    );
    assert_eq!(store.clear(Some(&gone)).await.expect("clear"), 0);
}

/// `clear(None)` empties the store. Destructive: run last.
pub async fn clear_all(store: &dyn GraphStore) {
    let t = unique("all");
    let a = add(store, &t, None, json!({})).await.id;
    let b = add(store, &t, None, json!({})).await.id;
    let edge = link(store, &a, &b, "x").await;
    let before = store.count_nodes(&[]).await.expect("count");
    assert_eq!(store.clear(None).await.expect("clear"), before);
    assert_eq!(store.count_nodes(&[]).await.expect("count"), 0);
    assert!(store
        .count_by_type()
        .await
        .expect("count by type")
        .is_empty());
    assert_eq!(store.get_edge(&edge.id).await.expect("get edge"), None);
}
