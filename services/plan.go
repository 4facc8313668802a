package services

import "github.com/netdojo/netdojo/scenarios"

// The facts a scenario's service parameters give the checker, through the
// small interfaces the plan declares (scenarios.HTTPResponder, DNSServer,
// ServiceVIPs), so that the checker never names a parameter type of this
// package.

// HTTPPort implements scenarios.HTTPResponder.
func (p *HTTPParams) HTTPPort() int { return p.Port }

// HTTPBody implements scenarios.HTTPResponder: /health answers "ok" and a
// newline whatever the body; every other path the configured body, or
// body_size bytes of filler.
func (p *HTTPParams) HTTPBody(path string) (string, int) {
	if path == "/health" {
		return "ok\n", 0
	}
	return p.Body, p.BodySize
}

// DNSZones implements scenarios.DNSServer.
func (p *DNSParams) DNSZones() []scenarios.Zone {
	out := make([]scenarios.Zone, 0, len(p.Zones))
	for _, z := range p.Zones {
		out = append(out, scenarios.Zone{Origin: z.Origin, Records: append([]string(nil), z.Records...)})
	}
	return out
}

// VirtualServices implements scenarios.ServiceVIPs.
func (p *KubeProxyParams) VirtualServices() []scenarios.VirtualService {
	out := make([]scenarios.VirtualService, 0, len(p.Services))
	for _, s := range p.Services {
		out = append(out, scenarios.VirtualService{VIP: s.VIP, Port: s.Port, Proto: s.Proto, Endpoints: append([]string(nil), s.Endpoints...)})
	}
	return out
}

var (
	_ scenarios.HTTPResponder = (*HTTPParams)(nil)
	_ scenarios.DNSServer     = (*DNSParams)(nil)
	_ scenarios.ServiceVIPs   = (*KubeProxyParams)(nil)
)
