package integration

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/deepprobe/deepprobe/internal/cli"
	"github.com/deepprobe/deepprobe/probes/garden"
	"github.com/deepprobe/deepprobe/workersim/faults"
)

const boshJob = "../deploy/bosh/jobs/deepprobe"

// renderBOSH renders one of the job's templates with the spec's defaults and overrides.
func renderBOSH(t *testing.T, template string, overrides map[string]any) string {
	t.Helper()
	if _, err := exec.LookPath("ruby"); err != nil {
		fmt.Fprintln(os.Stderr, "\n*** SKIPPING BOSH template tests: ruby (ERB) is not installed; .ci/run installs it ***")
		t.Skip("SKIPPED LOUDLY: ruby is not installed")
	}
	o, _ := json.Marshal(overrides)
	out, err := exec.Command("ruby", "testdata/render-bosh.rb", filepath.Join(boshJob, "spec"), string(o),
		filepath.Join(boshJob, "templates", template)).CombinedOutput()
	if err != nil {
		t.Fatalf("rendering %s: %v\n%s", template, err, out)
	}
	return string(out)
}

type boshSpec struct {
	Name        string                    `json:"name"`
	Description string                    `json:"description"`
	Packages    []string                  `json:"packages"`
	Templates   map[string]string         `json:"templates"`
	Properties  map[string]map[string]any `json:"properties"`
}

func TestBOSHJob(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(boshJob, "spec"))
	if err != nil {
		t.Fatal(err)
	}
	var spec boshSpec
	if err := yaml.UnmarshalStrict(b, &spec, yaml.DisallowUnknownFields); err != nil {
		t.Fatalf("spec: %v", err)
	}
	t.Run("every property is used", func(t *testing.T) {
		var all strings.Builder
		for tmpl := range spec.Templates {
			src, err := os.ReadFile(filepath.Join(boshJob, "templates", tmpl))
			if err != nil {
				t.Fatal(err)
			}
			all.Write(src)
		}
		for name := range spec.Properties {
			if !strings.Contains(all.String(), `p("`+name+`")`) {
				t.Errorf("property %s is declared but no template uses it", name)
			}
		}
	})
	t.Run("every serve flag is a property", func(t *testing.T) {
		bpm, err := os.ReadFile(filepath.Join(boshJob, "templates", "bpm.yml.erb"))
		if err != nil {
			t.Fatal(err)
		}
		var cfg cli.ServeConfig
		cli.ServeFlags(&cfg).VisitAll(func(f *flag.Flag) {
			if !strings.Contains(string(bpm), "--"+f.Name+"=") {
				t.Errorf("flag --%s has no property in the BOSH job", f.Name)
			}
		})
	})
	for _, tt := range []struct {
		name      string
		overrides map[string]any
	}{
		{"defaults", nil},
		{"with a token and a rootfs", map[string]any{"deepprobe.auth_token": "s3cret-token-0123456789", "deepprobe.rootfs_import_path": "/var/vcap/data/skeleton", "deepprobe.interval": "30s"}},
	} {
		t.Run("bpm args parse: "+tt.name, func(t *testing.T) {
			var bpm struct {
				Processes []struct {
					Name       string   `json:"name"`
					Executable string   `json:"executable"`
					Args       []string `json:"args"`
				} `json:"processes"`
			}
			if err := yaml.Unmarshal([]byte(renderBOSH(t, "bpm.yml.erb", tt.overrides)), &bpm); err != nil {
				t.Fatal(err)
			}
			args := bpm.Processes[0].Args
			if args[0] != "serve" {
				t.Fatalf("args %v", args)
			}
			if _, err := cli.ParseServe(args[1:], func(string) string { return "" }); err != nil {
				t.Fatalf("args %v: %v", args, err)
			}
		})
	}
}

// TestBOSHPostStart runs the rendered post-start script against a running deepprobe.
func TestBOSHPostStart(t *testing.T) {
	w := startWorker(t)
	d := startDeepprobe(t, w, "--min-interval", "1ns", "--probe-timeout", "1s")
	script := filepath.Join(t.TempDir(), "post-start")
	listen := strings.TrimPrefix(d.url, "http://")
	src := renderBOSH(t, "post-start.erb", map[string]any{"deepprobe.listen": listen, "deepprobe.post_start.timeout": 3})
	if err := os.WriteFile(script, []byte(src), 0o755); err != nil {
		t.Fatal(err)
	}
	run := func() (string, int) {
		cmd := exec.Command("bash", script)
		out, _ := cmd.CombinedOutput()
		return string(out), cmd.ProcessState.ExitCode()
	}
	out, code := run()
	if code != 0 || !strings.Contains(out, "worker healthy") {
		t.Fatalf("healthy worker: exit %d\n%s", code, out)
	}
	w.needSim(t)
	w.fault(t, "garden", garden.RouteCreate, faults.Fault{Status: 500})
	out, code = run()
	if code == 0 || !strings.Contains(out, "[-]container.create failed (upstream_error): garden create: 500") {
		t.Fatalf("broken worker: exit %d\n%s", code, out)
	}
	w.clearFaults(t)
}
