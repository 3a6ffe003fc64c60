package integration

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	composecli "github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/deepprobe/deepprobe/internal/cli"
	"github.com/deepprobe/deepprobe/server"
)

var serverRoutes = []string{server.PathHealthz, server.PathReadyz, server.PathLivez, server.PathMetrics}

func listenPort(t *testing.T, listen string) uint32 {
	t.Helper()
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		t.Fatalf("--listen %q: %v", listen, err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		t.Fatalf("--listen %q: %v", listen, err)
	}
	return uint32(p)
}

// checkTimeout returns the --timeout of a `deepprobe check` command line.
func checkTimeout(t *testing.T, args []string) time.Duration {
	t.Helper()
	var cfg cli.CheckConfig
	fs := cli.CheckFlags(&cfg)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("check %v: %v", args, err)
	}
	return cfg.Timeout
}

// TestComposeFile loads docker-compose.yml with the Compose spec's own loader, both profiles,
// and checks it against deepprobe's flag parser and routes.
func TestComposeFile(t *testing.T) {
	opts, err := composecli.NewProjectOptions([]string{"../docker-compose.yml"},
		composecli.WithName("deepprobe"), composecli.WithProfiles([]string{"concourse"}), composecli.WithEnv([]string{}))
	if err != nil {
		t.Fatal(err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"deepprobe", "deepprobe-sidecar"} {
		t.Run(name, func(t *testing.T) {
			svc, ok := project.Services[name]
			if !ok {
				t.Fatalf("no service %s", name)
			}
			if len(svc.Command) == 0 || svc.Command[0] != "serve" {
				t.Fatalf("command %v does not run serve", svc.Command)
			}
			cfg, err := cli.ParseServe(svc.Command[1:], func(string) string { return "" })
			if err != nil {
				t.Fatalf("command %v: %v", svc.Command, err)
			}
			port := listenPort(t, cfg.Listen)
			ports := svc.Ports
			if strings.HasPrefix(svc.NetworkMode, "service:") {
				ports = project.Services[strings.TrimPrefix(svc.NetworkMode, "service:")].Ports
			}
			if !slices.ContainsFunc(ports, func(p types.ServicePortConfig) bool { return p.Target == port }) {
				t.Errorf("port %d is not published (ports %+v)", port, ports)
			}
			hc := svc.HealthCheck
			if hc == nil || len(hc.Test) < 3 || hc.Test[0] != "CMD" || hc.Test[1] != "/deepprobe" || hc.Test[2] != "check" {
				t.Fatalf("healthcheck %+v does not exec deepprobe check", hc)
			}
			checkT := checkTimeout(t, hc.Test[3:])
			timeout, interval := time.Duration(*hc.Timeout), time.Duration(*hc.Interval)
			if timeout <= checkT {
				t.Errorf("healthcheck timeout %s must exceed check --timeout %s", timeout, checkT)
			}
			if checkT*9/10 <= cfg.ProbeTimeout {
				t.Errorf("check asks for an answer within %s, not above --probe-timeout %s", checkT*9/10, cfg.ProbeTimeout)
			}
			if interval < cfg.MinInterval {
				t.Errorf("healthcheck interval %s below --min-interval %s: checks would read the cache", interval, cfg.MinInterval)
			}
			if interval+checkT*9/10 > cfg.Freshness {
				t.Errorf("healthcheck interval %s + the check's wait %s exceed --freshness %s: a slow worker could be called dead", interval, checkT*9/10, cfg.Freshness)
			}
			if hc.Retries == nil || *hc.Retries < 2 {
				t.Errorf("retries %v: one bad moment would mark the worker unhealthy", hc.Retries)
			}
		})
	}
	if _, ok := project.Services["workersim"]; !ok {
		t.Error("the default services lack workersim")
	}
	t.Run("concourse profile", func(t *testing.T) {
		for name, svc := range project.Services {
			if strings.HasPrefix(svc.Image, "concourse/concourse:") && !strings.HasPrefix(svc.Image, "concourse/concourse:8.") {
				t.Errorf("%s runs %s, want Concourse 8.x", name, svc.Image)
			}
		}
		keys := project.Services["concourse-keys"]
		if cmd := strings.Join(keys.Command, " "); strings.Contains(cmd, "|| concourse ") || !strings.Contains(cmd, "/usr/local/concourse/bin/concourse generate-key") {
			t.Errorf("concourse-keys must call the binary by its absolute path: %s", cmd)
		}
		wantDeps := map[string]map[string]string{
			"web":    {"concourse-db": types.ServiceConditionHealthy, "concourse-keys": types.ServiceConditionCompletedSuccessfully},
			"worker": {"concourse-keys": types.ServiceConditionCompletedSuccessfully},
		}
		for svc, deps := range wantDeps {
			for dep, cond := range deps {
				if got := project.Services[svc].DependsOn[dep].Condition; got != cond {
					t.Errorf("%s depends on %s with %q, want %q", svc, dep, got, cond)
				}
			}
		}
		if project.Services["concourse-db"].HealthCheck == nil {
			t.Error("service_healthy on a database without a healthcheck never starts")
		}
		worker, sidecar := project.Services["worker"], project.Services["deepprobe-sidecar"]
		if v := worker.Environment["CONCOURSE_CONTAINERD_DNS_PROXY_ENABLE"]; v == nil || *v != "true" {
			t.Error("the worker lacks CONCOURSE_CONTAINERD_DNS_PROXY_ENABLE=true")
		}
		// The sidecar survives a worker restart: neither joins the other's namespace; both join
		// a third service's, which publishes deepprobe's port.
		holder, ok := strings.CutPrefix(sidecar.NetworkMode, "service:")
		if !ok || holder == "worker" || worker.NetworkMode != sidecar.NetworkMode {
			t.Errorf("network modes: worker %q, sidecar %q", worker.NetworkMode, sidecar.NetworkMode)
		}
	})
}

// TestKubernetesManifest decodes the StatefulSet strictly and checks its probes.
func TestKubernetesManifest(t *testing.T) {
	b, err := os.ReadFile("../deploy/kubernetes/worker-statefulset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var sts appsv1.StatefulSet
	if err := yaml.UnmarshalStrict(b, &sts); err != nil {
		t.Fatalf("strict decoding: %v", err)
	}
	checkPod(t, sts.Spec.Template.Spec.Containers, "concourse-worker")
}

// checkPod checks a pod's deepprobe sidecar and every probe aimed at it: each probe's port
// resolves, as the kubelet resolves it, to deepprobe's --listen port, and each deep probe's
// timings follow deepprobe's own rules.
func checkPod(t *testing.T, containers []corev1.Container, workerName string) {
	t.Helper()
	var sidecar, worker *corev1.Container
	for i, c := range containers {
		switch c.Name {
		case "deepprobe":
			sidecar = &containers[i]
		case workerName:
			worker = &containers[i]
		}
	}
	if sidecar == nil || worker == nil {
		t.Fatalf("want containers deepprobe and %s", workerName)
	}
	if len(sidecar.Args) == 0 || sidecar.Args[0] != "serve" {
		t.Fatalf("sidecar args %v", sidecar.Args)
	}
	cfg, err := cli.ParseServe(sidecar.Args[1:], func(string) string { return "" })
	if err != nil {
		t.Fatalf("sidecar args %v: %v", sidecar.Args, err)
	}
	port := listenPort(t, cfg.Listen)
	t.Run("sidecar hardening", func(t *testing.T) {
		sc := sidecar.SecurityContext
		if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil ||
			!slices.Contains(sc.Capabilities.Drop, "ALL") || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("security context %+v", sc)
		}
		if sidecar.Resources.Requests.Memory().IsZero() || sidecar.Resources.Limits.Memory().IsZero() {
			t.Errorf("resources %+v", sidecar.Resources)
		}
	})
	probes := map[string]struct {
		owner *corev1.Container
		probe *corev1.Probe
	}{
		"worker liveness": {worker, worker.LivenessProbe}, "worker startup": {worker, worker.StartupProbe},
		"sidecar liveness": {sidecar, sidecar.LivenessProbe},
	}
	for name, pr := range probes {
		t.Run(name, func(t *testing.T) {
			p := pr.probe
			if p == nil || p.HTTPGet == nil {
				t.Fatal("want an httpGet probe")
			}
			if got, err := kubeletProbePort(pr.owner, p.HTTPGet.Port); err != nil || got != port {
				t.Errorf("probe port %q resolves to %d (%v) in container %s; deepprobe listens on %d", p.HTTPGet.Port.String(), got, err, pr.owner.Name, port)
			}
			u, err := url.Parse(p.HTTPGet.Path)
			if err != nil || !slices.Contains(serverRoutes, u.Path) {
				t.Fatalf("path %q is not one of deepprobe's routes %v", p.HTTPGet.Path, serverRoutes)
			}
			if u.Path == server.PathHealthz {
				checkDeepProbeTimings(t, cfg, p, u)
			}
		})
	}
}

// kubeletProbePort resolves a probe's port as the kubelet does: a number is used as it is; a
// name is looked up among the ports of the probe's own container only (the kubelet's
// findPortByName), so a name declared on another container of the pod does not resolve.
func kubeletProbePort(c *corev1.Container, port intstr.IntOrString) (uint32, error) {
	if port.Type == intstr.Int {
		return uint32(port.IntValue()), nil
	}
	for _, p := range c.Ports {
		if p.Name == port.StrVal {
			return uint32(p.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("port name %q is not declared on container %s", port.StrVal, c.Name)
}

// checkDeepProbeTimings checks a deep probe against deepprobe's timing rules: the kubelet
// always gets deepprobe's answer (?timeout below timeoutSeconds), each probe starts a fresh
// workload (period at least --min-interval), and a probe whose deadline comes mid-workload finds
// the previous result still fresh (period + ?timeout within --freshness).
func checkDeepProbeTimings(t *testing.T, cfg cli.ServeConfig, p *corev1.Probe, u *url.URL) {
	t.Helper()
	q, err := time.ParseDuration(u.Query().Get("timeout"))
	if err != nil {
		t.Fatalf("deep probe %q without ?timeout: %v", p.HTTPGet.Path, err)
	}
	timeoutSeconds := time.Duration(p.TimeoutSeconds) * time.Second
	if p.TimeoutSeconds == 0 {
		timeoutSeconds = time.Second // Kubernetes' default
	}
	if timeoutSeconds <= q {
		t.Errorf("timeoutSeconds %s must exceed ?timeout=%s", timeoutSeconds, q)
	}
	period := time.Duration(p.PeriodSeconds) * time.Second
	if p.PeriodSeconds == 0 {
		period = 10 * time.Second
	}
	if period < cfg.MinInterval {
		t.Errorf("periodSeconds %s below --min-interval %s", period, cfg.MinInterval)
	}
	if period+q > cfg.Freshness {
		t.Errorf("periodSeconds %s + ?timeout %s exceed --freshness %s: a slow worker could be called dead", period, q, cfg.Freshness)
	}
	if cfg.AuthTokenFile != "" && len(p.HTTPGet.HTTPHeaders) == 0 {
		t.Errorf("auth is on but the probe sends no Authorization header")
	}
}

// TestKubeletPortResolution: the rule the manifest once broke, a port name declared only on the
// sidecar, used by a probe on the worker.
func TestKubeletPortResolution(t *testing.T) {
	worker := &corev1.Container{Name: "worker", Ports: []corev1.ContainerPort{{Name: "worker-hc", ContainerPort: 8888}}}
	if _, err := kubeletProbePort(worker, intstr.FromString("deepprobe")); err == nil {
		t.Error("a name declared on another container resolved")
	}
	if p, err := kubeletProbePort(worker, intstr.FromInt32(8889)); err != nil || p != 8889 {
		t.Errorf("a number: %d %v", p, err)
	}
	if p, err := kubeletProbePort(worker, intstr.FromString("worker-hc")); err != nil || p != 8888 {
		t.Errorf("its own name: %d %v", p, err)
	}
}

// TestHelmValues decodes deploy/helm/values-deepprobe.yaml as the official chart consumes it
// (worker.sidecarContainers, worker.livenessProbe) and checks it like the manifest: the
// chart's worker container keeps its own ports (worker-hc), so a probe must use a number.
func TestHelmValues(t *testing.T) {
	b, err := os.ReadFile("../deploy/helm/values-deepprobe.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var values struct {
		Worker struct {
			SidecarContainers []corev1.Container `json:"sidecarContainers"`
			LivenessProbe     *corev1.Probe      `json:"livenessProbe"`
			ReadinessProbe    *corev1.Probe      `json:"readinessProbe"`
			AdditionalVolumes []corev1.Volume    `json:"additionalVolumes"`
		} `json:"worker"`
		Concourse map[string]any `json:"concourse"`
	}
	if err := yaml.UnmarshalStrict(b, &values); err != nil {
		t.Fatalf("strict decoding: %v", err)
	}
	// The chart renders its worker container with the healthcheck port only.
	worker := corev1.Container{Name: "concourse-worker", Ports: []corev1.ContainerPort{{Name: "worker-hc", ContainerPort: 8888}},
		LivenessProbe: values.Worker.LivenessProbe, StartupProbe: values.Worker.LivenessProbe}
	checkPod(t, append([]corev1.Container{worker}, values.Worker.SidecarContainers...), "concourse-worker")
}
