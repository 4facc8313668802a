package checker

import "github.com/netdojo/netdojo/scenarios"

// Accepted lists the catalogue entries a scenario accepts (on any fault).
func Accepted(s *scenarios.Scenario) map[string]bool {
	out := map[string]bool{}
	for _, f := range s.Faults {
		for _, w := range f.Accepts {
			out[w.Name] = true
		}
	}
	return out
}

// AcceptedByCheck tells whether a fault of the scenario accepts the
// workaround name with a check of its own (rather than naming an entry of
// the catalogue).
func AcceptedByCheck(s *scenarios.Scenario, name string) bool {
	for _, f := range s.Faults {
		for _, w := range f.Accepts {
			if w.Name == name && w.Check != nil {
				return true
			}
		}
	}
	return false
}
