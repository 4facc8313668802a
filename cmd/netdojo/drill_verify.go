package main

import (
	"context"
	"fmt"
	"os"

	"github.com/netdojo/netdojo/drill"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/scenarios"
	"github.com/netdojo/netdojo/verify"
)

// splitDrills takes drill files (kind: Drill) and built-in drills out of
// verify's arguments; with all, every built-in drill is added.
func splitDrills(args []string, all bool, seed uint64) ([]string, []*scenarios.Drill, error) {
	var rest []string
	var drills []*scenarios.Drill
	if all {
		for _, b := range drill.Library() {
			args = append(args, b.Name)
		}
	}
	for _, a := range args {
		isDrill := false
		if isFileArg(a) {
			data, err := os.ReadFile(a)
			isDrill = err == nil && scenarios.IsDrill(data)
		} else if _, err := scenarios.LookupBuiltin(a); err != nil {
			_, derr := drill.LookupBuiltin(a)
			isDrill = derr == nil
		}
		if !isDrill {
			rest = append(rest, a)
			continue
		}
		l, err := loadDrill(a, seed)
		if err != nil {
			return nil, nil, err
		}
		drills = append(drills, l.drill)
	}
	return rest, drills, nil
}

// verifyDrills verifies drills one after the other, each on its own labs
// with an accelerated clock (docs/drills.md, "Proving a drill solvable").
func verifyDrills(ctx context.Context, store sandbox.Store, drills []*scenarios.Drill) []*verify.Report {
	var reports []*verify.Report
	for i, d := range drills {
		reports = append(reports, drill.Verify(ctx, d, drill.VerifyOptions{Store: store, LabPrefix: fmt.Sprintf("vfd%d-%d-", os.Getpid()%10000, i)}))
	}
	return reports
}
