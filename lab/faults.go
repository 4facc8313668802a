package lab

import (
	"context"
	"sync"

	"github.com/netdojo/netdojo/faults"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/scenarios"
)

// ApplyFaults injects every fault of the scenario into a running lab, in
// order, and records them (what Start does with withFaults).
func ApplyFaults(ctx context.Context, lab *sandbox.Lab, s *scenarios.Scenario) error {
	return faults.ApplyAll(ctx, lab, s)
}

// Inject applies a fault to a running lab and records it, so that Revert
// undoes exactly what was done (faults.Inject): `netdojo inject`. params
// are the kind's typed parameters (scenarios.ParseParams), nil for its
// defaults.
func Inject(ctx context.Context, lab *sandbox.Lab, s *scenarios.Scenario, name, kind, host string, params any) (*faults.Applied, error) {
	return faults.Inject(ctx, lab, s, name, kind, host, params)
}

// Revert undoes a fault applied to a running lab, by its name or kind, and
// forgets it (faults.RevertByName): `netdojo revert`.
func Revert(ctx context.Context, lab *sandbox.Lab, s *scenarios.Scenario, name string) (*faults.Applied, error) {
	return faults.RevertByName(ctx, lab, s, name)
}

// Faults judges the faults a scenario applies to a running lab: whether
// each one's symptom is there and whether its root cause is gone. It is
// what the checker asks when it judges a task that clears faults
// (checker.Faults). Each fault is resolved once, on first use; a Faults
// is safe for concurrent use.
type Faults struct {
	lab *sandbox.Lab
	s   *scenarios.Scenario

	once    sync.Once
	applied []*faults.Applied
	errs    []error
}

// NewFaults judges the faults of s on a running lab of it.
func NewFaults(lab *sandbox.Lab, s *scenarios.Scenario) *Faults {
	return &Faults{lab: lab, s: s}
}

// fault resolves the scenario's faults once and returns fault i.
func (f *Faults) fault(i int) (*faults.Applied, error) {
	f.once.Do(func() {
		f.applied = make([]*faults.Applied, len(f.s.Faults))
		f.errs = make([]error, len(f.s.Faults))
		for j := range f.s.Faults {
			f.applied[j], f.errs[j] = faults.Resolve(f.s, j)
		}
	})
	return f.applied[i], f.errs[i]
}

// Name is fault i's name in the scenario (its kind when it has none), or
// why the fault does not resolve.
func (f *Faults) Name(i int) (string, error) {
	a, err := f.fault(i)
	if err != nil {
		return "", err
	}
	return a.Name, nil
}

// Observe returns nil when fault i's documented symptom is there.
func (f *Faults) Observe(ctx context.Context, i int) error {
	a, err := f.fault(i)
	if err != nil {
		return err
	}
	return a.Observe(ctx, f.lab, f.s)
}

// Cleared returns nil when fault i's root cause is gone where the fault
// is; an error says what is still wrong there, never the fix.
func (f *Faults) Cleared(ctx context.Context, i int) error {
	a, err := f.fault(i)
	if err != nil {
		return err
	}
	return a.Cleared(ctx, f.lab, f.s)
}
