package main

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netdojo/netdojo/checker"
	"github.com/netdojo/netdojo/drill"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/scenarios"
	"github.com/spf13/cobra"
)

// Docs drift: each test here fails when a document stops saying what the
// code does. None needs root.

// TestCLIReferenceListsEveryCommand walks the command tree and requires
// every command a user can run to be named in docs/cli.md: as
// "`netdojo CMD ..." for a command, and for a subcommand either as
// "`netdojo CMD SUB" or in the "SUB1\|SUB2" list after "`netdojo CMD ".
func TestCLIReferenceListsEveryCommand(t *testing.T) {
	data, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("`netdojo ([a-z-]+)(?: ([a-z|\\\\-]+))?").FindAllStringSubmatch(string(data), -1) {
		documented[m[1]] = true
		for _, sub := range strings.Split(strings.ReplaceAll(m[2], `\|`, "|"), "|") {
			if sub != "" {
				documented[m[1]+" "+sub] = true
			}
		}
	}
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if !sub.IsAvailableCommand() { // hidden, deprecated or help
				continue
			}
			n++
			path := strings.TrimPrefix(sub.CommandPath(), "netdojo ")
			if !documented[path] {
				t.Errorf("docs/cli.md does not list '%s' (%s); add it to the command table", sub.CommandPath(), sub.Short)
			}
			walk(sub)
		}
	}
	walk(newRootCmd())
	if n < 20 {
		t.Fatalf("walked only %d commands; the tree is not what this test expects", n)
	}
}

// TestExitCodes: each documented code is what codeOf returns for its
// cause, and docs/cli.md's table has a row for each.
func TestExitCodes(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want int
	}{
		{"a failure is 1", errors.New("boom"), exitFailed},
		{"a failed check, already reported, keeps its code", &silentError{code: exitFailed}, exitFailed},
		{"an unknown flag is a usage error", errors.New("unknown flag: --x"), exitUsage},
		{"a bad lab name is a usage error", fmt.Errorf("stopping: %w", &scenarios.NameError{}), exitUsage},
		{"a context deadline, however wrapped, is 3", fmt.Errorf("setup of host %q: %w", "h", fmt.Errorf("did not finish in 30s: %w", context.DeadlineExceeded)), exitTimeout},
		{"an explicit timeout is 3", withCode(exitTimeout, errors.New("no judgement")), exitTimeout},
		{"an interrupt is not a timeout", fmt.Errorf("interrupted: %w", context.Canceled), exitFailed},
		{"not root is 4", withCode(exitNotReady, errors.New("needs root")), exitNotReady},
		{"a locked lab is 5", fmt.Errorf("lab x: %w", sandbox.ErrLocked), exitBusy},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := codeOf(c.err); got != c.want {
				t.Errorf("codeOf(%v) = %d, want %d", c.err, got, c.want)
			}
		})
	}
	data, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []int{exitOK, exitFailed, exitUsage, exitTimeout, exitNotReady, exitBusy} {
		if !strings.Contains(string(data), fmt.Sprintf("\n| %d | ", code)) {
			t.Errorf("docs/cli.md's exit code table has no row for %d", code)
		}
	}
}

