package main

import (
	"context"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"syscall"

	"github.com/netdojo/netdojo/checker"
	"github.com/netdojo/netdojo/faults"
	labpkg "github.com/netdojo/netdojo/lab"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/scenarios"
	"github.com/spf13/cobra"
)

type demoOptions struct {
	name string
}

func newDemoCmd(g *globalOptions) *cobra.Command {
	o := &demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo [SCENARIO|FILE]",
		Short: "Build a lab, look around inside it with the real tools, and remove it",
		Long: `The tour: build a lab from a scenario (first-lab by default), show its
topology, run ip, ping, traceroute, dig, curl and ss inside its hosts; then
inject the scenario's faults, show what 'netdojo check' sees, apply the
reference solution, check again, stop the lab and show that nothing is left.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needRoot("netdojo demo"); err != nil {
				return err
			}
			arg := "first-lab"
			if len(args) == 1 {
				arg = args[0]
			}
			l, err := loadScenario(arg, 0)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			w := cmd.OutOrStdout()
			name := o.name
			if name == "" {
				name = "demo-" + l.scenario.Name
				if len(name) > scenarios.MaxNameLen {
					name = name[:scenarios.MaxNameLen]
				}
			}
			fmt.Fprintf(w, "== netdojo start %s --name %s\n", arg, name)
			lab, took, err := startLab(ctx, g, l, name, false)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "built %d hosts in %s\n\n", len(l.scenario.Hosts), took.Round(1e6))
			renderTopology(w, l.scenario, false)
			runErr := tour(w, lab, l.scenario)
			if runErr == nil && len(l.scenario.Faults) > 0 {
				runErr = breakAndFix(cmd.Context(), w, lab, l.scenario)
			}
			lab.Close()
			fmt.Fprintf(w, "\n== netdojo stop %s\n", name)
			if err := labpkg.Stop(g.store(), name); err != nil {
				return err
			}
			left := 0
			for _, h := range lab.State.Namespaces {
				if sandbox.NetnsExists(h) {
					left++
				}
			}
			fmt.Fprintf(w, "stopped; namespaces of %s left in 'ip netns list': %d\n", name, left)
			return runErr
		},
	}
	cmd.Flags().StringVar(&o.name, "name", "", "lab name (default: demo-SCENARIO)")
	return cmd
}

// tour runs a few commands inside the lab's hosts that show it works.
func tour(w io.Writer, lab *sandbox.Lab, s *scenarios.Scenario) error {
	first := s.Hosts[0]
	steps := [][]string{
		{first.Name, "ip", "-brief", "address"},
		{first.Name, "ip", "route"},
		{first.Name, "cat", "/etc/resolv.conf"},
	}
	var far *scenarios.Host
	for _, h := range s.Hosts[1:] {
		if h.Addr4().IsValid() {
			far = h
		}
	}
	if far != nil {
		steps = append(steps, []string{first.Name, "ping", "-c", "2", "-i", "0.2", "-W", "1", far.Addr4().String()})
		if len(first.Routes) > 0 {
			steps = append(steps, []string{first.Name, "traceroute", "-n", "-q", "1", "-w", "1", far.Addr4().String()})
		}
	}
	for _, h := range first.HostsFile {
		steps = append(steps, []string{first.Name, "getent", "hosts", h.Names[0]})
		break
	}
	// Each service, seen from the first host through its own resolver.
	for _, h := range s.Hosts {
		for _, svc := range h.Services {
			switch svc.Kind {
			case "dns":
				steps = append(steps, []string{first.Name, "dig", "+noall", "+answer", "+stats", "@" + h.Addr4().String(), "www.shop.example"})
			case "http":
				steps = append(steps, []string{first.Name, "curl", "-sS", "-i", "--max-time", "5", "http://www.shop.example/"})
			}
		}
		if len(h.Services) > 0 {
			steps = append(steps, []string{h.Name, "ss", "-tlnp"})
		}
	}
	var failed []string
	for _, st := range steps {
		fmt.Fprintf(w, "\n== netdojo exec %s %s -- %s\n", lab.Name, st[0], strings.Join(st[1:], " "))
		c, err := lab.Command(st[0], st[1:]...)
		if err != nil {
			return err
		}
		c.Stdout, c.Stderr = w, w
		if err := c.Run(); err != nil {
			fmt.Fprintf(w, "(%v)\n", err)
			failed = append(failed, strings.Join(st[1:], " "))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("in lab %s these did not succeed: %s", lab.Name, strings.Join(failed, "; "))
	}
	return nil
}

// breakAndFix injects the scenario's faults, judges the tasks, applies the
// reference solution and judges again: the learner's loop, played by the
// scenario's author.
func breakAndFix(ctx context.Context, w io.Writer, lab *sandbox.Lab, s *scenarios.Scenario) error {
	fmt.Fprintf(w, "\n== the scenario's faults are injected (netdojo start does this at once)\n")
	if err := labpkg.ApplyFaults(ctx, lab, s); err != nil {
		return err
	}
	for i := range s.Faults {
		if a, err := faults.Resolve(s, i); err == nil {
			fmt.Fprintf(w, "%s on %s: %s\n", a.Kind.Name, a.Host, a.Kind.Symptom)
		}
	}
	c := &checker.Checker{Lab: lab, Scenario: s, Once: true}
	judge := func() bool {
		all := true
		for _, t := range s.Tasks {
			if t.Check == nil {
				continue
			}
			o := c.Check(ctx, t.Check)
			mark := "[ ]"
			if o.Pass {
				mark = "[x]"
			}
			all = all && o.Pass
			fmt.Fprintf(w, "%s %s: %s\n      observed: %s\n", mark, t.ID, strings.TrimSpace(t.Prompt), o.Observed)
		}
		return all
	}
	fmt.Fprintf(w, "\n== netdojo check %s\n", lab.Name)
	if judge() {
		return fmt.Errorf("the tasks of %s pass while the lab is broken", s.Name)
	}
	fmt.Fprintf(w, "\n== the reference solution\n")
	for _, st := range s.Solution {
		switch {
		case st.Run != "":
			fmt.Fprintf(w, "netdojo exec %s %s -- %s\n", lab.Name, st.Host, st.Run)
		case st.Service != "":
			fmt.Fprintf(w, "netdojo service %s %s %s %s\n", lab.Name, st.Host, st.Service, st.Action)
		default:
			continue
		}
		out, err := labpkg.RunStep(ctx, lab, st)
		fmt.Fprint(w, out)
		if err != nil {
			return fmt.Errorf("solution step on %s: %w", st.Host, err)
		}
	}
	c.Once = false
	fmt.Fprintf(w, "\n== netdojo check %s\n", lab.Name)
	if !judge() {
		return fmt.Errorf("the tasks of %s still fail after the solution", s.Name)
	}
	return nil
}
