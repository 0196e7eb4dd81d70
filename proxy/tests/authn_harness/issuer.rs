//! A minimal OpenID issuer on a free loopback port: discovery and a fixed JWKS, enough for the
//! proxy to verify tokens signed with `keys`.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Serves discovery and a JWKS at `http://127.0.0.1:<port>`; counts every request.
pub async fn serve(jwks: Value) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let hits = Arc::new(AtomicUsize::new(0));
    let (counter, iss) = (hits.clone(), issuer.clone());
    let app =
        Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || async move {
                    Json(json!({"issuer": iss, "jwks_uri": format!("{iss}/jwks")}))
                }),
            )
            .route("/jwks", get(move || async move { Json(jwks) }))
            .layer(axum::middleware::from_fn(
                move |req: axum::extract::Request, next: axum::middleware::Next| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    next.run(req)
                },
            ));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (issuer, hits)
}
