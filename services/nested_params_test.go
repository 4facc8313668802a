package services_test

import (
	"errors"
	"testing"

	"github.com/netdojo/netdojo/scenarios"
	"github.com/netdojo/netdojo/services"
)

// TestNestedParamErrorsKeepTheirPlace: a parameter check inside a list of
// a service's parameters (a dns fault's delay) is reported at the element
// it is in (scenarios.WithinField): the kit's field error must not lift
// "delay" out of "faults[0]" to a params.delay the service does not have.
func TestNestedParamErrorsKeepTheirPlace(t *testing.T) {
	const yml = `apiVersion: netdojo/v1
metadata: {name: review-nested, title: t}
networks:
  lan: {type: bridge}
hosts:
  ns:
    interfaces: [{network: lan, ipv4: 10.9.0.2/24}]
    services:
      - name: d
        kind: dns
        params:
          faults:
            - {name: www.corp.test., mode: slow, delay: 3 seconds}
`
	_, err := scenarios.Load("nested.yaml", []byte(yml), scenarios.Options{Services: services.Registry{}})
	var ps scenarios.Problems
	if !errors.As(err, &ps) || len(ps) != 1 {
		t.Fatalf("got %v; want one problem", err)
	}
	const wantPath = "hosts.ns.services[0].params.faults[0].delay"
	const wantMsg = `"3 seconds" is not a duration; write it like "200ms" or "2s"`
	if ps[0].Path != wantPath || ps[0].Msg != wantMsg {
		t.Errorf("problem at %q: %q; want at %q: %q", ps[0].Path, ps[0].Msg, wantPath, wantMsg)
	}
}
