// Command promrule writes deepprobe's alert rules (deploy/prometheus/deepprobe-rules.yml) for a
// scrape job of any name, as a Prometheus rules file or as a Prometheus Operator PrometheusRule
// object. It is how the rules' job is configured (`make prometheus-rules PROMETHEUS_JOB=...`), and
// how deploy/kube-prometheus/deepprobe-prometheusrule.yaml is made (`make kube-prometheus`).
//
//	go run ./integration/cmd/promrule [-job deepprobe] [-format rules|prometheusrule]
//	    [-name deepprobe] [-namespace NS] [-label key=value]... < deepprobe-rules.yml > out.yaml
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// sourceJob is the job the rules file names; -job replaces it.
const sourceJob = `job="deepprobe"`

// ruleFile is a Prometheus rules file.
type ruleFile struct {
	Groups []ruleGroup `json:"groups"`
}

type ruleGroup struct {
	Name     string `json:"name"`
	Interval string `json:"interval,omitempty"`
	Rules    []rule `json:"rules"`
}

type rule struct {
	Alert       string            `json:"alert,omitempty"`
	Record      string            `json:"record,omitempty"`
	Expr        string            `json:"expr"`
	For         string            `json:"for,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// prometheusRule is a monitoring.coreos.com/v1 PrometheusRule, as far as it is written here.
type prometheusRule struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   metadata `json:"metadata"`
	Spec       ruleFile `json:"spec"`
}

type metadata struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
}

// labels is a repeatable -label key=value.
type labels map[string]string

func (l labels) String() string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k+"="+l[k])
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

func (l labels) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", v)
	}
	l[k] = val
	return nil
}

type options struct {
	job, format, name, namespace string
	labels                       labels
}

func main() {
	o := options{labels: labels{}}
	fs := flag.NewFlagSet("promrule", flag.ContinueOnError)
	fs.StringVar(&o.job, "job", "deepprobe", "the scrape job of deepprobe's targets (DeepprobeNotReporting watches up{job=...})")
	fs.StringVar(&o.format, "format", "prometheusrule", "rules (a Prometheus rules file) or prometheusrule (a Prometheus Operator object)")
	fs.StringVar(&o.name, "name", "deepprobe", "prometheusrule: the object's name")
	fs.StringVar(&o.namespace, "namespace", "", "prometheusrule: the object's namespace (default: none, kubectl's)")
	fs.Var(o.labels, "label", "prometheusrule: a label key=value for the Prometheus' ruleSelector (repeatable; default prometheus=k8s and role=alert-rules, kube-prometheus's)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if err := run(os.Stdin, os.Stdout, o); err != nil {
		fmt.Fprintln(os.Stderr, "promrule:", err)
		os.Exit(1)
	}
}

var reLabelValue = regexp.MustCompile(`^[^"\\\n]+$`)

// run reads a rules file from r and writes it, for o.job, in o.format to w.
func run(r io.Reader, w io.Writer, o options) error {
	if !reLabelValue.MatchString(o.job) {
		return fmt.Errorf("-job %q: want a job name without quotes, backslashes or newlines", o.job)
	}
	src, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	var rules ruleFile
	if err := yaml.UnmarshalStrict(src, &rules); err != nil {
		return fmt.Errorf("the rules file: %w", err)
	}
	if !bytes.Contains(src, []byte(sourceJob)) {
		return errors.New("the rules file names no " + sourceJob + " to replace")
	}
	for gi := range rules.Groups {
		for ri := range rules.Groups[gi].Rules {
			r := &rules.Groups[gi].Rules[ri]
			r.Expr = strings.ReplaceAll(r.Expr, sourceJob, `job="`+o.job+`"`)
		}
	}
	var out any = rules
	header := "# deepprobe's alert rules for scrape job " + o.job + ", generated from deploy/prometheus/deepprobe-rules.yml\n" +
		"# by integration/cmd/promrule: do not edit; regenerate.\n"
	switch o.format {
	case "rules":
	case "prometheusrule":
		if len(o.labels) == 0 {
			o.labels = labels{"prometheus": "k8s", "role": "alert-rules"}
		}
		o.labels["app.kubernetes.io/name"] = "deepprobe"
		out = prometheusRule{APIVersion: "monitoring.coreos.com/v1", Kind: "PrometheusRule",
			Metadata: metadata{Name: o.name, Namespace: o.namespace, Labels: o.labels}, Spec: rules}
	default:
		return fmt.Errorf("-format %q: want rules or prometheusrule", o.format)
	}
	b, err := yaml.Marshal(out)
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, header+string(b))
	return err
}
