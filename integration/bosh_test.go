package integration

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/deepprobe/deepprobe/cli"
	"github.com/deepprobe/deepprobe/probes"
	"github.com/deepprobe/deepprobe/probes/garden"
	"github.com/deepprobe/deepprobe/workersim/faults"
)

const boshJob = "../deploy/bosh/jobs/deepprobe"

// renderBOSH renders one of the job's templates with the spec's defaults and overrides.
func renderBOSH(t *testing.T, template string, overrides map[string]any) string {
	t.Helper()
	return renderBOSHFile(t, filepath.Join(boshJob, "templates", template), overrides)
}

// renderBOSHFile renders an ERB file of the job (a template, or its monit file).
func renderBOSHFile(t *testing.T, file string, overrides map[string]any) string {
	t.Helper()
	if _, err := exec.LookPath("ruby"); err != nil {
		fmt.Fprintln(os.Stderr, "\n*** SKIPPING BOSH template tests: ruby (ERB) is not installed; .ci/run installs it ***")
		t.Skip("SKIPPED LOUDLY: ruby is not installed")
	}
	o, _ := json.Marshal(overrides)
	out, err := exec.Command("ruby", "testdata/render-bosh.rb", filepath.Join(boshJob, "spec"), string(o), file).CombinedOutput()
	if err != nil {
		t.Fatalf("rendering %s: %v\n%s", file, err, out)
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
		monit, err := os.ReadFile(filepath.Join(boshJob, "monit")) // rendered like a template
		if err != nil {
			t.Fatal(err)
		}
		all.Write(monit)
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
		{"the ops file's", opsProperties(t)},
		// A deployment that set the older default grace time still deploys: the hard limit is
		// kept under it.
		{"an older grace_time", map[string]any{"deepprobe.grace_time": "1m"}},
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
			cfg, err := cli.ParseServe(args[1:], func(string) string { return "" })
			if err != nil {
				t.Fatalf("args %v: %v", args, err)
			}
			checkTimings(t, cfg)
			checkBOSHRestart(t, spec, tt.overrides, cfg)
		})
	}
}

// monitCycle is how often monit looks on BOSH stemcells.
const monitCycle = 10 * time.Second

// checkBOSHRestart checks the heartbeat watch against deepprobe's verdicts: a worker busy for
// as long as Concourse itself waits for a create still refreshes its heartbeat in time, and a
// wedge is a failed deep check (which bin/restart-worker asks for) well before monit looks.
func checkBOSHRestart(t *testing.T, spec boshSpec, overrides map[string]any, cfg cli.ServeConfig) {
	t.Helper()
	prop := func(name string) any {
		if v, ok := overrides[name]; ok {
			return v
		}
		return spec.Properties[name]["default"]
	}
	if enabled, _ := prop("deepprobe.restart_worker.enabled").(bool); !enabled {
		return
	}
	if cfg.Interval == 0 || cfg.HeartbeatFile == "" {
		t.Fatalf("restart_worker needs the background mode and a heartbeat file: --interval %s, --heartbeat-file %q", cfg.Interval, cfg.HeartbeatFile)
	}
	minutes, ok := prop("deepprobe.restart_worker.after_minutes").(float64)
	if !ok {
		t.Fatalf("restart_worker.after_minutes %v is not a number", prop("deepprobe.restart_worker.after_minutes"))
	}
	stale := time.Duration(minutes) * time.Minute
	// Heartbeats come one workload apart, a tick after the last ended: a busy workload whose
	// forward stages take up to --hard-timeout passes and writes one.
	if busy := cfg.Interval + cfg.HardTimeout + monitCycle; stale < busy {
		t.Errorf("restart_worker.after_minutes %s: a busy worker writes its heartbeat only every %s (--interval + --hard-timeout + a monit cycle)", stale, busy)
	}
	// A wedge: the next tick starts a workload, which fails as stalled.
	if reported := cfg.Interval + cfg.StallTimeout + probes.WatchInterval; reported*2 > stale {
		t.Errorf("a wedge fails the deep check %s after it begins, not well before monit looks (%s)", reported, stale)
	}
	t.Logf("a wedge fails the deep check within %s; monit restarts the worker %s after its last healthy verdict", cfg.Interval+cfg.StallTimeout+probes.WatchInterval, stale+monitCycle)
}

