package main

import (
	"errors"
	"os"
	"os/exec"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/spf13/cobra"
)

func newExecCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "exec LAB HOST -- CMD [ARG...]",
		Short: "Run a command inside a lab host and return its exit code",
		Long: `Run a command inside a lab host. It sees the host's network, its own
/etc/resolv.conf and /etc/hosts, the host's name as hostname, and only the
lab's own processes (the lab's PID namespace, with its own /proc: ps and
ss -p show the lab's PIDs). 'ip netns exec LAB-HOST' also enters the host,
but shows the machine's processes.`,
		Example:           "  netdojo exec first-lab client -- ping -c 1 10.0.1.1",
		Args:              cobra.MinimumNArgs(3),
		ValidArgsFunction: labHostArgs(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needRoot("netdojo exec"); err != nil {
				return err
			}
			return runInHost(g, args[0], args[1], args[2:]...)
		},
	}
}

// runInHost runs a command attached to this terminal inside a host and
// passes on its exit code.
func runInHost(g *globalOptions, labName, host string, argv ...string) error {
	if err := checkLabHost(labName, host); err != nil {
		return err
	}
	lab, err := sandbox.Open(g.store(), labName)
	if err != nil {
		return err
	}
	c, err := lab.Command(host, argv...)
	if err != nil {
		return err
	}
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = c.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return &silentError{code: ee.ExitCode()}
	}
	return err
}
