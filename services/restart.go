package services

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"time"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/scenarios"
)

// Decode returns a scenario service's kind and its parameters: a copy of
// those the plan holds, decoded and checked when the scenario loaded, the
// caller's to change. file and host name the service in errors.
func Decode(file, host string, svc scenarios.Service) (*Kind, Params, error) {
	kind, ok := Lookup(svc.Kind)
	if !ok {
		return nil, nil, fmt.Errorf("host %q: unknown service kind %q", host, svc.Kind)
	}
	p, ok := svc.ParamsCopy().(Params)
	if !ok || p == nil {
		return nil, nil, fmt.Errorf("%s: service %q on host %q has no checked parameters; load the scenario with services.Registry", file, svc.Name, host)
	}
	if want := kind.NewParams(); reflect.TypeOf(p) != reflect.TypeOf(want) {
		return nil, nil, fmt.Errorf("%s: service %q on host %q: parameters %T are not those of a %s service", file, svc.Name, host, p, svc.Kind)
	}
	return kind, p, nil
}

// Launch starts one service process of a kind inside a host, recorded in
// the lab's state under name (so StopProcess and stop end it), without
// waiting for it to be ready. Its configuration goes to a file of the lab's
// directory (see Config), not on its command line.
func Launch(lab *sandbox.Lab, host, name, kind string, p Params) (sandbox.Process, error) {
	self, err := os.Executable()
	if err != nil {
		return sandbox.Process{}, fmt.Errorf("finding the netdojo binary: %w", err)
	}
	data, err := json.Marshal(p)
	if err != nil {
		return sandbox.Process{}, fmt.Errorf("encoding parameters of service %q: %w", name, err)
	}
	path := configPath(lab.Dir(), host, name)
	if err := writeConfig(path, Config{Kind: kind, Process: ProcessNameFor(p, name), Params: data}); err != nil {
		return sandbox.Process{}, fmt.Errorf("service %q on host %q: %w", name, host, err)
	}
	return lab.Spawn(host, name, self, ServiceCommand, kind, "@"+path)
}

// WaitReady waits until a launched service answers its health check, or
// fails with the end of its log.
func WaitReady(ctx context.Context, lab *sandbox.Lab, host, name string, kind *Kind, p Params, proc sandbox.Process) error {
	t, err := lab.Host(host)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
	defer cancel()
	// A service that exits (an address already in use, bad parameters)
	// will never be ready: stop waiting as soon as it is gone.
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		for proc.Alive() {
			select {
			case <-rctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
		cancel()
	}()
	// Ready when the kind's own health check answers, or, for a service
	// that listens, as soon as its process holds the listening socket:
	// a firewall may block the health check's connection.
	errc := make(chan error, 2)
	checks := 1
	go func() { errc <- kind.Ready(rctx, t, p) }()
	if proto := listenProto(kind.Name, p); proto != "" && proc.PID > 0 {
		checks++
		go func() { errc <- ownedListenerReady(rctx, t, kind.Name, proc.PID, proc.Runs, proto) }()
	}
	for i := 0; i < checks; i++ {
		if err = <-errc; err == nil {
			break
		}
	}
	cancel()
	<-exited
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("starting service %q on host %q: %w", name, host, cerr)
		}
		return fmt.Errorf("service %q (%s) on host %q is not ready: %w%s", name, kind.Name, host, err, logTail(proc))
	}
	return nil
}

// Run launches a service process and waits until it is ready.
func Run(ctx context.Context, lab *sandbox.Lab, host, name string, kind *Kind, p Params) (sandbox.Process, error) {
	proc, err := Launch(lab, host, name, kind.Name, p)
	if err != nil {
		return proc, err
	}
	return proc, WaitReady(ctx, lab, host, name, kind, p, proc)
}

// Start starts one of the scenario's services again, as StartAll does, and
// waits until it is ready. A fault that stopped the service uses it to
// restore it.
func Start(ctx context.Context, lab *sandbox.Lab, host string, svc scenarios.Service) error {
	kind, p, err := Decode("scenario", host, svc)
	if err != nil {
		return err
	}
	_, err = Run(ctx, lab, host, svc.Name, kind, p)
	return err
}
