package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/deepprobe/deepprobe/gc"
)

// JanitorConfig is the configuration of `deepprobe janitor`.
type JanitorConfig struct {
	UpstreamConfig
	Once     bool
	DryRun   bool
	Interval time.Duration
}

// JanitorFlags returns the flag set of `deepprobe janitor` bound to cfg.
func JanitorFlags(cfg *JanitorConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("deepprobe janitor", flag.ContinueOnError)
	cfg.register(fs)
	fs.BoolVar(&cfg.Once, "once", false, "sweep once, print what was found, and exit (non-zero if a reap failed)")
	fs.BoolVar(&cfg.DryRun, "dry-run", false, "destroy nothing; print what would be reaped")
	fs.DurationVar(&cfg.Interval, "janitor-interval", gc.DefaultInterval, "time between sweeps without --once")
	fs.Usage = usage(fs, "deepprobe janitor [--once] [--dry-run] [flags]")
	return fs
}

func runJanitor(ctx context.Context, env Env, args []string) int {
	var cfg JanitorConfig
	fs := JanitorFlags(&cfg)
	fail := func(err error) int {
		fmt.Fprintln(env.Stderr, "deepprobe janitor:", err)
		return ExitFailure
	}
	if err := parse(fs, args, env.Getenv, env.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return fail(err)
	}
	if err := cfg.UpstreamConfig.validate(); err != nil {
		return fail(err)
	}
	if cfg.Interval <= 0 {
		return fail(fmt.Errorf("--janitor-interval must be positive, got %s", cfg.Interval))
	}
	logger, err := cfg.logger(env.Stderr)
	if err != nil {
		return fail(err)
	}
	g, b, tr, err := cfg.clients()
	if err != nil {
		return fail(err)
	}
	defer tr.CloseIdleConnections()
	j, err := gc.New(gc.Config{Garden: g, Baggageclaim: b, Interval: cfg.Interval, OrphanAge: cfg.OrphanAge, DryRun: cfg.DryRun, Logger: logger})
	if err != nil {
		return fail(err)
	}
	if !cfg.Once {
		_ = j.Run(ctx)
		return ExitOK
	}
	report := j.Sweep(ctx)
	printReport(env.Stdout, report)
	if report.Failed() {
		return ExitFailure
	}
	return ExitOK
}

// printReport prints a sweep as a table.
func printReport(w io.Writer, r gc.Report) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tHANDLE\tAGE\tACTION\tDETAIL")
	for _, it := range r.Sorted() {
		age := "unknown"
		if it.Age >= 0 {
			age = it.Age.Round(time.Second).String()
		}
		detail := it.Reason
		if it.Err != nil {
			detail = it.Err.Error()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", it.Kind, it.Handle, age, it.Action, detail)
	}
	_ = tw.Flush()
	for _, err := range r.Errors {
		fmt.Fprintln(w, "error:", err)
	}
	fmt.Fprintf(w, "%d found, %d reaped, %d would be reaped, %d failed\n", len(r.Items),
		r.Count(gc.KindContainer, gc.ActionReaped)+r.Count(gc.KindVolume, gc.ActionReaped),
		r.Count(gc.KindContainer, gc.ActionWouldReap)+r.Count(gc.KindVolume, gc.ActionWouldReap),
		r.Count(gc.KindContainer, gc.ActionFailed)+r.Count(gc.KindVolume, gc.ActionFailed))
}
