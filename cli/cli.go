package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
)

// Version and Commit are set by the linker: `make build`, `make release` and the Docker build
// pass -ldflags "-X github.com/deepprobe/deepprobe/cli.Version=... -X
// github.com/deepprobe/deepprobe/cli.Commit=...". They are plain string variables
// with constant defaults, so that -X takes effect (a variable initialised by a function call is
// overwritten at start-up, whatever the linker set). Read them through BuildCommit.
var (
	Version = "dev"
	Commit  = ""
)

// BuildCommit returns the commit deepprobe was built from: Commit when the linker set it, else
// the module's VCS stamp (a plain `go build` in a git checkout), else "unknown".
func BuildCommit() string {
	if Commit != "" {
		return Commit
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}

// Exit codes. Docker reserves 2 for healthchecks, so no path returns it.
const (
	ExitOK      = 0
	ExitFailure = 1
)

// Env is what a command reads from and writes to its process.
type Env struct {
	Args   []string
	Getenv func(string) string
	Stdout io.Writer
	Stderr io.Writer
}

// Run runs the subcommand named by env.Args[0] until ctx ends, and returns the exit code.
func Run(ctx context.Context, env Env) int {
	if len(env.Args) == 0 {
		fmt.Fprint(env.Stderr, topUsage)
		return ExitFailure
	}
	var err error
	switch env.Args[0] {
	case "serve":
		err = runServe(ctx, env, env.Args[1:])
	case "check":
		return runCheck(ctx, env, env.Args[1:])
	case "janitor":
		return runJanitor(ctx, env, env.Args[1:])
	case "install":
		return runInstall(ctx, env, env.Args[1:])
	case "version", "--version":
		fmt.Fprintf(env.Stdout, "deepprobe %s (commit %s, %s, %s/%s)\n", Version, BuildCommit(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return ExitOK
	case "help", "-h", "--help":
		fmt.Fprint(env.Stdout, topUsage)
		return ExitOK
	default:
		err = fmt.Errorf("unknown subcommand %q\n\n%s", env.Args[0], topUsage)
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		consoleLogger(env).Error("deepprobe: " + err.Error())
		return ExitFailure
	}
	return ExitOK
}

const topUsage = `usage: deepprobe <subcommand> [flags]

subcommands:
  serve     run the HTTP service (/healthz, /readyz, /livez, /metrics) and the janitor
  check     ask a running deepprobe whether the worker is healthy (exit 0) or not (exit 1)
  janitor   sweep health-check leftovers from the command line
  install   copy this executable into a directory (for an init container)
  version   print the version

Run 'deepprobe <subcommand> --help' for its flags.
`

// RunAndExit is the entry point of cmd/deepprobe: it runs the subcommand until SIGTERM or SIGINT and
// exits with its code.
func RunAndExit() {
	ctx, cancel := context.WithCancel(context.Background())
	env := Env{Args: os.Args[1:], Getenv: os.Getenv, Stdout: os.Stdout, Stderr: os.Stderr}
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, os.Interrupt)
	go forceOnSecondSignal(signals, cancel, consoleLogger(env), os.Exit)
	code := Run(ctx, env)
	signal.Stop(signals)
	os.Exit(code)
}

// forceOnSecondSignal starts a graceful stop on the first signal and exits at once, with
// ExitFailure, on a second: an operator who asks twice does not wait for the shutdown bound.
// It says so through console (JSON lines with --log-format json). It lives as long as the
// process.
func forceOnSecondSignal(signals <-chan os.Signal, stop func(), console *slog.Logger, exit func(int)) {
	first := <-signals
	console.Warn("deepprobe: " + first.String() + ": stopping gracefully; send it again to exit at once")
	stop()
	second := <-signals
	console.Warn("deepprobe: second " + second.String() + ": exiting now")
	exit(ExitFailure)
}

func runServe(ctx context.Context, env Env, args []string) error {
	cfg, err := parseServe(args, env.Getenv, env.Stdout)
	if err != nil {
		return err
	}
	logger, err := cfg.logger(env.Stderr)
	if err != nil {
		return err
	}
	m, err := NewMain(cfg, logger)
	if err != nil {
		return err
	}
	return m.Run(ctx, nil)
}
