package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/scenarios"
	"github.com/spf13/cobra"
)

type showOptions struct {
	seed     uint64
	steps    bool
	scenario bool
}

func newShowCmd(g *globalOptions) *cobra.Command {
	o := &showOptions{}
	cmd := &cobra.Command{
		Use:   "show SCENARIO|FILE|LAB",
		Short: "Show a scenario's or a running lab's story, topology and tasks; --steps: every command it runs",
		Long: `Show a scenario's story, topology and tasks.

The argument is a file when it holds a '/' or ends in .yaml or .yml (or names
a file that exists); otherwise a running lab when one has that name (its story
and tasks with the values its seed drew, which differ from the scenario's
defaults where the scenario has params); otherwise a built-in scenario.
--scenario skips the lab: 'netdojo show --scenario first-lab' shows the
built-in scenario even while a lab named first-lab runs.

--steps lists every command the scenario makes netdojo run as root inside the
lab's hosts, and where: each host's setup (run by start and verify), the
reference solution and the wrong fixes (run by verify). A scenario file is
code, like a Makefile: read its steps before you start a file you did not write.`,
		Args: cobra.ExactArgs(1),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			return builtinNames(), cobra.ShellCompDirectiveDefault
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var (
				l   *loaded
				lab *sandbox.State
				err error
			)
			if !o.scenario && !isFileArg(args[0]) {
				lab, l, err = loadLab(g.store(), args[0])
				if err != nil {
					return err
				}
				if lab != nil && cmd.Flags().Changed("seed") {
					return withCode(exitUsage, fmt.Errorf("lab %q has the values of its own seed %d; --seed is for scenarios (add --scenario to show the scenario %s with another seed)", lab.Lab, lab.Seed, lab.Scenario))
				}
			}
			if l == nil {
				if l, err = loadScenario(args[0], o.seed); err != nil {
					return err
				}
			}
			s := l.scenario
			w := cmd.OutOrStdout()
			if o.steps {
				cmds := s.Commands()
				if g.json() {
					if cmds == nil {
						cmds = []scenarios.Command{}
					}
					return writeJSON(w, cmds)
				}
				renderSteps(w, s, l.source, cmds)
				return nil
			}
			if g.json() {
				return writeJSON(w, s.Raw)
			}
			if lab != nil {
				fmt.Fprintf(w, "lab %s (%s), scenario %s from %s, seed %d: the values below are this lab's\n", lab.Lab, lab.Status, lab.Scenario, lab.Source, lab.Seed)
			}
			fmt.Fprintf(w, "%s: %s\n", s.Name, s.Title)
			if s.Level != "" || s.Minutes > 0 {
				fmt.Fprintf(w, "level %s, about %d minutes, topics: %s\n", s.Level, s.Minutes, strings.Join(s.Topics, ", "))
			}
			if lab == nil && len(s.Values) > 0 {
				fmt.Fprintf(w, "values drawn from a seed (%s): shown with %s; a running lab's own: 'netdojo show LAB'\n", strings.Join(paramNames(s), ", "), seedText(o.seed))
			}
			renderStory(w, s)
			fmt.Fprintln(w)
			renderTopology(w, s, true)
			renderTasks(w, s)
			return nil
		},
	}
	cmd.Flags().Uint64Var(&o.seed, "seed", 0, "draw the scenario's parameters from this seed")
	cmd.Flags().BoolVar(&o.steps, "steps", false, "list every command the scenario runs as root, and where")
	cmd.Flags().BoolVar(&o.scenario, "scenario", false, "show the built-in scenario or file even if a lab has that name")
	return cmd
}

// loadLab loads the scenario of a lab with the seed it was started with;
// nil and no error when no lab has that name.
func loadLab(store sandbox.Store, name string) (*sandbox.State, *loaded, error) {
	if sandbox.ValidLabName(name) != nil {
		return nil, nil, nil // not a lab name: never looked up in the store
	}
	st, err := store.Load(name)
	if err != nil {
		return nil, nil, nil
	}
	data, err := store.ReadLabFile(name, sandbox.ScenarioFile, scenarios.MaxFileBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil // a start killed before it saved the scenario: show the scenario
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading the scenario of lab %q: %w", name, err)
	}
	s, err := scenarios.Load(st.Source, data, loadOptions(st.Seed))
	if err != nil {
		return nil, nil, fmt.Errorf("loading the scenario of lab %q: %w", name, err)
	}
	return st, &loaded{scenario: s, source: st.Source, data: data}, nil
}

