package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/deepprobe/deepprobe/gc"
)

// JanitorConfig is the configuration of `deepprobe janitor`.
type JanitorConfig struct {
	UpstreamConfig
	Once     bool
	DryRun   bool
	Interval time.Duration
	Instance string
}

// JanitorFlags returns the flag set of `deepprobe janitor` bound to cfg.
func JanitorFlags(cfg *JanitorConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("deepprobe janitor", flag.ContinueOnError)
	cfg.register(fs)
	fs.BoolVar(&cfg.Once, "once", false, "sweep once, print what was found, and exit (non-zero if a reap failed)")
	fs.BoolVar(&cfg.DryRun, "dry-run", false, "destroy nothing; print what would be reaped")
	fs.DurationVar(&cfg.Interval, "janitor-interval", gc.DefaultInterval, "time between sweeps without --once")
	fs.StringVar(&cfg.Instance, "instance", "", fmt.Sprintf("the deepprobe.instance whose leftovers go after --orphan-age; other instances' only after %d x --orphan-age (default: the host name, as for serve)", gc.OtherInstanceAgeFactor))
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
	if cfg.Instance == "" {
		cfg.Instance, _ = os.Hostname()
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
	jc := gc.Config{Garden: g, Baggageclaim: b, Interval: cfg.Interval, OrphanAge: cfg.OrphanAge, Instance: cfg.Instance,
		DryRun: cfg.DryRun, Logger: logger}
	if !cfg.Once {
		// Runs until SIGTERM or SIGINT, printing each sweep as it ends.
		jc.OnSweep = func(r gc.Report) { printReport(env.Stdout, r) }
	}
	j, err := gc.New(jc)
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

// printReport prints a sweep: a table of what it found (none when it found nothing), the
// lists that failed, and a line of totals. Handles, instances and errors come from the servers
// and are quoted when they hold anything but printable characters other than spaces.
func printReport(w io.Writer, r gc.Report) {
	if len(r.Items) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KIND\tHANDLE\tINSTANCE\tAGE\tACTION\tDETAIL")
		for _, it := range r.Sorted() {
			age := "unknown"
			if it.Age >= 0 {
				age = it.Age.Round(time.Second).String()
			}
			instance := "-"
			if it.Instance != "" {
				instance = printable(it.Instance)
			}
			detail := it.Reason
			if it.Err != nil {
				detail = printable(it.Err.Error())
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", it.Kind, printable(it.Handle), instance, age, it.Action, detail)
		}
		_ = tw.Flush()
	}
	for _, err := range r.Errors {
		fmt.Fprintln(w, "error:", printable(err.Error()))
	}
	fmt.Fprintf(w, "%s: %d found, %d reaped, %d would be reaped, %d skipped, %d failed\n", time.Now().UTC().Format(time.RFC3339),
		len(r.Items), r.Total(gc.ActionReaped), r.Total(gc.ActionWouldReap), r.Total(gc.ActionSkipped), r.Total(gc.ActionFailed))
}

// printable returns s as it is when it holds only printable characters and spaces (an error
// message), and quoted otherwise, so that no upstream text can break the table or the terminal.
func printable(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) < 0 {
		return s
	}
	return strconv.Quote(s)
}
