package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"syscall"

	"github.com/netdojo/netdojo/drill"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/spf13/cobra"
)

type drillStartOptions struct {
	team  string
	lab   string
	seed  uint64
	scale float64
}

func newDrillStartCmd(g *globalOptions) *cobra.Command {
	o := &drillStartOptions{}
	cmd := &cobra.Command{
		Use:   "start FILE|NAME",
		Short: "Start a drill for a team: its lab, and a runner that probes and plays the timeline",
		Long: `Build the drill's lab as DRILL-TEAM (so several teams run the same drill at
once) and start the drill's runner, which probes the service, lands the
timeline's injects and writes the record. Built-in drills: 'netdojo drill list'.
A pool of faults is drawn by the seed: keep it from the team.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needRoot("netdojo drill start"); err != nil {
				return err
			}
			if !cmd.Flags().Changed("seed") {
				o.seed = rand.Uint64N(1<<31) + 1
			}
			l, err := loadDrill(args[0], o.seed)
			if err != nil {
				return err
			}
			if err := drill.CheckName("team", o.team); err != nil {
				return withCode(exitUsage, err)
			}
			self, err := os.Executable()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			meta, err := drill.Start(ctx, drill.StartOptions{
				Store: g.store(), Drill: l.drill, Data: l.data, Source: l.source, Team: o.team, Lab: o.lab, Scale: o.scale,
				Runner: []string{self, "--state-dir", g.stateDir, "drill", "__run"},
			})
			if err != nil {
				if errors.Is(err, sandbox.ErrLocked) || errors.Is(err, sandbox.ErrRunning) {
					return withCode(exitBusy, err)
				}
				return err
			}
			w := cmd.OutOrStdout()
			if g.json() {
				return writeJSON(w, meta)
			}
			d := l.drill
			fmt.Fprintf(w, "drill %s is running for team %s in lab %s (seed %d, limit %s)\n", d.Name, meta.Team, meta.Lab, meta.Seed, d.Limit)
			fmt.Fprintf(w, "%s\n\nservice: %s\n\nroles:\n", d.Title, drill.DescribeService(d.Service))
			for _, r := range d.Roles {
				fmt.Fprintf(w, "  %-10s netdojo drill join %s --as NAME --role %s\n", r.Name, meta.Lab, r.Name)
			}
			fmt.Fprintf(w, "\ngame master:\n  netdojo drill board %s      the live board\n  netdojo drill status %s     the clock, service level and injects\n  netdojo drill hint|pause|resume|end %s\n", meta.Lab, meta.Lab, meta.Lab)
			return nil
		},
	}
	cmd.Flags().StringVar(&o.team, "team", "team", "the team's name; the lab is DRILL-TEAM")
	cmd.Flags().StringVar(&o.lab, "lab", "", "lab name instead of DRILL-TEAM")
	cmd.Flags().Uint64Var(&o.seed, "seed", 0, "draw the drill's parameters and pools from this seed (default: random; not printed to responders)")
	cmd.Flags().Float64Var(&o.scale, "time-scale", 1, "drill seconds per real second (for rehearsing a drill quickly)")
	return cmd
}

func newDrillRunCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:    "__run LAB",
		Short:  "Run a drill's runner (started by drill start)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			if err := drill.RunMain(ctx, g.store(), args[0]); err != nil {
				return err
			}
			// The drill ended (its limit, 'drill end', or its lab stopped):
			// the review goes next to its record.
			_, err := writeReports(drill.Dir(g.store(), args[0]))
			return err
		},
	}
}
