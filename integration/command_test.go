package integration

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// runCommand runs the deepprobe binary to completion and returns its combined output and exit
// code.
func runCommand(t *testing.T, args []string, env []string) (string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "deepprobe"), args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("deepprobe %v did not exit\n%s", args, out.String())
	}
	return out.String(), cmd.ProcessState.ExitCode()
}
