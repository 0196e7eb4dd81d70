// Builds deploy/kubernetes/* with kustomize's own library and checks every object against the
// Kubernetes API types (strict decoding: unknown or duplicated fields fail), the "restricted"
// Pod Security Standard (the pod-security-admission library the API server runs), and the
// deployment's own rules. The pod patched by `mimir-proxy inject` (tests/deploy/fixtures,
// pinned by proxy/tests/inject_webhook.rs) goes through the same checks.
package deploy

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes/scheme"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

const root = "../.."

var strict = serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()

// build renders a kustomization and decodes every object strictly.
func build(t *testing.T, dir string) []runtime.Object {
	t.Helper()
	kustomizer := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resources, err := kustomizer.Run(filesys.MakeFsOnDisk(), filepath.Join(root, dir))
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var objects []runtime.Object
	for _, resource := range resources.Resources() {
		yaml, err := resource.AsYAML()
		if err != nil {
			t.Fatalf("%s: %v", resource.CurId(), err)
		}
		object, _, err := strict.Decode(yaml, nil, nil)
		if err != nil {
			t.Errorf("%s does not match the Kubernetes API: %v", resource.CurId(), err)
			continue
		}
		objects = append(objects, object)
	}
	return objects
}

func deployments(objects []runtime.Object) map[string]*appsv1.Deployment {
	found := map[string]*appsv1.Deployment{}
	for _, object := range objects {
		if d, ok := object.(*appsv1.Deployment); ok {
			found[d.Name] = d
		}
	}
	return found
}

func injectedPod(t *testing.T) *corev1.Pod {
	t.Helper()
	data, err := os.ReadFile("fixtures/pod-injected.json")
	if err != nil {
		t.Fatal(err)
	}
	object, _, err := strict.Decode(data, nil, nil)
	if err != nil {
		t.Fatalf("the injected pod does not match the Kubernetes API: %v", err)
	}
	return object.(*corev1.Pod)
}

func container(t *testing.T, spec *corev1.PodSpec, name string) corev1.Container {
	t.Helper()
	for _, c := range spec.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %s", name)
	return corev1.Container{}
}

func assertRestricted(t *testing.T, what string, meta *corev1.Pod) {
	t.Helper()
	evaluator, err := psapolicy.NewEvaluator(psapolicy.DefaultChecks())
	if err != nil {
		t.Fatal(err)
	}
	level := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	for _, result := range evaluator.EvaluatePod(level, &meta.ObjectMeta, &meta.Spec) {
		if !result.Allowed {
			t.Errorf("%s violates Pod Security \"restricted\": %s: %s", what, result.ForbiddenReason, result.ForbiddenDetail)
		}
	}
}

func TestKustomizationsMatchTheKubernetesAPI(t *testing.T) {
	want := map[string][]string{
		"deploy/kubernetes/base":    {"Namespace", "ServiceAccount", "ConfigMap", "PersistentVolumeClaim", "Service", "Deployment", "NetworkPolicy"},
		"deploy/kubernetes/webhook": {"ServiceAccount", "Service", "Deployment", "NetworkPolicy", "MutatingWebhookConfiguration"},
	}
	for dir, kinds := range want {
		seen := map[string]bool{}
		for _, object := range build(t, dir) {
			kind := object.GetObjectKind().GroupVersionKind().Kind
			seen[kind] = true
			if kind == "Secret" {
				t.Errorf("%s inlines a Secret; secrets are referenced, created outside", dir)
			}
		}
		for _, kind := range kinds {
			if !seen[kind] {
				t.Errorf("%s has no %s", dir, kind)
			}
		}
	}
}

func TestEveryPodIsRestricted(t *testing.T) {
	for _, dir := range []string{"deploy/kubernetes/base", "deploy/kubernetes/webhook"} {
		for name, d := range deployments(build(t, dir)) {
			pod := &corev1.Pod{ObjectMeta: d.Spec.Template.ObjectMeta, Spec: d.Spec.Template.Spec}
			assertRestricted(t, dir+" Deployment "+name, pod)
			for _, c := range pod.Spec.Containers {
				sc := c.SecurityContext
				if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
					t.Errorf("%s: container %s has a writable root filesystem", name, c.Name)
				}
				if c.Resources.Limits.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
					t.Errorf("%s: container %s has no CPU/memory limits", name, c.Name)
				}
				if c.LivenessProbe == nil {
					t.Errorf("%s: container %s has no liveness probe", name, c.Name)
				}
			}
		}
	}
	assertRestricted(t, "the injected pod", injectedPod(t))
}

