package integration

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"reflect"
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

	"github.com/deepprobe/deepprobe/cli"
	"github.com/deepprobe/deepprobe/probes"
	"github.com/deepprobe/deepprobe/probes/garden"
	"github.com/deepprobe/deepprobe/server"
	"github.com/deepprobe/deepprobe/workersim/faults"
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

// composeProject loads docker-compose.yml, both profiles, with the Compose spec's own loader.
func composeProject(t *testing.T) *types.Project {
	t.Helper()
	opts, err := composecli.NewProjectOptions([]string{"../docker-compose.yml"},
		composecli.WithName("deepprobe"), composecli.WithProfiles([]string{"concourse"}), composecli.WithEnv([]string{}))
	if err != nil {
		t.Fatal(err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return project
}

// TestComposeFile loads docker-compose.yml with the Compose spec's own loader, both profiles,
// and checks it against deepprobe's flag parser and routes.
func TestComposeFile(t *testing.T) {
	project := composeProject(t)
	serveOf := func(t *testing.T, name string) cli.ServeConfig {
		t.Helper()
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
		return cfg
	}
	// deepCheck checks a healthcheck that runs `deepprobe check` on a worker against deepprobe's
	// timing rules, and returns the check's configuration.
	deepCheck := func(t *testing.T, hc *types.HealthCheckConfig, binary string, cfg cli.ServeConfig) cli.CheckConfig {
		t.Helper()
		if hc == nil || len(hc.Test) < 3 || hc.Test[0] != "CMD" || hc.Test[1] != binary || hc.Test[2] != "check" {
			t.Fatalf("healthcheck %+v does not exec %s check", hc, binary)
		}
		check, err := cli.ParseCheck(hc.Test[3:], func(string) string { return "" })
		if err != nil {
			t.Fatalf("healthcheck %v: %v", hc.Test, err)
		}
		timeout, interval := time.Duration(*hc.Timeout), time.Duration(*hc.Interval)
		if timeout <= check.MaxDuration() {
			t.Errorf("healthcheck timeout %s must exceed the check's longest run %s", timeout, check.MaxDuration())
		}
		if check.Wait() <= cfg.ProbeTimeout {
			t.Errorf("check asks for an answer within %s, not above --probe-timeout %s", check.Wait(), cfg.ProbeTimeout)
		}
		if hc.Retries == nil || *hc.Retries < 2 {
			t.Fatalf("retries %v: one bad moment would mark the worker unhealthy", hc.Retries)
		}
		checkPeriod(t, cfg, interval, check.Wait())
		checkVerdicts(t, cfg, caller{period: interval, wait: check.Wait(), failures: int(*hc.Retries)})
		return check
	}
	t.Run("deepprobe", func(t *testing.T) {
		cfg := serveOf(t, "deepprobe")
		deepCheck(t, project.Services["deepprobe"].HealthCheck, "/deepprobe", cfg)
	})
	t.Run("deepprobe-sidecar", func(t *testing.T) {
		cfg := serveOf(t, "deepprobe-sidecar")
		hc := project.Services["deepprobe-sidecar"].HealthCheck
		if hc == nil || len(hc.Test) < 3 || hc.Test[0] != "CMD" || hc.Test[1] != "/deepprobe" || hc.Test[2] != "check" {
			t.Fatalf("healthcheck %+v does not exec deepprobe check", hc)
		}
		check, err := cli.ParseCheck(hc.Test[3:], func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		// Its own liveness: /ping, which calls nothing upstream.
		if u, _ := url.Parse(check.URL); u.Path != server.PathPing || u.Port() != strconv.Itoa(int(listenPort(t, cfg.Listen))) {
			t.Errorf("the sidecar's healthcheck asks %s; want %s on its --listen port", check.URL, server.PathPing)
		}
		if time.Duration(*hc.Timeout) <= check.MaxDuration() {
			t.Errorf("healthcheck timeout %s must exceed the check's %s", time.Duration(*hc.Timeout), check.MaxDuration())
		}
	})
	t.Run("worker guard", func(t *testing.T) {
		cfg := serveOf(t, "deepprobe-sidecar")
		worker, installer := project.Services["worker"], project.Services["deepprobe-install"]
		hc := worker.HealthCheck
		if hc == nil || len(hc.Test) < 2 {
			t.Fatalf("the worker has no exec healthcheck: %+v", hc)
		}
		dir, name := path.Split(hc.Test[1])
		check := deepCheck(t, hc, hc.Test[1], cfg)
		if u, _ := url.Parse(check.URL); u.Path != server.PathHealthz || !loopback(u) || u.Port() != strconv.Itoa(int(listenPort(t, cfg.Listen))) {
			t.Errorf("--url %s: want the sidecar's %s on the shared loopback", check.URL, server.PathHealthz)
		}
		if u, _ := url.Parse(check.FallbackURL); check.Unreachable != cli.UnreachableFallback || !loopback(u) || u.Port() != strconv.Itoa(workerHealthPort) {
			t.Errorf("--unreachable %s --fallback-url %q: want fallback to the worker's own health endpoint", check.Unreachable, check.FallbackURL)
		}
		if check.FallbackTimeout < chartProbeTimeout {
			t.Errorf("--fallback-timeout %s below the chart's own probe timeout %s", check.FallbackTimeout, chartProbeTimeout)
		}
		// The binary: installed by deepprobe-install into a volume the worker mounts there.
		if name != cli.InstallName || len(installer.Command) != 2 || installer.Command[0] != "install" {
			t.Fatalf("the healthcheck runs %s; deepprobe-install runs %v", hc.Test[1], installer.Command)
		}
		mountOf := func(svc types.ServiceConfig, target string) string {
			for _, v := range svc.Volumes {
				if v.Type == types.VolumeTypeVolume && v.Target == target {
					return v.Source
				}
			}
			return ""
		}
		vol := mountOf(worker, strings.TrimSuffix(dir, "/"))
		if vol == "" || vol != mountOf(installer, installer.Command[1]) {
			t.Errorf("the worker mounts %q at %s; deepprobe-install writes volume %q at %s", vol, dir, mountOf(installer, installer.Command[1]), installer.Command[1])
		}
		if got := worker.DependsOn["deepprobe-install"].Condition; got != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("the worker depends on deepprobe-install with %q: its healthcheck could run before the binary is there", got)
		}
	})
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
		limit := ""
		if v := worker.Environment["CONCOURSE_CONTAINERD_MAX_CONTAINERS"]; v != nil {
			limit = *v
		}
		checkMaxContainers(t, serveOf(t, "deepprobe-sidecar"), limit)
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
	checkPod(t, manifestPod(t), "concourse-worker")
}

func manifestPod(t *testing.T) corev1.PodSpec {
	t.Helper()
	b, err := os.ReadFile("../deploy/kubernetes/worker-statefulset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var sts appsv1.StatefulSet
	if err := yaml.UnmarshalStrict(b, &sts); err != nil {
		t.Fatalf("strict decoding: %v", err)
	}
	return sts.Spec.Template.Spec
}

// Facts of the worker container deepprobe's probes rely on (the Concourse chart's defaults).
const (
	// workerHealthPort is the worker's own health endpoint (worker-hc), the fallback.
	workerHealthPort = 8888
	// chartProbeTimeout is the timeoutSeconds of the chart's own worker probe (GET :8888/):
	// the fallback gets at least as long, so a worker is never judged worse than the chart
	// judges it.
	chartProbeTimeout = 3 * time.Second
)

// checkPod checks a pod's deepprobe sidecar and every probe: the sidecar's own liveness is
// /ping on its --listen port; each worker probe is the guarded exec check, run from a binary an
// init container installed into a volume both share, asking deepprobe's --listen port and
// falling back to the worker's own health port, with timings that follow deepprobe's rules.
func checkPod(t *testing.T, spec corev1.PodSpec, workerName string) {
	t.Helper()
	sidecar, worker := container(spec.Containers, "deepprobe"), container(spec.Containers, workerName)
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
	t.Run("sidecar hardening", func(t *testing.T) { checkHardened(t, sidecar) })
	t.Run("sidecar liveness", func(t *testing.T) {
		p := sidecar.LivenessProbe
		if p == nil || p.HTTPGet == nil {
			t.Fatal("want an httpGet probe")
		}
		if got, err := kubeletProbePort(sidecar, p.HTTPGet.Port); err != nil || got != port {
			t.Errorf("probe port %q resolves to %d (%v) in container %s; deepprobe listens on %d", p.HTTPGet.Port.String(), got, err, sidecar.Name, port)
		}
		if p.HTTPGet.Path != server.PathPing {
			t.Errorf("path %q: the sidecar's own liveness must be %s, which calls nothing upstream (a deep route would restart deepprobe for the worker's faults)", p.HTTPGet.Path, server.PathPing)
		}
		if len(p.HTTPGet.HTTPHeaders) > 0 {
			t.Errorf("%s needs no token; the probe sends headers %v", server.PathPing, p.HTTPGet.HTTPHeaders)
		}
	})
	t.Run("container limit", func(t *testing.T) { checkMaxContainers(t, cfg, envOf(worker, "CONCOURSE_CONTAINERD_MAX_CONTAINERS")) })
	probes := map[string]*corev1.Probe{"worker liveness": worker.LivenessProbe, "worker startup": worker.StartupProbe}
	if worker.LivenessProbe == nil {
		t.Fatal("the worker has no liveness probe")
	}
	for name, p := range probes {
		if p == nil {
			continue
		}
		t.Run(name, func(t *testing.T) {
			check := checkGuardedProbe(t, spec, worker, sidecar, cfg, p)
			if p == worker.LivenessProbe { // the probe that restarts the worker
				checkVerdicts(t, cfg, caller{period: probePeriod(p), wait: check.Wait(), failures: probeFailures(p)})
			}
		})
	}
}

// envOf returns the value of a container's environment variable ("" when unset).
func envOf(c *corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// probePeriod and probeFailures read a probe's period and failure threshold as the kubelet
// does, with Kubernetes' defaults (10s, 3).
func probePeriod(p *corev1.Probe) time.Duration {
	if p.PeriodSeconds == 0 {
		return 10 * time.Second
	}
	return time.Duration(p.PeriodSeconds) * time.Second
}

func probeFailures(p *corev1.Probe) int {
	if p.FailureThreshold == 0 {
		return 3
	}
	return int(p.FailureThreshold)
}

// Facts of Concourse that a recipe's timings are checked against
// (/work/shared/worker-api/README.md, "The create queue of a busy containerd worker").
const (
	// concourseMaxContainers is Concourse's default container limit
	// (--containerd-max-containers, --garden-max-containers).
	concourseMaxContainers = 250
	// concourseRequestTimeout is Concourse's --containerd-request-timeout default: the longest
	// it waits for a create of its own builds.
	concourseRequestTimeout = 5 * time.Minute
	// slowestBusyCreate is the slowest create measured on a busy containerd worker that was
	// fully working (80 creates at once: 12.1s); destroys were faster (9.1s).
	slowestBusyCreate = 12100 * time.Millisecond
)

// caller is how a recipe asks deepprobe and acts on its answers.
type caller struct {
	period   time.Duration // how often it asks (a probe's period, a timer, an interval)
	wait     time.Duration // how long deepprobe is asked to answer within (?timeout=)
	failures int           // failed answers in a row before it acts on the worker
}

// checkVerdicts checks a recipe's serve flags and the caller that acts on the worker against
// deepprobe's verdicts (probes.Timing), besides checkPeriod: a busy worker is never restarted,
// and a wedged one is, within Concourse's own tolerance.
func checkVerdicts(t *testing.T, cfg cli.ServeConfig, c caller) {
	t.Helper()
	checkTimings(t, cfg)
	// A wedge: the next ask starts a workload (a period), its stage fails as stalled after
	// --stall-timeout (checked once a second), and the next ask reads the failure (a period).
	reported := 2*c.period + cfg.StallTimeout + probes.WatchInterval
	if reported*2 > cfg.HardTimeout {
		t.Errorf("a wedge is reported %s after it begins, not well before --hard-timeout %s: it would read timeout, late", reported, cfg.HardTimeout)
	}
	acts := reported + time.Duration(c.failures-1)*c.period
	if acts > concourseRequestTimeout {
		t.Errorf("the caller acts on a wedge %s after it begins (%d failures, every %s), later than Concourse's own %s", acts, c.failures, c.period, concourseRequestTimeout)
	}
	t.Logf("a wedge: first 503 within %s, the caller acts within %s; a busy worker answers 200 for up to %s", reported, acts, cfg.HardTimeout)
}

// checkTimings checks a recipe's busy, stalled and timeout settings against Concourse's own.
func checkTimings(t *testing.T, cfg cli.ServeConfig) {
	t.Helper()
	// The container outlives the forward stages however long a busy worker makes them wait.
	if cfg.GraceTime <= cfg.HardTimeout {
		t.Errorf("--grace-time %s must exceed --hard-timeout %s: Garden would reap the container under a busy workload", cfg.GraceTime, cfg.HardTimeout)
	}
	// A busy worker answers busy (200) up to the hard limit; past Concourse's own tolerance,
	// its builds fail too.
	if cfg.HardTimeout > concourseRequestTimeout {
		t.Errorf("--hard-timeout %s exceeds Concourse's own --containerd-request-timeout %s: a worker failing every build's create would read busy", cfg.HardTimeout, concourseRequestTimeout)
	}
	// On a busy worker, one slow create ahead of ours is not a wedge.
	if cfg.StallTimeout <= slowestBusyCreate {
		t.Errorf("--stall-timeout %s is not above the slowest create of a working busy worker (%s): a busy worker would read stalled", cfg.StallTimeout, slowestBusyCreate)
	}
}

// checkMaxContainers checks --max-containers against the worker's own limit (its
// CONCOURSE_CONTAINERD_MAX_CONTAINERS, Concourse's default when unset): a higher value would
// let deepprobe take a build's last slot, a lower one would hold the container stages back
// early.
func checkMaxContainers(t *testing.T, cfg cli.ServeConfig, workerLimit string) {
	t.Helper()
	want := concourseMaxContainers
	if workerLimit != "" {
		n, err := strconv.Atoi(workerLimit)
		if err != nil {
			t.Fatalf("the worker's container limit %q: %v", workerLimit, err)
		}
		want = n
	}
	if cfg.MaxContainers != 0 && cfg.MaxContainers != want {
		t.Errorf("--max-containers %d, but the worker's limit is %d", cfg.MaxContainers, want)
	}
	if cfg.MaxContainers > 0 && cfg.ContainerReserve < 1 {
		t.Errorf("--container-reserve %d: deepprobe could take a build's last container slot", cfg.ContainerReserve)
	}
}

func container(cs []corev1.Container, name string) *corev1.Container {
	for i := range cs {
		if cs[i].Name == name {
			return &cs[i]
		}
	}
	return nil
}

func checkHardened(t *testing.T, c *corev1.Container) {
	t.Helper()
	sc := c.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil ||
		!slices.Contains(sc.Capabilities.Drop, "ALL") || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: security context %+v", c.Name, sc)
	}
	if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("%s: resources %+v", c.Name, c.Resources)
	}
}

// volumeAt returns the volume mounted at dir in c (nil if none).
func volumeAt(spec corev1.PodSpec, c *corev1.Container, dir string) *corev1.Volume {
	for _, m := range c.VolumeMounts {
		if m.MountPath == dir {
			for i := range spec.Volumes {
				if spec.Volumes[i].Name == m.Name {
					return &spec.Volumes[i]
				}
			}
		}
	}
	return nil
}

// mountOf returns where c mounts the volume called name ("" if it does not).
func mountOf(c *corev1.Container, name string) string {
	for _, m := range c.VolumeMounts {
		if m.Name == name {
			return m.MountPath
		}
	}
	return ""
}

// checkGuardedProbe checks one worker probe: an exec of `deepprobe check --unreachable
// fallback`, never an httpGet aimed at deepprobe (which restarts the worker whenever deepprobe
// is down).
func checkGuardedProbe(t *testing.T, spec corev1.PodSpec, worker, sidecar *corev1.Container, serve cli.ServeConfig, p *corev1.Probe) cli.CheckConfig {
	t.Helper()
	if p.Exec == nil || p.HTTPGet != nil || p.TCPSocket != nil || p.GRPC != nil {
		t.Fatalf("want an exec probe (deepprobe check --unreachable fallback), got %+v", p.ProbeHandler)
	}
	cmd := p.Exec.Command
	if len(cmd) < 2 || cmd[1] != "check" {
		t.Fatalf("command %v does not run deepprobe check", cmd)
	}
	// The binary: installed by an init container, from the sidecar's image, into an emptyDir
	// the worker mounts where the command runs it from.
	dir, name := path.Split(cmd[0])
	dir = strings.TrimSuffix(dir, "/")
	vol := volumeAt(spec, worker, dir)
	if name != cli.InstallName || vol == nil || vol.EmptyDir == nil {
		t.Fatalf("%s is not %s in an emptyDir mounted in the worker container", cmd[0], cli.InstallName)
	}
	installed := false
	for i, ic := range spec.InitContainers {
		at := mountOf(&spec.InitContainers[i], vol.Name)
		if at == "" {
			continue
		}
		if !slices.Equal(ic.Args, []string{"install", at}) || len(ic.Command) > 0 || ic.Image != sidecar.Image {
			t.Errorf("init container %s (image %s, command %v, args %v) must run the sidecar's image %s with args [install %s]", ic.Name, ic.Image, ic.Command, ic.Args, sidecar.Image, at)
		}
		checkHardened(t, &spec.InitContainers[i])
		installed = true
	}
	if !installed {
		t.Fatalf("no init container installs deepprobe into volume %s", vol.Name)
	}
	check, err := cli.ParseCheck(cmd[2:], func(string) string { return "" })
	if err != nil {
		t.Fatalf("command %v: %v", cmd, err)
	}
	// Where it asks: deepprobe's port on the pod's loopback; else the worker's own endpoint.
	port := listenPort(t, serve.Listen)
	u, _ := url.Parse(check.URL)
	if !loopback(u) || u.Port() != strconv.Itoa(int(port)) || u.Path != server.PathHealthz {
		t.Errorf("--url %s: want %s on the pod's loopback, port %d (deepprobe's --listen)", check.URL, server.PathHealthz, port)
	}
	if check.Unreachable != cli.UnreachableFallback {
		t.Errorf("--unreachable %s: deepprobe's absence would decide the worker's fate", check.Unreachable)
	}
	fb, _ := url.Parse(check.FallbackURL)
	hc, err := kubeletProbePort(worker, intstr.FromString("worker-hc"))
	if !loopback(fb) || err != nil || hc != workerHealthPort || fb.Port() != strconv.Itoa(workerHealthPort) {
		t.Errorf("--fallback-url %s: want the worker's own health endpoint, port worker-hc (%d, %v)", check.FallbackURL, hc, err)
	}
	// Timings.
	timeoutSeconds := time.Duration(p.TimeoutSeconds) * time.Second
	if p.TimeoutSeconds == 0 {
		timeoutSeconds = time.Second // Kubernetes' default
	}
	if timeoutSeconds <= check.MaxDuration() {
		t.Errorf("timeoutSeconds %s must exceed the check's longest run %s (--timeout + --fallback-timeout): the kubelet would kill it before its verdict", timeoutSeconds, check.MaxDuration())
	}
	if check.FallbackTimeout < chartProbeTimeout {
		t.Errorf("--fallback-timeout %s is shorter than the chart's own probe (%s): the fallback would judge the worker worse than Concourse does", check.FallbackTimeout, chartProbeTimeout)
	}
	checkPeriod(t, serve, probePeriod(p), check.Wait())
	// Auth: the sidecar's token file, from the same volume, at the same place.
	if serve.AuthTokenFile != "" {
		if check.AuthTokenFile == "" {
			t.Fatal("auth is on but the check sends no token (--auth-token-file)")
		}
		want := volumeAt(spec, sidecar, path.Dir(serve.AuthTokenFile))
		got := volumeAt(spec, worker, path.Dir(check.AuthTokenFile))
		if want == nil || got == nil || want.Name != got.Name || path.Base(serve.AuthTokenFile) != path.Base(check.AuthTokenFile) {
			t.Errorf("--auth-token-file %s in the worker is not the sidecar's %s", check.AuthTokenFile, serve.AuthTokenFile)
		}
	}
	return check
}

func loopback(u *url.URL) bool {
	h := u.Hostname()
	return h == "127.0.0.1" || h == "localhost" || h == "::1"
}

// checkPeriod checks a deep probe's period against deepprobe's timing rules: each probe starts
// a fresh workload (period at least --min-interval), and a probe whose deadline comes
// mid-workload finds the previous result still fresh (period + its wait within --freshness).
func checkPeriod(t *testing.T, cfg cli.ServeConfig, period, wait time.Duration) {
	t.Helper()
	if period < cfg.MinInterval {
		t.Errorf("periodSeconds %s below --min-interval %s", period, cfg.MinInterval)
	}
	if period+wait > cfg.Freshness {
		t.Errorf("periodSeconds %s + the wait %s exceed --freshness %s: a slow worker could be called dead", period, wait, cfg.Freshness)
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

// helmWorker is the part of the chart's values deploy/helm/values-deepprobe.yaml may set.
type helmWorker struct {
	SidecarContainers      []corev1.Container   `json:"sidecarContainers"`
	ExtraInitContainers    []corev1.Container   `json:"extraInitContainers"`
	LivenessProbe          *corev1.Probe        `json:"livenessProbe"`
	ReadinessProbe         *corev1.Probe        `json:"readinessProbe"`
	AdditionalVolumes      []corev1.Volume      `json:"additionalVolumes"`
	AdditionalVolumeMounts []corev1.VolumeMount `json:"additionalVolumeMounts"`
}

// helmPod renders deploy/helm/values-deepprobe.yaml as the official chart's
// templates/worker-statefulset.yaml does: the extra init containers, the sidecars before the
// worker container, which has the chart's port (worker-hc) and mounts plus the additional
// mounts and the liveness probe, and the additional volumes beside the chart's.
func helmPod(t *testing.T) corev1.PodSpec {
	t.Helper()
	b, err := os.ReadFile("../deploy/helm/values-deepprobe.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var values struct {
		Worker    helmWorker `json:"worker"`
		Concourse struct {
			Worker struct {
				Containerd struct {
					MaxContainers *int `json:"maxContainers"`
				} `json:"containerd"`
			} `json:"worker"`
		} `json:"concourse"`
	}
	if err := yaml.Unmarshal(b, &values); err != nil {
		t.Fatalf("decoding: %v", err)
	}
	var strict struct {
		Worker    helmWorker     `json:"worker"`
		Concourse map[string]any `json:"concourse"`
	}
	if err := yaml.UnmarshalStrict(b, &strict); err != nil {
		t.Fatalf("strict decoding: %v", err)
	}
	w := values.Worker
	var env []corev1.EnvVar // the chart's helper renders the limit into the worker's environment
	if n := values.Concourse.Worker.Containerd.MaxContainers; n != nil {
		env = append(env, corev1.EnvVar{Name: "CONCOURSE_CONTAINERD_MAX_CONTAINERS", Value: strconv.Itoa(*n)})
	}
	worker := corev1.Container{
		Name: "concourse-worker", Ports: []corev1.ContainerPort{{Name: "worker-hc", ContainerPort: workerHealthPort}},
		LivenessProbe: w.LivenessProbe, ReadinessProbe: w.ReadinessProbe, Env: env,
		VolumeMounts: append([]corev1.VolumeMount{{Name: "concourse-keys", MountPath: "/concourse-keys"}, {Name: "concourse-work-dir", MountPath: "/concourse-work-dir"}}, w.AdditionalVolumeMounts...),
	}
	return corev1.PodSpec{
		InitContainers: append(w.ExtraInitContainers, corev1.Container{Name: "concourse-worker-init-rm"}),
		Containers:     append(w.SidecarContainers, worker),
		Volumes:        append(w.AdditionalVolumes, corev1.Volume{Name: "concourse-keys"}, corev1.Volume{Name: "concourse-work-dir"}),
	}
}

// TestHelmValues checks deploy/helm/values-deepprobe.yaml like the manifest, as the chart
// renders it, and that every value it sets is one the real chart (20.x) has: the chart ignores
// a misspelt name without a word.
func TestHelmValues(t *testing.T) {
	checkPod(t, helmPod(t), "concourse-worker")

	chart, err := os.ReadFile("testdata/concourse-chart-worker-values.txt")
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, line := range strings.Split(string(chart), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			known[line] = true
		}
	}
	b, _ := os.ReadFile("../deploy/helm/values-deepprobe.yaml")
	var raw struct {
		Worker map[string]any `json:"worker"`
	}
	if err := yaml.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	for name := range raw.Worker {
		if !known[name] {
			t.Errorf("worker.%s is not a value of the Concourse chart 20.x", name)
		}
	}
	for _, field := range reflect.VisibleFields(reflect.TypeOf(helmWorker{})) {
		if name, _, _ := strings.Cut(field.Tag.Get("json"), ","); !known[name] {
			t.Errorf("the test decodes worker.%s, which the chart does not have", name)
		}
	}
}

// rewriteFlags returns args with the value of each --name in set replaced (both --name=value
// and --name value forms), and any flag of set the args lack appended.
func rewriteFlags(args []string, set map[string]string) []string {
	out := make([]string, 0, len(args)+2*len(set))
	done := map[string]bool{}
	for i := 0; i < len(args); i++ {
		name, _, hasValue := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		v, ok := set[name]
		if !ok || !strings.HasPrefix(args[i], "-") {
			out = append(out, args[i])
			continue
		}
		if !hasValue {
			i++ // skip the value
		}
		out = append(out, "--"+name+"="+v)
		done[name] = true
	}
	for name, v := range set {
		if !done[name] {
			out = append(out, "--"+name+"="+v)
		}
	}
	return out
}

// TestShippedLivenessGuard runs each worker liveness command as shipped (the manifest's, the
// Helm values', the systemd check unit's, the compose worker's healthcheck), with the built binary and the test's addresses: with deepprobe not running,
// the fallback's status decides (exit 0 on 200, 1 on 503); with deepprobe answering 503, that
// is the verdict whatever the fallback says.
func TestShippedLivenessGuard(t *testing.T) {
	fallback := func(status int) string {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(status) }))
		t.Cleanup(ts.Close)
		return ts.URL + "/"
	}
	healthy, sick := fallback(http.StatusOK), fallback(http.StatusServiceUnavailable)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String() + "/healthz" // nothing listens there once closed
	ln.Close()
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("s3cret-token-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var failing string // a running deepprobe whose worker fails (simulated: a fault is injected)
	if w := startWorker(t); w.adminURL != "" {
		w.fault(t, "garden", garden.RouteCreate, faults.Fault{Status: 500})
		failing = startDeepprobe(t, w).url + "/healthz"
	}
	commands := map[string][]string{
		"manifest": container(manifestPod(t).Containers, "concourse-worker").LivenessProbe.Exec.Command,
		"helm":     container(helmPod(t).Containers, "concourse-worker").LivenessProbe.Exec.Command,
		"systemd":  execStart(t, "deepprobe-check.service"),
		"compose":  composeProject(t).Services["worker"].HealthCheck.Test[1:],
	}
	for name, cmd := range commands {
		run := func(t *testing.T, deepprobeURL, fallbackURL string) (string, int) {
			set := map[string]string{"url": deepprobeURL, "fallback-url": fallbackURL}
			if slices.ContainsFunc(cmd, func(a string) bool { return strings.HasPrefix(a, "--auth-token-file") }) {
				set["auth-token-file"] = token
			}
			return runCommand(t, rewriteFlags(cmd[1:], set), nil)
		}
		t.Run(name, func(t *testing.T) {
			if out, code := run(t, down, healthy); code != 0 || !strings.Contains(out, "decided by the fallback") {
				t.Errorf("deepprobe down, fallback 200: exit %d, want 0\n%s", code, out)
			}
			if out, code := run(t, down, sick); code != 1 || !strings.Contains(out, "decided by the fallback") {
				t.Errorf("deepprobe down, fallback 503: exit %d, want 1\n%s", code, out)
			}
			if failing == "" {
				t.Skip("deepprobe's own 503 needs an injected fault: skipped against real servers")
			}
			if out, code := run(t, failing, healthy); code != 1 || !strings.Contains(out, "HTTP 503") || !strings.Contains(out, "decided by deepprobe") {
				t.Errorf("deepprobe 503, fallback 200: exit %d, want 1 (deepprobe's verdict)\n%s", code, out)
			}
		})
	}
}
