package scenarios

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestBadFiles loads every file in testdata/bad and compares the complete
// error text with the .err file beside it.
func TestBadFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	if len(files) < 30 {
		t.Fatalf("want at least 30 bad scenario files, found %d", len(files))
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml")+" is rejected with its exact error", func(t *testing.T) {
			_, err := LoadFile(f, Options{})
			if err == nil {
				t.Fatal("loaded without error")
			}
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("error is not Problems: %v", err)
			}
			for _, p := range ps {
				if p.Pos.Line < 1 || p.Pos.Col < 1 {
					t.Errorf("problem without a position: %s", p)
				}
			}
			golden := strings.TrimSuffix(f, ".yaml") + ".err"
			got := err.Error() + "\n"
			if *update {
				os.WriteFile(golden, []byte(got), 0o644)
			}
			want, rerr := os.ReadFile(golden)
			if rerr != nil {
				t.Fatalf("no golden file (run with -update): %v", rerr)
			}
			if got != string(want) {
				t.Errorf("error text differs\n got: %s\nwant: %s", got, want)
			}
		})
	}
}

func TestEveryProblemIsReportedAtOnce(t *testing.T) {
	_, err := LoadFile("testdata/bad/35-many-problems.yaml", Options{})
	var ps Problems
	if !errors.As(err, &ps) || len(ps) < 4 {
		t.Fatalf("want at least 4 problems reported together, got %v", err)
	}
}

