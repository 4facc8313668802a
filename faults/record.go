package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/scenarios"
)

// RecordFile is the file, in the lab's directory, that records the faults
// injected into a running lab, so that revert undoes exactly what was done.
const RecordFile = "faults.json"

// maxRecordBytes bounds the record, which is read as untrusted input.
const maxRecordBytes = 16 << 20

// Origins of a recorded fault.
const (
	OriginInject   = "inject"   // injected by hand (netdojo inject)
	OriginScenario = "scenario" // applied at start from the scenario
)

// Injected is the record of one fault applied to a running lab: its kind,
// host and checked parameters.
type Injected struct {
	Name   string          `json:"name"`
	Kind   string          `json:"kind"`
	Host   string          `json:"host,omitempty"`
	Params json.RawMessage `json:"params"`
	Origin string          `json:"origin"`
	At     time.Time       `json:"at"`
}

// Applied rebuilds the fault from its record: the parameters are decoded
// strictly into the kind's type and checked again, which restores the
// defaults and derived values.
func (r *Injected) Applied() (*Applied, error) {
	k, ok := Lookup(r.Kind)
	if !ok {
		return nil, fmt.Errorf("recorded fault %q has unknown kind %q", r.Name, r.Kind)
	}
	p := k.NewParams()
	if len(bytes.TrimSpace(r.Params)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(r.Params))
		dec.DisallowUnknownFields()
		if err := dec.Decode(p); err != nil {
			return nil, fmt.Errorf("decoding the recorded parameters of fault %q: %w", r.Name, err)
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("decoding the recorded parameters of fault %q: trailing data", r.Name)
		}
	}
	if err := p.Check(); err != nil {
		return nil, fmt.Errorf("recorded fault %q: params: %w", r.Name, err)
	}
	return &Applied{Name: r.Name, Kind: k, Host: r.Host, Params: p}, nil
}

func recordPath(lab *sandbox.Lab) string { return filepath.Join(lab.Dir(), RecordFile) }

// Records lists the faults recorded as applied to the lab, oldest first.
func Records(lab *sandbox.Lab) ([]Injected, error) {
	data, err := lab.ReadFile(RecordFile, maxRecordBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the faults of lab %q: %w", lab.Name, err)
	}
	var rs []Injected
	if err := json.Unmarshal(data, &rs); err != nil {
		return nil, fmt.Errorf("reading %s: %w", recordPath(lab), err)
	}
	return rs, nil
}

// saveRecords writes the records atomically (a new file renamed over the
// old one; nothing mounts it).
func saveRecords(lab *sandbox.Lab, rs []Injected) error {
	if rs == nil {
		rs = []Injected{}
	}
	data, err := json.MarshalIndent(rs, "", "  ")
	if err != nil {
		return err
	}
	path := recordPath(lab)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("recording the faults of lab %q: %w", lab.Name, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return errors.Join(fmt.Errorf("recording the faults of lab %q: %w", lab.Name, err), os.Remove(tmp))
	}
	return nil
}

// RecordApplied adds an applied fault to the lab's record. ApplyAll's
// caller may use it with OriginScenario so that scenario faults are
// recorded with their parameters too.
func RecordApplied(lab *sandbox.Lab, a *Applied, origin string) error {
	rs, err := Records(lab)
	if err != nil {
		return err
	}
	params, err := json.Marshal(a.Params)
	if err != nil {
		return fmt.Errorf("encoding the parameters of fault %q: %w", a.Name, err)
	}
	rs = append(rs, Injected{Name: a.Name, Kind: a.Kind.Name, Host: a.Host, Params: params, Origin: origin, At: time.Now().UTC()})
	return saveRecords(lab, rs)
}

