package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/netdojo/netdojo/checker"
	labpkg "github.com/netdojo/netdojo/lab"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/scenarios"
	"github.com/spf13/cobra"
)

// openLabForTasks finds the lab (the only running one when no name is
// given) and the scenario it was started from, and takes the lab's lock:
// check, answer and hint write the learner's progress into the lab, so
// they change it, and a concurrent stop, service or inject is refused
// (exit 5) while they run. The returned function releases the lab.
func openLabForTasks(g *globalOptions, args []string) (*sandbox.Lab, *scenarios.Scenario, []string, func(), error) {
	store := g.store()
	var name string
	if len(args) > 0 && sandbox.ValidLabName(args[0]) == nil {
		if _, err := store.Load(args[0]); err == nil || !errors.Is(err, sandbox.ErrNoLab) {
			name, args = args[0], args[1:]
		}
	}
	if name == "" {
		labs, err := store.Labs()
		if err != nil {
			return nil, nil, nil, nil, err
		}
		switch len(labs) {
		case 0:
			return nil, nil, nil, nil, withCode(exitUsage, fmt.Errorf("no lab is running; start one with 'netdojo start SCENARIO'"))
		case 1:
			name = labs[0]
		default:
			return nil, nil, nil, nil, withCode(exitUsage, fmt.Errorf("%d labs are running (%s); name one", len(labs), strings.Join(labs, ", ")))
		}
	}
	lab, s, unlock, err := openRunningLab(g, name)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	return lab, s, args, unlock, nil
}

func findTask(s *scenarios.Scenario, id string) (*scenarios.Task, error) {
	var ids []string
	for i := range s.Tasks {
		if s.Tasks[i].ID == id {
			return &s.Tasks[i], nil
		}
		ids = append(ids, s.Tasks[i].ID)
	}
	return nil, withCode(exitUsage, fmt.Errorf("scenario %s has no task %q; its tasks are: %s", s.Name, id, strings.Join(ids, ", ")))
}

type taskResult struct {
	Task     string `json:"task"`
	Prompt   string `json:"prompt"`
	Kind     string `json:"kind"` // check, answer, invariant
	Pass     bool   `json:"pass"`
	Observed string `json:"observed,omitempty"`
	Nudge    string `json:"nudge,omitempty"`
}

func newCheckCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "check [LAB] [TASK]",
		Short: "Judge your work: each task passed or not, and what was observed",
		Long: `Judge the lab's tasks against the live lab with the probe engine. Tasks
judged by an answer show whether your last 'netdojo answer' was right. The
invariants (what must still hold after your fix) are checked too. Progress is
kept in the lab. Exit code 0 when everything passes, 1 otherwise.`,
		Args:              cobra.MaximumNArgs(2),
		ValidArgsFunction: labArgs(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needRoot("netdojo check"); err != nil {
				return err
			}
			lab, s, rest, unlock, err := openLabForTasks(g, args)
			if err != nil {
				return err
			}
			defer unlock()
			prog, err := checker.LoadProgress(lab.Dir())
			if err != nil {
				return err
			}
			c := &checker.Checker{Lab: lab, Scenario: s, Faults: labpkg.NewFaults(lab, s)}
			var results []taskResult
			for i := range s.Tasks {
				t := &s.Tasks[i]
				if len(rest) == 1 && rest[0] != t.ID {
					continue
				}
				tp := prog.Task(t.ID)
				r := taskResult{Task: t.ID, Prompt: strings.TrimSpace(t.Prompt)}
				if t.Check != nil {
					o := c.Task(cmd.Context(), t)
					tp.Record(o)
					r.Kind, r.Pass, r.Observed = "check", o.Pass, o.Observed
				} else {
					r.Kind, r.Pass = "answer", tp.Passed
					if len(tp.Answer) == 0 {
						r.Observed = "not answered yet: netdojo answer " + lab.Name + " " + t.ID + " VALUE"
					} else {
						r.Observed = tp.Observed
					}
				}
				if !r.Pass && tp.HintsShown < len(t.Hints) {
					r.Nudge = fmt.Sprintf("stuck? 'netdojo hint %s %s' (%d of %d hints left)", lab.Name, t.ID, len(t.Hints)-tp.HintsShown, len(t.Hints))
				}
				results = append(results, r)
			}
			if len(rest) == 1 && len(results) == 0 {
				_, err := findTask(s, rest[0])
				return err
			}
			if len(rest) == 0 {
				for _, inv := range s.Invariants {
					o := c.Check(cmd.Context(), &inv.Check)
					r := taskResult{Task: inv.Name, Kind: "invariant", Pass: o.Pass}
					// An invariant that holds says no more: what it saw
					// (an MX record, a route) may be what a task asks.
					if !o.Pass {
						r.Observed = o.Observed
					}
					results = append(results, r)
				}
			}
			// What the checks saw never names an answer not given yet
			// (the culprit host a fix task probes, a PID, a program).
			withheld := c.Withheld(cmd.Context(), func(id string) bool {
				tp, ok := prog.Tasks[id]
				return ok && tp.Passed
			})
			// Nor what a fault still in place is, while a question asks for
			// the cause in words.
			why := c.OpenWhy(func(id string) bool {
				tp, ok := prog.Tasks[id]
				return ok && tp.Passed
			})
			// Nor how a connection fails, while a question asks that.
			quiz := c.OpenErrorQuiz(func(id string) bool {
				tp, ok := prog.Tasks[id]
				return ok && tp.Passed
			})
			for i := range results {
				if results[i].Kind != "answer" {
					results[i].Observed = checker.Redact(results[i].Observed, withheld)
					if why {
						results[i].Observed = checker.HideCause(results[i].Observed)
					}
					if quiz {
						results[i].Observed = checker.HideFailure(results[i].Observed)
					}
				}
			}
			if err := prog.Save(lab.Dir()); err != nil {
				return err
			}
			pass := true
			for _, r := range results {
				pass = pass && r.Pass
			}
			if g.json() {
				if err := writeJSON(cmd.OutOrStdout(), results); err != nil {
					return err
				}
			} else {
				printResults(cmd.OutOrStdout(), results, pass)
			}
			if !pass {
				return &silentError{code: exitFailed}
			}
			return nil
		},
	}
}

func printResults(w io.Writer, results []taskResult, pass bool) {
	done := 0
	for _, r := range results {
		mark := "[ ]"
		if r.Pass {
			mark = "[x]"
			done++
		}
		switch r.Kind {
		case "invariant":
			state := "holds"
			if !r.Pass {
				state = "BROKEN"
			}
			fmt.Fprintf(w, "%s must still hold: %s (%s)\n", mark, r.Task, state)
			if r.Observed != "" {
				fmt.Fprintf(w, "      %s\n", r.Observed)
			}
		default:
			fmt.Fprintf(w, "%s %s: %s\n", mark, r.Task, r.Prompt)
			if r.Observed != "" {
				fmt.Fprintf(w, "      observed: %s\n", r.Observed)
			}
			if r.Nudge != "" {
				fmt.Fprintf(w, "      %s\n", r.Nudge)
			}
		}
	}
	if pass {
		fmt.Fprintf(w, "\nall %d passed. Well done.\n", len(results))
	} else {
		fmt.Fprintf(w, "\n%d of %d passed.\n", done, len(results))
	}
}
