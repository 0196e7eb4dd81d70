//! Conformance: keyword search, property queries, pagination, vector search.

use super::{add, assert_invalid, ids, props, query, set, unique, write_one};
use mimir_core::embedding::{embed, node_text, similarity};
use mimir_core::store::{GraphStore, NodeQuery, Properties, WriteOp};
use serde_json::{json, Value};
use std::collections::BTreeSet;

// ---- search and queries ----

/// LIKE wildcards in the search text are literals; matching is case-insensitive over ids and
/// string properties only.
pub async fn search_escapes_like_patterns(store: &dyn GraphStore) {
    let t = unique("search");
    let other = unique("search");
    let pct = add(
        store,
        &t,
        Some(&format!("{t}-pct")),
        json!({"title": "100% sure"}),
    )
    .await
    .id;
    let under = add(
        store,
        &t,
        Some(&format!("{t}-under")),
        json!({"title": "under_score"}),
    )
    .await
    .id;
    let slash = add(
        store,
        &t,
        Some(&format!("{t}-slash")),
        json!({"title": "back\\slash"}),
    )
    .await
    .id;
    let plain = add(
        store,
        &t,
        Some(&format!("{t}-zeta")),
        json!({"title": "Plain Text"}),
    )
    .await
    .id;
    add(
        store,
        &t,
        Some(&format!("{t}-num")),
        json!({"code": 4242, "tags": ["qwertyuiop"]}),
    )
    .await;
    let elsewhere = add(
        store,
        &other,
        Some(&format!("{other}-x")),
        json!({"title": "plain other"}),
    )
    .await
    .id;

    let search = |text: &'static str, types: Vec<String>, limit| async move {
        ids(&store
            .search_nodes(text, &types, limit)
            .await
            .expect("search"))
    };
    let only_t = || vec![t.clone()];
    assert_eq!(
        search("%", only_t(), 0).await,
        set([&pct]),
        "% is a literal"
    );
    assert_eq!(
        search("_", only_t(), 0).await,
        set([&under]),
        "_ is a literal"
    );
    assert_eq!(
        search("\\", only_t(), 0).await,
        set([&slash]),
        "the escape character is a literal"
    );
    assert_eq!(
        search("0% S", only_t(), 0).await,
        set([&pct]),
        "case-insensitive, spaces kept"
    );
    assert_eq!(search("PLAIN", only_t(), 0).await, set([&plain]));
    assert_eq!(
        search("ZETA", only_t(), 0).await,
        set([&plain]),
        "ids are searched"
    );
    assert_eq!(
        search("4242", only_t(), 0).await,
        BTreeSet::new(),
        "numbers are not text"
    );
    assert_eq!(
        search("plain", vec![t.clone(), other.clone()], 0).await,
        set([&plain, &elsewhere])
    );
    assert_eq!(
        search("plain", vec![t.clone(), other.clone()], 1)
            .await
            .len(),
        1,
        "limit"
    );
    assert!(
        search("plain other", vec![], 0).await.contains(&elsewhere),
        "no type filter searches all types"
    );
}

/// Property filters compare JSON values exactly (type included); names are validated.
pub async fn query_filters(store: &dyn GraphStore) {
    let t = unique("query");
    let other = unique("query");
    let a = add(
        store,
        &t,
        None,
        json!({"status": "open", "priority": 1, "done": false}),
    )
    .await
    .id;
    let b = add(
        store,
        &t,
        None,
        json!({"status": "open", "priority": 2, "done": true}),
    )
    .await
    .id;
    let c = add(
        store,
        &t,
        None,
        json!({"status": "closed", "priority": 1, "done": false, "tags": ["x", "y"]}),
    )
    .await
    .id;
    let d = add(
        store,
        &t,
        None,
        json!({"status": "open", "priority": "1", "my-key": 1.5}),
    )
    .await
    .id;
    let e = add(store, &other, None, json!({"status": "open"})).await.id;

    let found = |types: Vec<&'static str>, filters: Value| {
        let types: Vec<String> = types
            .into_iter()
            .map(|p| if p == "T" { t.clone() } else { other.clone() })
            .collect();
        async move {
            let refs: Vec<&str> = types.iter().map(String::as_str).collect();
            ids(&query(store, &refs, filters).await.expect("query"))
        }
    };
    assert_eq!(found(vec!["T"], json!({})).await, set([&a, &b, &c, &d]));
    assert_eq!(
        found(vec!["T"], json!({"status": "open"})).await,
        set([&a, &b, &d])
    );
    assert_eq!(
        found(vec!["T", "O"], json!({"status": "open"})).await,
        set([&a, &b, &d, &e])
    );
    assert_eq!(
        found(vec!["T"], json!({"status": "OPEN"})).await,
        BTreeSet::new(),
        "values match exactly"
    );
    assert_eq!(
        found(vec!["T"], json!({"priority": 1})).await,
        set([&a, &c]),
        "number is not string"
    );
    assert_eq!(
        found(vec!["T"], json!({"priority": "1"})).await,
        set([&d]),
        "string is not number"
    );
    assert_eq!(found(vec!["T"], json!({"done": true})).await, set([&b]));
    assert_eq!(
        found(vec!["T"], json!({"done": 1})).await,
        BTreeSet::new(),
        "true is not 1"
    );
    assert_eq!(
        found(vec!["T"], json!({"status": "open", "priority": 1})).await,
        set([&a]),
        "filters combine with AND"
    );
    assert_eq!(
        found(vec!["T"], json!({"tags": ["x", "y"]})).await,
        set([&c]),
        "arrays compare whole"
    );
    assert_eq!(
        found(vec!["T"], json!({"my-key": 1.5})).await,
        set([&d]),
        "'-' is allowed in names"
    );
    assert_eq!(
        found(vec!["T"], json!({"absent": null})).await,
        set([&a, &b, &c, &d]),
        "null matches a missing key"
    );
    assert_eq!(
        found(vec!["T"], json!({"status": null})).await,
        BTreeSet::new()
    );

    for bad in ["", "a\"b", "a.b", "$", "a[0]", "x') OR 1=1 --"] {
        let filters = Value::Object(Properties::from_iter([(bad.to_owned(), json!(1))]));
        assert_invalid(
            query(store, &[&t], filters).await,
            &format!("property name {bad:?}"),
        );
    }
}

