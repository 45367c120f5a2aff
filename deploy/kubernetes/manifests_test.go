// Package kubernetes checks the Kubernetes manifests of base/ against the Kubernetes
// API types: every document decodes strictly (an unknown or misspelt field fails), and
// the Deployments hold what deploy/README.md promises. It is a module of its own so
// that the Kubernetes types stay out of Jardinier's go.mod; `make lint` runs it.
package kubernetes

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// kustomization is the part of kustomization.yaml the base uses; every other field is
// refused, as a typo would be.
type kustomization struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Labels     []struct {
		Pairs            map[string]string `json:"pairs"`
		IncludeSelectors bool              `json:"includeSelectors"`
	} `json:"labels"`
	Resources []string `json:"resources"`
	Images    []struct {
		Name    string `json:"name"`
		NewName string `json:"newName"`
		NewTag  string `json:"newTag"`
	} `json:"images"`
}

// secretVariables are the configuration variables that hold secrets: they belong in
// the Secret jardinier-secrets, never in a file of the repository.
var secretVariables = []string{"DATABASE_URL", "FLEET_DATABASE_URL", "S3_SECRET_KEY", "SMTP_URL", "SECRET_KEY",
	"NEXTCLOUD_SMTP_URL", "NEXTCLOUD_SSH_KEY"}

// objects are the documents of the base, decoded.
type objects struct {
	deployments []appsv1.Deployment
	pdbs        []policyv1.PodDisruptionBudget
	configMaps  []corev1.ConfigMap
	services    []corev1.Service
	claims      []corev1.PersistentVolumeClaim
	kinds       []string
}

