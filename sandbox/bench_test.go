package sandbox_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
	"github.com/netdojo/netdojo/scenarios"
)

// lanScenario is N hosts on one bridge: the topology of lan-200 and of
// Mininet's `--topo single,N`.
func lanScenario(n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: netdojo/v1\nmetadata: {name: lan-%d, title: LAN}\nhosts:\n", n)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "  h%d:\n    interfaces: [{network: lan, ipv4: 10.1.%d.%d/16}]\n", i, i/250, i%250+1)
	}
	b.WriteString("networks:\n  lan: {type: bridge}\n")
	return b.String()
}

var benchSizes = []int{10, 50, 200}

// BenchmarkStartStop measures, side by side on the same topology, netdojo,
// a plain `ip -batch` build of it, and Mininet 2.3 (LinuxBridge switch, no
// controller, run inside a throwaway namespace so it cannot touch the
// machine's own). Metrics: start-ms, stop-ms and total-ms per operation.
func BenchmarkStartStop(b *testing.B) {
	for _, n := range benchSizes {
		s, err := scenarios.Load("lan.yaml", []byte(lanScenario(n)), scenarios.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("hosts=%d/netdojo", n), func(b *testing.B) {
			dir := sandboxtest.RunDir(b)
			store := sandbox.Store{Dir: dir}
			var start, stop time.Duration
			phases := map[string]time.Duration{}
			trace := func(p string, d time.Duration) { phases[p] += d }
			for i := 0; i < b.N; i++ {
				name := fmt.Sprintf("bn%d", i)
				t0 := time.Now()
				lab, err := sandbox.Start(context.Background(), s, sandbox.Options{Name: name, Store: store, Workers: benchWorkers(), Trace: trace})
				if err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				lab.Close()
				if err := sandbox.Stop(store, name); err != nil {
					b.Fatal(err)
				}
				start += t1.Sub(t0)
				stop += time.Since(t1)
			}
			report(b, start, stop)
			for p, d := range phases {
				b.ReportMetric(float64(d.Microseconds())/1000/float64(b.N), p+"-ms/op")
			}
		})
		b.Run(fmt.Sprintf("hosts=%d/netdojo-cli", n), func(b *testing.B) {
			benchCLI(b, n)
		})
		b.Run(fmt.Sprintf("hosts=%d/ip-batch", n), func(b *testing.B) {
			var start, stop time.Duration
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				if err := ipBatchBuild(n); err != nil {
					ipBatchDelete(n)
					b.Fatal(err)
				}
				t1 := time.Now()
				if err := ipBatchDelete(n); err != nil {
					b.Fatal(err)
				}
				start += t1.Sub(t0)
				stop += time.Since(t1)
			}
			report(b, start, stop)
		})
		b.Run(fmt.Sprintf("hosts=%d/mininet", n), func(b *testing.B) {
			if _, err := exec.LookPath("mn"); err != nil {
				b.Skip("mininet is not installed (apt-get install mininet bridge-utils)")
			}
			var total time.Duration
			for i := 0; i < b.N; i++ {
				d, err := mininetRun(n)
				if err != nil {
					b.Fatal(err)
				}
				total += d
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "total-ms/op")
		})
	}
}

func report(b *testing.B, start, stop time.Duration) {
	n := float64(b.N)
	b.ReportMetric(float64(start.Microseconds())/1000/n, "start-ms/op")
	b.ReportMetric(float64(stop.Microseconds())/1000/n, "stop-ms/op")
	b.ReportMetric(float64((start+stop).Microseconds())/1000/n, "total-ms/op")
}

// ipBatchBuild builds the LAN with iproute2 alone: one `ip -batch` creates
// the namespaces, the bridge and every veth (both ends placed directly in
// their namespaces); then one `ip -n NS -batch` per namespace sets
// addresses and brings links up.
func ipBatchBuild(n int) error {
	var root strings.Builder
	root.WriteString("netns add ipb.switch\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&root, "netns add ipb-h%d\n", i)
	}
	root.WriteString("link add lan netns ipb.switch type bridge\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&root, "link add h%d-eth0 netns ipb.switch type veth peer name eth0 netns ipb-h%d\n", i, i)
	}
	if err := ipBatch("", root.String()); err != nil {
		return err
	}
	var sw strings.Builder
	sw.WriteString("link set lan up\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&sw, "link set h%d-eth0 master lan up\n", i)
	}
	if err := ipBatch("ipb.switch", sw.String()); err != nil {
		return err
	}
	for i := 1; i <= n; i++ {
		cmds := fmt.Sprintf("link set lo up\naddr add 10.1.%d.%d/16 dev eth0\nlink set eth0 up\n", i/250, i%250+1)
		if err := ipBatch(fmt.Sprintf("ipb-h%d", i), cmds); err != nil {
			return err
		}
	}
	return nil
}

func ipBatchDelete(n int) error {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "netns del ipb-h%d\n", i)
	}
	b.WriteString("netns del ipb.switch\n")
	return ipBatch("", b.String())
}

func ipBatch(ns, cmds string) error {
	args := []string{"-batch", "-"}
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	c := exec.Command("ip", args...)
	c.Stdin = strings.NewReader(cmds)
	if out, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("ip %v: %v: %s", args, err, out)
	}
	return nil
}

// mininetRun times `mn --topo single,N --switch lxbr --controller none
// --test none` (build, start, stop) inside a throwaway namespace.
func mininetRun(n int) (time.Duration, error) {
	if out, err := exec.Command("ip", "netns", "add", "ndbench-mn").CombinedOutput(); err != nil {
		return 0, fmt.Errorf("%v: %s", err, out)
	}
	defer exec.Command("ip", "netns", "del", "ndbench-mn").Run()
	t0 := time.Now()
	out, err := exec.Command("ip", "netns", "exec", "ndbench-mn", "mn", "--topo", fmt.Sprintf("single,%d", n),
		"--switch", "lxbr", "--controller", "none", "--test", "none").CombinedOutput()
	d := time.Since(t0)
	if err != nil {
		return 0, fmt.Errorf("mn: %v: %s", err, out)
	}
	return d, nil
}

func benchWorkers() int { w, _ := strconv.Atoi(os.Getenv("NETDOJO_BENCH_WORKERS")); return w }

// benchCLI times `netdojo start FILE --name X` and `netdojo stop X` as a
// user runs them: the built binary, its scenario loading, locking, state
// files and output included (the lab's store under /run, beside
// /run/netdojo).
func benchCLI(b *testing.B, n int) {
	dir := sandboxtest.RunDir(b)
	bin := dir + "/netdojo"
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/netdojo").CombinedOutput(); err != nil {
		b.Fatalf("building netdojo: %v: %s", err, out)
	}
	file := dir + "/lan.yaml"
	if err := os.WriteFile(file, []byte(lanScenario(n)), 0o644); err != nil {
		b.Fatal(err)
	}
	run := func(args ...string) error {
		args = append([]string{"--state-dir", dir + "/labs"}, args...)
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("netdojo %v: %v: %s", args, err, out)
		}
		return nil
	}
	var start, stop time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("bc%d", i)
		t0 := time.Now()
		if err := run("start", file, "--name", name); err != nil {
			run("stop", name)
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := run("stop", name); err != nil {
			b.Fatal(err)
		}
		start += t1.Sub(t0)
		stop += time.Since(t1)
	}
	report(b, start, stop)
}
