//! The proxy sidecar container and the volumes it needs, as the JSON the API server stores.
//! The core runs in the same pod and listens on loopback; the sidecar owns the pod's port.

use serde_json::{json, Value};

/// Name of the injected container; its presence marks a pod as already injected.
pub const SIDECAR_NAME: &str = "mimir-proxy";

const CONFIG_DIR: &str = "/etc/mimir/config";
const TLS_DIR: &str = "/etc/mimir/tls";
const IDENTITY_DIR: &str = "/etc/mimir/identity";
/// Where the policy's `auth.signing_key_file` points (deploy/kubernetes/base/policy.toml).
const TOKEN_SIGNING_DIR: &str = "/etc/mimir/token-signing";
/// Working directory: relative paths of the policy (API keys, lockdown, audit) land here.
const STATE_DIR: &str = "/var/lib/mimir";

/// What the injected sidecar is made of (flags of `mimir-proxy inject`).
#[derive(Debug, Clone, clap::Args)]
pub struct Sidecar {
    /// Image of the proxy sidecar (it must contain `mimir-proxy`).
    #[arg(long, value_name = "IMAGE")]
    pub image: String,
    /// ConfigMap with policy.toml, rbac.json and routes.toml, in the pod's namespace.
    #[arg(long, default_value = "mimir-proxy-config")]
    pub config_map: String,
    /// Secret of type kubernetes.io/tls with the proxy's serving certificate.
    #[arg(long, default_value = "mimir-proxy-tls")]
    pub tls_secret: String,
    /// Secret holding `identity.key`, the Ed25519 key signing identity assertions.
    #[arg(long, default_value = "mimir-identity")]
    pub identity_secret: String,
    /// Secret holding `token-signing.key`, the Ed25519 key of the proxy's own access tokens.
    #[arg(long, default_value = "mimir-token-signing")]
    pub token_signing_secret: String,
    /// Where the core listens inside the pod.
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub upstream: String,
    /// Port the sidecar serves HTTPS on (the pod's port).
    #[arg(long, default_value_t = 8443)]
    pub port: u16,
    /// Port of the sidecar's admin listener (probes, metrics).
    #[arg(long, default_value_t = 9090)]
    pub admin_port: u16,
}

impl Sidecar {
    /// The container added to `spec.containers`.
    pub fn container(&self) -> Value {
        json!({
            "name": SIDECAR_NAME,
            "image": self.image,
            "imagePullPolicy": "IfNotPresent",
            "args": ["run", "--config", format!("{CONFIG_DIR}/policy.toml")],
            "workingDir": STATE_DIR,
            "env": [
                {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}},
                {"name": "MIMIR_PROXY_LISTEN", "value": format!("0.0.0.0:{}", self.port)},
                // The pod IP only, the address the kubelet probes and Prometheus scrapes (loopback
                // would fail the probes); a NetworkPolicy should admit only monitoring to it.
                {"name": "MIMIR_PROXY_ADMIN_LISTEN", "value": format!("$(POD_IP):{}", self.admin_port)},
                {"name": "MIMIR_UPSTREAM", "value": self.upstream},
                {"name": "MIMIR_TLS_CERT", "value": format!("{TLS_DIR}/tls.crt")},
                {"name": "MIMIR_TLS_KEY", "value": format!("{TLS_DIR}/tls.key")},
                {"name": "MIMIR_IDENTITY_SIGNING_KEY_FILE", "value": format!("{IDENTITY_DIR}/identity.key")},
                {"name": "MIMIR_LOG_FORMAT", "value": "json"}
            ],
            "ports": [
                {"name": "mimir-https", "containerPort": self.port, "protocol": "TCP"},
                {"name": "mimir-admin", "containerPort": self.admin_port, "protocol": "TCP"}
            ],
            "livenessProbe": {
                "httpGet": {"path": "/healthz", "port": "mimir-admin"},
                "periodSeconds": 10,
                "failureThreshold": 3
            },
            "readinessProbe": {
                "httpGet": {"path": "/readyz", "port": "mimir-admin"},
                "periodSeconds": 5,
                "failureThreshold": 2
            },
            "resources": {
                "requests": {"cpu": "100m", "memory": "64Mi"},
                "limits": {"cpu": "1", "memory": "256Mi"}
            },
            "securityContext": restricted_security_context(),
            "volumeMounts": [
                {"name": "mimir-proxy-config", "mountPath": CONFIG_DIR, "readOnly": true},
                {"name": "mimir-proxy-tls", "mountPath": TLS_DIR, "readOnly": true},
                {"name": "mimir-proxy-identity", "mountPath": IDENTITY_DIR, "readOnly": true},
                {"name": "mimir-proxy-token-signing", "mountPath": TOKEN_SIGNING_DIR, "readOnly": true},
                {"name": "mimir-proxy-state", "mountPath": STATE_DIR}
            ]
        })
    }

    /// The volumes the container mounts, each with its name.
    pub fn volumes(&self) -> Vec<Value> {
        vec![
            json!({"name": "mimir-proxy-config", "configMap": {"name": self.config_map}}),
            json!({"name": "mimir-proxy-tls", "secret": {"secretName": self.tls_secret}}),
            json!({"name": "mimir-proxy-identity", "secret": {"secretName": self.identity_secret}}),
            json!({
                "name": "mimir-proxy-token-signing",
                "secret": {"secretName": self.token_signing_secret}
            }),
            // API keys, lockdown marker and the local audit file; ship audit to a webhook sink
            // or mount a persistent volume here to keep them beyond the pod's life.
            json!({"name": "mimir-proxy-state", "emptyDir": {"sizeLimit": "256Mi"}}),
        ]
    }
}

/// Pod Security Standard "restricted" for one container, as the shipped manifests use it.
fn restricted_security_context() -> Value {
    json!({
        "runAsNonRoot": true,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"}
    })
}
