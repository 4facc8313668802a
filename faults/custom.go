package faults

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/netdojo/netdojo/scenarios"
)

// LayerCustom is the layer of the custom fault, which an author writes
// with commands.
const LayerCustom = "custom"

// CustomParams are the commands of a custom fault. Like every step of a
// scenario they run as root inside lab hosts.
type CustomParams struct {
	Inject     string `yaml:"inject,omitempty" json:"inject,omitempty" doc:"Shell command (sh -c) run in the host that breaks it, such as an iptables NAT rule that rewrites to the wrong port (required)."`
	Revert     string `yaml:"revert,omitempty" json:"revert,omitempty" doc:"Shell command run in the host that undoes inject exactly (required)."`
	Symptom    string `yaml:"symptom,omitempty" json:"symptom,omitempty" doc:"Shell command that exits 0 while the fault's symptom is there, as the learner sees it (required)."`
	Cleared    string `yaml:"cleared,omitempty" json:"cleared,omitempty" doc:"Shell command that exits 0 once the fault's root cause is gone where the fault is, whatever works end to end; test the place, not the goal (required)."`
	ProbeHost  string `yaml:"probe_host,omitempty" json:"probe_host,omitempty" doc:"Host the symptom and cleared commands run in (default the fault's host)."`
	StillWrong string `yaml:"still_wrong,omitempty" json:"still_wrong,omitempty" doc:"What the judgement says while cleared fails: an observation of what is still wrong there, never the fix or the answer (default: \"the cause of the fault on HOST is still there\")."`
	Timeout    string `yaml:"timeout,omitempty" json:"timeout,omitempty" doc:"Longest any one command may run (default 10s)."`

	timeout time.Duration
}

// Check implements Params.
func (p *CustomParams) Check() error {
	for _, f := range []struct{ name, v string }{{"inject", p.Inject}, {"revert", p.Revert}, {"symptom", p.Symptom}, {"cleared", p.Cleared}} {
		if err := scenarios.CheckRequired(f.name, strings.TrimSpace(f.v), "give a shell command run in the host"); err != nil {
			return err
		}
	}
	if p.Timeout == "" {
		p.Timeout = "10s"
	}
	d, err := scenarios.CheckDurationUpTo("timeout", p.Timeout, 10*time.Second, 5*time.Minute)
	if err != nil {
		return err
	}
	p.timeout = d
	return nil
}

func customKind() Kind {
	return kind(Spec[*CustomParams]{
		Name:      "custom",
		Layer:     LayerCustom,
		NeedsHost: true,
		Summary: "A fault the scenario writes itself: inject and revert commands, a symptom probe and a cleared probe, " +
			"for what the catalogue has no kind for (a NAT rule rewriting to the wrong port, a full conntrack table, a bad second default route).",
		Symptom: "Whatever the author's inject command does; the symptom command (exit status 0) is how verify observes it, " +
			"so write it to test what the learner sees.",
		Fix: "Whatever undoes the cause where it is; the cleared command (exit status 0) judges it, and still_wrong is what a learner reads " +
			"while it fails. Test the place of the fault (the rule's counters, the route, the process), not the goal, so that a workaround does not pass.",
		Example: `faults:
  - kind: custom
    host: client
    params:
      # A second default route with a better metric, through a router that is not there.
      inject: ip route add default via 10.0.1.254 metric 10
      revert: ip route del default via 10.0.1.254 metric 10
      symptom: "! curl -s -m 2 -o /dev/null http://www.shop.example/"
      # Judge the place: the route the kernel picks, not whether the page loads.
      cleared: ip route get 198.51.100.1 | grep -q ' via 10.0.1.1 '
      still_wrong: the client still sends traffic for other networks to a next hop that is not its LAN's router
`,
		Apply: func(ctx context.Context, e *Env, x *CustomParams) error {
			return customRun(ctx, e, e.Host, "inject", x.Inject, x.timeout)
		},
		Revert: func(ctx context.Context, e *Env, x *CustomParams) error {
			return customRun(ctx, e, e.Host, "revert", x.Revert, x.timeout)
		},
		Observe: func(ctx context.Context, e *Env, x *CustomParams) error {
			return customRun(ctx, e, x.probeHost(e), "symptom", x.Symptom, x.timeout)
		},
		Cleared: func(ctx context.Context, e *Env, x *CustomParams) error {
			if err := customRun(ctx, e, x.probeHost(e), "cleared", x.Cleared, x.timeout); err != nil {
				var ee *exec.ExitError
				if !errors.As(err, &ee) {
					return err
				}
				if x.StillWrong != "" {
					return errors.New(x.StillWrong)
				}
				return errors.New("the cause of the fault is still there")
			}
			return nil
		},
	})
}

func (p *CustomParams) probeHost(e *Env) string {
	if p.ProbeHost != "" {
		return p.ProbeHost
	}
	return e.Host
}

// customRun runs an author's command with sh -c in a host, bounded by
// the timeout; a non-zero exit is an *exec.ExitError carrying the
// output in the message.
func customRun(ctx context.Context, e *Env, host, what, cmd string, timeout time.Duration) error {
	c, err := e.Lab.Command(host, "sh", "-c", cmd)
	if err != nil {
		return err
	}
	var out strings.Builder
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		return fmt.Errorf("starting the %s command in host %q: %w", what, host, err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case err = <-done:
	case <-ctx.Done():
		c.Process.Kill()
		<-done
		return fmt.Errorf("the %s command in host %q: %w", what, host, ctx.Err())
	case <-timer.C:
		c.Process.Kill()
		<-done
		return fmt.Errorf("the %s command in host %q ran longer than %s", what, host, timeout)
	}
	if err != nil {
		return fmt.Errorf("the %s command in host %q: %w: %s", what, host, err, strings.TrimSpace(out.String()))
	}
	return nil
}
