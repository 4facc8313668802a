package main

import (
	"flag"
	"os"
	"testing"

	"github.com/netdojo/netdojo/checker"
	"github.com/netdojo/netdojo/scenarios"
	"github.com/netdojo/netdojo/services"
)

var update = flag.Bool("update", false, "rewrite generated docs")

// TestGeneratedDocs keeps the generated files under docs/ in sync with the
// code they are generated from.
func TestGeneratedDocs(t *testing.T) {
	schema, err := scenarios.Schema(loadOptions(0))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"../../docs/scenario.schema.json": string(schema) + "\n",
		"../../docs/scenario-format.md":   scenarios.Reference(),
		"../../docs/services.md":          services.Reference(),
		"../../docs/adversarial.md":       checker.AdversarialReference(library(t)),
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
				t.Fatalf("%v (regenerate with: go test ./cmd/netdojo -run TestGeneratedDocs -update)", err)
			}
			if string(got) != want {
				t.Errorf("%s is stale; regenerate with: go test ./cmd/netdojo -run TestGeneratedDocs -update", path)
			}
		})
	}
}

// library loads every built-in scenario with its defaults.
func library(t *testing.T) []*scenarios.Scenario {
	var ss []*scenarios.Scenario
	for _, bi := range scenarios.Library() {
		s, err := scenarios.Load(bi.Path, bi.Data, loadOptions(0))
		if err != nil {
			t.Fatal(err)
		}
		ss = append(ss, s)
	}
	return ss
}
