//! `mimir-proxy inject`, the mutating admission webhook, started for real and called over TLS
//! with AdmissionReview v1 fixtures (tests/deploy/fixtures/), as the API server calls it.

// The harness is shared by several suites; each uses part of it.
#[allow(dead_code)]
mod support;

use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{free_port, gen_certs, BIN};

const IMAGE: &str = "registry.example/mimir-gate:0.1.0";

/// A running webhook; killed on drop.
struct Webhook {
    child: Child,
    dir: tempfile::TempDir,
    addr: SocketAddr,
}

impl Webhook {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let certs = dir.path().join("certs");
        gen_certs(&certs);
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let log = std::fs::File::create(dir.path().join("webhook.log")).unwrap();
        let child = Command::new(BIN)
            .arg("inject")
            .args(["--listen", &addr.to_string(), "--image", IMAGE])
            .arg("--tls-cert")
            .arg(certs.join("server.pem"))
            .arg("--tls-key")
            .arg(certs.join("server.key"))
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start mimir-proxy inject");
        let webhook = Self { child, dir, addr };
        let deadline = Instant::now() + Duration::from_secs(15);
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(
                Instant::now() < deadline,
                "webhook did not listen: {}",
                webhook.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        webhook
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("webhook.log")).unwrap_or_default()
    }

    /// A client trusting only the test CA, as the API server trusts the webhook's caBundle.
    fn client(&self) -> reqwest::Client {
        let ca = std::fs::read(self.dir.path().join("certs/ca.pem")).unwrap();
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
            .resolve("localhost", self.addr)
            .build()
            .unwrap()
    }

    /// POSTs `body` to /mutate; returns the status and the JSON answer.
    async fn review(&self, body: Vec<u8>) -> (u16, Value) {
        let response = self
            .client()
            .post(format!("https://localhost:{}/mutate", self.addr.port()))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("request failed: {e}\n{}", self.log()));
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/deploy/fixtures")
        .join(name)
}

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture_path(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The AdmissionResponse of an allowed review, checked against the request it answers.
fn allowed_response(request: &Value, answer: &Value) -> Value {
    assert_eq!(answer["apiVersion"], "admission.k8s.io/v1", "{answer}");
    assert_eq!(answer["kind"], "AdmissionReview", "{answer}");
    let response = answer["response"].clone();
    assert_eq!(response["uid"], request["request"]["uid"], "{answer}");
    assert_eq!(response["allowed"], true, "{answer}");
    response
}

fn container_names(pod: &Value) -> Vec<&str> {
    pod["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn annotated_pod_gets_the_sidecar() {
    let webhook = Webhook::start().await;
    let request = fixture("review-annotated-pod.json");
    let (status, answer) = webhook.review(request.to_string().into_bytes()).await;
    assert_eq!(status, 200, "{answer}");
    let response = allowed_response(&request, &answer);
    assert_eq!(response["patchType"], "JSONPatch", "{answer}");
    // Bytes as a JSON array: the API server decodes it into the []byte `patch` field
    // (tests/deploy checks that with its admission types).
    let patch_bytes: Vec<u8> = serde_json::from_value(response["patch"].clone()).unwrap();
    let patch: json_patch::Patch = serde_json::from_slice(&patch_bytes).unwrap();

    let mut pod = request["request"]["object"].clone();
    json_patch::patch(&mut pod, &patch).expect("the patch applies to the pod it was made for");

    // The application's container and volumes are untouched; the sidecar and its volumes follow.
    assert_eq!(container_names(&pod), ["mimir-core", "mimir-proxy"]);
    assert_eq!(
        pod["spec"]["containers"][0],
        request["request"]["object"]["spec"]["containers"][0]
    );
    let volumes: Vec<&str> = pod["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    let sidecar = &pod["spec"]["containers"][1];
    for mount in sidecar["volumeMounts"].as_array().unwrap() {
        assert!(
            volumes.contains(&mount["name"].as_str().unwrap()),
            "{mount} has no volume"
        );
    }
    assert_eq!(sidecar["image"], IMAGE);
    assert_eq!(
        pod["metadata"]["annotations"]["mimir.io/status"],
        "injected"
    );
    assert_eq!(sidecar["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        sidecar["securityContext"]["capabilities"]["drop"],
        json!(["ALL"])
    );
    let env = sidecar["env"].as_array().unwrap();
    let value = |name: &str| {
        let entry = env.iter().find(|e| e["name"] == name);
        entry
            .unwrap_or_else(|| panic!("no {name} in {env:?}"))
            .clone()
    };
    assert_eq!(value("MIMIR_UPSTREAM")["value"], "127.0.0.1:8081");
    // The admin listener (probes, metrics) binds the pod IP, never every address.
    assert_eq!(
        value("POD_IP")["valueFrom"],
        json!({"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}})
    );
    assert_eq!(value("MIMIR_PROXY_ADMIN_LISTEN")["value"], "$(POD_IP):9090");

    // The whole answer and its result are pinned: tests/deploy reads them as the API server does
    // and validates the pod against the Kubernetes API and Pod Security "restricted".
    assert_eq!(pod, fixture("pod-injected.json"));
    assert_eq!(answer, fixture("response-annotated-pod.json"));
}

#[tokio::test]
async fn injected_pod_is_left_alone() {
    let webhook = Webhook::start().await;
    // The pod as the webhook's own patch left it, submitted again (e.g. recreated from its spec).
    let mut request = fixture("review-annotated-pod.json");
    request["request"]["object"] = fixture("pod-injected.json");
    let (status, answer) = webhook.review(request.to_string().into_bytes()).await;
    assert_eq!(status, 200, "{answer}");
    let response = allowed_response(&request, &answer);
    assert!(response.get("patch").is_none(), "{answer}");
}

#[tokio::test]
async fn pods_it_does_not_handle_are_allowed_unpatched() {
    let webhook = Webhook::start().await;
    let mut annotated_update = fixture("review-annotated-pod.json");
    annotated_update["request"]["operation"] = json!("UPDATE");
    let mut deletion = fixture("review-annotated-pod.json");
    deletion["request"]["operation"] = json!("DELETE");
    deletion["request"]["oldObject"] = deletion["request"]["object"].take();
    for request in [
        fixture("review-unannotated-pod.json"),
        fixture("review-deployment.json"),
        annotated_update,
        deletion,
    ] {
        let (status, answer) = webhook.review(request.to_string().into_bytes()).await;
        assert_eq!(status, 200, "{answer}");
        let response = allowed_response(&request, &answer);
        assert!(response.get("patch").is_none(), "{answer}");
        assert!(response.get("patchType").is_none(), "{answer}");
    }
}

#[tokio::test]
async fn malformed_reviews_are_refused_with_400() {
    let webhook = Webhook::start().await;
    let review = fixture("review-annotated-pod.json");
    let mut old_version = review.clone();
    old_version["apiVersion"] = json!("admission.k8s.io/v1beta1");
    let mut no_request = review.clone();
    no_request.as_object_mut().unwrap().remove("request");
    let mut no_uid = review.clone();
    no_uid["request"].as_object_mut().unwrap().remove("uid");
    let mut bad_operation = review;
    bad_operation["request"]["operation"] = json!("EXPLODE");
    for body in [
        b"garbage".to_vec(),
        b"{}".to_vec(),
        b"[]".to_vec(),
        old_version.to_string().into_bytes(),
        no_request.to_string().into_bytes(),
        no_uid.to_string().into_bytes(),
        bad_operation.to_string().into_bytes(),
    ] {
        let (status, answer) = webhook.review(body.clone()).await;
        let shown = String::from_utf8_lossy(&body);
        assert_eq!(status, 400, "{shown}: {answer}");
        assert_eq!(answer["error"], "bad_request", "{shown}: {answer}");
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // Still serving after all of that.
    let health = webhook
        .client()
        .get(format!("https://localhost:{}/healthz", webhook.addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}
