package main

import (
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/spf13/cobra"
)

func newStatusCmd(g *globalOptions) *cobra.Command {
	var reveal bool
	cmd := &cobra.Command{
		Use:   "status [LAB]",
		Short: "List labs, or show one lab's hosts and processes",
		Long: `Without LAB, list the running labs. With LAB, show its hosts, their
namespaces and the scenario's service processes. What the lab broke stays
hidden: an instructor sees the injected faults, and the processes they
started, with --reveal.`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: labArgs(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			store := g.store()
			w := cmd.OutOrStdout()
			if len(args) == 1 {
				lab, err := sandbox.Open(store, args[0])
				if err != nil {
					return err
				}
				st := learnerView(lab, reveal)
				if g.json() {
					return writeJSON(w, st)
				}
				fmt.Fprintf(w, "lab %s: %s, scenario %s (%s), seed %d, started %s\n", st.Lab, st.Status, st.Scenario, st.Source, st.Seed, st.Started.Local().Format(time.DateTime))
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "HOST\tNAMESPACE")
				for _, h := range st.Hosts {
					fmt.Fprintf(tw, "%s\t%s\n", h.Name, h.Netns)
				}
				tw.Flush()
				if len(st.Processes) > 0 {
					fmt.Fprintln(w)
					tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "PROCESS\tHOST\tPID\tSTATE\tLOG")
					for _, p := range st.Processes {
						state := "running"
						if !p.Alive() {
							state = "exited"
						}
						fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", p.Name, p.Host, p.PID, state, p.Log)
					}
					tw.Flush()
				}
				if reveal && len(st.Faults) > 0 {
					fmt.Fprintf(w, "\nfaults injected: %v\n", st.Faults)
				}
				return nil
			}
			labs, err := store.Labs()
			if err != nil {
				return err
			}
			var states []*sandbox.State
			for _, name := range labs {
				st, err := store.Load(name)
				if err == nil {
					if !reveal {
						st.Faults, st.Processes, st.Extra = nil, nil, nil
					}
					states = append(states, st)
				} else if !errors.Is(err, sandbox.ErrNoLab) {
					// A state that fails its checks is shown, never used.
					fmt.Fprintln(cmd.ErrOrStderr(), "netdojo:", err)
				}
			}
			if g.json() {
				if states == nil {
					states = []*sandbox.State{}
				}
				return writeJSON(w, states)
			}
			if len(states) == 0 {
				fmt.Fprintln(w, "no labs; start one with 'netdojo start SCENARIO' ('netdojo list' shows them)")
				return nil
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "LAB\tSTATUS\tSCENARIO\tHOSTS\tSTARTED")
			for _, st := range states {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", st.Lab, st.Status, st.Scenario, len(st.Hosts), st.Started.Local().Format(time.DateTime))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&reveal, "reveal", false, "show the injected faults and the processes they started (for instructors)")
	return cmd
}

// learnerView is the lab's state as a learner may see it: without the
// faults' names, and with only the processes of the scenario's own
// services (a fault's squatter, leaker or client would name the fault).
// reveal shows everything.
func learnerView(lab *sandbox.Lab, reveal bool) *sandbox.State {
	if reveal {
		return lab.State
	}
	st := *lab.State
	st.Faults = nil
	st.Extra = nil
	st.Processes = nil
	s, err := labScenario(lab)
	if err != nil {
		return &st
	}
	for _, p := range lab.State.Processes {
		if h := s.Host(p.Host); h != nil {
			for _, svc := range h.Services {
				if svc.Name == p.Name {
					st.Processes = append(st.Processes, p)
				}
			}
		}
	}
	return &st
}
