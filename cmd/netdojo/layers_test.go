package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestLayout holds the packages to the layout the README's table and
// docs/decisions.md describe (issue 10): the scenario file format is read
// in one place (tests included), faults are kept one concept per file, and faults reach
// services only through the interface services exposes to them. (The checker's imports are held by its own
// TestTheCheckerOnlyJudges; namespace switching by sandbox's
// TestOnlySandboxSwitchesNamespaces.)
func TestLayout(t *testing.T) {
	const module = "github.com/netdojo/netdojo/"
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	read := 0
	packages := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); name == "testdata" || name == "bin" || strings.HasPrefix(name, ".") && path != root {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		pkg := filepath.ToSlash(filepath.Dir(rel))
		if !strings.HasSuffix(path, "_test.go") {
			packages[pkg] = true
		}
		if pkg == "faults" {
			// One file per concept, each kind's entry beside its
			// functions: a file that outgrows this holds more than one.
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if lines := strings.Count(string(data), "\n"); lines > 500 {
				t.Errorf("%s has %d lines: split it by concept (docs/decisions.md, Code layout)", rel, lines)
			}
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		read++
		test := strings.HasSuffix(path, "_test.go")
		imports := map[string]string{} // local name -> path
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			name := p[strings.LastIndex(p, "/")+1:]
			if im.Name != nil {
				name = im.Name.Name
			}
			imports[name] = p
			if p == "go.yaml.in/yaml/v3" && pkg != "scenarios" {
				t.Errorf("%s imports %s: only scenarios reads the file format (tests decode a piece of it with scenarios.DecodeYAML); the rest of netdojo works on the typed plan", rel, p)
			}
		}
		if test || pkg != "faults" {
			return nil
		}
		// faults names no parameter type of services: it acts on a
		// service through services' control interface (services/control.go).
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			x, ok := sel.X.(*ast.Ident)
			if ok && imports[x.Name] == module+"services" && strings.HasSuffix(sel.Sel.Name, "Params") {
				t.Errorf("%s: faults names services.%s; act on the service through services' control interface instead", fset.Position(sel.Pos()), sel.Sel.Name)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if read < 100 {
		t.Fatalf("read %d Go files; run the test from its package directory", read)
	}
	// The README's layout table names every package.
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	layout := string(readme)
	if i := strings.Index(layout, "## Layout"); i >= 0 {
		layout = layout[i:]
		if j := strings.Index(layout[1:], "\n## "); j >= 0 {
			layout = layout[:j+1]
		}
	}
	for pkg := range packages {
		if !strings.Contains(layout, "`"+pkg+"`") {
			t.Errorf("the README's layout table does not name package %s", pkg)
		}
	}
}