// A declaration that the drill's runner never judges (its runner is gone)
// ends with exit 3 once the wait runs out, and says what to look at.
func TestDrillDeclareExitsThreeWhenNoRunnerJudges(t *testing.T) {
	state := t.TempDir()
	dir := drill.Dir(sandbox.Store{Dir: state}, "skips-norunner")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for file, content := range map[string]string{drill.MetaFile: "{}", drill.RecordFile: `{"drill": "d", "status": "` + drill.StatusRunning + `"}`} {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	defer func(w time.Duration) { declareWait = w }(declareWait)
	declareWait = 300 * time.Millisecond
	root := newRootCmd()
	root.SetArgs([]string{"--state-dir", state, "drill", "declare", "skips-norunner", "--as", "ana", "the firewall"})
	root.SetOut(io.Discard)
	err := root.Execute()
	if code := codeOf(err); code != exitTimeout {
		t.Fatalf("declare with no runner: exit %d (%v), want %d", code, err, exitTimeout)
	}
	if !strings.Contains(err.Error(), "did not judge the declaration in 300ms") || !strings.Contains(err.Error(), "'netdojo drill status skips-norunner'") {
		t.Errorf("the error does not say what passed and what to run next: %v", err)
	}
}

// TestMakeDocsRegeneratesEveryGeneratedDoc finds every test that rewrites
// a file under docs/ when run with -update, and requires the Makefile's
// docs target to run it with -update.
func TestMakeDocsRegeneratesEveryGeneratedDoc(t *testing.T) {
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	_, recipe, ok := strings.Cut(string(mk), "\ndocs:\n")
	if !ok {
		t.Fatal("the Makefile has no docs target")
	}
	type run struct{ pkg, pattern string }
	var runs []run
	for _, line := range strings.Split(recipe, "\n") {
		if !strings.HasPrefix(line, "\t") {
			break
		}
		m := regexp.MustCompile(`test (\S+) -run '([^']+)' -update`).FindStringSubmatch(line)
		if m == nil {
			t.Errorf("docs target line %q is not '$(GO) test PKG -run 'PATTERN' -update'", strings.TrimSpace(line))
			continue
		}
		runs = append(runs, run{filepath.Clean(m[1]), strings.ReplaceAll(m[2], "$$", "$")})
	}
	generators := docGenerators(t)
	var docs []string
	for doc := range generators {
		docs = append(docs, doc)
	}
	sort.Strings(docs)
	for _, want := range []string{"drill-format.md", "drill.schema.json", "faults.md", "scenario-format.md", "scenario.schema.json", "services.md"} {
		if generators[want].test == "" {
			t.Errorf("no test found that regenerates docs/%s (found %q); this test's search is broken", want, docs)
		}
	}
	for _, doc := range docs {
		g := generators[doc]
		covered := false
		for _, r := range runs {
			if r.pkg == g.pkg && regexp.MustCompile(r.pattern).MatchString(g.test) {
				covered = true
			}
		}
		if !covered {
			t.Errorf("make docs does not regenerate docs/%s: add \"$(GO) test ./%s/ -run '^%s$$' -update\" to the Makefile's docs target", doc, g.pkg, g.test)
		}
	}
	for _, r := range runs {
		used := false
		for _, g := range generators {
			used = used || r.pkg == g.pkg && regexp.MustCompile(r.pattern).MatchString(g.test)
		}
		if !used {
			t.Errorf("make docs runs 'go test ./%s -run %s -update', which regenerates no doc", r.pkg, r.pattern)
		}
	}
}

type docGenerator struct{ pkg, test string }

// docGenerators maps each file under docs/ that a test rewrites to that
// test: a Test function that reads the package's update flag and names
// the file (in its body, or through a constant of its file).
func docGenerators(t *testing.T) map[string]docGenerator {
	t.Helper()
	docPath := regexp.MustCompile(`(?:^|/)docs/([^/]+\.(?:md|json))$`)
	found := map[string]docGenerator{}
	err := filepath.WalkDir("../..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") && p != "../..") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, "_test.go") {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			return err
		}
		consts := map[string]string{} // file-level string constants naming a doc
		for _, decl := range f.Decls {
			if gd, ok := decl.(*ast.GenDecl); ok {
				for _, spec := range gd.Specs {
					if vs, ok := spec.(*ast.ValueSpec); ok {
						for i, v := range vs.Values {
							if m := docPath.FindStringSubmatch(stringLit(v)); m != nil {
								consts[vs.Names[i].Name] = m[1]
							}
						}
					}
				}
			}
		}
		pkg, _ := filepath.Rel("../..", filepath.Dir(p))
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || !strings.HasPrefix(fn.Name.Name, "Test") || fn.Body == nil {
				continue
			}
			var docs []string
			updates := false
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.BasicLit:
					if m := docPath.FindStringSubmatch(stringLit(n)); m != nil {
						docs = append(docs, m[1])
					}
				case *ast.Ident:
					if doc, ok := consts[n.Name]; ok {
						docs = append(docs, doc)
					}
					updates = updates || n.Name == "update"
				}
				return true
			})
			if updates {
				for _, doc := range docs {
					found[doc] = docGenerator{pkg, fn.Name.Name}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func stringLit(e ast.Expr) string {
	if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
		s, _ := strconv.Unquote(lit.Value)
		return s
	}
	return ""
}

// TestAuthoringGuideListsEveryFilterJudgement: every packet set a filter
// answer can want, every reference traffic and every fact a pcap answer
// can prove (the format's enum, which validation and the schema use) is
// named in docs/authoring.md, and the filter judge knows each wanted set.
func TestAuthoringGuideListsEveryFilterJudgement(t *testing.T) {
	data, err := os.ReadFile("../../docs/authoring.md")
	if err != nil {
		t.Fatal(err)
	}
	enum := func(v any, field string) []string {
		f, ok := reflect.TypeOf(v).FieldByName(field)
		if !ok || f.Tag.Get("enum") == "" {
			t.Fatalf("%T.%s has no enum tag", v, field)
		}
		return strings.Split(f.Tag.Get("enum"), ",")
	}
	for _, c := range []struct {
		what   string
		values []string
	}{
		{"filter want", enum(scenarios.FilterAnswer{}, "Want")},
		{"filter traffic", enum(scenarios.FilterAnswer{}, "Traffic")},
		{"pcap proves", enum(scenarios.PcapAnswer{}, "Proves")},
	} {
		for _, v := range c.values {
			if !strings.Contains(string(data), "`"+v+"`") {
				t.Errorf("docs/authoring.md does not name the %s `%s`", c.what, v)
			}
		}
	}
	wants := enum(scenarios.FilterAnswer{}, "Want")
	for _, w := range wants {
		if checker.FilterWants[w] == nil {
			t.Errorf("the format accepts filter want %q, which the judge does not know", w)
		}
	}
	if len(checker.FilterWants) != len(wants) {
		t.Errorf("the judge knows %d filter wants, the format accepts %d: %q", len(checker.FilterWants), len(wants), wants)
	}
}

// TestAuthoringGuideNamesEveryFilterJudgementOutcome judges a filter of
// each kind (exact, near misses both ways, empty, refused by libpcap) and
// requires the phrase the judge says to be quoted in docs/authoring.md.
func TestAuthoringGuideNamesEveryFilterJudgementOutcome(t *testing.T) {
	data, err := os.ReadFile("../../docs/authoring.md")
	if err != nil {
		t.Fatal(err)
	}
	guide := strings.Join(strings.Fields(string(data)), " ") // a phrase may wrap
	cases := []struct {
		name, filter string
		pass         bool
		phrase       string // in the observation and in the guide
	}{
		{"an exact filter passes", "tcp[tcpflags] == tcp-syn", true, "exact"},
		{"a filter that takes too much is told what else it catches", "tcp[tcpflags] & tcp-syn != 0", false, "it also catches"},
		{"a filter that takes too little is told what it misses", "tcp[tcpflags] == tcp-syn and dst port 80", false, "it misses"},
		{"an empty filter fails", "", false, "no filter given"},
		{"a filter libpcap refuses fails with its reason", "tcp port", false, "tcpdump would not accept the filter"},
	}
	c := &checker.Checker{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := c.Answer(context.Background(), &scenarios.Answer{Filter: &scenarios.FilterAnswer{Traffic: "web-mix", Want: "syn-only"}}, []string{tc.filter})
			if o.Pass != tc.pass {
				t.Errorf("%q: pass = %v (%s), want %v", tc.filter, o.Pass, o.Observed, tc.pass)
			}
			if !tc.pass && !strings.Contains(o.Observed, tc.phrase) {
				t.Errorf("%q: the judge says %q, not %q", tc.filter, o.Observed, tc.phrase)
			}
			t.Logf("%q: %s", tc.filter, o.Observed)
			if !strings.Contains(guide, tc.phrase) {
				t.Errorf("docs/authoring.md does not name the judgement %q", tc.phrase)
			}
		})
	}
}
