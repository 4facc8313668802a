package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/sandbox/sandboxtest"
	"github.com/netdojo/netdojo/scenarios"
)

// TestMain lets the test binary stand in for netdojo when a lab host is
// entered (Lab.Command re-executes the running binary).
func TestMain(m *testing.M) { sandboxtest.Main(m, "sandbox", nil) }

func builtin(t testing.TB, name string) *scenarios.Scenario {
	t.Helper()
	b, err := scenarios.LookupBuiltin(name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := scenarios.Load(b.Path, b.Data, scenarios.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// startLab starts a lab of s and registers its stop and the leftover checks.
func startLab(t *testing.T, store sandbox.Store, s *scenarios.Scenario, name string) *sandbox.Lab {
	t.Helper()
	return sandboxtest.StartLab(t, store, name, func(ctx context.Context, o sandbox.Options) (*sandbox.Lab, error) {
		return sandbox.Start(ctx, s, o)
	})
}

// run runs a command inside a lab host and returns its output.
func run(t *testing.T, lab *sandbox.Lab, host string, argv ...string) string {
	t.Helper()
	c, err := lab.Command(host, argv...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("%s in %s: %v\n%s", strings.Join(argv, " "), host, err, out)
	}
	return string(out)
}

// ipJSON runs `ip -j ARGS` in a namespace: iproute2 is the oracle.
func ipJSON(t *testing.T, ns string, args ...string) []map[string]any {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"-j", "-d", "-n", ns}, args...)...).Output()
	if err != nil {
		t.Fatalf("ip -n %s %v: %v", ns, args, err)
	}
	var v []map[string]any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("ip -j output: %v", err)
	}
	return v
}

func netnsExec(t *testing.T, ns string, argv ...string) (string, error) {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, argv...)...).CombinedOutput()
	return string(out), err
}

