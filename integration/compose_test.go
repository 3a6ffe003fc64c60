package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// dockerAvailable reports whether a Docker engine and docker-compose answer.
func dockerAvailable() (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		return false, fmt.Sprintf("docker info: %v: %s", err, bytes.TrimSpace(out))
	}
	if _, err := exec.LookPath("docker-compose"); err != nil {
		return false, "docker-compose is not installed"
	}
	return true, ""
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// compose runs docker-compose on the repository's docker-compose.yml with env.
type compose struct {
	t       *testing.T
	project string
	env     []string
}

func (c *compose) run(args ...string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker-compose", append([]string{"-f", "../docker-compose.yml", "-p", c.project}, args...)...)
	cmd.Env = append(os.Environ(), c.env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		c.t.Fatalf("docker-compose %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

type dockerHealth struct {
	Status string
	Log    []struct {
		ExitCode int
		Output   string
	}
}

func health(t *testing.T, container string) dockerHealth {
	t.Helper()
	var h dockerHealth
	if err := json.Unmarshal([]byte(docker(t, "inspect", "-f", "{{json .State.Health}}", container)), &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestDockerCompose brings up the default services on the real Docker engine, watches Docker's
// own health status follow the worker, and cuts deepprobe off from workersim.
func TestDockerCompose(t *testing.T) {
	if ok, why := dockerAvailable(); !ok {
		fmt.Fprintf(os.Stderr, "\n*** SKIPPING TestDockerCompose: no Docker engine (%s) ***\n\n", why)
		t.Skipf("SKIPPED LOUDLY: no Docker engine: %s", why)
	}
	if testing.Short() {
		t.Skip("builds images: skipped in -short mode")
	}
	// make build, as the README says: bin/ is left stamped with the version and commit.
	build := exec.Command("make", "-C", "..", "build")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building static binaries: %v\n%s", err, out)
	}
	port, adminPort := freePort(t), freePort(t)
	c := &compose{t: t, project: "deepprobetest" + strings.ReplaceAll(uuid.NewString()[:8], "-", ""), env: []string{
		"DEEPPROBE_BUILD_TARGET=prebuilt", "WORKERSIM_BUILD_TARGET=workersim-prebuilt",
		"DEEPPROBE_HEALTHCHECK_INTERVAL=1s", "DEEPPROBE_MIN_INTERVAL=1s",
		fmt.Sprintf("DEEPPROBE_PORT=%d", port), fmt.Sprintf("WORKERSIM_ADMIN_PORT=%d", adminPort),
	}}
	t.Cleanup(func() {
		c.run("down", "--volumes", "--rmi", "all", "--remove-orphans")
		if left := docker(t, "ps", "-aq", "--filter", "label=com.docker.compose.project="+c.project); left != "" {
			t.Errorf("containers left: %s", left)
		}
		if left := docker(t, "network", "ls", "-q", "--filter", "label=com.docker.compose.project="+c.project); left != "" {
			t.Errorf("networks left: %s", left)
		}
		if left := docker(t, "images", "-q", c.project+"_*"); left != "" {
			t.Errorf("images left: %s", left)
		}
	})
	c.run("up", "-d", "--build")
	container := strings.TrimSpace(c.run("ps", "-q", "deepprobe"))
	workersim := strings.TrimSpace(c.run("ps", "-q", "workersim"))
	admin := fmt.Sprintf("http://127.0.0.1:%d", adminPort)
	if user := docker(t, "inspect", "-f", "{{.Config.User}}", container); user == "" || user == "0" || user == "root" {
		t.Errorf("deepprobe runs as %q, want a non-root user", user)
	}

	waitHealth := func(want string, timeout time.Duration) dockerHealth {
		t.Helper()
		var h dockerHealth
		waitUntil(t, timeout, "docker health "+want, func() bool {
			h = health(t, container)
			return h.Status == want
		})
		return h
	}
	waitHealth("healthy", 60*time.Second)

	setFault := func(method, body string) {
		req, _ := http.NewRequest(method, admin+"/garden/faults/create", strings.NewReader(body))
		if method == http.MethodDelete {
			req, _ = http.NewRequest(method, admin+"/garden/faults", nil)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("admin %s: %d", method, resp.StatusCode)
		}
	}
	setFault(http.MethodPut, `{"status":500}`)
	h := waitHealth("unhealthy", 60*time.Second)
	last := h.Log[len(h.Log)-1]
	if last.ExitCode != 1 || !strings.Contains(last.Output, "[-]container.create failed") {
		t.Errorf("health log does not name the failing stage: exit %d\n%s", last.ExitCode, last.Output)
	}
	setFault(http.MethodDelete, "")
	waitHealth("healthy", 60*time.Second)

	// deepprobe's upstream restarts: it comes back, and so does deepprobe's verdict.
	docker(t, "restart", workersim)
	waitUntil(t, 60*time.Second, "workersim running again", func() bool {
		return docker(t, "inspect", "-f", "{{.State.Running}}", workersim) == "true"
	})
	waitUntil(t, 60*time.Second, "a passing workload after the restart", func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz?timeout=5s", port))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if logs := docker(t, "logs", workersim); strings.Contains(logs, "permission denied") {
		t.Errorf("workersim after its restart:\n%s", logs)
	}
	waitHealth("healthy", 60*time.Second)

	// Cut workersim off: /healthz, through the published port, answers 503 within its deadline.
	network := docker(t, "inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}", workersim)
	docker(t, "network", "disconnect", network, workersim)
	const deadline = 2 * time.Second
	url := fmt.Sprintf("http://127.0.0.1:%d/healthz?timeout=%s", port, deadline)
	waitUntil(t, 30*time.Second, "503 after the disconnect", func() bool {
		start := time.Now()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if took := time.Since(start); took > deadline+500*time.Millisecond {
			t.Fatalf("answered in %s with ?timeout=%s", took, deadline)
		}
		return resp.StatusCode == http.StatusServiceUnavailable
	})
}