// opsProperties returns the deepprobe properties the ops file sets, as dotted names.
func opsProperties(t *testing.T) map[string]any {
	t.Helper()
	var ops []struct {
		Path  string `json:"path"`
		Value struct {
			Properties map[string]map[string]any `json:"properties"`
		} `json:"value"`
	}
	readYAML(t, filepath.Join(boshRelease, "operations", "colocate-deepprobe.yml"), &ops)
	for _, op := range ops {
		if op.Path == "/instance_groups/name=worker/jobs/name=deepprobe?" {
			return flatten("deepprobe", op.Value.Properties["deepprobe"])
		}
	}
	t.Fatal("the ops file does not colocate the job on the worker instance group")
	return nil
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

const boshRelease = "../deploy/bosh"

// TestBOSHReleaseLayout: the directory is a release `bosh create-release` can build: a final
// name, every package a job names exists with a spec and a packaging script for its files.
func TestBOSHReleaseLayout(t *testing.T) {
	var final struct {
		FinalName string         `json:"final_name"`
		Blobstore map[string]any `json:"blobstore"`
	}
	readYAML(t, filepath.Join(boshRelease, "config", "final.yml"), &final)
	if final.FinalName != "deepprobe" || final.Blobstore["provider"] == nil {
		t.Errorf("config/final.yml: %+v", final)
	}
	var spec boshSpec
	readYAML(t, filepath.Join(boshJob, "spec"), &spec)
	for _, pkg := range spec.Packages {
		var ps struct {
			Name  string   `json:"name"`
			Files []string `json:"files"`
		}
		readYAML(t, filepath.Join(boshRelease, "packages", pkg, "spec"), &ps)
		if ps.Name != pkg || len(ps.Files) == 0 {
			t.Errorf("package %s spec: %+v", pkg, ps)
		}
		packaging := filepath.Join(boshRelease, "packages", pkg, "packaging")
		info, err := os.Stat(packaging)
		if err != nil || info.Mode()&0o111 == 0 {
			t.Fatalf("package %s: packaging script missing or not executable: %v", pkg, err)
		}
		script, _ := os.ReadFile(packaging)
		for _, f := range ps.Files {
			if !strings.Contains(string(script), f) {
				t.Errorf("package %s: packaging does not use %s", pkg, f)
			}
		}
		if !strings.Contains(string(script), "${BOSH_INSTALL_TARGET}/bin/deepprobe") {
			t.Errorf("package %s does not install bin/deepprobe", pkg)
		}
	}
	for tmpl := range spec.Templates {
		if _, err := os.Stat(filepath.Join(boshJob, "templates", tmpl)); err != nil {
			t.Errorf("template %s: %v", tmpl, err)
		}
	}
	t.Run("ops file", func(t *testing.T) {
		var ops []struct {
			Type  string `json:"type"`
			Path  string `json:"path"`
			Value struct {
				Name       string                    `json:"name"`
				Release    string                    `json:"release"`
				Properties map[string]map[string]any `json:"properties"`
			} `json:"value"`
		}
		readYAML(t, filepath.Join(boshRelease, "operations", "colocate-deepprobe.yml"), &ops)
		found := false
		for _, op := range ops {
			if op.Type != "replace" || !strings.HasPrefix(op.Path, "/") {
				t.Errorf("op %+v", op)
			}
			if op.Path == "/instance_groups/name=worker/jobs/name=deepprobe?" {
				found = true
				for name := range flatten("deepprobe", op.Value.Properties["deepprobe"]) {
					if _, ok := spec.Properties[name]; !ok {
						t.Errorf("the ops file sets %s, which the job does not declare", name)
					}
				}
			}
		}
		if !found {
			t.Error("the ops file does not colocate the job on the worker instance group")
		}
	})
}

// flatten turns nested properties into BOSH's dotted names.
func flatten(prefix string, m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			for kk, vv := range flatten(prefix+"."+k, sub) {
				out[kk] = vv
			}
			continue
		}
		out[prefix+"."+k] = v
	}
	return out
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// monitDirective is one line a monit stanza may hold, as BOSH's stemcell monit reads it.
var monitDirective = regexp.MustCompile(`^(with pidfile \S+|start program "[^"]+"|stop program "[^"]+"|group vcap|with path \S+|` +
	`if timestamp > \d+ minutes then exec "[^"]+"|depends on \S+)$`)

