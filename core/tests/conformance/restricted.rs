//! Restricted stores (`GraphStore::restricted`): reads filtered by the store itself, so pages
//! over a mix of shown and hidden nodes are full, and counts, searches, edges and walks show
//! nothing hidden.

use super::{add, ids, link, unique};
use mimir_core::embedding::embed;
use mimir_core::store::visibility::Types;
use mimir_core::store::{Direction, GraphStore, NodeQuery, Visibility};
use serde_json::{json, Value};
use std::collections::BTreeSet;

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn page(node_type: &str, limit: usize, offset: usize) -> NodeQuery {
    NodeQuery {
        node_types: vec![node_type.to_owned()],
        limit,
        offset,
        ..NodeQuery::default()
    }
}

pub async fn restricted_reads(store: &dyn GraphStore) {
    let t = unique("shown");
    let u = unique("unlabelled-hidden");
    let restricted = store.restricted(&Visibility {
        labels: strings(&["public", "internal"]),
        unlabelled: Types::all_but(vec![u.clone()]),
    });
    let restricted = restricted.as_ref();

    // Shown: `internal` and unlabelled; hidden: `confidential` and labels no level has.
    let labels = [json!("confidential"), json!("internal"), Value::Null];
    let mut shown = Vec::new();
    for i in 0..12 {
        let mut properties = json!({"title": format!("needle {i}")});
        if !labels[i % 3].is_null() {
            properties["sensitivity"] = labels[i % 3].clone();
        }
        let node = add(store, &t, Some(&format!("{t}-{i:02}")), properties).await;
        if i % 3 != 0 {
            shown.push(node.id);
        }
    }
    for odd in [json!(7), json!("secret"), json!(["public"])] {
        add(
            store,
            &t,
            None,
            json!({"title": "needle", "sensitivity": odd}),
        )
        .await;
    }
    let hidden_u = add(store, &u, None, json!({"title": "needle"})).await;
    let public_u = add(store, &u, None, json!({"sensitivity": "public"})).await;

    // Pages of shown nodes are full, in (created, id) order, and add up to all of them.
    let mut paged = Vec::new();
    for offset in [0, 3, 6] {
        let nodes = restricted
            .query_nodes(&page(&t, 3, offset))
            .await
            .expect("page");
        assert_eq!(
            nodes.len(),
            if offset < 6 { 3 } else { 2 },
            "page at {offset}"
        );
        paged.extend(nodes.into_iter().map(|n| n.id));
    }
    assert_eq!(paged, shown, "pages concatenate to the shown nodes");
    let everything = restricted.query_nodes(&page(&t, 0, 0)).await.expect("all");
    assert_eq!(
        everything.iter().map(|n| n.id.clone()).collect::<Vec<_>>(),
        shown
    );

    assert_eq!(
        restricted
            .count_nodes(std::slice::from_ref(&t))
            .await
            .expect("count"),
        8
    );
    assert_eq!(
        restricted
            .count_nodes(&[t.clone(), u.clone()])
            .await
            .expect("count"),
        9
    );
    let by_type = restricted.count_by_type().await.expect("count by type");
    assert!(
        by_type.contains(&(t.clone(), 8)) && by_type.contains(&(u.clone(), 1)),
        "{by_type:?}"
    );
    assert_eq!(
        store
            .count_nodes(std::slice::from_ref(&t))
            .await
            .expect("count"),
        15
    );

    // Searches fill their limit with shown nodes.
    let found = restricted
        .search_nodes("needle", std::slice::from_ref(&t), 3)
        .await
        .expect("search");
    assert_eq!(
        found.iter().map(|n| n.id.clone()).collect::<Vec<_>>(),
        shown[..3]
    );
    let found = restricted
        .search_nodes("needle", std::slice::from_ref(&u), 0)
        .await
        .expect("search");
    assert!(
        found.is_empty(),
        "unlabelled nodes of a hidden type: {found:?}"
    );
    let scored = restricted
        .vector_search(&embed("needle"), &[t.clone(), u.clone()], 5, -1.0)
        .await
        .expect("vector search");
    assert_eq!(scored.len(), 5);
    let allowed: BTreeSet<String> = shown.iter().cloned().chain([public_u.id.clone()]).collect();
    assert!(
        scored.iter().all(|s| allowed.contains(&s.node.id)),
        "{scored:?}"
    );

    // Nodes and edges: a hidden node is absent, and so is every edge touching it.
    let (a, b, hidden) = (&shown[0], &shown[1], format!("{t}-00"));
    assert!(restricted.get_node(&hidden).await.expect("get").is_none());
    assert!(restricted.get_node(a).await.expect("get").is_some());
    let ab = link(store, a, b, "rel").await;
    let ah = link(store, a, &hidden, "rel").await;
    let hb = link(store, &hidden, &shown[2], "rel").await;
    let edges = restricted
        .edges_of(a, Direction::Both, None)
        .await
        .expect("edges");
    assert_eq!(
        edges.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        [ab.id.as_str()]
    );
    assert!(restricted.get_edge(&ah.id).await.expect("edge").is_none());
    assert!(restricted.get_edge(&ab.id).await.expect("edge").is_some());
    assert!(restricted
        .edges_of(&hidden, Direction::Both, None)
        .await
        .is_err());
    let walk = restricted
        .neighborhood(a, Direction::Out, None, 3)
        .await
        .expect("walk");
    assert_eq!(
        ids(&walk.nodes),
        BTreeSet::from([b.clone()]),
        "no walk through {}",
        hb.id
    );

    // Restricting again shows what both show.
    let narrower = restricted.restricted(&Visibility {
        labels: strings(&["public", "confidential"]),
        unlabelled: Types::only(vec![]),
    });
    assert_eq!(
        narrower
            .count_nodes(&[t.clone(), u.clone()])
            .await
            .expect("count"),
        1
    );
    let only = narrower.query_nodes(&page(&u, 0, 0)).await.expect("query");
    assert_eq!(ids(&only), BTreeSet::from([public_u.id.clone()]));

    // Clearing removes only shown nodes.
    assert_eq!(restricted.clear(Some(&u)).await.expect("clear"), 1);
    let left = store.query_nodes(&page(&u, 0, 0)).await.expect("query");
    assert_eq!(ids(&left), BTreeSet::from([hidden_u.id.clone()]));
    assert_eq!(restricted.clear(Some(&t)).await.expect("clear"), 8);
    assert_eq!(
        store
            .count_nodes(std::slice::from_ref(&t))
            .await
            .expect("count"),
        7
    );
}
