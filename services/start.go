package services

import (
	"context"
	"os"
	"strings"
	"time"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/scenarios"
)

// ServiceCommand is the hidden netdojo subcommand that runs a service; its
// arguments are KIND PARAMS_JSON (see Main).
const ServiceCommand = "__service"

// ReadyTimeout bounds how long a service may take to become ready.
const ReadyTimeout = 10 * time.Second

// Registry adapts the service table to what the scenario loader checks
// kinds and parameters against.
type Registry struct{}

// Params implements scenarios.Registry.
func (Registry) Params(kind string) (any, bool) {
	k, ok := Lookup(kind)
	if !ok {
		return nil, false
	}
	return k.NewParams(), true
}

// Kinds implements scenarios.Registry.
func (Registry) Kinds() []string { return Names() }

// StartAll starts every service the scenario declares, each as its own
// process inside its host (the netdojo binary re-executed, recorded in the
// lab's state so stop ends it), and waits until each is ready. A service
// that is not ready in time fails the start with the end of its log.
func StartAll(ctx context.Context, lab *sandbox.Lab, s *scenarios.Scenario) error {
	type started struct {
		host string
		name string
		kind *Kind
		p    Params
		proc sandbox.Process
	}
	// All are launched first, so that they come up side by side.
	var all []started
	for _, h := range s.Hosts {
		for _, svc := range h.Services {
			kind, p, err := Decode(s.File, h.Name, svc)
			if err != nil {
				return err
			}
			proc, err := Launch(lab, h.Name, svc.Name, svc.Kind, p)
			if err != nil {
				return err
			}
			all = append(all, started{h.Name, svc.Name, kind, p, proc})
		}
	}
	for _, st := range all {
		if err := WaitReady(ctx, lab, st.host, st.name, st.kind, st.p, st.proc); err != nil {
			return err
		}
	}
	return nil
}

// logTail is the end of a service's log, for an error message.
func logTail(p sandbox.Process) string {
	data, err := os.ReadFile(p.Log)
	if err != nil || len(data) == 0 {
		if !p.Alive() {
			return "; the process has exited"
		}
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return "; its log ends:\n  " + strings.Join(lines, "\n  ")
}
