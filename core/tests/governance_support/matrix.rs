//! The clearance matrix, run on each store: every role sees exactly the nodes at or below its
//! clearance, through every REST and MCP read, and exports.

use super::{ids, As, Core, ADMIN, ANALYST, DEVELOPER, GUEST};
use reqwest::{Method, StatusCode};
use serde_json::json;

const LEVELS: [&str; 4] = ["public", "internal", "confidential", "restricted"];
const ROLES: [(As, usize); 4] = [(GUEST, 1), (ANALYST, 2), (DEVELOPER, 3), (ADMIN, 4)];

/// `tag` keeps this run's nodes apart from anything else in the store.
pub async fn run(core: &Core, tag: &str) {
    let doc = format!("doc-{tag}");
    let title = format!("{tag} shared memo");
    for level in LEVELS {
        let id = format!("{tag}-{level}");
        core.create(
            &ADMIN,
            &doc,
            &id,
            json!({"title": title, "run": tag, "sensitivity": level}),
        )
        .await;
        for (role, _) in &ROLES {
            let mine = format!("{tag}-{}-{level}", role.user);
            let props = json!({"title": "mine", "subject": role.user, "sensitivity": level});
            core.create(&ADMIN, &format!("mine-{tag}"), &mine, props)
                .await;
        }
    }
    let hub = format!("{tag}-public");
    for level in &LEVELS[1..] {
        core.link(&ADMIN, &hub, &format!("{tag}-{level}")).await;
    }

    for (role, cleared) in ROLES {
        let who = &role;
        let mut expected: Vec<String> = LEVELS[..cleared]
            .iter()
            .map(|l| format!("{tag}-{l}"))
            .collect();
        expected.sort();
        let context = format!("{} ({})", role.user, role.clearance);

        for level in LEVELS {
            let (status, body) = core.get(&format!("/api/nodes/{tag}-{level}"), who).await;
            let visible = expected.contains(&format!("{tag}-{level}"));
            let want = if visible {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            };
            assert_eq!(status, want, "{context} GET {level}: {body}");
            if visible {
                assert_eq!(body["sensitivity"], level, "{context}");
                assert!(body["properties"].get("sensitivity").is_none(), "{context}");
            }
        }
        let (_, body) = core.get(&format!("/api/nodes/query?type={doc}"), who).await;
        assert_eq!(ids(&body, "nodes"), expected, "{context} REST query");
        let (_, body) = core
            .get(&format!("/api/nodes/types/{doc}?limit=1000"), who)
            .await;
        assert_eq!(ids(&body, "nodes"), expected, "{context} REST type page");
        assert_eq!(body["pagination"]["total"], cleared, "{context} REST total");
        let (_, body) = core
            .get(&format!("/api/nodes/search?q={tag}&types={doc}"), who)
            .await;
        assert_eq!(ids(&body, "nodes"), expected, "{context} REST search");
        let vector =
            format!("/api/nodes/vector-search?query={doc} {title}&types={doc}&min_similarity=-1");
        let (_, body) = core.get(&vector, who).await;
        assert_eq!(
            ids(&body, "results"),
            expected,
            "{context} REST vector search"
        );
        // The best raw match may be hidden; a page of one still holds a visible node.
        let (_, body) = core.get(&format!("{vector}&limit=1"), who).await;
        assert_eq!(body["count"], 1, "{context} REST vector search, limit 1");
        let (_, types) = core.get("/api/nodes/types", who).await;
        let count = types["types"]
            .as_array()
            .expect("types")
            .iter()
            .find(|t| t["type"] == doc.as_str())
            .map(|t| t["count"].clone());
        assert_eq!(
            count,
            Some(json!(cleared)),
            "{context} type counts: {types}"
        );

        let (_, body) = core.get(&format!("/api/nodes/{hub}/edges"), who).await;
        assert_eq!(body["count"], cleared - 1, "{context} edges of the hub");
        let (_, body) = core.get(&format!("/api/nodes/{hub}/neighbors"), who).await;
        let mut neighbours = ids(&body, "nodes");
        neighbours.push(hub.clone());
        neighbours.sort();
        assert_eq!(neighbours, expected, "{context} neighbours");
        assert_eq!(
            body["edges"].as_array().map(Vec::len),
            Some(cleared - 1),
            "{context}"
        );

        let queried = core
            .tool(
                who,
                "memory_node",
                json!({"operation": "query", "filters": {"run": tag}, "options": {"limit": 100}}),
            )
            .await;
        assert_eq!(ids(&queried, "nodes"), expected, "{context} MCP query");
        let searched = core
            .tool(
                who,
                "memory_node",
                json!({"operation": "search", "query": format!("{doc} {title}"),
            "options": {"types": [doc], "limit": 100}}),
            )
            .await;
        assert_eq!(ids(&searched, "results"), expected, "{context} MCP search");
        let keyword = core
            .tool(
                who,
                "memory_node",
                json!({"operation": "search", "query": tag,
            "options": {"types": [doc], "limit": 100}}),
            )
            .await;
        assert_eq!(
            ids(&keyword, "results"),
            expected,
            "{context} MCP keyword search"
        );
        let vector = core
            .tool(
                who,
                "vector_search_nodes",
                json!({"query": format!("{doc} {title}"),
            "types": [doc], "min_similarity": 0.5, "limit": 100}),
            )
            .await;
        assert_eq!(
            ids(&vector, "results"),
            expected,
            "{context} MCP vector search"
        );
        let edges = core
            .tool(
                who,
                "memory_edge",
                json!({"operation": "get", "node_id": hub}),
            )
            .await;
        assert_eq!(edges["count"], cleared - 1, "{context} MCP edges: {edges}");
        let task = core
            .tool(
                who,
                "get_task_context",
                json!({"taskId": hub, "agentType": "pm"}),
            )
            .await;
        let mut walked = ids(&task["context"]["subgraph"], "nodes");
        walked.push(hub.clone());
        walked.sort();
        assert_eq!(walked, expected, "{context} task context");

        let (status, export) = core
            .get(&format!("/api/privacy/export?user={}", role.user), who)
            .await;
        assert_eq!(status, StatusCode::OK, "{context} export: {export}");
        let mut exported: Vec<String> = ids(&export, "nodes")
            .into_iter()
            .filter(|id| id.starts_with(&format!("{tag}-{}-", role.user)))
            .collect();
        exported.sort();
        let mut mine: Vec<String> = LEVELS[..cleared]
            .iter()
            .map(|l| format!("{tag}-{}-{l}", role.user))
            .collect();
        mine.sort();
        assert_eq!(exported, mine, "{context} export");
    }

    // Writes above one's clearance are refused; hidden nodes cannot be linked to.
    let (status, body) = core
        .call(
            Method::POST,
            "/api/nodes",
            &DEVELOPER,
            Some(json!({"type": doc, "properties": {"sensitivity": "restricted"}})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "Forbidden");
    let (status, _) = core
        .call(
            Method::PATCH,
            &format!("/api/nodes/{tag}-internal"),
            &ANALYST,
            Some(json!({"sensitivity": "confidential"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = core
        .call(
            Method::POST,
            "/api/nodes",
            &GUEST,
            Some(json!({"type": doc})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the default level is above a public clearance"
    );
    let (status, _) = core.call(Method::POST, "/api/edges", &ANALYST,
        Some(json!({"source": format!("{tag}-internal"), "target": format!("{tag}-restricted"), "type": "x"}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = core
        .call(
            Method::DELETE,
            &format!("/api/nodes/{tag}-restricted"),
            &DEVELOPER,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let hidden_task = core
        .tool(
            &GUEST,
            "get_task_context",
            json!({"taskId": format!("{tag}-internal"), "agentType": "pm"}),
        )
        .await;
    assert_eq!(hidden_task["isError"], true, "{hidden_task}");
    let refused = core
        .tool(
            &ANALYST,
            "memory_node",
            json!({"operation": "add", "type": doc,
        "properties": {"sensitivity": "confidential"}}),
        )
        .await;
    assert_eq!(refused["isError"], true, "{refused}");
}
