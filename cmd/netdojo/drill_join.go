package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/netdojo/netdojo/drill"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/scenarios"
	"github.com/spf13/cobra"
)

type drillJoinOptions struct {
	as   string
	role string
	host string
}

func newDrillJoinCmd(g *globalOptions) *cobra.Command {
	o := &drillJoinOptions{}
	cmd := &cobra.Command{
		Use:   "join DRILL --as NAME [--role ROLE] [--host HOST]",
		Short: "Join a drill: your role's prompt, then a shell in a lab host whose every command is recorded",
		Long: `Join a running drill as a participant: print the story and your role's
prompt, then open a bash shell inside a host of the drill's lab. Every command
line you run is recorded with its time, your name and the host, and shows on
the board and in the report. 'exit' leaves the shell; join again (on another
host with --host) as often as you like.`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: drillArgs(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needRoot("netdojo drill join"); err != nil {
				return err
			}
			if o.as == "" {
				return withCode(exitUsage, fmt.Errorf("say who you are with --as NAME"))
			}
			if err := drill.CheckName("participant", o.as); err != nil {
				return withCode(exitUsage, err)
			}
			dir, rec, err := runningDrill(g, args[0])
			if err != nil {
				return err
			}
			meta, err := drill.ReadMeta(dir)
			if err != nil {
				return err
			}
			data, err := os.ReadFile(filepath.Join(dir, drill.DrillFile))
			if err != nil {
				return err
			}
			d, err := scenarios.LoadDrill(meta.Source, data, drill.LoadOptions(meta.Seed))
			if err != nil {
				return err
			}
			role := d.Role(o.role)
			if o.role == "" {
				role = d.Role("responder")
				if role == nil {
					role = &d.Roles[0]
				}
			}
			if role == nil {
				var names []string
				for _, r := range d.Roles {
					names = append(names, r.Name)
				}
				return withCode(exitUsage, fmt.Errorf("drill %s has no role %q; its roles are: %s", d.Name, o.role, strings.Join(names, ", ")))
			}
			host := o.host
			if host == "" {
				host = probeHost(d)
			}
			if d.Lab.Host(host) == nil {
				var names []string
				for _, h := range d.Lab.Hosts {
					names = append(names, h.Name)
				}
				return withCode(exitUsage, fmt.Errorf("the drill's lab has no host %q; its hosts are: %s", host, strings.Join(names, ", ")))
			}
			lab, err := sandbox.Open(g.store(), meta.Lab)
			if err != nil {
				return err
			}
			defer lab.Close()
			rc := filepath.Join(dir, "join-"+o.as+".bashrc")
			if err := os.WriteFile(rc, []byte(drill.JoinRC(dir, meta.Lab, o.as, host)), 0o644); err != nil {
				return err
			}
			if err := drill.Send(dir, drill.Event{Op: drill.OpJoin, Who: o.as, Role: role.Name, Host: host}); err != nil {
				return err
			}
			w := cmd.ErrOrStderr()
			fmt.Fprintf(w, "drill %s: %s\n\n%s\nyou are %s, %s: %s\n\nYour commands are recorded. Declare the root cause with:\n  netdojo drill declare %s --as %s \"WHAT IS BROKEN AND WHERE\"\n\nshell in host %s ('exit' leaves it)\n",
				d.Name, d.Title, d.Story, o.as, role.Name, role.Prompt, meta.Lab, o.as, host)
			told := false
			for _, m := range rec.Messages {
				if m.Text == d.Story || (m.To != "" && m.To != role.Name) {
					continue
				}
				if !told {
					fmt.Fprintln(w, "\nso far:")
					told = true
				}
				fmt.Fprintf(w, "  %s %s: %s\n", drillTime(m.T), m.From, m.Text)
			}
			fmt.Fprintln(w)
			c, err := lab.Command(host, "bash", "--rcfile", rc, "-i")
			if err != nil {
				return err
			}
			c.Env = append(c.Env, "NETDOJO_DRILL="+meta.Lab, "NETDOJO_PARTICIPANT="+o.as)
			c.Stdin, c.Stdout, c.Stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
			err = c.Run()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return &silentError{code: ee.ExitCode()}
			}
			return err
		},
	}
	cmd.Flags().StringVar(&o.as, "as", "", "your name, as the board and the report show it")
	cmd.Flags().StringVar(&o.role, "role", "", "your role (default responder, or the drill's first role)")
	cmd.Flags().StringVar(&o.host, "host", "", "the host your shell runs in (default: where the synthetic user runs)")
	return cmd
}

// probeHost is the host the service probe runs from.
func probeHost(d *scenarios.Drill) string {
	ch := d.Service.Check
	switch {
	case ch.HTTP != nil:
		return ch.HTTP.From
	case ch.DNS != nil:
		return ch.DNS.From
	case ch.Reach != nil:
		return ch.Reach.From
	case ch.Ping != nil:
		return ch.Ping.From
	}
	return d.Lab.Hosts[0].Name
}
