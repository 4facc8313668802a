package main

import (
	"fmt"
	"text/tabwriter"

	labpkg "github.com/netdojo/netdojo/lab"
	"github.com/netdojo/netdojo/sandbox"
	"github.com/spf13/cobra"
)

func newServiceCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "service LAB [HOST NAME start|stop|restart]",
		Short: "List a lab's services, or start, stop or restart one (as systemctl would)",
		Long: `Without HOST and NAME, list the lab's services with their state. With them,
stop the service, or (re)start it with the configuration the scenario gives it:
what 'systemctl restart' does on a real host. A service whose port another
process holds fails to start, and says so.`,
		Example: `  netdojo service first-lab
  netdojo service first-lab server web restart`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 && len(args) != 4 {
				return withCode(exitUsage, fmt.Errorf("give LAB, or LAB HOST NAME start|stop|restart"))
			}
			return nil
		},
		ValidArgsFunction: labHostArgs(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needRoot("netdojo service"); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if len(args) == 1 {
				lab, err := sandbox.Open(g.store(), args[0])
				if err != nil {
					return err
				}
				defer lab.Close()
				s, err := labScenario(lab)
				if err != nil {
					return err
				}
				type row struct {
					Host  string `json:"host"`
					Name  string `json:"name"`
					Kind  string `json:"kind"`
					State string `json:"state"`
					PID   int    `json:"pid,omitempty"`
				}
				var rows []row
				for _, h := range s.Hosts {
					for _, svc := range h.Services {
						r := row{Host: h.Name, Name: svc.Name, Kind: svc.Kind, State: "stopped"}
						for _, p := range lab.State.Processes {
							if p.Host == h.Name && p.Name == svc.Name && p.Alive() {
								r.State, r.PID = "running", p.PID
							}
						}
						rows = append(rows, r)
					}
				}
				if g.json() {
					if rows == nil {
						rows = []row{}
					}
					return writeJSON(w, rows)
				}
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "HOST\tSERVICE\tKIND\tSTATE\tPID")
				for _, r := range rows {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", r.Host, r.Name, r.Kind, r.State, r.PID)
				}
				return tw.Flush()
			}
			host, name, action := args[1], args[2], args[3]
			if action != "start" && action != "stop" && action != "restart" {
				return withCode(exitUsage, fmt.Errorf("%q is not start, stop or restart", action))
			}
			// Held until the service has started or stopped: a concurrent
			// stop of the lab is refused (exit 5) rather than racing it.
			lab, s, unlock, err := openRunningLab(g, args[0])
			if err != nil {
				return err
			}
			defer unlock()
			if err := labpkg.CheckService(s, host, name); err != nil {
				return withCode(exitUsage, err)
			}
			if err := labpkg.Service(cmd.Context(), lab, s, host, name, action); err != nil {
				return err
			}
			fmt.Fprintf(w, "service %s on %s: %sed\n", name, host, map[string]string{"stop": "stopp", "start": "start", "restart": "restart"}[action])
			return nil
		},
	}
	return cmd
}
