package scenarios

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

// LoadMemoryBound is the most a Load may allocate, whatever the input:
// the fuzz target and the hostile-file test fail above it. The largest
// file the limits let through allocates about 40 MiB.
const LoadMemoryBound = 64 << 20

// loadAllocs loads data and returns the error and the bytes allocated.
func loadAllocs(data []byte) (error, uint64) {
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	_, err := Load("x.yaml", data, Options{Seed: 3})
	runtime.ReadMemStats(&m1)
	return err, m1.TotalAlloc - m0.TotalAlloc
}

const limitHead = "apiVersion: netdojo/v1\nmetadata: {name: x, title: X}\n"

// billionLaughs is ten anchors, each a list of ten aliases of the one
// before: 207 bytes that stand for 10^10 nodes.
func billionLaughs() string {
	var b strings.Builder
	b.WriteString(limitHead + "hints: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\nstory: [")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "&l%d [", i)
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*l%d", i-1)
		}
		b.WriteString("], ")
	}
	b.WriteString("x]\n")
	return b.String()
}

// lanScenario is n hosts on one bridge, as lan-200.
func lanScenario(n int) string {
	var b strings.Builder
	b.WriteString(limitHead + "hosts:\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "  h%d:\n    interfaces: [{network: lan, ipv4: 10.%d.%d.%d/8}]\n", i, i/65536, i/256%256, i%256)
	}
	b.WriteString("networks:\n  lan: {type: bridge}\n")
	return b.String()
}

func tasksScenario(n int) string {
	var b strings.Builder
	b.WriteString(limitHead + "hosts:\n  a: {interfaces: [{network: lan, ipv4: 10.0.0.1/24}]}\nnetworks:\n  lan: {type: bridge}\ntasks:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - {id: t%d, prompt: p, answer: {correct: x}}\n", i)
	}
	return b.String()
}

var limitCases = []struct {
	name string
	in   func() string
	want string
}{
	{"an alias inside its own anchor is refused where the alias is", func() string {
		return limitHead + "tasks:\n  - id: t\n    prompt: p\n    check: &c\n      capture:\n        host: a\n        dev: eth0\n        filter: icmp\n        during: *c\n"
	}, "x.yaml:11:17: alias *c refers to the anchor &c (line 6) that contains it, which would make the file endless; an alias may only refer to something outside itself"},
	{"an alias to an anchor further up is refused too", func() string {
		return limitHead + "hosts: &top\n  a:\n    interfaces:\n      - network: lan\n        extra: [1, 2, *top]\n"
	}, "x.yaml:7:23: alias *top refers to the anchor &top (line 3) that contains it, which would make the file endless; an alias may only refer to something outside itself"},
	{"a billion laughs is refused at the alias that stands for them", billionLaughs,
		"x.yaml:4:294: with its aliases expanded the file holds more than 200000 YAML nodes, the most a scenario may hold; *l5 stands for more than 200000 nodes and is used 10 times; repeat less"},
	{"more than 100,000 nodes as written are refused where the count passes the limit", func() string {
		return limitHead + "hints: [" + strings.Repeat("0,", MaxNodes) + "0]\n"
	}, "x.yaml:3:199985: the file holds more than 100000 YAML nodes (values, lists and mappings) by here, the most a scenario may hold"},
	{"nesting over 64 levels is refused where it passes the limit", func() string {
		return limitHead + "hints: " + strings.Repeat("[", 100) + strings.Repeat("]", 100) + "\n"
	}, "x.yaml:3:71: lists and mappings are nested more than 64 levels deep here (aliases expanded), the most a scenario may nest"},
	{"nesting built of aliases counts as nesting", func() string {
		return limitHead + "x: &a " + strings.Repeat("[", 40) + strings.Repeat("]", 40) + "\nhints: " + strings.Repeat("[", 30) + "*a" + strings.Repeat("]", 30) + "\n"
	}, "x.yaml:4:38: lists and mappings are nested more than 64 levels deep here (aliases expanded), the most a scenario may nest"},
	{"parameter values that would make a small file enormous are refused", func() string {
		return limitHead + "hosts: {a: {}}\nparams: [{name: p, choice: [" + strings.Repeat("A", 10000) + "]}]\nhints: [\"" + strings.Repeat("${p}", 30) + "\"]\n"
	}, "x.yaml:5:9: the parameters' values substituted up to here add more than 262144 bytes to the file, the most they may; refer to long values less often"},
	{"a file over 256 KiB is refused before it is parsed", func() string {
		return limitHead + "story: |\n" + strings.Repeat("  a long story\n", MaxFileBytes/15)
	}, "x.yaml:1:1: the file is larger than 262144 bytes, the most a scenario may be; split the scenario"},
	{"more than 1000 hosts are refused", func() string { return lanScenario(MaxHosts + 1) },
		"x.yaml:3:1: hosts: 1001 hosts; a scenario may have at most 1000"},
	{"more than 200 tasks are refused", func() string { return tasksScenario(MaxTasks + 1) },
		"x.yaml:7:1: tasks: 201 tasks; a scenario may have at most 200"},
	{"a garbage second document is refused", func() string {
		return limitHead + "hosts: {a: {}}\n---\n]]] garbage\n"
	}, "x.yaml:4:1: a scenario file holds one YAML document; remove the second '---' and what follows it (did not find expected node content)"},
}