func TestLibraryScenariosAreValid(t *testing.T) {
	lib := Library()
	if len(lib) < 5 {
		t.Fatalf("library has %d scenarios", len(lib))
	}
	for _, b := range lib {
		t.Run(b.Name+" loads and names itself after its file", func(t *testing.T) {
			s, err := Load(b.Path, b.Data, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if s.Name != b.Name {
				t.Errorf("metadata.name %q differs from file name %q", s.Name, b.Name)
			}
			if b.Title == "" {
				t.Error("no title")
			}
		})
	}
}

func TestResolveFillsDefaults(t *testing.T) {
	b, err := LookupBuiltin("first-lab")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Load(b.Path, b.Data, Options{})
	if err != nil {
		t.Fatal(err)
	}
	client := s.Host("client")
	if client == nil || len(client.Interfaces) != 1 {
		t.Fatalf("client: %+v", client)
	}
	ifc := client.Interfaces[0]
	if ifc.Name != "eth0" || ifc.MTU != 1500 || ifc.IPv4.String() != "10.0.1.10/24" {
		t.Errorf("client eth0 = %s mtu %d %s", ifc.Name, ifc.MTU, ifc.IPv4)
	}
	if s.Network("uplink").Ends[1].Host.Name != "server" {
		t.Error("uplink's second end is not the server")
	}
	if got := s.Host("router").Interfaces[1].Peer().Host.Name; got != "server" {
		t.Errorf("router eth1 peer = %s", got)
	}
	vx, _ := LookupBuiltin("vxlan-overlay")
	sv, err := Load(vx.Path, vx.Data, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := sv.Network("overlay"); n.Port != 4789 || n.Underlay.Name != "underlay" {
		t.Errorf("vxlan defaults: port %d underlay %v", n.Port, n.Underlay)
	}
}

const paramScenario = `apiVersion: netdojo/v1
metadata: {name: p, title: P}
params:
  - {name: octet, min: 10, max: 250}
  - {name: port, choice: ['8080', '8443', '9000', '9443']}
hosts:
  a:
    interfaces: [{network: lan, ipv4: '10.0.${octet}.1/24'}]
  b:
    interfaces: [{network: lan, ipv4: '10.0.${octet}.2/24'}]
networks:
  lan: {type: bridge}
tasks:
  - id: port
    prompt: Which port?
    check:
      reach: {from: a, to: '10.0.${octet}.2', port: '${port}', expect: open}
`

func TestParamsAreDrawnFromTheSeed(t *testing.T) {
	load := func(seed uint64) *Scenario {
		s, err := Load("p.yaml", []byte(paramScenario), Options{Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	def := load(0)
	if def.Values["octet"] != "10" || def.Values["port"] != "8080" {
		t.Errorf("defaults: %v", def.Values)
	}
	a1, a2 := load(7), load(7)
	if a1.Host("a").Addr4() != a2.Host("a").Addr4() || a1.Tasks[0].Check.Reach.Port != a2.Tasks[0].Check.Reach.Port {
		t.Error("the same seed drew different values")
	}
	seen := map[string]bool{}
	for seed := uint64(1); seed <= 20; seed++ {
		s := load(seed)
		seen[s.Values["octet"]+"/"+s.Values["port"]] = true
		if got := s.Tasks[0].Check.Reach.To; got != s.Host("b").Addr4().String() {
			t.Fatalf("seed %d: check target %s does not follow the drawn address %s", seed, got, s.Host("b").Addr4())
		}
	}
	if len(seen) < 5 {
		t.Errorf("20 seeds drew only %d distinct value sets", len(seen))
	}
}

// FuzzLoad fails on an input that makes Load allocate more than
// LoadMemoryBound, and bounds the heap of the process (RLIMIT_DATA, 1 GiB
// above what it holds at the start), so that an input that would grow
// without end crashes the fuzz worker, which the fuzzer reports with the
// input, instead of taking the machine. The hostile inputs (alias cycle,
// alias bomb, limits) are seeds.
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	for _, file := range files {
		data, _ := os.ReadFile(file)
		f.Add(data)
	}
	for _, b := range Library() {
		if len(b.Data) < 4000 {
			f.Add(b.Data)
		}
	}
	f.Add([]byte(paramScenario))
	for _, data := range hostileInputs(f) {
		if len(data) < 64<<10 {
			f.Add(data)
		}
	}
	restore := boundHeap(f, 1<<30)
	defer restore()
	f.Fuzz(func(t *testing.T, data []byte) {
		err, allocs := loadAllocs(data)
		if allocs > LoadMemoryBound {
			t.Fatalf("Load allocated %d MiB; the bound is %d MiB", allocs>>20, LoadMemoryBound>>20)
		}
		var ps Problems
		if err != nil && errors.As(err, &ps) {
			for _, p := range ps {
				if p.Msg == "" {
					t.Fatalf("empty problem message: %#v", p)
				}
			}
		}
	})
}

// boundHeap sets the soft RLIMIT_DATA of the process to what it holds now
// plus extra, and returns a function that restores the old limit.
func boundHeap(t testing.TB, extra uint64) func() {
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_DATA, &old); err != nil {
		t.Fatal(err)
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	lim := old
	lim.Cur = min(m.Sys+extra, old.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_DATA, &lim); err != nil {
		t.Fatal(err)
	}
	return func() { syscall.Setrlimit(syscall.RLIMIT_DATA, &old) }
}

func TestComputedIsLeftForTheChecker(t *testing.T) {
	src := strings.Replace(paramScenario, "tasks:", `solution:
  - {task: port, answer: "${computed}"}
tasks:`, 1)
	s, err := Load("p.yaml", []byte(src), Options{Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Solution[0].Answer; got != "${computed}" {
		t.Errorf("solution answer = %q, want ${computed} kept", got)
	}
}

// TestLibraryScenariosAreComplete: every built-in scenario can be played
// and proved: faults, tasks with hints (at least one judged on the lab), a
// solution and a wrong fix. verify --all (in CI) proves the rest.
func TestLibraryScenariosAreComplete(t *testing.T) {
	for _, b := range Library() {
		t.Run(b.Name+" has faults, hinted tasks, a solution and a wrong fix", func(t *testing.T) {
			s, err := Load(b.Path, b.Data, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Faults) == 0 {
				t.Error("no faults")
			}
			lab := 0
			for _, task := range s.Tasks {
				if len(task.Hints) == 0 {
					t.Errorf("task %s has no hints", task.ID)
				}
				if task.Check != nil {
					lab++
				}
			}
			if len(s.Tasks) == 0 || lab == 0 {
				t.Errorf("%d tasks, %d judged on the lab; want at least one judged on the lab", len(s.Tasks), lab)
			}
			if len(s.Solution) == 0 {
				t.Error("no solution")
			}
			if len(s.WrongFixes) == 0 {
				t.Error("no wrong fix")
			}
		})
	}
}