func load(t *testing.T) objects {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("base", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	if err := yaml.UnmarshalStrict(raw, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	var o objects
	for _, file := range k.Resources {
		raw, err := os.ReadFile(filepath.Join("base", file))
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range bytes.Split(raw, []byte("\n---\n")) {
			where := fmt.Sprintf("%s, document %d", file, i+1)
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal(doc, &tm); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			o.kinds = append(o.kinds, tm.Kind)
			var target any
			switch tm.APIVersion + " " + tm.Kind {
			case "apps/v1 Deployment":
				o.deployments = append(o.deployments, appsv1.Deployment{})
				target = &o.deployments[len(o.deployments)-1]
			case "policy/v1 PodDisruptionBudget":
				o.pdbs = append(o.pdbs, policyv1.PodDisruptionBudget{})
				target = &o.pdbs[len(o.pdbs)-1]
			case "v1 ConfigMap":
				o.configMaps = append(o.configMaps, corev1.ConfigMap{})
				target = &o.configMaps[len(o.configMaps)-1]
			case "v1 Service":
				o.services = append(o.services, corev1.Service{})
				target = &o.services[len(o.services)-1]
			case "v1 PersistentVolumeClaim":
				o.claims = append(o.claims, corev1.PersistentVolumeClaim{})
				target = &o.claims[len(o.claims)-1]
			case "v1 Namespace":
				target = &corev1.Namespace{}
			case "v1 ServiceAccount":
				target = &corev1.ServiceAccount{}
			default:
				t.Fatalf("%s: %s %s is not a kind this base uses", where, tm.APIVersion, tm.Kind)
			}
			if err := yaml.UnmarshalStrict(doc, target); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
		}
	}
	return o
}

func TestManifestsDecodeStrictly(t *testing.T) {
	o := load(t)

	t.Run("api, worker and cron each have a Deployment and a PodDisruptionBudget selecting its pods", func(t *testing.T) {
		for _, name := range []string{"jardinier-api", "jardinier-worker", "jardinier-cron"} {
			i := slices.IndexFunc(o.deployments, func(d appsv1.Deployment) bool { return d.Name == name })
			if i < 0 {
				t.Fatalf("no Deployment %s", name)
			}
			d := o.deployments[i]
			if d.Spec.Selector == nil || !matches(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
				t.Errorf("%s: its selector does not select its own pods", name)
			}
			if !slices.ContainsFunc(o.pdbs, func(p policyv1.PodDisruptionBudget) bool {
				return p.Spec.Selector != nil && matches(p.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
			}) {
				t.Errorf("%s: no PodDisruptionBudget selects its pods", name)
			}
			if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
				t.Errorf("%s: fewer than 2 replicas", name)
			}
			role := strings.TrimPrefix(name, "jardinier-")
			c := d.Spec.Template.Spec.Containers
			if len(c) != 1 || c[0].Image != "jardinier" || !slices.Equal(c[0].Args, []string{role}) {
				t.Errorf("%s: want one container of image jardinier running %q, got %+v", name, role, c)
			}
		}
	})

	t.Run("every container runs as non-root, read-only, with requests and a memory limit", func(t *testing.T) {
		for _, d := range o.deployments {
			ps := d.Spec.Template.Spec
			if ps.SecurityContext == nil || ps.SecurityContext.RunAsNonRoot == nil || !*ps.SecurityContext.RunAsNonRoot {
				t.Errorf("%s: runAsNonRoot not set", d.Name)
			}
			for _, c := range ps.Containers {
				sc := c.SecurityContext
				if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
					sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
					t.Errorf("%s/%s: privilege escalation allowed or root file system writable", d.Name, c.Name)
				}
				if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
					t.Errorf("%s/%s: missing CPU or memory request, or memory limit", d.Name, c.Name)
				}
			}
		}
	})

	t.Run("the API's probes reach /healthz and /readyz on its port", func(t *testing.T) {
		i := slices.IndexFunc(o.deployments, func(d appsv1.Deployment) bool { return d.Name == "jardinier-api" })
		c := o.deployments[i].Spec.Template.Spec.Containers[0]
		for what, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe} {
			if p == nil || p.HTTPGet == nil {
				t.Errorf("no HTTP %s probe", what)
				continue
			}
			want := map[string]string{"liveness": "/healthz", "readiness": "/readyz", "startup": "/healthz"}[what]
			if p.HTTPGet.Path != want || !slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.Name == p.HTTPGet.Port.StrVal }) {
				t.Errorf("%s probe: GET %s on port %q, want %s on a named port of the container", what, p.HTTPGet.Path, p.HTTPGet.Port.String(), want)
			}
		}
	})

	t.Run("configuration comes from the ConfigMap and the Secret, and no secret is in the files", func(t *testing.T) {
		if slices.Contains(o.kinds, "Secret") {
			t.Error("a Secret is in the repository")
		}
		if len(o.configMaps) != 1 {
			t.Fatalf("want one ConfigMap, got %d", len(o.configMaps))
		}
		cm := o.configMaps[0]
		for _, v := range secretVariables {
			if _, ok := cm.Data[v]; ok {
				t.Errorf("ConfigMap %s holds %s, a secret", cm.Name, v)
			}
		}
		for _, d := range o.deployments {
			for _, c := range d.Spec.Template.Spec.Containers {
				var cms, secrets []string
				for _, e := range c.EnvFrom {
					if e.ConfigMapRef != nil {
						cms = append(cms, e.ConfigMapRef.Name)
					}
					if e.SecretRef != nil {
						secrets = append(secrets, e.SecretRef.Name)
					}
				}
				if !slices.Equal(cms, []string{cm.Name}) || !slices.Equal(secrets, []string{"jardinier-secrets"}) {
					t.Errorf("%s: env from ConfigMaps %v and Secrets %v, want [%s] and [jardinier-secrets]", d.Name, cms, secrets, cm.Name)
				}
				for _, e := range c.Env {
					if slices.Contains(secretVariables, e.Name) && e.ValueFrom == nil {
						t.Errorf("%s: %s written in clear", d.Name, e.Name)
					}
				}
			}
		}
	})

	t.Run("every volume a container mounts exists, and a claim backs the workers' snapshots", func(t *testing.T) {
		for _, d := range o.deployments {
			ps := d.Spec.Template.Spec
			for _, c := range ps.Containers {
				for _, m := range c.VolumeMounts {
					i := slices.IndexFunc(ps.Volumes, func(v corev1.Volume) bool { return v.Name == m.Name })
					if i < 0 {
						t.Errorf("%s: mounts %s, which is not a volume of the pod", d.Name, m.Name)
						continue
					}
					if pvc := ps.Volumes[i].PersistentVolumeClaim; pvc != nil &&
						!slices.ContainsFunc(o.claims, func(c corev1.PersistentVolumeClaim) bool { return c.Name == pvc.ClaimName }) {
						t.Errorf("%s: claim %s is not in the base", d.Name, pvc.ClaimName)
					}
				}
			}
		}
	})
}

// matches reports whether labels carry every pair of selector.
func matches(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}