func TestTopologies(t *testing.T) {
	before := sandboxtest.Take(t)
	store := sandboxtest.NewStore(t)
	cases := []struct {
		scenario string
		check    func(t *testing.T, lab *sandbox.Lab)
	}{
		{"first-lab", func(t *testing.T, lab *sandbox.Lab) {
			client := sandbox.NetnsName(lab.Name, "client")
			run(t, lab, "client", "ping", "-c", "1", "-W", "2", "203.0.113.80")
			run(t, lab, "client", "ping", "-6", "-c", "1", "-W", "2", "2001:db8:80::80")
			if got := strings.TrimSpace(run(t, lab, "client", "hostname")); got != "client" {
				t.Errorf("hostname in client = %q", got)
			}
			rc, err := netnsExec(t, client, "cat", "/etc/resolv.conf")
			if err != nil || !strings.Contains(rc, "search corp.test") || !strings.Contains(rc, "netdojo: resolver of host client") {
				t.Errorf("ip netns exec %s cat /etc/resolv.conf shows %q (%v)", client, rc, err)
			}
			if out := run(t, lab, "client", "getent", "hosts", "gw.corp.test"); !strings.Contains(out, "10.0.1.1") {
				t.Errorf("getent hosts gw.corp.test = %q", out)
			}
			bridges := ipJSON(t, lab.State.SwitchNetns, "link", "show", "type", "bridge")
			if len(bridges) != 1 || bridges[0]["ifname"] != "office" {
				t.Errorf("switch namespace bridges = %v", bridges)
			}
			rl, _ := netnsExec(t, client, "sysctl", "-n", "net.ipv4.icmp_ratelimit")
			if strings.TrimSpace(rl) != "0" {
				t.Errorf("icmp_ratelimit in client = %q, want 0", rl)
			}
			brnf, _ := netnsExec(t, lab.State.SwitchNetns, "sysctl", "-n", "net.bridge.bridge-nf-call-iptables")
			if strings.TrimSpace(brnf) != "0" {
				t.Errorf("bridge-nf-call-iptables in switch = %q, want 0", brnf)
			}
		}},
		{"p2p-pair", func(t *testing.T, lab *sandbox.Lab) {
			links := ipJSON(t, sandbox.NetnsName(lab.Name, "left"), "link", "show", "link0")
			if links[0]["mtu"].(float64) != 9000 || links[0]["address"] != "02:00:00:00:50:01" {
				t.Errorf("left link0 = mtu %v mac %v", links[0]["mtu"], links[0]["address"])
			}
			run(t, lab, "left", "ping", "-c", "1", "-W", "2", "-s", "8972", "-M", "do", "192.168.50.2")
			run(t, lab, "right", "ping", "-6", "-c", "1", "-W", "2", "fd00:50::1")
		}},
		{"vxlan-overlay", func(t *testing.T, lab *sandbox.Lab) {
			links := ipJSON(t, sandbox.NetnsName(lab.Name, "node1"), "link", "show", "vxlan42")
			info := links[0]["linkinfo"].(map[string]any)
			data := info["info_data"].(map[string]any)
			if info["info_kind"] != "vxlan" || data["id"].(float64) != 42 || data["remote"] != "172.16.0.12" || links[0]["mtu"].(float64) != 1450 {
				t.Errorf("vxlan42 on node1 = %v mtu %v", info, links[0]["mtu"])
			}
			run(t, lab, "node1", "ping", "-c", "1", "-W", "2", "10.244.0.2")
		}},
		{"k8s-node", func(t *testing.T, lab *sandbox.Lab) {
			node := sandbox.NetnsName(lab.Name, "node")
			br := ipJSON(t, node, "addr", "show", "cni0")
			if len(br) != 1 || !strings.Contains(fmt.Sprint(br[0]["addr_info"]), "10.244.1.1") {
				t.Errorf("cni0 on node = %v", br)
			}
			ports := ipJSON(t, node, "link", "show", "master", "cni0")
			if len(ports) != 2 {
				t.Errorf("cni0 has %d ports, want 2", len(ports))
			}
			run(t, lab, "pod-a", "ping", "-c", "1", "-W", "2", "10.244.1.11")
			run(t, lab, "pod-b", "ping", "-c", "1", "-W", "2", "10.244.1.1")
			brnf, _ := netnsExec(t, node, "sysctl", "-n", "net.bridge.bridge-nf-call-iptables")
			if strings.TrimSpace(brnf) != "1" {
				t.Errorf("bridge-nf-call-iptables on node = %q, want 1", brnf)
			}
		}},
		{"route-types", func(t *testing.T, lab *sandbox.Lab) {
			edge := sandbox.NetnsName(lab.Name, "edge")
			for dst, want := range map[string]string{
				"198.51.100.0/24": "blackhole", "192.0.2.0/24": "unreachable", "203.0.113.0/24": "prohibit",
			} {
				out, _ := exec.Command("ip", "-n", edge, "route", "show", "exact", dst).Output()
				if !strings.HasPrefix(string(out), want) {
					t.Errorf("route for %s = %q, want %s", dst, out, want)
				}
			}
			// And what ip route get answers for each, the learner's view.
			for dst, want := range map[string]string{
				"198.51.100.7": "Invalid argument", "192.0.2.7": "No route to host", "203.0.113.7": "Permission denied",
			} {
				out, _ := exec.Command("ip", "-n", edge, "route", "get", dst).CombinedOutput()
				if !strings.Contains(string(out), want) {
					t.Errorf("ip route get %s = %q, want %q", dst, out, want)
				}
			}
			get, err := exec.Command("ip", "-n", edge, "route", "get", "10.20.1.1").Output()
			if err != nil || !strings.Contains(string(get), "via 10.9.0.2") {
				t.Errorf("ip route get 10.20.1.1 = %q (%v); want the metric-10 route via 10.9.0.2", get, err)
			}
			for key, want := range map[string]string{"net.ipv4.icmp_ratelimit": "1000", "net.ipv4.ip_forward": "1", "net.ipv4.conf.all.rp_filter": "1"} {
				out, _ := netnsExec(t, edge, "sysctl", "-n", key)
				if strings.TrimSpace(out) != want {
					t.Errorf("%s = %q, want %s", key, out, want)
				}
			}
			out, _ := exec.Command("ip", "-n", sandbox.NetnsName(lab.Name, "peer"), "route", "show", "default").Output()
			if !strings.Contains(string(out), "via 10.9.0.1 dev eth0") {
				t.Errorf("peer default route = %q", out)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.scenario+" builds and works", func(t *testing.T) {
			lab := startLab(t, store, builtin(t, c.scenario), sandboxtest.LabName("t"))
			for _, h := range lab.State.Hosts {
				if !sandbox.NetnsExists(h.Netns) {
					t.Errorf("host %s has no namespace %s in ip netns list", h.Name, h.Netns)
				}
			}
			c.check(t, lab)
		})
	}
	sandboxtest.AssertUnchanged(t, before)
}

func TestTwoLabsSideBySideAndTheSameScenarioTwice(t *testing.T) {
	before := sandboxtest.Take(t)
	store := sandboxtest.NewStore(t)
	s := builtin(t, "first-lab")
	names := []string{sandboxtest.LabName("a"), sandboxtest.LabName("b"), sandboxtest.LabName("c")}
	labs := make([]*sandbox.Lab, len(names))
	var wg sync.WaitGroup
	errs := make([]error, len(names))
	for i, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			labs[i], errs[i] = sandbox.Start(context.Background(), s, sandbox.Options{Name: n, Store: store})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("lab %s: %v", names[i], err)
		}
	}
	for i, lab := range labs {
		run(t, lab, "client", "ping", "-c", "1", "-W", "2", "203.0.113.80")
		if err := sandbox.Stop(store, names[i]); err != nil {
			t.Error(err)
		}
		lab.Close()
		sandboxtest.AssertNoLeftovers(t, store, names[i])
	}
	sandboxtest.AssertUnchanged(t, before)
}

