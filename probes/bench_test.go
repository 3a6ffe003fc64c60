package probes_test

import (
	"context"
	"testing"
	"time"

	"github.com/deepprobe/deepprobe/probes"
	"github.com/deepprobe/deepprobe/workersim/gardensim"
	"github.com/deepprobe/deepprobe/workersim/workertest"
)

// BenchmarkWorkload runs whole workloads against the simulators (or the real servers).
func BenchmarkWorkload(b *testing.B) {
	w := workertest.Start(b, gardensim.Config{})
	wl, _, _ := newWorkloadB(b, w)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if res := wl.Run(ctx); !res.Passed() {
			b.Fatalf("workload failed: %+v", res.Stages)
		}
	}
}

// BenchmarkProberCachedCheck is what every request costs while a result is cached.
func BenchmarkProberCachedCheck(b *testing.B) {
	p, err := probes.NewProber(probes.ProberConfig{
		Run:    func(context.Context) probes.Result { return probes.Result{} },
		Timing: probes.Timing{MinInterval: time.Hour},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	ctx := context.Background()
	if _, err := p.Check(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := p.Check(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
