// Package cli is deepprobe's command line: the subcommands serve, check, janitor and version,
// their flags (each with a DEEPPROBE_* environment variable) and the wiring of probes, server
// and gc into a running service (Main). cmd/deepprobe only calls RunAndExit.
package cli
