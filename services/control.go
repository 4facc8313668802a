package services

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/scenarios"
)

// What services lets another package (faults) do to a lab's services
// without naming a kind's parameter type: find a scenario service and
// where it listens, stop and start it, start it listening elsewhere or
// answering slowly, change the faults a dns server answers with, and the
// endpoints kube-proxy balances to. The parameter types stay here.

// Endpoint is where a service listens, read from its checked parameters.
type Endpoint struct {
	Port   int    // 0 when the kind has no port
	Listen string // "" for every address
	Proto  string // "tcp" unless the kind says otherwise
}

// Service is one service of a scenario's host, with its parameters
// decoded and checked.
type Service struct {
	Host string
	Decl scenarios.Service // as the scenario declares it
	kind *Kind
	p    Params
}

// Find decodes the service NAME that the scenario gives HOST.
func Find(s *scenarios.Scenario, host, name string) (*Service, error) {
	k, p, err := ScenarioParams(s, host, name)
	if err != nil {
		return nil, err
	}
	h := s.Host(host)
	i := slices.IndexFunc(h.Services, func(svc scenarios.Service) bool { return svc.Name == name })
	return &Service{Host: host, Decl: h.Services[i], kind: k, p: p}, nil
}

// Declared decodes one service declared on a host of the scenario file.
func Declared(file, host string, svc scenarios.Service) (*Service, error) {
	k, p, err := Decode(file, host, svc)
	if err != nil {
		return nil, err
	}
	return &Service{Host: host, Decl: svc, kind: k, p: p}, nil
}

// Kind is the service's kind name, such as "http".
func (v *Service) Kind() string { return v.kind.Name }

// Endpoint reads the Port, Listen and Protocol of the service's
// parameters.
func (v *Service) Endpoint() Endpoint {
	return endpointOf(v.p)
}

func endpointOf(p Params) Endpoint {
	ep := Endpoint{Proto: "tcp"}
	val := reflect.ValueOf(p).Elem()
	if f := val.FieldByName("Port"); f.IsValid() && f.Kind() == reflect.Int {
		ep.Port = int(f.Int())
	}
	if f := val.FieldByName("Listen"); f.IsValid() && f.Kind() == reflect.String {
		ep.Listen = f.String()
	}
	if f := val.FieldByName("Protocol"); f.IsValid() && f.Kind() == reflect.String && f.String() != "" {
		ep.Proto = f.String()
	}
	return ep
}

// Start starts the service as the scenario declares it and waits until
// it is ready.
func (v *Service) Start(ctx context.Context, lab *sandbox.Lab) error {
	return Start(ctx, lab, v.Host, v.Decl)
}

// Run starts the service with its parameters (changed ones, after
// ListeningOn or Delayed) and waits until it is ready.
func (v *Service) Run(ctx context.Context, lab *sandbox.Lab) error {
	_, err := Run(ctx, lab, v.Host, v.Decl.Name, v.kind, v.p)
	return err
}

// Launch starts the service's process without waiting for it to be ready.
func (v *Service) Launch(lab *sandbox.Lab) (sandbox.Process, error) {
	return Launch(lab, v.Host, v.Decl.Name, v.Decl.Kind, v.p)
}

// Restart stops the service's process, if it runs, and runs it again with
// the service's parameters.
func (v *Service) Restart(ctx context.Context, lab *sandbox.Lab) error {
	return Restart(ctx, lab, v.Host, v.Decl.Name, v.kind.Name, v.p)
}

// ListeningOn is the service with its listen address changed; false when
// its kind has no listen parameter.
func (v *Service) ListeningOn(addr string) (*Service, bool) {
	c := v.clone()
	f := reflect.ValueOf(c.p).Elem().FieldByName("Listen")
	if !f.IsValid() || f.Kind() != reflect.String {
		return nil, false
	}
	f.SetString(addr)
	return c, true
}

// Delayed is an http service that waits delay before each answer; false
// for another kind.
func (v *Service) Delayed(delay string) (*Service, bool) {
	c := v.clone()
	hp, ok := c.p.(*HTTPParams)
	if !ok {
		return nil, false
	}
	hp.Delay = delay
	return c, true
}

// ProxyBackend is a proxy service's backend (IP:port); false for another
// kind.
func (v *Service) ProxyBackend() (string, bool) {
	pp, ok := v.p.(*ProxyParams)
	if !ok {
		return "", false
	}
	return pp.Backend, true
}

// ChurnerTarget is where a churner service connects (IP:port); false for
// another kind.
func (v *Service) ChurnerTarget() (string, bool) {
	cp, ok := v.p.(*ChurnerParams)
	if !ok {
		return "", false
	}
	return cp.Target, true
}

// clone copies the service with a shallow copy of its parameters.
func (v *Service) clone() *Service {
	c := *v
	pv := reflect.New(reflect.TypeOf(v.p).Elem())
	pv.Elem().Set(reflect.ValueOf(v.p).Elem())
	c.p = pv.Interface().(Params)
	return &c
}

// DNSZones are the origins of the zones the scenario gives the dns
// service NAME on HOST.
func DNSZones(s *scenarios.Scenario, host, name string) ([]string, error) {
	p, err := scenarioDNS(s, host, name)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, z := range p.Zones {
		out = append(out, z.Origin)
	}
	return out, nil
}

