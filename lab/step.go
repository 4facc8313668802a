package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/scenarios"
	"github.com/netdojo/netdojo/services"
)

// StepTimeout bounds each setup, solution and wrong-fix step. A step that
// runs longer is killed with its process group and fails the start or
// verify that ran it.
const StepTimeout = 30 * time.Second

// RunStep runs a step inside its host with a time limit (StepTimeout): a
// shell command, or a service stopped or (re)started with its scenario
// configuration. A shell step runs in its own process group, inside the
// lab's cgroup; its output goes to a file in the lab's log directory, so a
// process it leaves in the background (`sleep 90 &`, a daemon) never holds
// up the step: the step ends when its shell does, and what it left is the
// lab's, ended by stop.
func RunStep(ctx context.Context, lab *sandbox.Lab, st scenarios.Step) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, StepTimeout)
	defer cancel()
	if st.Service != "" {
		return "", serviceStep(ctx, lab, st)
	}
	cmd, err := lab.Command(st.Host, "sh", "-c", st.Run)
	if err != nil {
		return "", err
	}
	logDir := filepath.Join(lab.Dir(), "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return "", fmt.Errorf("creating log directory: %w", err)
	}
	logf, err := os.CreateTemp(logDir, "step-"+st.Host+"-*.log")
	if err != nil {
		return "", fmt.Errorf("creating the log of a step: %w", err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("starting step in host %q: %w", st.Host, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	output := func() string {
		data, _ := os.ReadFile(logf.Name())
		return string(data)
	}
	select {
	case err := <-done:
		return output(), err
	case <-ctx.Done():
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return output(), fmt.Errorf("did not finish in %s: %w", StepTimeout, ctx.Err())
		}
		return output(), fmt.Errorf("interrupted: %w", ctx.Err())
	}
}

// Service stops, starts or restarts a lab service with the configuration
// its scenario gives it, as `netdojo service` does.
func Service(ctx context.Context, lab *sandbox.Lab, s *scenarios.Scenario, host, name, action string) error {
	kind, params, err := services.ScenarioParams(s, host, name)
	if err != nil {
		return err
	}
	switch action {
	case "stop":
		return lab.StopProcess(host, name)
	case "start", "restart":
		return services.Restart(ctx, lab, host, name, kind.Name, params)
	}
	return fmt.Errorf("%q is not start, stop or restart", action)
}

// CheckService returns an error, naming what is missing, when the scenario
// gives host no service of that name (or gives it parameters that do not
// decode): what Service would refuse, checked before the lab is touched.
func CheckService(s *scenarios.Scenario, host, name string) error {
	_, _, err := services.ScenarioParams(s, host, name)
	return err
}

func serviceStep(ctx context.Context, lab *sandbox.Lab, st scenarios.Step) error {
	s := lab.Scenario
	if s == nil {
		return fmt.Errorf("lab %q has no scenario loaded", lab.Name)
	}
	return Service(ctx, lab, s, st.Host, st.Service, st.Action)
}