func TestProxyOwnsThePodPortAndTheCoreStaysOnLoopback(t *testing.T) {
	objects := build(t, "deploy/kubernetes/base")
	spec := &deployments(objects)["mimir"].Spec.Template.Spec
	core := container(t, spec, "mimir-core")
	if len(core.Ports) != 0 {
		t.Errorf("the core exposes ports %v", core.Ports)
	}
	env := map[string]string{}
	for _, e := range core.Env {
		env[e.Name] = e.Value
	}
	if env["MIMIR_CORE_BIND"] != "127.0.0.1:8081" {
		t.Errorf("core binds %q, want 127.0.0.1:8081", env["MIMIR_CORE_BIND"])
	}
	proxy := container(t, spec, "mimir-proxy")
	if proxy.ReadinessProbe == nil || proxy.ReadinessProbe.HTTPGet == nil || proxy.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("the proxy's readiness probe is not /readyz: %+v", proxy.ReadinessProbe)
	}
	for _, object := range objects {
		if s, ok := object.(*corev1.Service); ok {
			for _, port := range s.Spec.Ports {
				if port.TargetPort.String() != "mimir-https" {
					t.Errorf("Service %s exposes %s, not the proxy's HTTPS port", s.Name, port.TargetPort.String())
				}
			}
		}
	}
}

// The proxy's admin listener (health, readiness, metrics) binds the pod IP from the downward API,
// where the kubelet's probes and Prometheus reach it, never every address of the pod; only the
// monitoring namespace may reach it through the NetworkPolicy (the kubelet's probes come from
// the node, which NetworkPolicy always admits).
func TestAdminListenerBindsThePodIPAndOnlyMonitoringReachesIt(t *testing.T) {
	objects := build(t, "deploy/kubernetes/base")
	proxies := map[string]corev1.Container{
		"deployment.yaml":  container(t, &deployments(objects)["mimir"].Spec.Template.Spec, "mimir-proxy"),
		"the injected pod": container(t, &injectedPod(t).Spec, "mimir-proxy"),
	}
	for what, proxy := range proxies {
		podIP := map[string]bool{}
		listen := ""
		for _, e := range proxy.Env {
			if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "status.podIP" {
				podIP[e.Name] = true
			}
			if e.Name == "MIMIR_PROXY_ADMIN_LISTEN" {
				listen = e.Value
			}
		}
		// Kubernetes expands $(VAR) only from variables defined before, which podIP holds here.
		host, port, err := net.SplitHostPort(listen)
		if err != nil || !strings.HasPrefix(host, "$(") || !podIP[strings.TrimSuffix(strings.TrimPrefix(host, "$("), ")")] {
			t.Errorf("%s: MIMIR_PROXY_ADMIN_LISTEN %q is not the pod IP (status.podIP) and a port", what, listen)
		}
		if adminPort := portNamed(proxy, "mimir-admin"); port != strconv.Itoa(int(adminPort)) {
			t.Errorf("%s: admin listener port %q is not the mimir-admin port %d", what, port, adminPort)
		}
		for _, probe := range []*corev1.Probe{proxy.LivenessProbe, proxy.ReadinessProbe} {
			if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Port.String() != "mimir-admin" || probe.HTTPGet.Host != "" {
				t.Errorf("%s: a probe does not call the admin port at the pod IP: %+v", what, probe)
			}
		}
	}
	adminPort := portNamed(proxies["deployment.yaml"], "mimir-admin")
	found := false
	for _, object := range objects {
		policy, ok := object.(*networkingv1.NetworkPolicy)
		if !ok {
			continue
		}
		found = true
		for _, rule := range policy.Spec.Ingress {
			if !opens(rule.Ports, adminPort) {
				continue
			}
			if len(rule.From) == 0 {
				t.Errorf("NetworkPolicy %s opens the admin port %d to everyone", policy.Name, adminPort)
			}
			for _, peer := range rule.From {
				monitoring := peer.NamespaceSelector != nil && peer.PodSelector == nil && peer.IPBlock == nil &&
					reflect.DeepEqual(peer.NamespaceSelector.MatchLabels, map[string]string{"kubernetes.io/metadata.name": "monitoring"}) &&
					len(peer.NamespaceSelector.MatchExpressions) == 0
				if !monitoring {
					t.Errorf("NetworkPolicy %s admits %+v to the admin port; only the monitoring namespace may", policy.Name, peer)
				}
			}
		}
	}
	if !found {
		t.Error("no NetworkPolicy guards the admin port")
	}
}

