package cli

import (
	"strings"
	"testing"
)

// TestFleetFlags: the budget's flags are validated at start-up, each error naming its flag.
func TestFleetFlags(t *testing.T) {
	tests := []struct {
		args    []string
		env     map[string]string
		wantErr string
	}{
		{args: nil},
		{args: []string{"--fleet-prometheus-url", "http://127.0.0.1:9090", "--fleet-max-unhealthy", "30%"}},
		{env: map[string]string{"DEEPPROBE_FLEET_PROMETHEUS_URL": "http://p:9090/prom", "DEEPPROBE_FLEET_MAX_UNHEALTHY": "0.5", "DEEPPROBE_FLEET_SELECTOR": `{job="dp",env="prod"}`}},
		{args: []string{"--fleet-max-unhealthy", "30%"}, wantErr: "--fleet-max-unhealthy: needs --fleet-prometheus-url"},
		{args: []string{"--fleet-prometheus-url", "http://p:9090", "--fleet-max-unhealthy", "30"}, wantErr: `--fleet-max-unhealthy must be above 0% and at most 100%, got "30"`},
		{args: []string{"--fleet-prometheus-url", "http://p:9090", "--fleet-max-unhealthy", "a third"}, wantErr: "--fleet-max-unhealthy want a share such as 30% or 0.3"},
		{args: []string{"--fleet-prometheus-url", "prometheus:9090", "--fleet-max-unhealthy", "30%"}, wantErr: "--fleet-prometheus-url: must be an http(s) base URL"},
		{args: []string{"--fleet-prometheus-url", "http://p:9090", "--fleet-max-unhealthy", "30%", "--fleet-selector", `job="deepprobe"`}, wantErr: "--fleet-selector: must be label matchers in braces"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			cfg, err := ParseServe(tt.args, env(tt.env))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if cfg.FleetSelector == "" {
					t.Error("no default selector")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want %q", err, tt.wantErr)
			}
		})
	}
}
