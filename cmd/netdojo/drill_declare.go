package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/netdojo/netdojo/drill"
	"github.com/spf13/cobra"
)

// declareWait bounds the wait for the drill's runner to judge a
// declaration; past it, declare exits 3 (a deadline passed).
var declareWait = 15 * time.Second

func newDrillDeclareCmd(g *globalOptions) *cobra.Command {
	var as string
	cmd := &cobra.Command{
		Use:   "declare DRILL --as NAME \"ROOT CAUSE\"",
		Short: "Declare the root cause: judged against the faults that have landed",
		Long: `Declare what is broken and where, in your own words. It is judged as a
scenario's answers are, against every fault that has landed; the first
correct declaration is the team's time to detect. Exit code 1 when it is not
correct.`,
		Args:              cobra.MinimumNArgs(2),
		ValidArgsFunction: drillArgs(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			if as == "" {
				return withCode(exitUsage, fmt.Errorf("say who declares with --as NAME"))
			}
			if err := drill.CheckName("participant", as); err != nil {
				return withCode(exitUsage, err)
			}
			dir, before, err := runningDrill(g, args[0])
			if err != nil {
				return err
			}
			text := strings.Join(args[1:], " ")
			if err := drill.Send(dir, drill.Event{Op: drill.OpDeclare, Who: as, Text: text}); err != nil {
				return err
			}
			seen := len(before.Answers)
			deadline := time.Now().Add(declareWait)
			for time.Now().Before(deadline) {
				rec, err := drill.ReadRecord(dir)
				if err == nil {
					for _, a := range rec.Answers[min(seen, len(rec.Answers)):] {
						if a.Who == as && a.Text == text {
							return declared(cmd, g, a)
						}
					}
				}
				time.Sleep(100 * time.Millisecond)
			}
			return withCode(exitTimeout, fmt.Errorf("the drill did not judge the declaration in %s; is its runner alive? 'netdojo drill status %s'", declareWait, args[0]))
		},
	}
	cmd.Flags().StringVar(&as, "as", "", "who declares")
	return cmd
}

func declared(cmd *cobra.Command, g *globalOptions, a drill.Answer) error {
	w := cmd.OutOrStdout()
	if g.json() {
		if err := writeJSON(w, a); err != nil {
			return err
		}
	} else if a.Correct {
		fmt.Fprintf(w, "correct at %s: %s\n", drillTime(a.T), a.Text)
	} else {
		fmt.Fprintf(w, "not the root cause (at %s): %s\n", drillTime(a.T), a.Text)
	}
	if !a.Correct {
		return &silentError{code: exitFailed}
	}
	return nil
}