func portNamed(c corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

// opens reports whether an ingress rule's ports include port (no ports: every port).
func opens(ports []networkingv1.NetworkPolicyPort, port int32) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		if p.Port == nil || (p.Port.IntValue() == int(port)) || (p.EndPort != nil && p.Port.IntValue() <= int(port) && int(port) <= int(*p.EndPort)) {
			return true
		}
	}
	return false
}

// The static manifests and the webhook must deploy the same sidecar.
func TestStaticSidecarEqualsTheInjectedOne(t *testing.T) {
	static := container(t, &deployments(build(t, "deploy/kubernetes/base"))["mimir"].Spec.Template.Spec, "mimir-proxy")
	injected := container(t, &injectedPod(t).Spec, "mimir-proxy")
	injected.Image = static.Image
	if !reflect.DeepEqual(static, injected) {
		t.Errorf("deployment.yaml's mimir-proxy differs from the webhook's sidecar:\n static:   %+v\n injected: %+v", static, injected)
	}
}

// Kustomize only reads files below the kustomization, so the base carries copies.
func TestConfigCopiesAreIdentical(t *testing.T) {
	for _, name := range []string{"rbac.json", "routes.toml"} {
		original, err := os.ReadFile(filepath.Join(root, "config", name))
		if err != nil {
			t.Fatal(err)
		}
		copied, err := os.ReadFile(filepath.Join(root, "deploy/kubernetes/base", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(original, copied) {
			t.Errorf("deploy/kubernetes/base/%s differs from config/%s: cp config/%s deploy/kubernetes/base/", name, name, name)
		}
	}
}

// readStrict decodes a fixture as the API server decodes JSON: sigs.k8s.io/json, case-sensitive,
// unknown and duplicate fields refused.
func readStrict(t *testing.T, path string, into any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	strictErrors, err := sigsjson.UnmarshalStrict(data, into)
	if err != nil || len(strictErrors) > 0 {
		t.Fatalf("%s: %v %v", path, err, strictErrors)
	}
}

// The webhook's answer (pinned by proxy/tests/inject_webhook.rs), read with the API server's
// admission types and applied with the JSON patch library the API server uses, gives the pinned
// injected pod.
func TestWebhookAnswerAppliesAsTheAPIServerAppliesIt(t *testing.T) {
	var request, answer admissionv1.AdmissionReview
	readStrict(t, "fixtures/review-annotated-pod.json", &request)
	readStrict(t, "fixtures/response-annotated-pod.json", &answer)
	response := answer.Response
	if response == nil || !response.Allowed || response.UID != request.Request.UID {
		t.Fatalf("not an allowed answer to %s: %+v", request.Request.UID, response)
	}
	if response.PatchType == nil || *response.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("patch type %v, want JSONPatch", response.PatchType)
	}
	patch, err := jsonpatch.DecodePatch(response.Patch)
	if err != nil {
		t.Fatalf("the API server cannot read the patch: %v", err)
	}
	patched, err := patch.Apply(request.Request.Object.Raw)
	if err != nil {
		t.Fatalf("the API server cannot apply the patch: %v", err)
	}
	want, err := os.ReadFile("fixtures/pod-injected.json")
	if err != nil {
		t.Fatal(err)
	}
	var got, expected any
	if json.Unmarshal(patched, &got) != nil || json.Unmarshal(want, &expected) != nil {
		t.Fatal("unreadable pod")
	}
	if !reflect.DeepEqual(got, expected) {
		t.Errorf("patched pod differs from fixtures/pod-injected.json:\n%s", patched)
	}
}