func paramNames(s *scenarios.Scenario) []string {
	var names []string
	for n := range s.Values {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func seedText(seed uint64) string {
	if seed == 0 {
		return "their defaults (--seed N for a seed's)"
	}
	return fmt.Sprintf("seed %d", seed)
}

// renderStory prints the scenario's story, if it has one.
func renderStory(w io.Writer, s *scenarios.Scenario) {
	if s.Story != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(s.Story))
	}
}

// renderTasks prints each task's id and prompt.
func renderTasks(w io.Writer, s *scenarios.Scenario) {
	if len(s.Tasks) == 0 {
		return
	}
	fmt.Fprintln(w, "\ntasks")
	for _, t := range s.Tasks {
		fmt.Fprintf(w, "  %s: %s\n", t.ID, strings.TrimSpace(t.Prompt))
	}
}

// renderSteps lists what a scenario makes netdojo do, by phase: the
// commands it runs as root, the services it starts and the faults it
// applies (built-in code, listed so that nothing is hidden).
func renderSteps(w io.Writer, s *scenarios.Scenario, source string, cmds []scenarios.Command) {
	n := scenarios.CountCommands(cmds)
	fmt.Fprintf(w, "%s (%s): %d shell commands run as root inside the lab's hosts: %d by start, %d by verify\n",
		s.Name, source, n[scenarios.PhaseSetup]+n[scenarios.PhaseSolution]+n[scenarios.PhaseWrongFix],
		n[scenarios.PhaseSetup], n[scenarios.PhaseSetup]+n[scenarios.PhaseSolution]+n[scenarios.PhaseWrongFix])
	fmt.Fprintln(w, "They run with the machine's filesystem and processes in view and can enter any namespace: a scenario file is code.")
	section := func(title string, phase string) {
		first := true
		wrongFix := ""
		for _, c := range cmds {
			if c.Phase != phase {
				continue
			}
			if first {
				fmt.Fprintf(w, "\n%s\n", title)
				first = false
			}
			indent := "  "
			if phase == scenarios.PhaseWrongFix {
				if c.WrongFix != wrongFix {
					wrongFix = c.WrongFix
					fmt.Fprintf(w, "  %q\n", wrongFix)
				}
				indent = "    "
			}
			fmt.Fprintf(w, "%s[%s] %s\n", indent, c.Host, c.String())
		}
	}
	section("setup (run by start and verify on every lab they build, after the services start)", scenarios.PhaseSetup)
	var services []string
	for _, h := range s.Hosts {
		for _, svc := range h.Services {
			services = append(services, fmt.Sprintf("  [%s] %s: %s", h.Name, svc.Name, svc.Kind))
		}
	}
	if len(services) > 0 {
		fmt.Fprintf(w, "\nservices (netdojo's own daemons, started by start)\n%s\n", strings.Join(services, "\n"))
	}
	if len(s.Faults) > 0 {
		fmt.Fprintln(w, "\nfaults (built-in kinds, applied by start after setup)")
		for _, f := range s.Faults {
			where := ""
			if f.Host != "" {
				where = "[" + f.Host + "] "
			}
			fmt.Fprintf(w, "  %s%s\n", where, f.Kind)
		}
	}
	section("solution (run by verify)", scenarios.PhaseSolution)
	section("wrong fixes (run by verify, each on a lab of its own)", scenarios.PhaseWrongFix)
}

// noteRoot says, in one line on stderr, how many commands a scenario file
// from outside the built-in library will run as root, and how to see them.
func noteRoot(w io.Writer, l *loaded, verb string) {
	if strings.HasPrefix(l.source, "builtin:") {
		return
	}
	n := scenarios.CountCommands(l.scenario.Commands())
	count := n[scenarios.PhaseSetup]
	if verb == "verify" {
		count += n[scenarios.PhaseSolution] + n[scenarios.PhaseWrongFix]
	}
	fmt.Fprintf(w, "netdojo: %s is not a built-in scenario; %s runs its %d shell commands as root (see them with 'netdojo show --steps %s')\n", l.source, verb, count, l.source)
}
