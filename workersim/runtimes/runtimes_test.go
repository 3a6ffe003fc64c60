package runtimes

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEQuotesTheTable: the README's compatibility table is this package's, current.
func TestREADMEQuotesTheTable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), MarkdownTable()) {
		t.Errorf("README.md does not hold the current runtimes table; replace it with:\n%s", MarkdownTable())
	}
}

func TestProfilesAreComplete(t *testing.T) {
	if Profiles[0].Name != Default {
		t.Errorf("the default profile %s is not first", Default)
	}
	for _, p := range Profiles {
		if p.UnknownHandleStatus == 0 || p.UnknownHandleMessage == nil || p.ExecFailedMessage == nil {
			t.Errorf("%s: incomplete profile", p.Name)
		}
		if (p.MaxContainers > 0) != (p.MaxContainersMessage != "") {
			t.Errorf("%s: a limit needs its message and a message its limit", p.Name)
		}
		if got, err := Lookup(p.Name); err != nil || got.Name != p.Name {
			t.Errorf("Lookup(%s) = %v, %v", p.Name, got.Name, err)
		}
	}
	if _, err := Lookup("docker"); err == nil || !strings.Contains(err.Error(), "containerd, guardian, houdini") {
		t.Errorf("unknown runtime: %v", err)
	}
}