func TestLimitsRefuseWithFileAndLine(t *testing.T) {
	for _, c := range limitCases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load("x.yaml", []byte(c.in()), Options{})
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("want problems, got %v", err)
			}
			if got := ps[0].String(); got != c.want || len(ps) != 1 {
				t.Errorf("got  %s\nwant %s", err, c.want)
			}
		})
	}
}

func TestLimitsLetTheLargestScenariosLoad(t *testing.T) {
	shared := strings.Replace(lanScenario(MaxHosts), "10.0.0.1/8}]\n", "10.0.0.1/8}]\n    routes: &r [{to: 192.0.2.0/24, via: 10.255.255.254}, {to: default, via: 10.255.255.254}]\n", 1)
	shared = strings.ReplaceAll(shared, "/8}]\n  h", "/8}]\n    routes: *r\n  h")
	for name, in := range map[string]string{
		"1000 hosts on one LAN":              lanScenario(MaxHosts),
		"1000 hosts sharing routes by alias": shared,
		"200 tasks":                          tasksScenario(MaxTasks),
		"lan-200":                            string(mustBuiltin(t, "lan-200")),
	} {
		t.Run(name+" loads", func(t *testing.T) {
			s, err := Load("x.yaml", []byte(in), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(name, "sharing") && len(s.Hosts[MaxHosts-2].Routes) != 2 {
				t.Errorf("host %s has %d routes, want the 2 of the alias", s.Hosts[MaxHosts-2].Name, len(s.Hosts[MaxHosts-2].Routes))
			}
		})
	}
}

func mustBuiltin(t testing.TB, name string) []byte {
	b, err := LookupBuiltin(name)
	if err != nil {
		t.Fatal(err)
	}
	return b.Data
}

// hostileInputs are what TestHostileFilesAreRefusedInBoundedMemory and the
// fuzz corpus hold: every way found to make the loader grow.
func hostileInputs(t testing.TB) map[string][]byte {
	in := map[string][]byte{}
	for _, f := range []string{"40-alias-cycle", "41-alias-expansion", "42-second-document"} {
		data, err := os.ReadFile("testdata/bad/" + f + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		in[f] = data
	}
	for _, c := range limitCases {
		in[c.name] = []byte(c.in())
	}
	// 180 KB that stood for 1.8 GB: a 60 KB value referred to 30,000 times.
	in["a parameter bomb"] = []byte(limitHead + "hosts: {a: {}}\nparams: [{name: p, choice: [" + strings.Repeat("A", 60000) + "]}]\nhints: [\"" + strings.Repeat("${p}", 30000) + "\"]\n")
	in["the largest file, all nodes"] = []byte("hints: [" + strings.Repeat("0,", MaxFileBytes/2-10) + "0]")
	in["the largest file, all problems"] = []byte("hints:\n" + strings.Repeat("- [0]\n", MaxFileBytes/6-10))
	return in
}

// TestHostileFilesAreRefusedInBoundedMemory loads each hostile input in a
// child process limited to 1 GiB of data, so that a regression fails this
// test instead of taking the machine (before the limits, the alias cycle
// grew past 1.3 GB in 3 s, and a 180 KB parameter bomb made a 1.8 GB
// string; under this limit they die in a second). Each input
// must be refused and allocate less than LoadMemoryBound. The limit is
// ulimit -d (RLIMIT_DATA, the heap): ulimit -v counts the address space the
// Go runtime reserves, far more than it uses.
func TestHostileFilesAreRefusedInBoundedMemory(t *testing.T) {
	if os.Getenv("NETDOJO_HOSTILE_CHILD") == "1" {
		for name, data := range hostileInputs(t) {
			err, allocs := loadAllocs(data)
			if err == nil {
				t.Errorf("%s: loaded", name)
			}
			t.Logf("hostile %s: refused, %d KiB allocated", name, allocs>>10)
			if allocs > LoadMemoryBound {
				t.Errorf("%s: %d MiB allocated; the bound is %d MiB", name, allocs>>20, LoadMemoryBound>>20)
			}
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", `ulimit -d 1048576 && exec "$0" -test.run '^TestHostileFilesAreRefusedInBoundedMemory$' -test.count=1 -test.v`, os.Args[0])
	cmd.Env = append(os.Environ(), "NETDOJO_HOSTILE_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the hostile files, loaded under ulimit -d 1 GiB: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), "hostile "); n != len(hostileInputs(t)) {
		t.Fatalf("the child loaded %d hostile inputs, want %d:\n%s", n, len(hostileInputs(t)), out)
	}
}
