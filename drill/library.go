package drill

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/netdojo/netdojo/faults"
	"github.com/netdojo/netdojo/scenarios"
	"github.com/netdojo/netdojo/services"
)

//go:embed library/*.yaml
var library embed.FS

// Builtin is a drill shipped inside the binary.
type Builtin struct {
	Name string
	Path string // drill/library/NAME.yaml
	Data []byte
}

// Library lists the built-in drills, sorted by name; TestLibrary checks
// that every one loads.
func Library() []Builtin {
	entries, _ := fs.Glob(library, "library/*.yaml")
	var out []Builtin
	for _, e := range entries {
		data, _ := library.ReadFile(e)
		out = append(out, Builtin{Name: strings.TrimSuffix(path.Base(e), ".yaml"), Path: "drill/" + e, Data: data})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// LookupBuiltin finds a built-in drill by name.
func LookupBuiltin(name string) (Builtin, error) {
	var names []string
	for _, b := range Library() {
		if b.Name == name {
			return b, nil
		}
		names = append(names, b.Name)
	}
	return Builtin{}, fmt.Errorf("no built-in drill %q; the built-in drills are: %s", name, strings.Join(names, ", "))
}

// LoadOptions are the registries a drill's kinds are checked against.
func LoadOptions(seed uint64) scenarios.Options {
	return scenarios.Options{Seed: seed, Services: services.Registry{}, Faults: faults.Registry{}}
}
