package cli

import (
	"fmt"
	"runtime"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

// maxWorkerName bounds --worker-name: a label value and a page title, not a document.
const maxWorkerName = 253

// validWorkerName refuses a --worker-name that cannot serve as a metric label and a page title.
func validWorkerName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("--worker-name is empty and the host name is unknown: give one, such as worker-0")
	case len(name) > maxWorkerName:
		return fmt.Errorf("--worker-name is %d bytes long; use at most %d", len(name), maxWorkerName)
	case !utf8.ValidString(name):
		return fmt.Errorf("--worker-name %q is not valid UTF-8", name)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return fmt.Errorf("--worker-name %q holds a control character", name)
	}
	return nil
}

// registerInfo registers the info gauges, each a single series of value 1:
// deepprobe_build_info{version,commit,goversion} and deepprobe_worker_info{worker}, which
// dashboards and alerts join on (`* on (instance) group_left (worker)`) to name a worker by
// --worker-name rather than by its scrape address.
func registerInfo(reg prometheus.Registerer, worker string) error {
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "deepprobe_build_info",
		Help: "Always 1; the labels say which deepprobe runs: version, commit and Go version.",
	}, []string{"version", "commit", "goversion"})
	build.WithLabelValues(Version, BuildCommit(), runtime.Version()).Set(1)
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "deepprobe_worker_info",
		Help: "Always 1; the worker label is the worker's name (--worker-name).",
	}, []string{"worker"})
	info.WithLabelValues(worker).Set(1)
	for _, c := range []prometheus.Collector{build, info} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("registering the info metrics: %w", err)
		}
	}
	return nil
}

// staleAfter is the age past which the status page calls the last result old: --max-age in
// background mode (where /healthz then fails it as stale), else --freshness (the oldest result
// /healthz would still hand a caller whose deadline comes mid-workload).
func (c *ServeConfig) staleAfter() time.Duration {
	if c.Interval > 0 {
		return c.MaxAge
	}
	return c.Freshness
}