func TestStopThenImmediateStartOfTheSameLab(t *testing.T) {
	sandboxtest.NeedRoot(t, "starts and stops a lab of network namespaces")
	store := sandboxtest.NewStore(t)
	s := builtin(t, "k8s-node")
	name := sandboxtest.LabName("r")
	for i := 0; i < 3; i++ {
		lab, err := sandbox.Start(context.Background(), s, sandbox.Options{Name: name, Store: store})
		if err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
		lab.Close()
		if err := sandbox.Stop(store, name); err != nil {
			t.Fatalf("stop %d: %v", i, err)
		}
	}
	sandboxtest.AssertNoLeftovers(t, store, name)
}

func TestAStartThatFailsHalfWayRollsBack(t *testing.T) {
	before := sandboxtest.Take(t)
	store := sandboxtest.NewStore(t)
	// Valid to the format, refused by the kernel while configuring hosts.
	s, err := scenarios.Load("half.yaml", []byte(`apiVersion: netdojo/v1
metadata: {name: half, title: Fails while configuring}
hosts:
  a:
    interfaces: [{network: lan, ipv4: 10.0.0.1/24}]
  b:
    interfaces: [{network: lan, ipv4: 10.0.0.2/24}]
    sysctls: {net.ipv4.no_such_sysctl: "1"}
networks:
  lan: {type: bridge}
`), scenarios.Options{})
	if err != nil {
		t.Fatal(err)
	}
	name := sandboxtest.LabName("f")
	_, err = sandbox.Start(context.Background(), s, sandbox.Options{Name: name, Store: store})
	if err == nil || !strings.Contains(err.Error(), "no_such_sysctl") {
		t.Fatalf("start error = %v, want one naming the sysctl", err)
	}
	sandboxtest.AssertNoLeftovers(t, store, name)
	sandboxtest.AssertUnchanged(t, before)
}

func TestAnInterruptedStartRollsBack(t *testing.T) {
	before := sandboxtest.Take(t)
	store := sandboxtest.NewStore(t)
	s := builtin(t, "lan-200")
	for i, delay := range []time.Duration{0, 5 * time.Millisecond, 30 * time.Millisecond, 80 * time.Millisecond} {
		name := sandboxtest.LabName(fmt.Sprintf("i%d", i))
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(delay, cancel)
		_, err := sandbox.Start(ctx, s, sandbox.Options{Name: name, Store: store, AfterNetwork: func(ctx context.Context, lab *sandbox.Lab) error {
			<-ctx.Done() // cancelled at the latest here, after the network
			return ctx.Err()
		}})
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("after %s: start error = %v, want context.Canceled", delay, err)
		}
		sandboxtest.AssertNoLeftovers(t, store, name)
	}
	sandboxtest.AssertUnchanged(t, before)
}

func TestALabIsLockedWhileStartingOrStopping(t *testing.T) {
	sandboxtest.NeedRoot(t, "starts and stops a lab of network namespaces")
	store := sandboxtest.NewStore(t)
	name := sandboxtest.LabName("l")
	lock, err := store.Lock(name)
	if err != nil {
		t.Fatal(err)
	}
	_, err = sandbox.Start(context.Background(), builtin(t, "p2p-pair"), sandbox.Options{Name: name, Store: store})
	if !errors.Is(err, sandbox.ErrLocked) || !strings.Contains(err.Error(), fmt.Sprint(os.Getpid())) {
		t.Errorf("start of a locked lab: %v; want ErrLocked naming the holder's pid", err)
	}
	lock.ReleaseAndRemove()
	lab := startLab(t, store, builtin(t, "p2p-pair"), name)
	_, err = sandbox.Start(context.Background(), builtin(t, "p2p-pair"), sandbox.Options{Name: name, Store: store})
	if !errors.Is(err, sandbox.ErrRunning) {
		t.Errorf("second start of a running lab: %v; want ErrRunning", err)
	}
	lock, _ = store.Lock(name)
	if err := sandbox.Stop(store, name); !errors.Is(err, sandbox.ErrLocked) {
		t.Errorf("stop of a locked lab: %v; want ErrLocked", err)
	}
	lock.Release()
	_ = lab
}

