package main

import (
	"os"
	"testing"

	"github.com/netdojo/netdojo/scenarios"
)

// TestGeneratedDrillDocs keeps the drill format reference and JSON Schema
// under docs/ in sync with scenarios/drill_raw.go.
func TestGeneratedDrillDocs(t *testing.T) {
	schema, err := scenarios.DrillSchema(loadOptions(0))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"../../docs/drill.schema.json": string(schema) + "\n",
		"../../docs/drill-format.md":   scenarios.DrillReference(),
	}
	for path, want := range files {
		t.Run(path+" is up to date", func(t *testing.T) {
			if *update {
				if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (regenerate with: go test ./cmd/netdojo -run TestGeneratedDrillDocs -update)", err)
			}
			if string(got) != want {
				t.Errorf("%s is stale; regenerate with: go test ./cmd/netdojo -run TestGeneratedDrillDocs -update", path)
			}
		})
	}
}
