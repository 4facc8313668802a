package faults_test

import "testing"

func TestNetworkFaults(t *testing.T) {
	cases := []faultCase{
		{
			kind: "no-default-route", scenario: routedLab, host: "client",
			symptom: func(t *testing.T, l *labEnv) error {
				out, _ := l.run("client", "ping", "-c", "1", "-W", "1", "203.0.113.80")
				return expect(out, "Network is unreachable")
			},
			fix: []string{"client: ip route add default via 10.0.1.1"},
		},
	}
	for _, c := range cases {
		t.Run(c.kind+" shows its symptom and goes away when fixed or reverted", func(t *testing.T) {
			runFaultCase(t, c)
		})
	}
}