func TestProcessesInHostsEndAtStop(t *testing.T) {
	sandboxtest.NeedRoot(t, "starts processes in a lab of network namespaces")
	store := sandboxtest.NewStore(t)
	name := sandboxtest.LabName("p")
	lab, err := sandbox.Start(context.Background(), builtin(t, "p2p-pair"), sandbox.Options{Name: name, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	defer lab.Close()
	p, err := lab.Spawn("left", "sleeper", "sleep", "600")
	if err != nil {
		t.Fatal(err)
	}
	// A process the lab did not record, started by hand inside the host.
	stray := exec.Command("ip", "netns", "exec", sandbox.NetnsName(name, "right"), "sleep", "600")
	if err := stray.Start(); err != nil {
		t.Fatal(err)
	}
	strayDone := make(chan struct{})
	go func() { stray.Wait(); close(strayDone) }()
	// Wait until both run inside the lab: ip netns exec has entered the
	// namespace once it has become sleep.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", stray.Process.Pid))
		if p.Alive() && strings.TrimSpace(string(comm)) == "sleep" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !p.Alive() {
		t.Fatal("spawned process is not running")
	}
	if err := sandbox.Stop(store, name); err != nil {
		t.Fatal(err)
	}
	if p.Alive() {
		t.Errorf("recorded process %d still runs after stop", p.PID)
	}
	select {
	case <-strayDone:
	case <-time.After(5 * time.Second):
		t.Errorf("process %d started by hand in the host still runs after stop", stray.Process.Pid)
		stray.Process.Kill()
	}
	sandboxtest.AssertNoLeftovers(t, store, name)
}

func TestCleanRemovesLinksWhoseLabIsGone(t *testing.T) {
	sandboxtest.NeedRoot(t, "writes links under /etc/netns")
	store := sandboxtest.NewStore(t)
	if err := os.MkdirAll(sandbox.EtcNetnsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// What a reboot leaves: /run emptied, the /etc/netns link dangling.
	dangling := filepath.Join(sandbox.EtcNetnsDir, sandbox.NetnsName(sandboxtest.LabName("g"), "host"))
	if err := os.Symlink(filepath.Join(store.Dir, "labs", "gone", "etc", "host"), dangling); err != nil {
		t.Fatal(err)
	}
	// A link that is not netdojo's must stay.
	foreign := filepath.Join(sandbox.EtcNetnsDir, sandbox.NetnsName(sandboxtest.LabName("x"), "foreign"))
	if err := os.Symlink("/nonexistent/elsewhere", foreign); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(foreign)
	if _, err := sandbox.Clean(store, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(dangling); err == nil {
		os.Remove(dangling)
		t.Error("clean left a dangling /etc/netns link into its store")
	}
	if _, err := os.Lstat(foreign); err != nil {
		t.Error("clean removed a link that is not netdojo's")
	}
}

func TestCleanRemovesALabKilledBeforeItsFirstState(t *testing.T) {
	store := sandboxtest.NewStore(t)
	name := sandboxtest.LabName("k")
	// What a start killed inside its first Save leaves: the lab's
	// directory with a half-written temporary file, and its lock file.
	if err := os.MkdirAll(store.LabDir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(store.LabDir(name), "state.json.tmp"), []byte("{"), 0o644)
	lock, err := store.Lock(name)
	if err != nil {
		t.Fatal(err)
	}
	lock.Release()
	reports, err := sandbox.Clean(store, false)
	if err != nil {
		t.Fatalf("clean: %v (%+v)", err, reports)
	}
	sandboxtest.AssertNoLeftovers(t, store, name)
}

// TestLabsStartAndStopConcurrentlyInOneStore: a stop that empties the
// store's directories (and /etc/netns) must not break another lab's start
// that is creating them at the same moment.
func TestLabsStartAndStopConcurrentlyInOneStore(t *testing.T) {
	sandboxtest.NeedRoot(t, "starts labs of network namespaces")
	store := sandboxtest.NewStore(t)
	s := builtin(t, "p2p-pair")
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	var names []string
	for w := 0; w < 2; w++ {
		name := sandboxtest.LabName(fmt.Sprintf("w%d", w))
		names = append(names, name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 60; i++ {
				lab, err := sandbox.Start(context.Background(), s, sandbox.Options{Name: name, Store: store})
				if err != nil {
					errs <- fmt.Errorf("start %d of %s: %w", i, name, err)
					return
				}
				lab.Close()
				if err := sandbox.Stop(store, name); err != nil {
					errs <- fmt.Errorf("stop %d of %s: %w", i, name, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, n := range names {
		sandboxtest.AssertNoLeftovers(t, store, n)
	}
}