/// Results are ordered by (created, id); limit/offset page through them; counts agree.
pub async fn query_pagination_and_counts(store: &dyn GraphStore) {
    let t = unique("page");
    let other = unique("page");
    for i in 0..5 {
        add(store, &t, Some(&format!("{t}-{i}")), json!({"i": i})).await;
    }
    add(store, &other, None, json!({})).await;

    let all = query(store, &[&t], json!({})).await.expect("query");
    assert_eq!(all.len(), 5);
    let order: Vec<(&str, &str)> = all
        .iter()
        .map(|n| (n.created.as_str(), n.id.as_str()))
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] <= w[1]),
        "ordered by created then id: {order:?}"
    );

    let mut paged = Vec::new();
    for offset in [0, 2, 4] {
        let page = NodeQuery {
            node_types: vec![t.clone()],
            filters: Properties::new(),
            limit: 2,
            offset,
        };
        paged.extend(store.query_nodes(&page).await.expect("page"));
    }
    assert_eq!(paged, all, "pages concatenate to the full result");
    let past_end = NodeQuery {
        node_types: vec![t.clone()],
        filters: Properties::new(),
        limit: 2,
        offset: 10,
    };
    assert!(store.query_nodes(&past_end).await.expect("page").is_empty());

    assert_eq!(
        store
            .count_nodes(std::slice::from_ref(&t))
            .await
            .expect("count"),
        5
    );
    assert_eq!(
        store
            .count_nodes(&[t.clone(), other.clone()])
            .await
            .expect("count"),
        6
    );
    assert!(
        store.count_nodes(&[]).await.expect("count") >= 6,
        "no type filter counts all"
    );
    let by_type = store.count_by_type().await.expect("count by type");
    assert!(
        by_type.contains(&(t.clone(), 5)) && by_type.contains(&(other, 1)),
        "{by_type:?}"
    );
    let types: Vec<&String> = by_type.iter().map(|(t, _)| t).collect();
    assert!(
        types.windows(2).all(|w| w[0] < w[1]),
        "sorted by type: {types:?}"
    );
}

// ---- vector search ----

/// Scores are the cosine similarity of `embed(node_text(type, properties))`, best first,
/// filtered by type and minimum; updates re-embed.
pub async fn vector_search_ordering(store: &dyn GraphStore) {
    let t = unique("vector");
    let other = unique("vector");
    let rust = add(
        store,
        &t,
        None,
        json!({"title": "rust graph memory server"}),
    )
    .await;
    let banana = add(store, &t, None, json!({"title": "banana smoothie recipe"})).await;
    add(
        store,
        &t,
        None,
        json!({"title": "graph database written in rust"}),
    )
    .await;
    let twin = add(
        store,
        &other,
        None,
        json!({"title": "rust graph memory server"}),
    )
    .await;

    let query = embed("rust graph memory");
    let results = store
        .vector_search(&query, std::slice::from_ref(&t), 0, -1.0)
        .await
        .expect("vector search");
    assert_eq!(results.len(), 3);
    assert_eq!(results[0].node.id, rust.id);
    assert!(
        results
            .windows(2)
            .all(|w| w[0].similarity >= w[1].similarity),
        "best first"
    );
    let expected = similarity(&query, &embed(&node_text(&t, &rust.properties)));
    assert!(
        (results[0].similarity - expected).abs() < 1e-4,
        "{} vs {expected}",
        results[0].similarity
    );
    assert_eq!(results[0].node, rust, "results carry the whole node");

    assert!(
        results[1].similarity > results[2].similarity,
        "distinct scores for this data"
    );
    let cut = (results[1].similarity + results[2].similarity) / 2.0;
    let above = store
        .vector_search(&query, std::slice::from_ref(&t), 0, cut)
        .await
        .expect("vector search");
    assert_eq!(above.len(), 2, "min_similarity filters");
    let top = store
        .vector_search(&query, std::slice::from_ref(&t), 1, -1.0)
        .await
        .expect("vector search");
    assert_eq!(top.len(), 1, "limit");
    assert_eq!(top[0].node.id, rust.id);

    let both = store
        .vector_search(&query, &[t.clone(), other.clone()], 0, -1.0)
        .await
        .expect("vector search");
    assert_eq!(both.len(), 4);
    assert!(both.iter().any(|r| r.node.id == twin.id));

    let update = WriteOp::UpdateNode {
        id: banana.id.clone(),
        properties: props(json!({"title": "rust graph memory server"})),
    };
    write_one(store, update, None).await.expect("update");
    let after = store
        .vector_search(&query, &[t], 2, -1.0)
        .await
        .expect("vector search");
    assert!(
        after.iter().any(|r| r.node.id == banana.id),
        "an update re-embeds the node"
    );
}
