package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestInstall(t *testing.T) {
	src := filepath.Join(t.TempDir(), "exe")
	want := []byte("\x7fELF pretend binary")
	if err := os.WriteFile(src, want, 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, InstallName), []byte("an older one"), 0o755); err != nil {
		t.Fatal(err)
	}
	dst, n, err := install(src, dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(dst)
	if err != nil || !bytes.Equal(got, want) || n != int64(len(want)) {
		t.Fatalf("installed %q (%d bytes, %v), want %q", got, n, err, want)
	}
	info, _ := os.Stat(dst)
	if info.Mode().Perm() != 0o755 {
		t.Errorf("mode %s, want 0755", info.Mode())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
}

// TestInstallRefuses: a DIR that is not a writable directory is an error naming it, and
// leaves nothing behind.
func TestInstallRefuses(t *testing.T) {
	src := filepath.Join(t.TempDir(), "exe")
	if err := os.WriteFile(src, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		filepath.Join(t.TempDir(), "missing"): "does not exist",
		file:                                  "is not a directory",
	}
	if runtime.GOOS == "linux" {
		cases["/proc"] = "/proc is not a writable directory" // even root cannot create a file there
	}
	if os.Geteuid() != 0 { // root writes into a 0555 directory all the same
		ro := t.TempDir()
		if err := os.Chmod(ro, 0o555); err != nil {
			t.Fatal(err)
		}
		cases[ro] = "is not a writable directory"
	}
	for dir, want := range cases {
		if _, _, err := install(src, dir); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), dir) {
			t.Errorf("install into %s: %v, want %q naming it", dir, err, want)
		}
	}
	// A directory in the way of the target: the temporary file is removed.
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, InstallName), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, err := install(src, dir); err == nil {
		t.Error("installed over a directory")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
}

func TestInstallArgs(t *testing.T) {
	for _, args := range [][]string{{"install"}, {"install", "a", "b"}, {"install", "--nope", "a"}} {
		var errOut bytes.Buffer
		if code := Run(context.Background(), Env{Args: args, Getenv: env(nil), Stdout: &bytes.Buffer{}, Stderr: &errOut}); code != ExitFailure || errOut.Len() == 0 {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut.String())
		}
	}
}
