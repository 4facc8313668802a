package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os/signal"
	"syscall"
	"time"

	labpkg "github.com/netdojo/netdojo/lab"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/spf13/cobra"
)

type startOptions struct {
	name     string
	seed     uint64
	noFaults bool
}

func newStartCmd(g *globalOptions) *cobra.Command {
	o := &startOptions{}
	cmd := &cobra.Command{
		Use:   "start SCENARIO|FILE",
		Short: "Build a lab from a scenario and leave it running",
		Long: `Build a lab from a built-in scenario (see 'netdojo list') or a scenario file.
Each host becomes a network namespace LAB.HOST that 'ip netns list' shows.
Interrupting the start (Ctrl-C) removes everything it built.`,
		Args: cobra.ExactArgs(1),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			return builtinNames(), cobra.ShellCompDirectiveDefault
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needRoot("netdojo start"); err != nil {
				return err
			}
			// --name "" (an unset variable) is a bad name, not the default.
			if cmd.Flags().Changed("name") {
				if err := sandbox.ValidLabName(o.name); err != nil {
					return withCode(exitUsage, err)
				}
			}
			if !cmd.Flags().Changed("seed") {
				o.seed = rand.Uint64N(1<<31) + 1
			}
			l, err := loadScenario(args[0], o.seed)
			if err != nil {
				return err
			}
			noteRoot(cmd.ErrOrStderr(), l, "start")
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			lab, took, err := startLab(ctx, g, l, o.name, !o.noFaults)
			if err != nil {
				return err
			}
			defer lab.Close()
			w := cmd.OutOrStdout()
			if g.json() {
				return writeJSON(w, lab.State)
			}
			fmt.Fprintf(w, "lab %s is running (%s, %d hosts, seed %d, built in %s)\n", lab.Name, l.scenario.Name, len(l.scenario.Hosts), lab.State.Seed, took.Round(time.Millisecond))
			renderStory(w, l.scenario)
			fmt.Fprintln(w)
			renderTopology(w, l.scenario, true)
			renderTasks(w, l.scenario)
			host := l.scenario.Hosts[0].Name
			fmt.Fprintf(w, "\nnext:\n  netdojo shell %s %s     a shell inside host %s\n  ip netns exec %s ip addr   the same host, with iproute2\n  netdojo stop %s             remove the lab\n",
				lab.Name, host, host, sandbox.NetnsName(lab.Name, host), lab.Name)
			return nil
		},
	}
	cmd.Flags().StringVar(&o.name, "name", "", "lab name (default: the scenario's name), so one scenario can run twice")
	cmd.Flags().BoolVar(&o.noFaults, "no-faults", false, "build the lab healthy, without the scenario's faults (for instructors; 'netdojo inject' adds faults later)")
	cmd.Flags().Uint64Var(&o.seed, "seed", 0, "draw the scenario's parameters from this seed (default: a random seed, printed)")
	return cmd
}

// startLab builds the lab, with the scenario's services and (withFaults)
// its faults, and maps refusals to exit codes.
func startLab(ctx context.Context, g *globalOptions, l *loaded, name string, withFaults bool) (*sandbox.Lab, time.Duration, error) {
	t0 := time.Now()
	lab, err := labpkg.Start(ctx, l.scenario, sandbox.Options{
		Name: name, Source: l.source, Store: g.store(), ScenarioYAML: l.data,
	}, withFaults)
	if err != nil {
		switch {
		case errors.Is(err, sandbox.ErrLocked), errors.Is(err, sandbox.ErrRunning):
			return nil, 0, withCode(exitBusy, err)
		case errors.Is(err, context.Canceled):
			return nil, 0, withCode(exitFailed, fmt.Errorf("interrupted; everything built was removed: %w", err))
		}
		return nil, 0, err
	}
	return lab, time.Since(t0), nil
}

func builtinNames() []string { return scenariosLibrary() }
