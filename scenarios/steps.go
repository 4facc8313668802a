package scenarios

import "fmt"

// Phases of the commands a scenario makes netdojo run.
const (
	PhaseSetup    = "setup"     // each host's setup, run by start and verify on every lab they build
	PhaseSolution = "solution"  // the reference solution, run by verify
	PhaseWrongFix = "wrong-fix" // each wrong fix, run by verify on a lab of its own
)

// Command is one step a scenario makes netdojo take as root inside one of
// the lab's hosts: a shell command (Run), or an action on one of the
// scenario's services. A shell command runs with the machine's filesystem
// and PID namespace and can enter any namespace, the machine's own among
// them: a scenario file is code, like a Makefile.
type Command struct {
	Phase    string `json:"phase"`
	WrongFix string `json:"wrong_fix,omitempty"` // the wrong fix's name, in PhaseWrongFix
	Host     string `json:"host"`
	Run      string `json:"run,omitempty"`
	Service  string `json:"service,omitempty"`
	Action   string `json:"action,omitempty"`
	Path     string `json:"path"` // where the file says it, such as hosts.router.setup[0]
}

func (c Command) String() string {
	if c.Run != "" {
		return c.Run
	}
	return fmt.Sprintf("netdojo service %s %s %s", c.Host, c.Service, c.Action)
}

// Commands lists every command the scenario makes netdojo run, in the
// order they run: setup, solution, wrong fixes. Answers to tasks are not
// commands and are left out.
func (s *Scenario) Commands() []Command {
	var out []Command
	for _, h := range s.Hosts {
		for i, run := range h.Setup {
			out = append(out, Command{Phase: PhaseSetup, Host: h.Name, Run: run, Path: fmt.Sprintf("hosts.%s.setup[%d]", h.Name, i)})
		}
	}
	step := func(phase, wrongFix, path string, st Step) {
		if st.Run == "" && st.Service == "" {
			return // an answer
		}
		out = append(out, Command{Phase: phase, WrongFix: wrongFix, Host: st.Host, Run: st.Run, Service: st.Service, Action: st.Action, Path: path})
	}
	for i, st := range s.Solution {
		step(PhaseSolution, "", fmt.Sprintf("solution[%d]", i), st)
	}
	for i, w := range s.WrongFixes {
		for j, st := range w.Steps {
			step(PhaseWrongFix, w.Name, fmt.Sprintf("wrong_fixes[%d].steps[%d]", i, j), st)
		}
	}
	return out
}

// CountCommands counts the shell commands among cmds by phase.
func CountCommands(cmds []Command) map[string]int {
	n := map[string]int{}
	for _, c := range cmds {
		if c.Run != "" {
			n[c.Phase]++
		}
	}
	return n
}
