package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/spf13/cobra"
)

func newShellCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:               "shell LAB HOST",
		Short:             "Open an interactive shell inside a lab host",
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: labHostArgs(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needRoot("netdojo shell"); err != nil {
				return err
			}
			if err := checkLabHost(args[0], args[1]); err != nil {
				return err
			}
			lab, err := sandbox.Open(g.store(), args[0])
			if err != nil {
				return err
			}
			rc := filepath.Join(lab.Dir(), "bashrc")
			prompt := fmt.Sprintf(`[ -f /etc/bash.bashrc ] && . /etc/bash.bashrc
[ -f ~/.bashrc ] && . ~/.bashrc
PS1='\[\e[1m\][%s/\h]\[\e[0m\] \w\$ '
echo "netdojo: you are in host %s of lab %s; 'exit' leaves it"
`, lab.Name, args[1], lab.Name)
			if err := os.WriteFile(rc, []byte(prompt), 0o644); err != nil {
				return err
			}
			shell := "/bin/bash"
			if _, err := os.Stat(shell); err != nil {
				return runInHost(g, args[0], args[1], "/bin/sh", "-i")
			}
			return runInHost(g, args[0], args[1], shell, "--rcfile", rc, "-i")
		},
	}
}
