package cli

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/deepprobe/deepprobe/fleet"
)

// FleetConfig is the fleet budget's part of `deepprobe serve`'s flags.
type FleetConfig struct {
	FleetPrometheusURL string
	FleetMaxUnhealthy  string
	FleetSelector      string
}

func (f *FleetConfig) registerFleet(fs *flag.FlagSet) {
	fs.StringVar(&f.FleetPrometheusURL, "fleet-prometheus-url", "", "Prometheus base URL the fleet budget asks for the fleet's failing share")
	fs.StringVar(&f.FleetMaxUnhealthy, "fleet-max-unhealthy", "", "fleet budget: when more than this share of the fleet (30% or 0.3) fails its deep check, a deep failure answers 200 warn (fleet_wide) instead of 503 (default off)")
	fs.StringVar(&f.FleetSelector, "fleet-selector", fleet.DefaultSelector, "label matchers naming the fleet's deepprobes in Prometheus")
}

// budgetConfig maps the flags to the fleet budget's configuration, naming the flag of a bad one.
func (f *FleetConfig) budgetConfig(logger *slog.Logger, reg prometheus.Registerer) (fleet.Config, error) {
	share, err := fleet.ParseShare(f.FleetMaxUnhealthy)
	if err != nil {
		return fleet.Config{}, fmt.Errorf("--%s %w", fleet.SettingMaxUnhealthy, err)
	}
	return fleet.Config{PrometheusURL: f.FleetPrometheusURL, MaxUnhealthy: share, Selector: f.FleetSelector, Logger: logger, Registerer: reg}, nil
}

// budget builds the fleet budget (metrics registered with reg even when it is off).
func (f *FleetConfig) budget(logger *slog.Logger, reg prometheus.Registerer) (*fleet.Budget, error) {
	cfg, err := f.budgetConfig(logger, reg)
	if err != nil {
		return nil, err
	}
	b, err := fleet.New(cfg)
	var se *fleet.SettingError
	if errors.As(err, &se) {
		return nil, fmt.Errorf("--%s", se.Error())
	}
	return b, err
}

// validateFleet checks the flags without building anything that lasts.
func (f *FleetConfig) validateFleet() error {
	_, err := f.budget(nil, nil)
	return err
}

// setting describes the budget for the status page.
func (f *FleetConfig) setting() string {
	if f.FleetMaxUnhealthy == "" {
		return "off"
	}
	return fmt.Sprintf("hold above %s of %s", f.FleetMaxUnhealthy, f.FleetSelector)
}
