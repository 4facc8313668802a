package checker_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestTheCheckerOnlyJudges fails when a file of checker (tests aside)
// imports what starts or breaks a lab: faults, services, lab or verify;
// what it knows of a service's parameters comes from the plan's interfaces
// (scenarios.HTTPResponder, DNSServer, ServiceVIPs). The lifecycle is lab's; the checker asks it
// whether a fault is cleared through checker.Faults.
func TestTheCheckerOnlyJudges(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	read := 0
	for _, p := range files {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		read++
		for _, im := range f.Imports {
			path, _ := strconv.Unquote(im.Path.Value)
			switch path {
			case "github.com/netdojo/netdojo/faults", "github.com/netdojo/netdojo/services", "github.com/netdojo/netdojo/lab", "github.com/netdojo/netdojo/verify":
				t.Errorf("%s imports %s: the checker judges a running lab and never starts, steps or breaks one", p, path)
			}
		}
	}
	if read < 10 {
		t.Fatalf("read %d files of checker; run the test from its package directory", read)
	}
}
