package integration

import (
	"net"
	"os"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/deepprobe/deepprobe/cli"
)

// TestKubernetesNetworkPolicy: the shipped NetworkPolicy (strict-decoded) selects the worker
// pods of the manifest, isolates their ingress, and admits only two peers, each on deepprobe's
// port alone: the nodes (an ipBlock: the kubelet's probes) and Prometheus (a namespace and pod
// selector). A rule with no peer or no port would admit everyone.
func TestKubernetesNetworkPolicy(t *testing.T) {
	b, err := os.ReadFile("../deploy/kubernetes/deepprobe-networkpolicy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var np networkingv1.NetworkPolicy
	if err := yaml.UnmarshalStrict(b, &np); err != nil {
		t.Fatalf("strict decoding: %v", err)
	}
	if np.APIVersion != "networking.k8s.io/v1" || np.Kind != "NetworkPolicy" || np.Name == "" {
		t.Fatalf("not a named networking.k8s.io/v1 NetworkPolicy: %s %s %q", np.APIVersion, np.Kind, np.Name)
	}
	sb, err := os.ReadFile("../deploy/kubernetes/worker-statefulset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var sts appsv1.StatefulSet
	if err := yaml.UnmarshalStrict(sb, &sts); err != nil {
		t.Fatal(err)
	}
	sel := labels.SelectorFromSet(np.Spec.PodSelector.MatchLabels)
	if len(np.Spec.PodSelector.MatchLabels) == 0 || len(np.Spec.PodSelector.MatchExpressions) != 0 || !sel.Matches(labels.Set(sts.Spec.Template.Labels)) {
		t.Fatalf("podSelector %v does not select the worker pods %v", np.Spec.PodSelector, sts.Spec.Template.Labels)
	}
	if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) {
		t.Errorf("policyTypes %v, want [Ingress] (outbound stays open: the worker dials web's TSA)", np.Spec.PolicyTypes)
	}
	port := deepprobePort(t, sts.Spec.Template.Spec.Containers)
	var node, prometheus bool
	for i, rule := range np.Spec.Ingress {
		if len(rule.From) == 0 {
			t.Errorf("ingress rule %d has no peer: it admits everyone", i)
		}
		if len(rule.Ports) == 0 {
			t.Errorf("ingress rule %d has no port: it admits every port", i)
		}
		for _, p := range rule.Ports {
			if p.Port == nil || p.Port.IntValue() != int(port) || p.EndPort != nil || (p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP) {
				t.Errorf("ingress rule %d admits port %v, want deepprobe's %d/TCP only", i, p.Port, port)
			}
		}
		for _, peer := range rule.From {
			switch {
			case peer.IPBlock != nil && peer.NamespaceSelector == nil && peer.PodSelector == nil:
				_, cidr, err := net.ParseCIDR(peer.IPBlock.CIDR)
				if err != nil {
					t.Errorf("ipBlock %q: %v", peer.IPBlock.CIDR, err)
					continue
				}
				if ones, _ := cidr.Mask.Size(); ones == 0 {
					t.Errorf("ipBlock %s admits every address", cidr)
				}
				node = true
			case peer.IPBlock == nil && peer.NamespaceSelector != nil && peer.PodSelector != nil &&
				len(peer.NamespaceSelector.MatchLabels) > 0 && len(peer.PodSelector.MatchLabels) > 0:
				if !strings.Contains(strings.Join(mapValues(peer.PodSelector.MatchLabels), " "), "prometheus") {
					t.Errorf("pod selector %v does not select Prometheus", peer.PodSelector.MatchLabels)
				}
				prometheus = true
			default:
				t.Errorf("ingress rule %d admits a peer that is neither the nodes nor Prometheus: %+v", i, peer)
			}
		}
	}
	if !node || !prometheus {
		t.Errorf("admits the nodes: %v, Prometheus: %v; want both", node, prometheus)
	}
}

// deepprobePort is the port the sidecar's --listen binds.
func deepprobePort(t *testing.T, containers []corev1.Container) uint32 {
	t.Helper()
	for _, c := range containers {
		if len(c.Args) > 0 && c.Args[0] == "serve" {
			cfg, err := cli.ParseServe(c.Args[1:], func(string) string { return "" })
			if err != nil {
				t.Fatalf("sidecar args: %v", err)
			}
			return listenPort(t, cfg.Listen)
		}
	}
	t.Fatal("no deepprobe sidecar in the manifest")
	return 0
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
