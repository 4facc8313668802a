package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

type showOptions struct {
	seed uint64
}

func newShowCmd(g *globalOptions) *cobra.Command {
	o := &showOptions{}
	cmd := &cobra.Command{
		Use:   "show SCENARIO|FILE",
		Short: "Show a scenario's story, topology and tasks",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := loadScenario(args[0], o.seed)
			if err != nil {
				return err
			}
			s := l.scenario
			w := cmd.OutOrStdout()
			if g.json() {
				return writeJSON(w, s.Raw)
			}
			fmt.Fprintf(w, "%s: %s\n", s.Name, s.Title)
			if s.Level != "" || s.Minutes > 0 {
				fmt.Fprintf(w, "level %s, about %d minutes, topics: %s\n", s.Level, s.Minutes, strings.Join(s.Topics, ", "))
			}
			if s.Story != "" {
				fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(s.Story))
			}
			fmt.Fprintln(w)
			renderTopology(w, s)
			if len(s.Tasks) > 0 {
				fmt.Fprintln(w, "\ntasks")
				for _, t := range s.Tasks {
					fmt.Fprintf(w, "  %s: %s\n", t.ID, strings.TrimSpace(t.Prompt))
				}
			}
			return nil
		},
	}
	cmd.Flags().Uint64Var(&o.seed, "seed", 0, "draw the scenario's parameters from this seed")
	return cmd
}
