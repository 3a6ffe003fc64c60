package probes_test

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deepprobe/deepprobe/probes"
)

// TestStageList: every stage of the one list has a name, a component and, when it makes
// something on the worker, an undo with a name and a component; names are unique; a stage
// needs only stages before it; and what derives from the list (reported names and order,
// optional stages, the expected run) follows it.
func TestStageList(t *testing.T) {
	all := probes.Stages()
	seen := map[string]bool{}
	component := func(c probes.Component) bool { return c == probes.Garden || c == probes.Baggageclaim }
	undos := 0
	for i, s := range all {
		if s.Name == "" || !component(s.Component) || s.Do == nil {
			t.Errorf("stage %d (%q): want a name, a component and an action", i, s.Name)
		}
		if s.Makes != "" && s.Undo == nil {
			t.Errorf("stage %s makes a %s but has no undo: it would be left behind", s.Name, s.Makes)
		}
		if s.Undo != nil {
			undos++
			if s.Undo.Name == "" || !component(s.Undo.Component) || s.Undo.Do == nil {
				t.Errorf("the undo of %s: want a name, a component and an action", s.Name)
			}
			if seen[s.Undo.Name] {
				t.Errorf("name %s used twice", s.Undo.Name)
			}
			seen[s.Undo.Name] = true
		}
		if seen[s.Name] {
			t.Errorf("name %s used twice", s.Name)
		}
		for _, need := range s.Needs {
			if slices.IndexFunc(all[:i], func(o probes.Stage) bool { return o.Name == need }) < 0 {
				t.Errorf("stage %s needs %s, which does not run before it", s.Name, need)
			}
		}
		seen[s.Name] = true
	}
	names := probes.StageNames()
	if len(names) != len(all)+undos {
		t.Errorf("StageNames %v: want every stage and undo once", names)
	}
	for i, s := range all {
		if names[i] != s.Name {
			t.Errorf("StageNames[%d] = %s, want the forward stages first, in order (%s)", i, names[i], s.Name)
		}
	}
	for _, name := range probes.OptionalStages() {
		i := slices.IndexFunc(all, func(s probes.Stage) bool { return s.Name == name })
		if i < 0 || !all[i].Optional {
			t.Errorf("OptionalStages lists %s", name)
		}
	}
	tm, err := probes.Timing{}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if want := tm.ProbeTimeout + probes.DefaultCleanupTimeout*timeDuration(undos); tm.ExpectedRun() != want {
		t.Errorf("ExpectedRun %s, want the probe timeout and a cleanup timeout per undo (%s)", tm.ExpectedRun(), want)
	}
}

func timeDuration(n int) time.Duration { return time.Duration(n) }

// TestREADMEListsTheStages: the README's numbered list of what a workload does names every
// stage of the one list, in the order a run reports them.
func TestREADMEListsTheStages(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	intro, _, _ := strings.Cut(string(b), "\n## ")
	var listed []string
	for i, m := range regexp.MustCompile("(\\d+)\\. `([a-z_]+\\.[a-z_]+)`").FindAllStringSubmatch(intro, -1) {
		if n, _ := strconv.Atoi(m[1]); n != i+1 {
			t.Errorf("README: stage %s numbered %s, want %d", m[2], m[1], i+1)
		}
		listed = append(listed, m[2])
	}
	if want := probes.StageNames(); !slices.Equal(listed, want) {
		t.Errorf("README lists the stages %v, want %v", listed, want)
	}
}
