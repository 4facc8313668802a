package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/netdojo/netdojo/scenarios"
	"github.com/spf13/cobra"
)

func newListCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the built-in scenarios",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			lib := scenarios.Library()
			if g.json() {
				type entry struct {
					Name  string `json:"name"`
					Title string `json:"title"`
					Level string `json:"level"`
				}
				out := []entry{}
				for _, b := range lib {
					out = append(out, entry{b.Name, b.Title, b.Level})
				}
				return writeJSON(cmd.OutOrStdout(), out)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SCENARIO\tLEVEL\tTITLE")
			for _, b := range lib {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", b.Name, b.Level, b.Title)
			}
			return tw.Flush()
		},
	}
}

func scenariosLibrary() []string {
	var names []string
	for _, b := range scenarios.Library() {
		names = append(names, b.Name)
	}
	return names
}
