package probes

import (
	"context"
	"sync"
	"time"

	"github.com/deepprobe/deepprobe/probes/baggageclaim"
	"github.com/deepprobe/deepprobe/probes/garden"
)

// Pinger is the part of a Garden client the shallow check uses.
type Pinger interface {
	Ping(ctx context.Context) error
}

// VolumeLister is the part of a Baggageclaim client the shallow check uses.
type VolumeLister interface {
	List(ctx context.Context, properties map[string]string) ([]baggageclaim.Volume, error)
}

var (
	_ Pinger       = (*garden.Client)(nil)
	_ VolumeLister = (*baggageclaim.Client)(nil)
)

// Shallow check names.
const (
	CheckGardenPing       = "garden.ping"
	CheckBaggageclaimList = "baggageclaim.list"
)

// Shallow is the cheap check: Garden's /ping and a filtered Baggageclaim volume list, run
// concurrently, each judged by its status code (a 500 is a failure, unlike Concourse's own
// check). It creates nothing.
type Shallow struct {
	Garden       Pinger
	Baggageclaim VolumeLister
}

// Check runs both calls and returns their results, Garden first.
func (s Shallow) Check(ctx context.Context) []StageResult {
	out := make([]StageResult, 2)
	var wg sync.WaitGroup
	run := func(i int, name string, f func() error) {
		defer wg.Done()
		start := time.Now()
		err := f()
		out[i] = StageResult{Name: name, Status: StatusPass, Duration: time.Since(start), Err: err}
		if err != nil {
			out[i].Status = StatusFail
		}
	}
	wg.Add(2)
	go run(0, CheckGardenPing, func() error { return s.Garden.Ping(ctx) })
	go run(1, CheckBaggageclaimList, func() error {
		_, err := s.Baggageclaim.List(ctx, Marker())
		return err
	})
	wg.Wait()
	return out
}