func scenarioDNS(s *scenarios.Scenario, host, name string) (*DNSParams, error) {
	_, p, err := ScenarioParams(s, host, name)
	if err != nil {
		return nil, err
	}
	dp, ok := p.(*DNSParams)
	if !ok {
		return nil, fmt.Errorf("service %q on host %q is not a dns service", name, host)
	}
	return dp, nil
}

// RunningDNSFaults are the faults the running dns service NAME on HOST
// answers with; an error when it does not run (or is no dns service).
func RunningDNSFaults(lab *sandbox.Lab, host, name string) ([]DNSFault, error) {
	p, err := RunningParams(lab, host, name, "dns")
	if err != nil {
		return nil, err
	}
	return p.(*DNSParams).Faults, nil
}

// currentDNS are the parameters the dns service runs with now (so that
// faults stack), or the scenario's when it is not running.
func currentDNS(lab *sandbox.Lab, s *scenarios.Scenario, host, name string) (*DNSParams, error) {
	if p, err := RunningParams(lab, host, name, "dns"); err == nil {
		return p.(*DNSParams), nil
	}
	return scenarioDNS(s, host, name)
}

// AddDNSFaults restarts the dns service NAME on HOST with faults put
// before the ones it answers with now (faults are checked in order and
// the first match wins).
func AddDNSFaults(ctx context.Context, lab *sandbox.Lab, s *scenarios.Scenario, host, name string, faults []DNSFault) error {
	p, err := currentDNS(lab, s, host, name)
	if err != nil {
		return err
	}
	p.Faults = append(slices.Clone(faults), p.Faults...)
	return Restart(ctx, lab, host, name, "dns", p)
}

// RemoveDNSFaults restarts the dns service NAME on HOST without faults;
// it does nothing when none of them is there (never added, or repaired).
func RemoveDNSFaults(ctx context.Context, lab *sandbox.Lab, s *scenarios.Scenario, host, name string, faults []DNSFault) error {
	p, err := currentDNS(lab, s, host, name)
	if err != nil {
		return err
	}
	removed := false
	for _, f := range faults {
		i := slices.IndexFunc(p.Faults, func(g DNSFault) bool { return reflect.DeepEqual(f, g) })
		if i >= 0 {
			p.Faults = slices.Delete(p.Faults, i, i+1)
			removed = true
		}
	}
	if !removed {
		return nil
	}
	return Restart(ctx, lab, host, name, "dns", p)
}

// kubeProxy are the parameters kube-proxy NAME on HOST runs with now (the
// scenario's when it is not running), or the scenario's.
func kubeProxy(lab *sandbox.Lab, s *scenarios.Scenario, host, name string, running bool) (*KubeProxyParams, error) {
	_, op, err := ScenarioParams(s, host, name)
	if err != nil {
		return nil, err
	}
	orig, ok := op.(*KubeProxyParams)
	if !ok {
		return nil, fmt.Errorf("service %q on host %q is not a kube-proxy service", name, host)
	}
	if !running {
		return orig, nil
	}
	if rp, err := RunningParams(lab, host, name, "kube-proxy"); err == nil {
		return rp.(*KubeProxyParams), nil
	}
	return orig, nil
}

// KubeServices are the services of kube-proxy NAME on HOST: as it runs
// now (the scenario's when it is not running), or as the scenario
// configures them.
func KubeServices(lab *sandbox.Lab, s *scenarios.Scenario, host, name string, running bool) ([]KubeService, error) {
	p, err := kubeProxy(lab, s, host, name, running)
	if err != nil {
		return nil, err
	}
	return p.Services, nil
}

// SetKubeEndpoints restarts kube-proxy NAME on HOST with the endpoints of
// its service SVC set, its other services as it runs them now.
func SetKubeEndpoints(ctx context.Context, lab *sandbox.Lab, s *scenarios.Scenario, host, name, svc string, endpoints []string) error {
	p, err := kubeProxy(lab, s, host, name, true)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(p.Services, func(k KubeService) bool { return k.Name == svc })
	if i < 0 {
		return fmt.Errorf("kube-proxy %q on host %q has no service %q", name, host, svc)
	}
	p.Services[i].Endpoints = endpoints
	return Restart(ctx, lab, host, name, "kube-proxy", p)
}

// RunHelper starts one of the helper processes faults use (squatter,
// churner, backlog, close-wait-leaker, delayer) under name on host, with
// its parameters given as a mapping of their YAML names, checked, and
// waits until it is ready.
func RunHelper(ctx context.Context, lab *sandbox.Lab, host, name, kind string, params map[string]any) error {
	k, ok := Lookup(kind)
	if !ok {
		return fmt.Errorf("unknown service kind %q; known kinds: %v", kind, Names())
	}
	p, err := helperParams(k, params)
	if err != nil {
		return err
	}
	_, err = Run(ctx, lab, host, name, k, p)
	return err
}

// helperParams makes a kind's parameters from a mapping of their JSON
// names, rejecting unknown ones, and checks them.
func helperParams(k *Kind, params map[string]any) (Params, error) {
	data, err := json.Marshal(params)
	if err != nil {
		return nil, err
	}
	p := k.NewParams()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(p); err != nil {
		return nil, fmt.Errorf("decoding %s parameters: %w", k.Name, err)
	}
	if err := p.Check(); err != nil {
		return nil, err
	}
	return p, nil
}
