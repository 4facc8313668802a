package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netdojo/netdojo/drill"
	"github.com/netdojo/netdojo/sandbox"
)

// cpuTicks is a process's user and system time, with that of its waited-for
// children (the commands a fault or a probe runs), in clock ticks, from
// /proc/PID/stat (fields 14 to 17).
func cpuTicks(pid int) (uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	utime, _ := strconv.ParseUint(fields[11], 10, 64)
	stime, _ := strconv.ParseUint(fields[12], 10, 64)
	cutime, _ := strconv.ParseUint(fields[13], 10, 64)
	cstime, _ := strconv.ParseUint(fields[14], 10, 64)
	return utime + stime + cutime + cstime, nil
}

// BenchmarkDrillRunnerCPU measures what a drill's probes cost: the runner
// of gateway-502 at real speed (a probe every 5 s, the fault landing at
// 30 s so that the cleared judgement and the red service run too), its
// CPU time over DRILL_CPU_SECONDS (60 by default) of wall time, as a
// percentage of one CPU. Run it alone:
//
//	go test ./cmd/netdojo -run '^$' -bench DrillRunnerCPU -benchtime 1x
func BenchmarkDrillRunnerCPU(b *testing.B) {
	window := 60 * time.Second
	if s, err := strconv.Atoi(os.Getenv("DRILL_CPU_SECONDS")); err == nil && s > 0 {
		window = time.Duration(s) * time.Second
	}
	for i := 0; i < b.N; i++ {
		state := b.TempDir()
		store := sandbox.Store{Dir: state}
		lab := fmt.Sprintf("drill-cpu-%04x", os.Getpid()%0xffff)
		cmd := []string{"--state-dir", state, "drill", "start", "gateway-502", "--lab", lab, "--seed", "1"}
		if out, code := ndB(b, cmd...); code != 0 {
			b.Fatalf("drill start: exit %d\n%s", code, out)
		}
		l, err := sandbox.Open(store, lab)
		if err != nil {
			b.Fatal(err)
		}
		pid := 0
		for _, p := range l.State.Processes {
			if p.Name == drill.RunnerName {
				pid = p.PID
			}
		}
		t0, err := cpuTicks(pid)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		time.Sleep(window)
		t1, err := cpuTicks(pid)
		wall := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		rec, _ := drill.ReadRecord(drill.Dir(store, lab))
		ndB(b, "--state-dir", state, "drill", "end", lab)
		cpu := float64(t1-t0) / 100 // USER_HZ is 100 on Linux
		b.ReportMetric(100*cpu/wall.Seconds(), "cpu-%")
		b.ReportMetric(float64(len(rec.SLI)), "samples")
		b.Logf("runner %d: %.2f s of CPU in %s, %d samples, status %s", pid, cpu, wall.Round(time.Second), len(rec.SLI), rec.Status)
	}
}

func ndB(b *testing.B, args ...string) (string, int) {
	b.Helper()
	out, err := execOut(args...)
	code := 0
	if err != nil {
		code = 1
	}
	return out, code
}

func execOut(args ...string) (string, error) {
	out, err := exec.Command(binary, args...).CombinedOutput()
	return string(out), err
}