// activeNames are the names of the faults applied to the lab: recorded,
// and applied at start from the scenario.
func activeNames(lab *sandbox.Lab, rs []Injected) []string {
	var names []string
	for _, r := range rs {
		names = append(names, r.Name)
	}
	for _, n := range lab.State.Faults {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// Inject applies a fault to a running lab and records it. name defaults to
// the kind and must not already be applied. A fault whose Apply fails is
// reverted, so that a failed injection leaves the lab as it was.
func Inject(ctx context.Context, lab *sandbox.Lab, s *scenarios.Scenario, name, kind, host string, params any) (*Applied, error) {
	a, err := New(kind, host, params)
	if err != nil {
		return nil, err
	}
	if name != "" {
		a.Name = name
	}
	if host != "" && s.Host(host) == nil {
		var hosts []string
		for _, h := range s.Hosts {
			hosts = append(hosts, h.Name)
		}
		return nil, fmt.Errorf("lab %q has no host %q; its hosts are: %s", lab.Name, host, strings.Join(hosts, ", "))
	}
	rs, err := Records(lab)
	if err != nil {
		return nil, err
	}
	if slices.Contains(activeNames(lab, rs), a.Name) {
		return nil, fmt.Errorf("lab %q already has a fault named %q; revert it with 'netdojo revert %s %s' or give another --name", lab.Name, a.Name, lab.Name, a.Name)
	}
	if err := a.Apply(ctx, lab, s); err != nil {
		if rerr := a.Revert(context.WithoutCancel(ctx), lab, s); rerr != nil {
			return nil, errors.Join(err, fmt.Errorf("undoing the failed injection: %w", rerr))
		}
		return nil, err
	}
	if err := RecordApplied(lab, a, OriginInject); err != nil {
		return a, errors.Join(err, a.Revert(context.WithoutCancel(ctx), lab, s))
	}
	// The lab's state names it too, so 'netdojo status' lists it.
	lab.State.Faults = append(lab.State.Faults, a.Name)
	return a, lab.Save()
}

// RevertByName reverts a fault applied to the lab, found by its name or,
// when only one fault of that kind is applied, by its kind; and forgets
// it. Faults recorded by Inject or RecordApplied are rebuilt from their
// record; faults applied at start and only named in the lab's state are
// resolved again from the scenario, which gives the same parameters for
// the same seed.
func RevertByName(ctx context.Context, lab *sandbox.Lab, s *scenarios.Scenario, name string) (*Applied, error) {
	rs, err := Records(lab)
	if err != nil {
		return nil, err
	}
	idx := slices.IndexFunc(rs, func(r Injected) bool { return r.Name == name })
	if idx < 0 {
		var byKind []int
		for i, r := range rs {
			if r.Kind == name {
				byKind = append(byKind, i)
			}
		}
		switch {
		case len(byKind) == 1:
			idx = byKind[0]
		case len(byKind) > 1:
			var names []string
			for _, i := range byKind {
				names = append(names, rs[i].Name)
			}
			return nil, fmt.Errorf("lab %q has %d faults of kind %q (%s); revert one by its name", lab.Name, len(byKind), name, strings.Join(names, ", "))
		}
	}
	var a *Applied
	if idx >= 0 {
		if a, err = rs[idx].Applied(); err != nil {
			return nil, err
		}
	} else if a, err = scenarioFault(lab, s, name); err != nil {
		return nil, err
	}
	if err := a.Revert(ctx, lab, s); err != nil {
		return nil, err
	}
	var errs []error
	if idx >= 0 {
		rs = slices.Delete(rs, idx, idx+1)
		errs = append(errs, saveRecords(lab, rs))
	}
	if i := slices.Index(lab.State.Faults, a.Name); i >= 0 {
		lab.State.Faults = slices.Delete(lab.State.Faults, i, i+1)
		errs = append(errs, lab.Save())
	}
	return a, errors.Join(errs...)
}

// scenarioFault resolves a fault the lab applied at start, by name or kind.
func scenarioFault(lab *sandbox.Lab, s *scenarios.Scenario, name string) (*Applied, error) {
	var matches []*Applied
	for i := range s.Faults {
		a, err := Resolve(s, i)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(lab.State.Faults, a.Name) {
			continue
		}
		if a.Name == name {
			return a, nil
		}
		if a.Kind.Name == name {
			matches = append(matches, a)
		}
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
	default:
		return nil, fmt.Errorf("lab %q has %d faults of kind %q from its scenario; revert one by its name", lab.Name, len(matches), name)
	}
	rs, _ := Records(lab)
	active := activeNames(lab, rs)
	if len(active) == 0 {
		return nil, fmt.Errorf("lab %q has no fault applied; 'netdojo inject' adds one", lab.Name)
	}
	return nil, fmt.Errorf("lab %q has no fault %q applied; applied: %s", lab.Name, name, strings.Join(active, ", "))
}
