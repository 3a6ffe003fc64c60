package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// InstallName is the file name `deepprobe install DIR` gives the executable in DIR.
const InstallName = "deepprobe"

// runInstall copies the running executable into the directory given: the image is FROM scratch,
// with no cp, so this is how an init container puts deepprobe into a volume it shares with the
// worker's container (where an exec liveness probe runs `deepprobe check`).
func runInstall(_ context.Context, env Env, args []string) int {
	fs := flag.NewFlagSet("deepprobe install", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(env.Stdout, "usage: deepprobe install DIR\n\ncopies this executable to DIR/%s (mode 0755, atomically: a temporary file renamed into place)\n", InstallName)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.Usage()
			return ExitOK
		}
		fmt.Fprintln(env.Stderr, "deepprobe install:", err)
		return ExitFailure
	}
	if fs.NArg() != 1 || fs.Arg(0) == "" {
		fmt.Fprintf(env.Stderr, "deepprobe install: want exactly one argument, the directory to install into (got %d)\n", fs.NArg())
		return ExitFailure
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(env.Stderr, "deepprobe install: finding this executable:", err)
		return ExitFailure
	}
	dst, n, err := install(exe, fs.Arg(0))
	if err != nil {
		fmt.Fprintln(env.Stderr, "deepprobe install:", err)
		return ExitFailure
	}
	fmt.Fprintf(env.Stdout, "installed %s (%d bytes, deepprobe %s)\n", dst, n, Version)
	return ExitOK
}

// install copies the file src to dir/InstallName: into a temporary file in dir first, made
// executable and synced, then renamed over the target, so that a reader never sees half a
// binary. It returns the target's path and its size.
func install(src, dir string) (string, int64, error) {
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", 0, fmt.Errorf("%s does not exist", dir)
	case err != nil:
		return "", 0, err
	case !info.IsDir():
		return "", 0, fmt.Errorf("%s is not a directory", dir)
	}
	in, err := os.Open(src)
	if err != nil {
		return "", 0, fmt.Errorf("reading this executable: %w", err)
	}
	defer in.Close()
	tmp, err := os.CreateTemp(dir, ".deepprobe-install-*")
	if err != nil {
		return "", 0, fmt.Errorf("%s is not a writable directory: %w", dir, err)
	}
	n, err := io.Copy(tmp, in)
	if err == nil {
		err = tmp.Chmod(0o755)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	dst := filepath.Join(dir, InstallName)
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		_ = os.Remove(tmp.Name()) // leave nothing behind
		return "", 0, fmt.Errorf("installing into %s: %w", dst, err)
	}
	return dst, n, nil
}
