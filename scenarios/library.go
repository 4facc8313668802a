package scenarios

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

//go:embed library/*.yaml
var library embed.FS

// Builtin is a scenario shipped inside the binary.
type Builtin struct {
	Name  string
	Title string
	Level string
	Path  string // library/NAME.yaml
	Data  []byte
}

// Library lists the built-in scenarios, sorted by name. Their titles are
// read without checking; TestLibrary checks every one.
func Library() []Builtin {
	entries, _ := fs.Glob(library, "library/*.yaml")
	var out []Builtin
	for _, e := range entries {
		data, _ := library.ReadFile(e)
		b := Builtin{Name: strings.TrimSuffix(path.Base(e), ".yaml"), Path: e, Data: data}
		b.Title, b.Level = peekTitle(data)
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// LookupBuiltin finds a built-in scenario by name.
func LookupBuiltin(name string) (Builtin, error) {
	var names []string
	for _, b := range Library() {
		if b.Name == name {
			return b, nil
		}
		names = append(names, b.Name)
	}
	return Builtin{}, fmt.Errorf("no built-in scenario %q%s; 'netdojo list' shows them", name, suggest(name, names))
}

// peekTitle reads metadata.title and level cheaply for listings.
func peekTitle(data []byte) (title, level string) {
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return "", ""
	}
	if md := mappingValue(&root, "metadata"); md != nil && md.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(md.Content); i += 2 {
			switch md.Content[i].Value {
			case "title":
				title = md.Content[i+1].Value
			case "level":
				level = md.Content[i+1].Value
			}
		}
	}
	return title, level
}
