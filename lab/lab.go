// Package lab owns the lifecycle of a running lab: it starts one from a
// scenario (the sandbox's network, then the services, the setup steps and
// the faults, in that order, then the baseline of its processes), runs
// steps and service actions in it, injects and reverts faults, judges the
// scenario's faults for the checker, and stops it.
//
// It is where a reader follows a lab's start from top to bottom. It never
// judges a task or an answer (that is the checker's, which asks lab only
// whether a fault is cleared), never imports the checker, never switches
// namespaces (that is the sandbox's: everything here runs through a
// *sandbox.Lab) and keeps nothing in memory that a later command needs: a
// running lab is its sandbox state and its directory.
package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/netdojo/netdojo/faults"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/scenarios"
	"github.com/netdojo/netdojo/services"
)

// BaselineFile, in a lab's directory, records the lab's processes as they
// were once the lab was started and broken: what the checker's
// same_process judgement compares (checker.BaselineFile names it there).
const BaselineFile = "baseline.json"

// Start builds a lab of the scenario with its services and, when
// withFaults, its faults: what `netdojo start` builds. In order, once the
// sandbox has built the network: every service is started and ready, each
// host's setup steps run, the faults are injected, and the lab's processes
// are recorded as its baseline. Any error rolls the whole lab back.
func Start(ctx context.Context, s *scenarios.Scenario, opts sandbox.Options, withFaults bool) (*sandbox.Lab, error) {
	opts.AfterNetwork = func(ctx context.Context, lab *sandbox.Lab) error {
		if err := services.StartAll(ctx, lab, s); err != nil {
			return err
		}
		if err := setup(ctx, lab, s); err != nil {
			return err
		}
		if withFaults {
			if err := faults.ApplyAll(ctx, lab, s); err != nil {
				return err
			}
		}
		return saveBaseline(lab)
	}
	return sandbox.Start(ctx, s, opts)
}

// setup runs each host's setup commands, in order.
func setup(ctx context.Context, lab *sandbox.Lab, s *scenarios.Scenario) error {
	for _, h := range s.Hosts {
		for _, cmd := range h.Setup {
			if out, err := RunStep(ctx, lab, scenarios.Step{Host: h.Name, Run: cmd}); err != nil {
				return fmt.Errorf("setup of host %q: %q: %w: %s", h.Name, cmd, err, strings.TrimSpace(out))
			}
		}
	}
	return nil
}

func saveBaseline(lab *sandbox.Lab) error {
	data, err := json.MarshalIndent(lab.State.Processes, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(lab.Dir(), BaselineFile), data, 0o644); err != nil {
		return fmt.Errorf("recording the lab's processes at start: %w", err)
	}
	return nil
}

// Stop removes a lab: its processes, namespaces, links and files
// (sandbox.Stop).
func Stop(store sandbox.Store, name string) error {
	return sandbox.Stop(store, name)
}
