package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/netdojo/netdojo/probe"
	"github.com/spf13/cobra"
)

// triageOptions are the flags of netdojo triage.
type triageOptions struct {
	targetOptions
	probe.TriageOptions
	verbose bool
}

func newTriageCmd(g *globalOptions) *cobra.Command {
	o := &triageOptions{}
	cmd := &cobra.Command{
		Use:   "triage [--in LAB/HOST] [--target NAME|IP[:PORT]] [--url URL]",
		Short: "Walk the layers (interface, address, gateway, DNS, destination) and name the broken one",
		Long: `Run the layered triage protocol on this machine or on a lab host:

  1 interface up         the interface of the default route is up, with carrier
  2 address assigned     it has an IPv4 address
  3 default gateway      there is a default route
  4 gateway reachable    the gateway answers ping (or at least ARP)
  5 DNS answers          the resolvers of resolv.conf resolve the target's name
  6 destination          the target answers: HTTP for --url, a TCP connect for
                         --target NAME:PORT, ping for --target NAME

Every step runs whatever the others found, with its evidence. The lowest
failing step is named, with what it means and the commands to run next.
Exit 0 when every step passed, 1 when one failed.`,
		Example: "  netdojo triage --in first-lab/client --target www.shop.example:80\n  netdojo triage --in first-lab/client --url http://www.shop.example/\n  netdojo triage --target 10.0.0.1 --output json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needRoot("netdojo triage"); err != nil {
				return err
			}
			t, done, err := o.open(g)
			if err != nil {
				return err
			}
			defer done()
			rep, err := probe.Triage(t, o.TriageOptions)
			if err != nil {
				return withCode(exitUsage, err)
			}
			w := cmd.OutOrStdout()
			if g.json() {
				if err := writeJSON(w, rep); err != nil {
					return err
				}
			} else {
				printTriage(w, rep, o.verbose)
			}
			if rep.Failing != "" {
				return failed
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&o.in, "in", "", "triage lab host LAB/HOST instead of this machine")
	cmd.Flags().StringVar(&o.Target, "target", "", "destination: NAME, IP, NAME:PORT or IP:PORT")
	cmd.Flags().StringVar(&o.URL, "url", "", "destination URL (HTTP request as the last step)")
	cmd.Flags().DurationVar(&o.DNSTimeout, "dns-timeout", 2*time.Second, "wait per resolver")
	cmd.Flags().DurationVar(&o.ReachTimeout, "timeout", 3*time.Second, "wait for the destination")
	cmd.Flags().BoolVarP(&o.verbose, "verbose", "v", false, "show the evidence of passing steps too")
	return cmd
}

func printTriage(w io.Writer, rep probe.TriageReport, verbose bool) {
	dest := ""
	if rep.Destination != "" {
		dest = " -> " + rep.Destination
	}
	fmt.Fprintf(w, "triage of %s%s\n", rep.Target, dest)
	for i, s := range rep.Steps {
		fmt.Fprintf(w, "  %d %-4s  %-22s %s\n", i+1, strings.ToUpper(string(s.Status)), s.Title, s.Summary)
		if verbose || s.Status == probe.TriageFail || s.Status == probe.TriageWarn {
			for _, e := range s.Evidence {
				fmt.Fprintf(w, "            %s\n", e)
			}
		}
	}
	if rep.Failing == "" {
		fmt.Fprintf(w, "every layer works (%s)\n", ms(rep.Elapsed))
		return
	}
	s, _ := rep.Step(rep.Failing)
	fmt.Fprintf(w, "\nlowest failing layer: %s\n  %s\n  next:\n", s.Title, s.Meaning)
	for _, c := range s.Next {
		fmt.Fprintf(w, "    %s\n", c)
	}
}
