package faults

import (
	"context"
	"fmt"
	"reflect"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/scenarios"
)

// Applied is a fault resolved against a scenario: its kind, host and
// checked parameters.
type Applied struct {
	Name   string // the scenario's name for it, or the kind
	Kind   *Kind
	Host   string
	Params Params
}

// Resolve makes the scenario's fault i ready to apply, with its own copy
// of the parameters the plan decoded and checked at load: each Resolve of
// one fault is independent of the others.
func Resolve(s *scenarios.Scenario, i int) (*Applied, error) {
	f := s.Faults[i]
	k, ok := Lookup(f.Kind)
	if !ok {
		return nil, fmt.Errorf("unknown fault kind %q; 'netdojo faults' lists them", f.Kind)
	}
	if f.Params == nil {
		return nil, fmt.Errorf("fault %q of scenario %q has no checked parameters; load the scenario with faults.Registry", f.Name, s.Name)
	}
	return resolve(f.Name, k, f.Host, f.Params)
}

// New makes an Applied from a kind name and its checked parameters (such
// as scenarios.ParseParams gives for faults injected by hand, or a drill's
// plan holds); the Applied gets its own copy of them. nil params are the
// kind's defaults.
func New(kind, host string, params any) (*Applied, error) {
	k, ok := Lookup(kind)
	if !ok {
		return nil, fmt.Errorf("unknown fault kind %q; 'netdojo faults' lists them", kind)
	}
	return resolve(kind, k, host, params)
}

func resolve(name string, k *Kind, host string, params any) (*Applied, error) {
	if name == "" {
		name = k.Name
	}
	if k.NeedsHost && host == "" {
		return nil, fmt.Errorf("fault %q needs a host", k.Name)
	}
	p := k.NewParams()
	if params == nil {
		if err := p.Check(); err != nil {
			return nil, fmt.Errorf("fault %q: params: %w", k.Name, err)
		}
	} else {
		c, ok := scenarios.CopyParams(params).(Params)
		if !ok || reflect.TypeOf(c) != reflect.TypeOf(p) {
			return nil, fmt.Errorf("fault %q: parameters %T are not those of its kind (%T)", k.Name, params, p)
		}
		p = c
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
