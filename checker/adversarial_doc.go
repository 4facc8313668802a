package checker

import (
	"fmt"
	"sort"
	"strings"

	"github.com/netdojo/netdojo/scenarios"
)

// AdversarialReference renders docs/adversarial.md: every entry of the
// catalogue, and which built-in scenarios accept which entries. ss are
// the built-in scenarios, loaded.
func AdversarialReference(ss []*scenarios.Scenario) string {
	var b strings.Builder
	b.WriteString(`# The adversarial catalogue

Generated from checker/adversarial.go; do not edit.

` + "`netdojo verify --adversarial`" + ` tries every entry below on each scenario. An entry is
written for the scenario's own hosts, links, addresses and services; where it has nothing to act
on (no router, no DNS zone, no second TCP service on a host) it is skipped. Each variant of an
entry is applied to its own fresh broken lab (its faults injected and their symptoms observed
first); then every task judged on the lab (its goal and the faults it clears) and every invariant
is judged, each settling for at most 1 s after a 0.3 s pause, and the first that fails rejects the
entry. An entry that leaves nothing failing fails the scenario, unless one of the scenario's faults
accepts it (` + "`accepts: [{name: ENTRY}]`" + `, see docs/authoring.md).

"End host" is a host that does not forward (no ` + "`net.ipv4.ip_forward: \"1\"`" + `); "router" is one
that does. "Every interface" is every interface the host has when the entry runs, lo excepted.

| Entry | What it does |
|---|---|
`)
	for _, w := range Catalogue() {
		fmt.Fprintf(&b, "| `%s` | %s |\n", w.Name, w.Does)
	}
	fmt.Fprintf(&b, "\n%d entries.\n\n## Accepted by the built-in scenarios\n\n", len(Catalogue()))
	var rows []string
	for _, s := range ss {
		var names, checks []string
		for n := range Accepted(s) {
			if CatalogueEntry(n) != nil {
				names = append(names, "`"+n+"`")
			}
			if AcceptedByCheck(s, n) {
				checks = append(checks, n)
			}
		}
		if len(names)+len(checks) == 0 {
			continue
		}
		sort.Strings(names)
		sort.Strings(checks)
		rows = append(rows, fmt.Sprintf("| %s | %s | %s |", s.Name, strings.Join(names, ", "), strings.Join(checks, "; ")))
	}
	if len(rows) == 0 {
		b.WriteString("None: every entry is rejected by every built-in scenario it applies to.\n")
	} else {
		b.WriteString("Every other entry is rejected by every built-in scenario it applies to. The last column lists the\nworkarounds a scenario counts as clearing a fault when their check passes.\n\n| Scenario | Accepted entries | Workarounds judged by a check |\n|---|---|---|\n")
		b.WriteString(strings.Join(rows, "\n") + "\n")
	}
	return b.String()
}
