package main

import (
	"fmt"

	labpkg "github.com/netdojo/netdojo/lab"
	"github.com/spf13/cobra"
)

func newStopCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:               "stop LAB",
		Short:             "Remove a lab: its processes, namespaces, links and files",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: labArgs(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needRoot("netdojo stop"); err != nil {
				return err
			}
			if err := labpkg.Stop(g.store(), args[0]); err != nil {
				return err
			}
			if g.json() {
				return writeJSON(cmd.OutOrStdout(), map[string]string{"lab": args[0], "status": "stopped"})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "lab %s stopped; nothing of it is left\n", args[0])
			return nil
		},
	}
}
