package sandbox_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// namespaceCalls is what only package sandbox may name: every way a Go
// program switches a thread's namespace or makes a new one, by import path
// and identifier. A thread left in a lab's namespace, or a namespace made
// outside sandbox, escapes the naming, recording and cleanup that keep the
// machine's own network untouched (see docs/decisions.md and STYLE.md).
var namespaceCalls = map[string]map[string]string{
	"runtime": {
		"LockOSThread": "wires a goroutine to its thread: the first step of switching the thread's namespace",
	},
	"github.com/vishvananda/netns": {
		"Set":      "switches the calling thread's network namespace",
		"Setns":    "switches the calling thread's namespace",
		"New":      "makes a network namespace and switches the calling thread into it",
		"NewNamed": "makes a named network namespace and switches the calling thread into it",
	},
	"golang.org/x/sys/unix": {
		"Setns":       "switches the calling thread's namespace",
		"Unshare":     "moves the calling thread into new namespaces",
		"SYS_SETNS":   "setns(2) by raw system call",
		"SYS_UNSHARE": "unshare(2) by raw system call",
	},
	"syscall": {
		"Unshare":     "moves the calling thread into new namespaces",
		"SYS_SETNS":   "setns(2) by raw system call",
		"SYS_UNSHARE": "unshare(2) by raw system call",
	},
}

// cloneNewReason covers the CLONE_NEW* flags of unix and syscall: with
// Unshare, Setns or SysProcAttr.Cloneflags/Unshareflags they make or enter
// namespaces.
const cloneNewReason = "a namespace flag: makes or enters a namespace (unshare, setns, Cloneflags)"

// namespaceUses lists where a parsed file names what namespaceCalls bans,
// as "file:line: pkg.Name (why)".
func namespaceUses(fset *token.FileSet, f *ast.File) []string {
	imported := map[string]string{} // local name -> import path
	var found []string
	for _, im := range f.Imports {
		p, _ := strconv.Unquote(im.Path.Value)
		if _, ok := namespaceCalls[p]; !ok {
			continue
		}
		name := path.Base(p)
		if im.Name != nil {
			name = im.Name.Name
		}
		if name == "." {
			found = append(found, fset.Position(im.Pos()).String()+": dot import of "+p+" hides its namespace calls from this check")
		}
		imported[name] = p
	}
	ast.Inspect(f, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		id, ok := sel.X.(*ast.Ident)
		if !ok || id.Obj != nil { // id.Obj is set for a local variable, never for a package
			return true
		}
		p, ok := imported[id.Name]
		if !ok {
			return true
		}
		why, banned := namespaceCalls[p][sel.Sel.Name]
		if !banned && (p == "syscall" || p == "golang.org/x/sys/unix") && strings.HasPrefix(sel.Sel.Name, "CLONE_NEW") {
			why, banned = cloneNewReason, true
		}
		if banned {
			found = append(found, fset.Position(sel.Pos()).String()+": "+id.Name+"."+sel.Sel.Name+" ("+why+")")
		}
		return true
	})
	return found
}

func TestNamespaceUsesAreFound(t *testing.T) {
	cases := []struct {
		name, src string
		want      int
	}{
		{"a switch with netns.Set is found", `package p
import "github.com/vishvananda/netns"
func f(h netns.NsHandle) { netns.Set(h) }`, 1},
		{"an aliased import is followed", `package p
import ns "github.com/vishvananda/netns"
func f() { h, _ := ns.NewNamed("x"); _ = h }`, 1},
		{"unix.Setns, unix.Unshare and their flags are found", `package p
import "golang.org/x/sys/unix"
func f() { unix.Unshare(unix.CLONE_NEWNET); unix.Setns(3, unix.CLONE_NEWNS) }`, 4},
		{"a raw system call is found", `package p
import "syscall"
func f() { syscall.RawSyscall(syscall.SYS_SETNS, 3, 0, 0) }`, 1},
		{"a locked thread is found, even as a function value", `package p
import "runtime"
var lock = runtime.LockOSThread`, 1},
		{"clone flags for a child are found", `package p
import "syscall"
var a = syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}`, 1},
		{"a dot import is refused", `package p
import . "runtime"
func f() { LockOSThread() }`, 1},
		{"reading a namespace handle is allowed", `package p
import "github.com/vishvananda/netns"
func f() { h, _ := netns.GetFromPath("/run/netns/x"); h.Close() }`, 0},
		{"unlocking and other runtime calls are allowed", `package p
import "runtime"
func f() { runtime.UnlockOSThread(); runtime.Gosched() }`, 0},
		{"a local variable named like the package is not the package", `package p
type s struct{}
func (s) Set(int) {}
func f() { netns := s{}; netns.Set(1) }`, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, "p.go", c.src, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := namespaceUses(fset, f); len(got) != c.want {
				t.Errorf("found %d, want %d: %q", len(got), c.want, got)
			}
		})
	}
}

// TestOnlySandboxSwitchesNamespaces fails when a file outside package
// sandbox switches or makes a namespace or locks an OS thread: such code
// belongs in sandbox (Netns.Do, EnterMain, KeepMainThread); the rest of
// netdojo receives a namespace handle or a socket made inside it. Test
// files count too, and so does sandbox/sandboxtest: the shared test
// harness (namespaces, veths, labs) and every suite's own helpers build
// on sandbox's handles, so a test cannot strand a thread in a namespace.
func TestOnlySandboxSwitchesNamespaces(t *testing.T) {
	root := filepath.Join("..")
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("the module root is not %s: %v", root, err)
	}
	fset := token.NewFileSet()
	var found []string
	seen := map[string]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			if rel == "bin" || d.Name() == "testdata" || d.Name() == "vendor" || rel != "." && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || filepath.Dir(rel) == "sandbox" {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			return err
		}
		seen[filepath.Dir(rel)] = true
		found = append(found, namespaceUses(fset, f)...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range []string{"cmd/netdojo", "faults", "probe", "services", "checker", "scenarios", "sandbox/sandboxtest"} {
		if !seen[pkg] {
			t.Errorf("the walk did not reach package %s; it checks nothing there", pkg)
		}
	}
	sort.Strings(found)
	for _, f := range found {
		t.Errorf("%s: only package sandbox switches or makes namespaces and locks threads; give this code a namespace handle, a socket made in the namespace, or a sandbox function", f)
	}
}
