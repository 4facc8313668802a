package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/netdojo/netdojo/faults"
	labpkg "github.com/netdojo/netdojo/lab"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/scenarios"
	"github.com/spf13/cobra"
)

type injectOptions struct {
	host   string
	params []string
	name   string
}

func newInjectCmd(g *globalOptions) *cobra.Command {
	o := &injectOptions{}
	cmd := &cobra.Command{
		Use:   "inject LAB KIND [--host HOST] [--param NAME=VALUE ...] [--name NAME]",
		Short: "Break a running lab: apply a fault now, recorded so 'netdojo revert' undoes it",
		Long: `Apply a fault to a running lab, for instructors and drills. 'netdojo faults'
lists the kinds and 'netdojo faults KIND' their parameters. Each --param
value is read as a YAML scalar (80, true, 0.3, "text"); a comma makes a
list (names=a,b), unless the value is quoted. The fault is recorded in the
lab's state under its name (the kind unless --name is given), and
'netdojo revert LAB NAME' undoes exactly what was done.`,
		Example: "  netdojo inject first-lab firewall-drop --host server --param port=80\n" +
			"  netdojo inject first-lab packet-loss --host client --param probability=0.2 --name lossy",
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: injectArgs(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needRoot("netdojo inject"); err != nil {
				return err
			}
			// Parameters are checked before the lab is touched.
			if _, ok := faults.Lookup(args[1]); !ok {
				_, err := faults.New(args[1], o.host, nil) // names the unknown kind
				return withCode(exitUsage, err)
			}
			params, err := scenarios.ParseParams(faults.Registry{}, args[1], o.params)
			if err != nil {
				return withCode(exitUsage, err)
			}
			if _, err := faults.New(args[1], o.host, params); err != nil {
				return withCode(exitUsage, err)
			}
			lab, s, unlock, err := openRunningLab(g, args[0])
			if err != nil {
				return err
			}
			defer unlock()
			a, err := labpkg.Inject(cmd.Context(), lab, s, o.name, args[1], o.host, params)
			if err != nil {
				if strings.Contains(err.Error(), "already has a fault named") || strings.Contains(err.Error(), "has no host") {
					return withCode(exitUsage, err)
				}
				return err
			}
			w := cmd.OutOrStdout()
			if g.json() {
				return writeJSON(w, map[string]any{"lab": lab.Name, "name": a.Name, "kind": a.Kind.Name, "host": a.Host, "params": a.Params, "status": "injected"})
			}
			where := ""
			if a.Host != "" {
				where = " on host " + a.Host
			}
			fmt.Fprintf(w, "injected %s as %q%s of lab %s\n\nwhat a learner sees\n%s\n\nrevert with: netdojo revert %s %s\n",
				a.Kind.Name, a.Name, where, lab.Name, wrap(a.Kind.Symptom, "  ", 78), lab.Name, a.Name)
			return nil
		},
	}
	cmd.Flags().StringVar(&o.host, "host", "", "the host the fault applies to")
	cmd.Flags().StringArrayVarP(&o.params, "param", "p", nil, "a parameter as NAME=VALUE (repeatable)")
	cmd.Flags().StringVar(&o.name, "name", "", "name to record the fault under (default: the kind)")
	cmd.RegisterFlagCompletionFunc("host", func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			if lab, err := sandbox.Open(g.store(), args[0]); err == nil {
				return lab.HostNames(), cobra.ShellCompDirectiveNoFileComp
			}
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

// injectArgs completes LAB then KIND.
func injectArgs(g *globalOptions) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		switch len(args) {
		case 0:
			labs, _ := g.store().Labs()
			return labs, cobra.ShellCompDirectiveNoFileComp
		case 1:
			return faults.Names(), cobra.ShellCompDirectiveNoFileComp
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}

// openRunningLab locks a running lab against every other command that
// changes it (start, stop, clean, service, inject, revert, check, answer,
// hint), and reloads the scenario it was started from. A lab that does not
// exist is refused without leaving a lock file.
func openRunningLab(g *globalOptions, name string) (*sandbox.Lab, *scenarios.Scenario, func(), error) {
	store := g.store()
	lock, _, err := store.LockLab(name)
	if err != nil {
		return nil, nil, nil, err
	}
	fail := func(err error) (*sandbox.Lab, *scenarios.Scenario, func(), error) {
		return nil, nil, nil, errors.Join(err, lock.Release())
	}
	lab, err := sandbox.Open(store, name)
	if err != nil {
		return fail(err)
	}
	if lab.State.Status != sandbox.StatusRunning {
		lab.Close()
		return fail(fmt.Errorf("lab %q is %s, not running; 'netdojo status %s' shows it", name, lab.State.Status, name))
	}
	s, err := labScenario(lab)
	if err != nil {
		lab.Close()
		return fail(fmt.Errorf("reloading the scenario of lab %q: %w", name, err))
	}
	return lab, s, func() { lab.Close(); lock.Release() }, nil
}
