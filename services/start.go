package services

import (
	"context"
	"encoding/json"
	"fmt"
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
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the netdojo binary: %w", err)
	}
	type started struct {
		host string
		svc  scenarios.Service
		kind *Kind
		p    Params
		proc sandbox.Process
	}
	var all []started
	for _, h := range s.Hosts {
		for _, svc := range h.Services {
			kind, ok := Lookup(svc.Kind)
			if !ok {
				return fmt.Errorf("host %q: unknown service kind %q", h.Name, svc.Kind)
			}
			p := kind.NewParams()
			if err := scenarios.DecodeParams(s.File, fmt.Sprintf("hosts.%s.services.%s.params", h.Name, svc.Name), &svc.Params, p); err != nil {
				return err
			}
			data, err := json.Marshal(p)
			if err != nil {
				return fmt.Errorf("encoding parameters of service %q: %w", svc.Name, err)
			}
			proc, err := lab.Spawn(h.Name, svc.Name, self, ServiceCommand, svc.Kind, string(data))
			if err != nil {
				return err
			}
			all = append(all, started{h.Name, svc, kind, p, proc})
		}
	}
	for _, st := range all {
		t, err := lab.Host(st.host)
		if err != nil {
			return err
		}
		rctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
		err = st.kind.Ready(rctx, t, st.p)
		cancel()
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return fmt.Errorf("starting service %q on host %q: %w", st.svc.Name, st.host, cerr)
			}
			return fmt.Errorf("service %q (%s) on host %q is not ready: %w%s", st.svc.Name, st.svc.Kind, st.host, err, logTail(st.proc))
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