// TestBOSHMonit renders the job's monit file and checks its syntax and every name in it
// against the job (bpm process, heartbeat flag, its own scripts) and against the current worker
// job, which is started by /var/vcap/jobs/worker/bin/ctl with its pidfile under
// /var/vcap/sys/run/worker/, and which deepprobe's job never edits.
func TestBOSHMonit(t *testing.T) {
	var spec boshSpec
	readYAML(t, filepath.Join(boshJob, "spec"), &spec)
	for _, enabled := range []bool{true, false} {
		t.Run(fmt.Sprintf("restart_worker %v", enabled), func(t *testing.T) {
			src := renderBOSHFile(t, filepath.Join(boshJob, "monit"), map[string]any{"deepprobe.restart_worker.enabled": enabled})
			checks := map[string][]string{}
			var current string
			for _, line := range strings.Split(src, "\n") {
				trimmed := strings.TrimSpace(line)
				switch {
				case trimmed == "":
				case strings.HasPrefix(line, "check "):
					f := strings.Fields(line)
					if len(f) != 3 || (f[1] != "process" && f[1] != "file") {
						t.Fatalf("bad check line %q", line)
					}
					current = f[2]
					checks[current] = nil
				case current != "" && monitDirective.MatchString(trimmed):
					checks[current] = append(checks[current], trimmed)
				default:
					t.Fatalf("line %q is not a monit directive this job uses", line)
				}
			}
			if _, ok := checks["deepprobe"]; !ok {
				t.Fatal("no check of the deepprobe process")
			}
			if !slices.Contains(checks["deepprobe"], "with pidfile /var/vcap/sys/run/bpm/deepprobe/deepprobe.pid") ||
				!slices.Contains(checks["deepprobe"], `start program "/var/vcap/jobs/bpm/bin/bpm start deepprobe"`) {
				t.Errorf("the deepprobe check does not follow bpm's layout: %v", checks["deepprobe"])
			}
			hb, ok := checks["deepprobe_worker_heartbeat"]
			if ok != enabled {
				t.Fatalf("heartbeat check present %v, want %v", ok, enabled)
			}
			if enabled {
				heartbeat := spec.Properties["deepprobe.heartbeat_file"]["default"]
				if !slices.Contains(hb, fmt.Sprintf("with path %s", heartbeat)) || !slices.Contains(hb, "depends on deepprobe") {
					t.Errorf("heartbeat check %v (heartbeat file %v)", hb, heartbeat)
				}
				script := "bin/restart-worker"
				if spec.Templates["restart-worker.erb"] != script || !strings.Contains(strings.Join(hb, "\n"), `exec "/var/vcap/jobs/deepprobe/`+script+`"`) {
					t.Errorf("the heartbeat check does not run the job's %s: %v", script, hb)
				}
			}
			for _, stale := range []string{"/var/vcap/sys/run/bpm/worker", "bpm start worker", "check process worker"} {
				if strings.Contains(src, stale) {
					t.Errorf("the monit file refers to %q: the worker job is not deepprobe's to define", stale)
				}
			}
		})
	}
}

// TestBOSHRestartWorker runs the rendered restart-worker script against a live deepprobe with
// a stand-in monit: it restarts the worker only when deepprobe answers and the deep check fails.
func TestBOSHRestartWorker(t *testing.T) {
	w := startWorker(t)
	w.needSim(t)
	d := startDeepprobe(t, w, "--min-interval", "1ns", "--probe-timeout", "1s")
	dir := t.TempDir()
	calls := filepath.Join(dir, "monit-calls")
	monit := filepath.Join(dir, "monit")
	if err := os.WriteFile(monit, []byte("#!/bin/sh\necho \"$@\" >> "+calls+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "restart-worker")
	src := renderBOSH(t, "restart-worker.erb", map[string]any{"deepprobe.listen": strings.TrimPrefix(d.url, "http://")})
	if err := os.WriteFile(script, []byte(src), 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(url string) string {
		cmd := exec.Command("bash", script)
		cmd.Env = append(os.Environ(), "MONIT="+monit, "DEEPPROBE="+filepath.Join(binDir, "deepprobe"), "DEEPPROBE_URL="+url)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("restart-worker: %v\n%s", err, out)
		}
		return string(out)
	}
	restarts := func() string { b, _ := os.ReadFile(calls); return string(b) }
	if out := run(d.url); !strings.Contains(out, "passes now") || restarts() != "" {
		t.Fatalf("healthy worker:\n%s\nmonit: %q", out, restarts())
	}
	if out := run("http://127.0.0.1:1"); !strings.Contains(out, "not blaming the worker") || restarts() != "" {
		t.Fatalf("deepprobe down:\n%s\nmonit: %q", out, restarts())
	}
	w.fault(t, "garden", garden.RouteCreate, faults.Fault{Status: 500})
	out := run(d.url)
	if restarts() != "restart worker\n" || !strings.Contains(out, "container.create failed") {
		t.Fatalf("broken worker:\n%s\nmonit: %q", out, restarts())
	}
	w.clearFaults(t)
}
