package main

import (
	"fmt"
	"strings"

	"github.com/netdojo/netdojo/faults"
	labpkg "github.com/netdojo/netdojo/lab"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/spf13/cobra"
)

func newRevertCmd(g *globalOptions) *cobra.Command {
	var reveal bool
	cmd := &cobra.Command{
		Use:   "revert LAB NAME|KIND",
		Short: "Undo a fault applied to a running lab, by its name or kind",
		Long: `Undo a fault applied to a running lab: one injected with 'netdojo inject'
(by the name it was recorded under, or its kind when only one fault of
that kind is applied). A fault the scenario applied at start is the
learner's to fix: only an instructor reverts it, with --reveal; without it
netdojo says nothing of the scenario's faults (not even whether one of that
name exists).`,
		Example:           "  netdojo revert first-lab firewall-drop",
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: revertArgs(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needRoot("netdojo revert"); err != nil {
				return err
			}
			lab, s, unlock, err := openRunningLab(g, args[0])
			if err != nil {
				return err
			}
			defer unlock()
			if !reveal {
				if err := injectedOnly(lab, args[1]); err != nil {
					return err
				}
			}
			a, err := labpkg.Revert(cmd.Context(), lab, s, args[1])
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if g.json() {
				return writeJSON(w, map[string]any{"lab": lab.Name, "name": a.Name, "kind": a.Kind.Name, "host": a.Host, "status": "reverted"})
			}
			where := ""
			if a.Host != "" {
				where = " on host " + a.Host
			}
			fmt.Fprintf(w, "reverted %q (%s)%s of lab %s\n", a.Name, a.Kind.Name, where, lab.Name)
			return nil
		},
	}
	cmd.Flags().BoolVar(&reveal, "reveal", false, "also revert a fault the scenario applied at start (for instructors)")
	return cmd
}

// injectedOnly refuses a name or kind that is not a fault injected with
// 'netdojo inject', in the same words whether or not the scenario applied
// one of that name or kind: the error lists injected faults only.
func injectedOnly(lab *sandbox.Lab, name string) error {
	rs, err := faults.Records(lab)
	if err != nil {
		return err
	}
	var injected []string
	for _, r := range rs {
		if r.Origin != faults.OriginInject {
			continue
		}
		if r.Name == name || r.Kind == name {
			return nil
		}
		injected = append(injected, r.Name)
	}
	if len(injected) == 0 {
		return fmt.Errorf("lab %q has no fault %q injected with 'netdojo inject' (a fault of the scenario is reverted by an instructor, with --reveal)", lab.Name, name)
	}
	return fmt.Errorf("lab %q has no fault %q injected with 'netdojo inject'; injected: %s (a fault of the scenario is reverted by an instructor, with --reveal)", lab.Name, name, strings.Join(injected, ", "))
}

// revertArgs completes LAB then the names of its recorded faults.
func revertArgs(g *globalOptions) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		switch len(args) {
		case 0:
			labs, _ := g.store().Labs()
			return labs, cobra.ShellCompDirectiveNoFileComp
		case 1:
			if lab, err := sandbox.Open(g.store(), args[0]); err == nil {
				// Injected faults only: completing a scenario's would name them.
				rs, _ := faults.Records(lab)
				var names []string
				for _, r := range rs {
					if r.Origin == faults.OriginInject {
						names = append(names, r.Name)
					}
				}
				return names, cobra.ShellCompDirectiveNoFileComp
			}
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}
