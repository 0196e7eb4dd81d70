//! Whether a pod gets the sidecar, and the JSON patch that adds it.

use super::sidecar::{Sidecar, SIDECAR_NAME};
use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation};
use kube_core::admission::{AdmissionRequest, Operation};
use kube_core::DynamicObject;
use serde_json::Value;

/// Opt-in annotation on the pod (`"true"` to inject).
pub const INJECT_ANNOTATION: &str = "mimir.io/inject";
/// Set on injected pods, for people looking at them.
pub const STATUS_ANNOTATION: &str = "mimir.io/status";

#[derive(Debug, PartialEq)]
pub enum Decision {
    /// Allowed unchanged, with the reason (logged).
    Skip(&'static str),
    /// Allowed with this patch.
    Inject(Patch),
}

pub fn decide(request: &AdmissionRequest<DynamicObject>, sidecar: &Sidecar) -> Decision {
    let kind = &request.kind;
    if (
        kind.group.as_str(),
        kind.version.as_str(),
        kind.kind.as_str(),
    ) != ("", "v1", "Pod")
    {
        return Decision::Skip("not a core/v1 Pod");
    }
    if request.operation != Operation::Create {
        return Decision::Skip("not a CREATE");
    }
    let Some(pod) = &request.object else {
        return Decision::Skip("no object");
    };
    let opted_in = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(INJECT_ANNOTATION))
        .is_some_and(|v| v == "true");
    if !opted_in {
        return Decision::Skip("not annotated mimir.io/inject: \"true\"");
    }
    let spec = &pod.data["spec"];
    let containers = names(&spec["containers"]);
    if containers.iter().any(|n| n == SIDECAR_NAME) {
        return Decision::Skip("already injected");
    }
    let mut ops = Vec::new();
    append(
        &mut ops,
        &["spec", "containers"],
        spec["containers"].is_array(),
        vec![sidecar.container()],
    );
    // Volumes the pod already has (a re-submitted, partly injected pod) are not added twice.
    let existing = names(&spec["volumes"]);
    let volumes: Vec<Value> = sidecar
        .volumes()
        .into_iter()
        .filter(|v| !existing.iter().any(|n| v["name"] == n.as_str()))
        .collect();
    append(
        &mut ops,
        &["spec", "volumes"],
        spec["volumes"].is_array(),
        volumes,
    );
    // The opt-in annotation exists, so the annotations object does too.
    ops.push(add(
        PointerBuf::from_tokens(["metadata", "annotations", STATUS_ANNOTATION]),
        Value::from("injected"),
    ));
    Decision::Inject(Patch(ops))
}

/// `name` of every object in a JSON array (none when it is not an array).
fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item["name"].as_str().map(str::to_owned))
        .collect()
}

/// Appends `items` to the array at `path`, creating it when it does not exist yet.
fn append(ops: &mut Vec<PatchOperation>, path: &[&str], exists: bool, items: Vec<Value>) {
    if items.is_empty() {
        return;
    }
    if exists {
        let end = PointerBuf::from_tokens(path.iter().copied().chain(["-"]));
        ops.extend(items.into_iter().map(|item| add(end.clone(), item)));
    } else {
        ops.push(add(
            PointerBuf::from_tokens(path.iter().copied()),
            Value::Array(items),
        ));
    }
}

fn add(path: PointerBuf, value: Value) -> PatchOperation {
    PatchOperation::Add(AddOperation { path, value })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use serde_json::json;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        sidecar: Sidecar,
    }

    fn sidecar() -> Sidecar {
        Flags::parse_from(["inject", "--image", "mimir-gate:test"]).sidecar
    }

    fn request(annotation: &str, spec: Value) -> AdmissionRequest<DynamicObject> {
        let review = json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {
                "uid": "u1", "operation": "CREATE", "userInfo": {},
                "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "object": {
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "p", "annotations": {INJECT_ANNOTATION: annotation}},
                    "spec": spec
                }
            }
        });
        let review: kube_core::admission::AdmissionReview<DynamicObject> =
            serde_json::from_value(review).unwrap();
        review.try_into().unwrap()
    }

    fn patched(request: &AdmissionRequest<DynamicObject>) -> Value {
        let Decision::Inject(patch) = decide(request, &sidecar()) else {
            panic!("not injected");
        };
        let mut pod = serde_json::to_value(request.object.as_ref().unwrap()).unwrap();
        json_patch::patch(&mut pod, &patch).unwrap();
        pod
    }

    #[test]
    fn only_the_exact_value_true_opts_in() {
        let spec = json!({"containers": [{"name": "app"}]});
        for value in ["True", "yes", "1", ""] {
            assert_eq!(
                decide(&request(value, spec.clone()), &sidecar()),
                Decision::Skip("not annotated mimir.io/inject: \"true\"")
            );
        }
    }

    #[test]
    fn a_pod_without_volumes_gets_the_volume_list() {
        let pod = patched(&request("true", json!({"containers": [{"name": "app"}]})));
        let names: Vec<&str> = pod["spec"]["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "mimir-proxy-config",
                "mimir-proxy-tls",
                "mimir-proxy-identity",
                "mimir-proxy-token-signing",
                "mimir-proxy-state"
            ]
        );
    }

    #[test]
    fn volumes_the_pod_already_has_are_not_added_twice() {
        let spec = json!({
            "containers": [{"name": "app"}],
            "volumes": [{"name": "mimir-proxy-state", "persistentVolumeClaim": {"claimName": "s"}}]
        });
        let pod = patched(&request("true", spec));
        let volumes = pod["spec"]["volumes"].as_array().unwrap();
        assert_eq!(volumes.len(), 5);
        assert_eq!(volumes[0]["persistentVolumeClaim"]["claimName"], "s");
    }
}
