package main

import (
	"fmt"

	"github.com/netdojo/netdojo/faults"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/spf13/cobra"
)

func newRevertCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "revert LAB NAME|KIND",
		Short: "Undo a fault applied to a running lab, by its name or kind",
		Long: `Undo a fault applied to a running lab: one injected with 'netdojo inject'
(by the name it was recorded under, or its kind when only one fault of
that kind is applied), or one the scenario applied at start.`,
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
			a, err := faults.RevertByName(cmd.Context(), lab, s, args[1])
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
				rs, _ := faults.Records(lab)
				names := append([]string{}, lab.State.Faults...)
				for _, r := range rs {
					names = append(names, r.Name)
				}
				return names, cobra.ShellCompDirectiveNoFileComp
			}
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}
