package faults

import (
	"context"
	"fmt"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/scenarios"
	"go.yaml.in/yaml/v3"
)

// Applied is a fault resolved against a scenario: its kind, host and
// checked parameters.
type Applied struct {
	Name   string // the scenario's name for it, or the kind
	Kind   *Kind
	Host   string
	Params Params
}

// Resolve decodes a scenario fault's parameters into its kind's type.
func Resolve(s *scenarios.Scenario, i int) (*Applied, error) {
	f := s.Faults[i]
	k, ok := Lookup(f.Kind)
	if !ok {
		return nil, fmt.Errorf("unknown fault kind %q; 'netdojo faults' lists them", f.Kind)
	}
	return resolve(s.File, fmt.Sprintf("faults[%d].params", i), f.Name, k, f.Host, &f.Params)
}

// New makes an Applied from a kind name and a params mapping, for faults
// injected by hand.
func New(kind, host string, params *yaml.Node) (*Applied, error) {
	k, ok := Lookup(kind)
	if !ok {
		return nil, fmt.Errorf("unknown fault kind %q; 'netdojo faults' lists them", kind)
	}
	return resolve("--param", "params", kind, k, host, params)
}

func resolve(file, path, name string, k *Kind, host string, params *yaml.Node) (*Applied, error) {
	if name == "" {
		name = k.Name
	}
	if k.NeedsHost && host == "" {
		return nil, fmt.Errorf("fault %q needs a host", k.Name)
	}
	p := k.NewParams()
	if err := scenarios.DecodeParams(file, path, params, p); err != nil {
		return nil, err
	}
	return &Applied{Name: name, Kind: k, Host: host, Params: p}, nil
}

// Env is the environment the fault acts in.
func (a *Applied) Env(lab *sandbox.Lab, s *scenarios.Scenario) *Env {
	return &Env{Lab: lab, Scenario: s, Host: a.Host}
}

// Apply breaks the lab.
func (a *Applied) Apply(ctx context.Context, lab *sandbox.Lab, s *scenarios.Scenario) error {
	if err := a.Kind.Apply(ctx, a.Env(lab, s), a.Params); err != nil {
		return fmt.Errorf("injecting fault %q (%s) on host %q: %w", a.Name, a.Kind.Name, a.Host, err)
	}
	return nil
}

// Revert undoes Apply.
func (a *Applied) Revert(ctx context.Context, lab *sandbox.Lab, s *scenarios.Scenario) error {
	if err := a.Kind.Revert(ctx, a.Env(lab, s), a.Params); err != nil {
		return fmt.Errorf("reverting fault %q (%s) on host %q: %w", a.Name, a.Kind.Name, a.Host, err)
	}
	return nil
}

// Observe returns nil when the fault's symptom is there.
func (a *Applied) Observe(ctx context.Context, lab *sandbox.Lab, s *scenarios.Scenario) error {
	return a.Kind.Observe(ctx, a.Env(lab, s), a.Params)
}

// Cleared returns nil when the fault's root cause is gone where the fault
// is; an error says what is still wrong there without giving the fix.
func (a *Applied) Cleared(ctx context.Context, lab *sandbox.Lab, s *scenarios.Scenario) error {
	if a.Kind.Cleared != nil {
		return a.Kind.Cleared(ctx, a.Env(lab, s), a.Params)
	}
	if a.Kind.Observe(ctx, a.Env(lab, s), a.Params) == nil {
		return fmt.Errorf("the fault's symptom is still there")
	}
	return nil
}

// ApplyAll injects every fault of the scenario, in order, and records
// their names in the lab's state.
func ApplyAll(ctx context.Context, lab *sandbox.Lab, s *scenarios.Scenario) error {
	for i := range s.Faults {
		a, err := Resolve(s, i)
		if err != nil {
			return err
		}
		if err := a.Apply(ctx, lab, s); err != nil {
			return err
		}
		if err := RecordApplied(lab, a, OriginScenario); err != nil {
			return err
		}
		lab.State.Faults = append(lab.State.Faults, a.Name)
	}
	if len(s.Faults) > 0 {
		return lab.Save()
	}
	return nil
}
