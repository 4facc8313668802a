package main

import (
	"fmt"

	"github.com/netdojo/netdojo/checker"
	"github.com/spf13/cobra"
)

func newHintCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "hint [LAB] [TASK]",
		Short: "Show the next hint of a task (or of the scenario); hints are recorded",
		Args:  cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			lab, s, rest, unlock, err := openLabForTasks(g, args)
			if err != nil {
				return err
			}
			defer unlock()
			prog, err := checker.LoadProgress(lab.Dir())
			if err != nil {
				return err
			}
			id, hints := "scenario", s.Hints
			if len(rest) == 1 {
				t, err := findTask(s, rest[0])
				if err != nil {
					return err
				}
				id, hints = t.ID, t.Hints
			} else {
				// The first task not passed yet.
				for _, t := range s.Tasks {
					if !prog.Task(t.ID).Passed && len(t.Hints) > 0 {
						id, hints = t.ID, t.Hints
						break
					}
				}
			}
			tp := prog.Task(id)
			w := cmd.OutOrStdout()
			if len(hints) == 0 {
				fmt.Fprintf(w, "%s has no hints\n", id)
				return nil
			}
			if tp.HintsShown < len(hints) {
				tp.HintsShown++
			}
			if err := prog.Save(lab.Dir()); err != nil {
				return err
			}
			if g.json() {
				return writeJSON(w, map[string]any{"task": id, "hints": hints[:tp.HintsShown], "left": len(hints) - tp.HintsShown})
			}
			for i := 0; i < tp.HintsShown; i++ {
				fmt.Fprintf(w, "hint %d/%d for %s: %s\n", i+1, len(hints), id, hints[i])
			}
			return nil
		},
	}
}
