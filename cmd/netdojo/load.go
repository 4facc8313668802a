package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/netdojo/netdojo/faults"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/scenarios"
	"github.com/netdojo/netdojo/services"
)

// loaded is a scenario with where it came from and its text.
type loaded struct {
	scenario *scenarios.Scenario
	source   string // file path or builtin:NAME
	data     []byte
}

// loadOptions are the registries every load checks kinds against.
func loadOptions(seed uint64) scenarios.Options {
	return scenarios.Options{Seed: seed, Services: services.Registry{}, Faults: faults.Registry{}}
}

// isFileArg tells a scenario file from a built-in scenario's name.
func isFileArg(arg string) bool {
	if strings.ContainsRune(arg, os.PathSeparator) || strings.HasSuffix(arg, ".yaml") || strings.HasSuffix(arg, ".yml") {
		return true
	}
	_, err := os.Stat(arg)
	return err == nil
}

// loadScenario loads a scenario file or a built-in scenario. A bad file is
// a usage error (exit 2) that lists every problem.
func loadScenario(arg string, seed uint64) (*loaded, error) {
	var (
		data   []byte
		source string
		name   string
	)
	if isFileArg(arg) {
		b, err := scenarios.ReadFile(arg)
		if err != nil {
			return nil, withCode(exitUsage, err)
		}
		data, source, name = b, arg, arg
	} else {
		b, err := scenarios.LookupBuiltin(arg)
		if err != nil {
			return nil, withCode(exitUsage, err)
		}
		data, source, name = b.Data, "builtin:"+b.Name, filepath.Join("scenarios", b.Path)
	}
	s, err := scenarios.Load(name, data, loadOptions(seed))
	if err != nil {
		var ps scenarios.Problems
		if errors.As(err, &ps) {
			return nil, withCode(exitUsage, err)
		}
		return nil, err
	}
	return &loaded{scenario: s, source: source, data: data}, nil
}

// labScenario reloads the scenario a running lab was started from.
func labScenario(lab *sandbox.Lab) (*scenarios.Scenario, error) {
	data, err := lab.ReadFile(sandbox.ScenarioFile, scenarios.MaxFileBytes)
	if err != nil {
		return nil, err
	}
	return scenarios.Load(lab.State.Source, data, loadOptions(lab.State.Seed))
}
