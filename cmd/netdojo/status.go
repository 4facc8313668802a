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
	return &cobra.Command{
		Use:               "status [LAB]",
		Short:             "List labs, or show one lab's hosts and processes",
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
				if g.json() {
					return writeJSON(w, lab.State)
				}
				st := lab.State
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
				if len(st.Faults) > 0 {
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
}
