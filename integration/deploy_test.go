package integration

import (
	"context"
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
			if hc.Retries == nil || *hc.Retries < 2 {
				t.Errorf("retries %v: one bad moment would mark the worker unhealthy", hc.Retries)
			}
		})
	}
	if _, ok := project.Services["workersim"]; !ok {
		t.Error("the default services lack workersim")
	}
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
	var sidecar, worker *corev1.Container
	for i, c := range sts.Spec.Template.Spec.Containers {
		switch c.Name {
		case "deepprobe":
			sidecar = &sts.Spec.Template.Spec.Containers[i]
		case "concourse-worker":
			worker = &sts.Spec.Template.Spec.Containers[i]
		}
	}
	if sidecar == nil || worker == nil {
		t.Fatal("want containers deepprobe and concourse-worker")
	}
	if len(sidecar.Args) == 0 || sidecar.Args[0] != "serve" {
		t.Fatalf("sidecar args %v", sidecar.Args)
	}
	cfg, err := cli.ParseServe(sidecar.Args[1:], func(string) string { return "" })
	if err != nil {
		t.Fatalf("sidecar args %v: %v", sidecar.Args, err)
	}
	port := listenPort(t, cfg.Listen)
	var portName string
	for _, p := range sidecar.Ports {
		if uint32(p.ContainerPort) == port {
			portName = p.Name
		}
	}
	if portName == "" {
		t.Fatalf("the sidecar does not declare its --listen port %d", port)
	}
	probes := map[string]*corev1.Probe{
		"worker liveness": worker.LivenessProbe, "worker startup": worker.StartupProbe, "sidecar liveness": sidecar.LivenessProbe,
	}
	for name, p := range probes {
		t.Run(name, func(t *testing.T) {
			if p == nil || p.HTTPGet == nil {
				t.Fatal("want an httpGet probe")
			}
			if p.HTTPGet.Port.String() != portName && p.HTTPGet.Port.IntValue() != int(port) {
				t.Errorf("probe port %s, deepprobe listens on %d (%s)", p.HTTPGet.Port.String(), port, portName)
			}
			u, err := url.Parse(p.HTTPGet.Path)
			if err != nil || !slices.Contains(serverRoutes, u.Path) {
				t.Fatalf("path %q is not one of deepprobe's routes %v", p.HTTPGet.Path, serverRoutes)
			}
			if u.Path == server.PathHealthz {
				q, err := time.ParseDuration(u.Query().Get("timeout"))
				if err != nil {
					t.Fatalf("deep probe %q without ?timeout: %v", p.HTTPGet.Path, err)
				}
				if timeoutSeconds := time.Duration(p.TimeoutSeconds) * time.Second; timeoutSeconds <= q {
					t.Errorf("timeoutSeconds %s must exceed ?timeout=%s", timeoutSeconds, q)
				}
				if period := time.Duration(p.PeriodSeconds) * time.Second; period < cfg.MinInterval {
					t.Errorf("periodSeconds %s below --min-interval %s", period, cfg.MinInterval)
				}
				if cfg.AuthTokenFile != "" && len(p.HTTPGet.HTTPHeaders) == 0 {
					t.Errorf("auth is on but the probe sends no Authorization header")
				}
			}
		})
	}
}
