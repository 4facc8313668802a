package main

import (
	"fmt"

	"github.com/netdojo/netdojo/checker"
	"github.com/spf13/cobra"
)

func newAnswerCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "answer [LAB] TASK VALUE...",
		Short: "Answer a task: a choice, a value, a tcpdump filter or a pcap file",
		Example: `  netdojo answer first-lab which-error refused
  netdojo answer quiz-syn syn-filter 'tcp[tcpflags] == tcp-syn'
  netdojo answer mtu-lab capture /tmp/stall.pcap`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needRoot("netdojo answer"); err != nil {
				return err
			}
			lab, s, rest, unlock, err := openLabForTasks(g, args)
			if err != nil {
				return err
			}
			defer unlock()
			if len(rest) < 2 {
				return withCode(exitUsage, fmt.Errorf("give the task and your answer: netdojo answer %s TASK VALUE", lab.Name))
			}
			t, err := findTask(s, rest[0])
			if err != nil {
				return err
			}
			if t.Answer == nil {
				return withCode(exitUsage, fmt.Errorf("task %s is judged on the lab, not on an answer: fix the lab and run 'netdojo check %s %s'", t.ID, lab.Name, t.ID))
			}
			c := &checker.Checker{Lab: lab, Scenario: s}
			o := c.Answer(cmd.Context(), t.Answer, rest[1:])
			prog, err := checker.LoadProgress(lab.Dir())
			if err != nil {
				return err
			}
			tp := prog.Task(t.ID)
			passedBefore := tp.Passed
			tp.RecordAnswer(rest[1:], o)
			if err := prog.Save(lab.Dir()); err != nil {
				return err
			}
			r := taskResult{Task: t.ID, Kind: "answer", Pass: o.Pass, Observed: o.Observed}
			if g.json() {
				if err := writeJSON(cmd.OutOrStdout(), r); err != nil {
					return err
				}
			} else if o.Pass {
				fmt.Fprintf(cmd.OutOrStdout(), "right: %s\n", o.Observed)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "not yet: %s\n", o.Observed)
				if passedBefore {
					fmt.Fprintf(cmd.OutOrStdout(), "(your earlier right answer still counts: the task stays passed)\n")
				}
			}
			if !o.Pass {
				return &silentError{code: exitFailed}
			}
			return nil
		},
	}
}
