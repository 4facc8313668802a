package scenarios_test

import (
	"strings"
	"testing"

	"github.com/netdojo/netdojo/drill"
	"github.com/netdojo/netdojo/scenarios"
)

// FuzzLoadDrill: no drill file, however broken, panics the loader; a file
// it accepts has a lab, a limit and a timeline.
func FuzzLoadDrill(f *testing.F) {
	for _, b := range drill.Library() {
		f.Add(b.Data)
	}
	f.Add([]byte("apiVersion: netdojo/v1\nkind: Drill\nlab: {scenario: ''}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := scenarios.LoadDrill("f.yaml", data, drill.LoadOptions(1))
		if err != nil {
			return
		}
		if d.Lab == nil || d.Limit <= 0 || len(d.Timeline) == 0 && d.Raw.Timeline != nil {
			t.Fatalf("accepted a drill without lab, limit or timeline: %+v", d)
		}
		if _, err := scenarios.Load("f.yaml", data, drill.LoadOptions(1)); err != nil {
			t.Fatalf("a valid drill does not load as its lab: %v", err)
		}
	})
}

func TestAnEmptyLabScenarioIsAProblemNotAPanic(t *testing.T) {
	_, err := scenarios.LoadDrill("f.yaml", []byte("apiVersion: netdojo/v1\nkind: Drill\nmetadata: {name: x, title: x}\nlab: {scenario: ''}\nservice: {check: {ping: {from: a, to: b}}}\nlimit: 1m\ntimeline: [{id: a, at: 1s, message: {text: hi}}]\n"), drill.LoadOptions(0))
	if err == nil {
		t.Fatal("a drill with an empty lab scenario loaded")
	}
}

func TestAnEmptyPoolIsAProblemNotAPanic(t *testing.T) {
	_, err := scenarios.LoadDrill("f.yaml", []byte("apiVersion: netdojo/v1\nkind: Drill\nmetadata: {name: x, title: x}\nlab: {scenario: first-lab}\nservice: {check: {ping: {from: client, to: server}}}\nlimit: 1m\ntimeline: [{id: a, at: 1s, pool: {from: []}}]\n"), drill.LoadOptions(1))
	if err == nil || !strings.Contains(err.Error(), "draw 1 of 0 candidates") {
		t.Fatalf("an empty pool: %v", err)
	}
}
