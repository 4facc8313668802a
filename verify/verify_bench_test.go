package verify_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/netdojo/netdojo/lab/labtest"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
	"github.com/netdojo/netdojo/scenarios"
	"github.com/netdojo/netdojo/verify"
)

// BenchmarkVerifyLibrary verifies each built-in scenario on fresh labs,
// one at a time, as `netdojo verify` does (run with -benchtime 1x).
func BenchmarkVerifyLibrary(b *testing.B) {
	for _, bi := range scenarios.Library() {
		b.Run(bi.Name, func(b *testing.B) {
			s, err := scenarios.Load(bi.Path, bi.Data, labtest.Options(1))
			if err != nil {
				b.Fatal(err)
			}
			dir := sandboxtest.RunDir(b)
			for i := 0; i < b.N; i++ {
				r := verify.Scenario(context.Background(), s, verify.Options{Store: sandbox.Store{Dir: dir}, LabPrefix: fmt.Sprintf("bv%d-", i)})
				if !r.Pass {
					b.Fatalf("%s does not verify: %+v", bi.Name, r.Phases)
				}
			}
		})
	}
}
