package checker

import (
	"os"
	"strings"
	"testing"

	"github.com/netdojo/netdojo/faults"
	"github.com/netdojo/netdojo/scenarios"
	"github.com/netdojo/netdojo/services"
)

// TestCatalogue checks the adversarial catalogue's shape: at least 30
// entries with distinct names and documentation, and every variant of
// every entry acting on hosts and services that the scenario has.
func TestCatalogue(t *testing.T) {
	cat := Catalogue()
	if len(cat) < 30 {
		t.Errorf("the catalogue has %d entries, want at least 30", len(cat))
	}
	seen := map[string]bool{}
	for _, w := range cat {
		if seen[w.Name] {
			t.Errorf("entry %q is in the catalogue twice", w.Name)
		}
		seen[w.Name] = true
		if w.Does == "" || w.Variants == nil {
			t.Errorf("entry %q has no documentation or no variants", w.Name)
		}
	}
	applied := map[string]int{}
	for _, bi := range scenarios.Library() {
		s, err := scenarios.Load(bi.Path, bi.Data, scenarios.Options{Seed: 1, Services: services.Registry{}, Faults: faults.Registry{}})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range cat {
			vs := w.Variants(s)
			if len(vs) > maxVariants {
				t.Errorf("%s: entry %s has %d variants, more than %d", s.Name, w.Name, len(vs), maxVariants)
			}
			if len(vs) > 0 {
				applied[w.Name]++
			}
			for _, v := range vs {
				if len(v) == 0 {
					t.Errorf("%s: entry %s has an empty variant", s.Name, w.Name)
				}
				for _, st := range v {
					h := s.Host(st.Host)
					if h == nil {
						t.Errorf("%s: entry %s acts on host %q, which the scenario lacks", s.Name, w.Name, st.Host)
						continue
					}
					if st.Service != "" && !hasService(h, st.Service) {
						t.Errorf("%s: entry %s acts on service %q of %s, which it lacks", s.Name, w.Name, st.Service, st.Host)
					}
					if st.Run == "" && st.Service == "" {
						t.Errorf("%s: entry %s has a step that does nothing", s.Name, w.Name)
					}
				}
			}
		}
		for name := range Accepted(s) {
			if CatalogueEntry(name) == nil && !AcceptedByCheck(s, name) {
				t.Errorf("%s accepts %q, which is not an entry of the catalogue", s.Name, name)
			}
		}
	}
	for _, w := range cat {
		if applied[w.Name] == 0 {
			t.Errorf("entry %s applies to no built-in scenario: the library never tries it", w.Name)
		}
	}
}

func hasService(h *scenarios.Host, name string) bool {
	for _, s := range h.Services {
		if s.Name == name {
			return true
		}
	}
	return false
}

// TestCatalogueEntriesAreParameterised checks that entries are written
// from the scenario: the first lab's addresses, interfaces and zones
// appear in the commands.
func TestCatalogueEntriesAreParameterised(t *testing.T) {
	b, err := scenarios.LookupBuiltin("first-lab")
	if err != nil {
		t.Fatal(err)
	}
	s, err := scenarios.Load(b.Path, b.Data, scenarios.Options{Seed: 1, Services: services.Registry{}, Faults: faults.Registry{}})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"host-routes-dev":          "ip route replace 203.0.113.80/32 dev eth0",
		"pin-hosts":                "'203.0.113.80 www.shop.example'",
		"resolv-other-server":      "nameserver 10.0.1.1",
		"replace-with-python-http": "python3 -m http.server 80",
		"dnat-to-service":          "--to-destination 203.0.113.80:80",
	}
	for name, want := range cases {
		var all []string
		for _, v := range CatalogueEntry(name).Variants(s) {
			for _, st := range v {
				all = append(all, st.Run)
			}
		}
		if !strings.Contains(strings.Join(all, "\n"), want) {
			t.Errorf("entry %s on first-lab does not contain %q:\n%s", name, want, strings.Join(all, "\n"))
		}
	}
	if v := CatalogueEntry("proxy-arp-routers").Variants(s); len(v) != 1 || len(v[0]) != 1 || v[0][0].Host != "router" {
		t.Errorf("proxy-arp-routers on first-lab acts on %v, want the router only", v)
	}
}

// TestCatalogueDocumented keeps the authoring guide's list of entries in
// step with the code (docs/adversarial.md is generated).
func TestCatalogueDocumented(t *testing.T) {
	data, err := os.ReadFile("../docs/authoring.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range Catalogue() {
		if !strings.Contains(string(data), "`"+w.Name+"`") {
			t.Errorf("docs/authoring.md does not list the catalogue entry %s", w.Name)
		}
	}
}
