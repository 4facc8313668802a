package checker_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/netdojo/netdojo/checker"
	labpkg "github.com/netdojo/netdojo/lab"
	"github.com/netdojo/netdojo/lab/labtest"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
	"github.com/netdojo/netdojo/scenarios"
)

// BenchmarkFailingCheck times `netdojo check` on each built-in scenario's
// broken lab: every task judged on the lab, one after another, as a
// learner who has not fixed anything yet sees them. The reported
// worst-ns/op is the slowest task of the scenario (run with -benchtime 1x).
func BenchmarkFailingCheck(b *testing.B) {
	for _, bi := range scenarios.Library() {
		b.Run(bi.Name, func(b *testing.B) {
			s, err := scenarios.Load(bi.Path, bi.Data, labtest.Options(1))
			if err != nil {
				b.Fatal(err)
			}
			dir := sandboxtest.RunDir(b)
			store := sandbox.Store{Dir: dir}
			name := fmt.Sprintf("judge-bf%04x", os.Getpid()%0x10000)
			lab, err := labpkg.Start(context.Background(), s, sandbox.Options{Name: name, Store: store}, true)
			if err != nil {
				b.Fatal(err)
			}
			defer func() {
				lab.Close()
				labpkg.Stop(store, name)
			}()
			c := &checker.Checker{Lab: lab, Scenario: s, Faults: labpkg.NewFaults(lab, s)}
			var worst time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := range s.Tasks {
					if s.Tasks[j].Check == nil {
						continue
					}
					t0 := time.Now()
					o := c.Task(context.Background(), &s.Tasks[j])
					d := time.Since(t0)
					b.Logf("%s: %.2f s: %s", s.Tasks[j].ID, d.Seconds(), o.Observed)
					if d > worst {
						worst = d
					}
				}
			}
			b.ReportMetric(float64(worst.Nanoseconds()), "worst-ns/task")
		})
	}
}
