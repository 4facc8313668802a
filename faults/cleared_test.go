package faults_test

import (
	"testing"

	"github.com/netdojo/netdojo/faults"
)

// TestEveryKindHasAClearedJudgement: no kind falls back to "the symptom
// is no longer observed", which a workaround satisfies.
func TestEveryKindHasAClearedJudgement(t *testing.T) {
	for _, k := range faults.Catalog() {
		if k.Cleared == nil {
			t.Errorf("fault kind %q has no Cleared judgement", k.Name)
		}
		if faults.ClearedWhen(k.Name) == "" {
			t.Errorf("fault kind %q does not say when it is cleared", k.Name)
		}
	}
}

// TestCustomFault proves a custom fault written as commands: a NAT rule
// that rewrites the shop's port to a closed one.
func TestCustomFault(t *testing.T) {
	const rule = "-p tcp -d 203.0.113.80 --dport 80 -j DNAT --to-destination 203.0.113.80:81"
	runFaultCase(t, faultCase{
		kind: "custom", scenario: routedLab, host: "client",
		params: `{inject: "iptables -t nat -A OUTPUT ` + rule + `", revert: "iptables -t nat -D OUTPUT ` + rule + `",
symptom: "! curl -s -m 2 -o /dev/null http://203.0.113.80/",
cleared: "! iptables -t nat -C OUTPUT ` + rule + `",
still_wrong: "the client still sends the shop's traffic to another port"}`,
		symptom: func(t *testing.T, l *labEnv) error {
			out, _ := l.run("client", "curl", "-sS", "-m", "2", "http://203.0.113.80/")
			return expect(out, "Couldn't connect to server")
		},
		fix: []string{"client: iptables -t nat -F OUTPUT"},
	})
}

func TestCustomFaultNeedsEveryCommand(t *testing.T) {
	for _, missing := range []string{"inject", "revert", "symptom", "cleared"} {
		p := &faults.CustomParams{Inject: "true", Revert: "true", Symptom: "true", Cleared: "true"}
		switch missing {
		case "inject":
			p.Inject = ""
		case "revert":
			p.Revert = ""
		case "symptom":
			p.Symptom = " "
		case "cleared":
			p.Cleared = ""
		}
		if err := p.Check(); err == nil || err.Error()[:len(missing)] != missing {
			t.Errorf("without %s: Check says %v", missing, err)
		}
	}
	if err := (&faults.CustomParams{Inject: "x", Revert: "x", Symptom: "x", Cleared: "x", Timeout: "forever"}).Check(); err == nil {
		t.Error("a timeout that is not a duration is accepted")
	}
}
