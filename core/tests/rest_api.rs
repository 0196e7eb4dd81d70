//! The REST API over HTTP, on a real listener and an embedded store in a temporary directory.

use mimir_core::config::CoreConfig;
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;

const BODY_LIMIT: usize = 16 * 1024;

struct Server {
    base: String,
    client: Client,
    dir: TempDir,
}

async fn start() -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = CoreConfig::with_data_dir(dir.path().join("data"));
    config.max_body_bytes = BODY_LIMIT;
    let app = mimir_core::router(mimir_core::embedded_state(config).expect("state"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server {
        base,
        client: Client::new(),
        dir,
    }
}

impl Server {
    fn request(&self, method: Method, path: &str, user: Option<&str>) -> reqwest::RequestBuilder {
        let request = self.client.request(method, format!("{}{path}", self.base));
        match user {
            Some(user) => request.header("X-User-ID", user),
            None => request,
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        read(
            self.request(Method::GET, path, None)
                .send()
                .await
                .expect("send"),
        )
        .await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        user: Option<&str>,
        body: Value,
    ) -> (StatusCode, Value) {
        read(
            self.request(method, path, user)
                .json(&body)
                .send()
                .await
                .expect("send"),
        )
        .await
    }

    /// Sends raw bytes as JSON (for malformed and oversize bodies).
    async fn send_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> (StatusCode, Value) {
        let request = self
            .request(Method::POST, path, None)
            .header("content-type", "application/json");
        read(request.body(body).send().await.expect("send")).await
    }

    async fn create(&self, node_type: &str, properties: Value) -> String {
        let (status, body) = self
            .send(
                Method::POST,
                "/api/nodes",
                None,
                json!({"type": node_type, "properties": properties}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["node"]["id"].as_str().expect("node id").to_owned()
    }
}

async fn read(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Every error is JSON `{error, message}` with the expected status.
fn assert_error(got: (StatusCode, Value), status: StatusCode, what: &str) {
    assert_eq!(got.0, status, "{what}: {}", got.1);
    assert!(
        got.1["error"].is_string() && got.1["message"].is_string(),
        "{what}: error body {}",
        got.1
    );
}

#[tokio::test]
async fn health_reports_version_and_tools() {
    let server = start().await;
    let (status, body) = server.get("/health").await;
    assert_eq!(status, StatusCode::OK);
    let expected = json!({
        "status": "healthy",
        "version": env!("CARGO_PKG_VERSION"),
        "mode": "session",
        "tools": mimir_core::mcp::TOOL_NAMES.len(),
    });
    assert_eq!(body, expected);
}

#[tokio::test]
async fn node_lifecycle_records_the_caller() {
    let server = start().await;
    let create =
        json!({"type": "memory", "properties": {"title": "first", "meta": {"lang": "en"}}});
    let (status, body) = server
        .send(Method::POST, "/api/nodes", Some("alice"), create)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["success"], json!(true));
    let node = &body["node"];
    let id = node["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("memory-"), "{id}");
    assert_eq!(node["type"], json!("memory"));
    assert_eq!(
        node["properties"],
        json!({"title": "first", "meta_lang": "en"}),
        "nested properties flattened"
    );
    assert_eq!(node["created_by"], json!("alice"));

    let (status, got) = server.get(&format!("/api/nodes/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&got, node);

    let given = json!({"type": "memory", "id": "memory-given", "properties": {}});
    let (status, body) = server
        .send(Method::POST, "/api/nodes", None, given.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["node"]["id"], json!("memory-given"));
    assert!(
        body["node"].get("created_by").is_none(),
        "no X-User-ID, no created_by: {body}"
    );
    assert_error(
        server.send(Method::POST, "/api/nodes", None, given).await,
        StatusCode::CONFLICT,
        "duplicate id",
    );

    let path = format!("/api/nodes/{id}");
    let (status, body) = server
        .send(
            Method::PATCH,
            &path,
            Some("bob"),
            json!({"status": "done", "title": null}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["node"]["properties"],
        json!({"meta_lang": "en", "status": "done"})
    );
    assert_eq!(body["node"]["created_by"], json!("alice"));
    assert_eq!(body["node"]["updated_by"], json!("bob"));
    assert_error(
        server.send(Method::PATCH, &path, None, json!({})).await,
        StatusCode::BAD_REQUEST,
        "empty PATCH",
    );

    let (status, body) = server
        .send(
            Method::PUT,
            &path,
            Some("carol"),
            json!({"properties": {"only": {"one": 1}}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["node"]["properties"],
        json!({"only_one": 1}),
        "PUT replaces"
    );
    assert_eq!(body["node"]["updated_by"], json!("carol"));
    assert_error(
        server.send(Method::PUT, &path, None, json!({})).await,
        StatusCode::BAD_REQUEST,
        "PUT without properties",
    );

    let (status, body) = read(
        server
            .request(Method::DELETE, &path, None)
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], json!(true));
    assert_eq!(
        body["deleted"],
        json!({"id": id, "type": "memory", "edgesRemoved": 0})
    );

    let (status, body) = server.get(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], json!("Node not found"));
    let gone = server
        .request(Method::DELETE, &path, None)
        .send()
        .await
        .expect("send");
    assert_error(read(gone).await, StatusCode::NOT_FOUND, "second delete");
    assert_error(
        server
            .send(Method::PATCH, &path, None, json!({"a": 1}))
            .await,
        StatusCode::NOT_FOUND,
        "PATCH unknown",
    );
    assert_error(
        server
            .send(Method::PUT, &path, None, json!({"properties": {}}))
            .await,
        StatusCode::NOT_FOUND,
        "PUT unknown",
    );
}

#[tokio::test]
async fn bad_input_is_a_client_error() {
    let server = start().await;
    let bad = StatusCode::BAD_REQUEST;
    assert_error(
        server.send_raw("/api/nodes", "{\"type\":").await,
        bad,
        "malformed JSON",
    );
    assert_error(
        server
            .send(Method::POST, "/api/nodes", None, json!({"type": 5}))
            .await,
        bad,
        "type of wrong type",
    );
    assert_error(
        server
            .send(Method::POST, "/api/nodes", None, json!([1]))
            .await,
        bad,
        "array body",
    );
    assert_error(
        server
            .send(Method::POST, "/api/nodes", None, json!({"properties": {}}))
            .await,
        bad,
        "missing type",
    );
    assert_error(
        server
            .send(Method::POST, "/api/nodes", None, json!({"type": " "}))
            .await,
        bad,
        "blank type",
    );
    let props_string = json!({"type": "memory", "properties": "text"});
    assert_error(
        server
            .send(Method::POST, "/api/nodes", None, props_string)
            .await,
        bad,
        "properties not an object",
    );
    let control = json!({"type": "memory", "id": "a\u{1}b"});
    assert_error(
        server.send(Method::POST, "/api/nodes", None, control).await,
        bad,
        "control character in id",
    );

    let plain = server
        .request(Method::POST, "/api/nodes", None)
        .body("{}")
        .send()
        .await
        .expect("send");
    assert_error(
        read(plain).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "no JSON content type",
    );
    let huge = format!(
        "{{\"type\":\"memory\",\"properties\":{{\"blob\":\"{}\"}}}}",
        "x".repeat(BODY_LIMIT)
    );
    assert_error(
        server.send_raw("/api/nodes", huge).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "oversize body",
    );

    assert_error(
        server.get("/api/nodes/search?q=x&limit=abc").await,
        bad,
        "limit not a number",
    );
    assert_error(
        server.get("/api/nodes/query?limit=-1").await,
        bad,
        "negative limit",
    );
    assert_error(
        server.get("/api/nodes/query?a.b=1").await,
        bad,
        "invalid property name",
    );
    assert_error(
        server.get("/api/nodes/query?x=1&x=2").await,
        bad,
        "repeated filter",
    );
    assert_error(
        server.get("/api/nodes/search").await,
        bad,
        "search without q",
    );
    assert_error(
        server.get("/api/nodes/vector-search").await,
        bad,
        "vector search without query",
    );
    assert_error(
        server
            .get("/api/nodes/vector-search?query=x&min_similarity=2")
            .await,
        bad,
        "similarity out of range",
    );
    assert_error(
        server.get("/api/nodes/types/memory?page=0").await,
        bad,
        "page 0",
    );

    let id = server.create("memory", json!({})).await;
    assert_error(
        server
            .get(&format!("/api/nodes/{id}/edges?direction=up"))
            .await,
        bad,
        "unknown direction",
    );
    assert_error(
        server
            .get(&format!("/api/nodes/{id}/neighbors?depth=9"))
            .await,
        bad,
        "depth too large",
    );
    assert_error(
        server
            .get(&format!("/api/nodes/{id}/neighbors?depth=0"))
            .await,
        bad,
        "depth 0",
    );
}

#[tokio::test]
async fn listings_filter_search_and_page() {
    let server = start().await;
    let mut tasks = Vec::new();
    for (i, status) in ["open", "open", "closed", "open", "closed"]
        .iter()
        .enumerate()
    {
        tasks.push(
            server
                .create(
                    "todo",
                    json!({"title": format!("task {i} about rust graphs"), "status": status}),
                )
                .await,
        );
    }
    server
        .create(
            "memory",
            json!({"title": "banana smoothie", "status": "open"}),
        )
        .await;

    let (status, body) = server.get("/api/nodes/query?type=todo&status=open").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["count"], json!(3));
    let (_, body) = server
        .get("/api/nodes/query?status=open&limit=2&offset=1")
        .await;
    assert_eq!(body["nodes"].as_array().map(Vec::len), Some(2), "{body}");
    let (_, body) = server.get("/api/nodes/query?type=todo,memory").await;
    assert_eq!(body["count"], json!(6));

    let (status, body) = server.get("/api/nodes/search?q=BANANA").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["count"], json!(1));
    let (_, body) = server.get("/api/nodes/search?q=task&types=memory").await;
    assert_eq!(body["count"], json!(0));
    let (_, body) = server.get("/api/nodes/search?q=%25").await;
    assert_eq!(body["count"], json!(0), "a literal % matches nothing here");
    let (_, body) = server.get("/api/nodes/search?q=task&limit=2").await;
    assert_eq!(body["count"], json!(2));

    let (status, body) = server.get("/api/nodes/types").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"types": [{"type": "memory", "count": 1}, {"type": "todo", "count": 5}], "total": 6})
    );

    let (status, body) = server.get("/api/nodes/types/todo?page=2&limit=2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["pagination"],
        json!({"page": 2, "limit": 2, "total": 5, "totalPages": 3})
    );
    assert_eq!(body["nodes"].as_array().map(Vec::len), Some(2));
    let (_, body) = server.get("/api/nodes/types/todo?page=3&limit=2").await;
    assert_eq!(body["nodes"].as_array().map(Vec::len), Some(1));
    let (_, body) = server.get("/api/nodes/types/todo").await;
    assert_eq!(body["pagination"]["limit"], json!(20), "default page size");

    let (status, body) = server
        .get("/api/nodes/vector-search?query=rust%20graphs&min_similarity=0&types=todo,memory")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let results = body["results"].as_array().expect("results");
    let scores: Vec<f64> = results
        .iter()
        .filter_map(|r| r["similarity"].as_f64())
        .collect();
    assert!(
        !scores.is_empty() && scores.windows(2).all(|w| w[0] >= w[1]),
        "{scores:?}"
    );
    assert_eq!(results[0]["node"]["type"], json!("todo"));
    let (_, body) = server
        .get("/api/nodes/vector-search?query=rust%20graphs&limit=1&min_similarity=0")
        .await;
    assert_eq!(body["count"], json!(1));

    let (_, body) = server.get(&format!("/api/nodes/{}", tasks[0])).await;
    assert_eq!(body["id"], json!(tasks[0]));
}

#[tokio::test]
async fn edges_and_walks() {
    let server = start().await;
    let a = server.create("concept", json!({})).await;
    let b = server.create("concept", json!({})).await;
    let c = server.create("concept", json!({})).await;

    let edge =
        json!({"source": a, "target": b, "type": "relates_to", "properties": {"w": {"x": 1}}});
    let (status, body) = server
        .send(Method::POST, "/api/edges", Some("dana"), edge)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["success"], json!(true));
    let ab = body["edge"]["id"].as_str().expect("edge id").to_owned();
    assert_eq!(body["edge"]["created_by"], json!("dana"));
    assert_eq!(body["edge"]["properties"], json!({"w_x": 1}));
    let (_, body) = server
        .send(
            Method::POST,
            "/api/edges",
            None,
            json!({"source": b, "target": c, "type": "calls"}),
        )
        .await;
    let bc = body["edge"]["id"].as_str().expect("edge id").to_owned();

    let missing_target = json!({"source": a, "type": "relates_to"});
    assert_error(
        server
            .send(Method::POST, "/api/edges", None, missing_target)
            .await,
        StatusCode::BAD_REQUEST,
        "no target",
    );
    let dangling = json!({"source": "nope", "target": b, "type": "relates_to"});
    assert_error(
        server
            .send(Method::POST, "/api/edges", None, dangling)
            .await,
        StatusCode::NOT_FOUND,
        "unknown source",
    );

    let (status, body) = server.get(&format!("/api/edges/{ab}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((&body["source"], &body["target"]), (&json!(a), &json!(b)));

    let (_, body) = server.get(&format!("/api/nodes/{b}/edges")).await;
    assert_eq!(body["count"], json!(2));
    let (_, body) = server
        .get(&format!("/api/nodes/{b}/edges?direction=out"))
        .await;
    assert_eq!(body["edges"][0]["id"], json!(bc));
    let (_, body) = server
        .get(&format!(
            "/api/nodes/{b}/edges?direction=both&type=relates_to"
        ))
        .await;
    assert_eq!(body["edges"][0]["id"], json!(ab));
    let (status, body) = server.get("/api/nodes/nope/edges").await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::NOT_FOUND, &json!("Node not found"))
    );

    let (status, body) = server
        .get(&format!("/api/nodes/{a}/neighbors?depth=2&direction=out"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ids: Vec<&str> = body["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["id"].as_str())
        .collect();
    assert_eq!(ids, [b.as_str(), c.as_str()]);
    assert_eq!(body["edges"].as_array().map(Vec::len), Some(2));
    let (_, body) = server
        .get(&format!("/api/nodes/{a}/neighbors?direction=in"))
        .await;
    assert_eq!(body["nodes"], json!([]));
    assert_error(
        server.get("/api/nodes/nope/neighbors").await,
        StatusCode::NOT_FOUND,
        "walk from unknown node",
    );

    let (status, body) = read(
        server
            .request(Method::DELETE, &format!("/api/edges/{ab}"), None)
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"success": true, "deleted": {"id": ab}}));
    let (status, body) = server.get(&format!("/api/edges/{ab}")).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::NOT_FOUND, &json!("Edge not found"))
    );
    let again = server
        .request(Method::DELETE, &format!("/api/edges/{ab}"), None)
        .send()
        .await
        .expect("send");
    assert_error(
        read(again).await,
        StatusCode::NOT_FOUND,
        "second edge delete",
    );

    let (_, body) = read(
        server
            .request(Method::DELETE, &format!("/api/nodes/{b}"), None)
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(
        body["deleted"]["edgesRemoved"],
        json!(1),
        "the b→c edge went with b"
    );
}

#[tokio::test]
async fn backend_failures_hide_details() {
    let server = start().await;
    let id = server.create("memory", json!({"secret": "s3cr3t"})).await;
    let raw =
        rusqlite::Connection::open(server.dir.path().join("data/mimir.sqlite3")).expect("open raw");
    raw.execute(
        "UPDATE nodes SET properties = '{\"secret\": s3cr3t' WHERE id = ?1",
        [&id],
    )
    .expect("damage the row");
    let (status, body) = server.get(&format!("/api/nodes/{id}")).await;
    assert_error(
        (status, body.clone()),
        StatusCode::INTERNAL_SERVER_ERROR,
        "damaged row",
    );
    assert!(
        !body.to_string().contains("s3cr3t") && !body.to_string().contains("column"),
        "no details: {body}"
    );
}
