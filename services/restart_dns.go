package services

import (
	"context"
	"fmt"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/scenarios"
)

// ScenarioParams decodes and checks the parameters a scenario gives the
// service NAME on HOST, and returns its kind with them.
func ScenarioParams(s *scenarios.Scenario, host, name string) (*Kind, Params, error) {
	h := s.Host(host)
	if h == nil {
		return nil, nil, fmt.Errorf("scenario %q has no host %q", s.Name, host)
	}
	for _, svc := range h.Services {
		if svc.Name == name {
			return Decode(s.File, host, svc)
		}
	}
	return nil, nil, fmt.Errorf("host %q runs no service %q", host, name)
}

// RunningParams returns the parameters the running service process NAME on
// HOST was started with (its configuration file, see Config), decoded and
// checked. It fails when the process is not running.
func RunningParams(lab *sandbox.Lab, host, name, kind string) (Params, error) {
	p, ok := findProcess(lab, host, name)
	if !ok || !p.Alive() {
		return nil, fmt.Errorf("service %q on host %q is not running", name, host)
	}
	cfg, err := readConfig("@" + configPath(lab.Dir(), host, name))
	if err != nil {
		return nil, fmt.Errorf("service %q on host %q: %w", name, host, err)
	}
	if cfg.Kind != kind {
		return nil, fmt.Errorf("process %d of service %q on host %q is not a %s service", p.PID, name, host, kind)
	}
	return DecodeParams(kind, cfg.Params)
}

// Restart stops the service process NAME on HOST (lab.StopProcess) and
// starts it again, as StartAll does, with parameters p; it returns once the
// service is ready. Faults use it to restart a dns server with a fault mode
// added, or kube-proxy with other services.
func Restart(ctx context.Context, lab *sandbox.Lab, host, name, kind string, p Params) error {
	k, ok := Lookup(kind)
	if !ok {
		return fmt.Errorf("unknown service kind %q; known kinds: %v", kind, Names())
	}
	if err := p.Check(); err != nil {
		return fmt.Errorf("service %q on host %q: %w", name, host, err)
	}
	if _, ok := findProcess(lab, host, name); ok {
		if err := lab.StopProcess(host, name); err != nil {
			return fmt.Errorf("stopping service %q on host %q: %w", name, host, err)
		}
	}
	_, err := Run(ctx, lab, host, name, k, p)
	return err
}

func findProcess(lab *sandbox.Lab, host, name string) (sandbox.Process, bool) {
	for _, p := range lab.State.Processes {
		if p.Host == host && p.Name == name {
			return p, true
		}
	}
	return sandbox.Process{}, false
}
