package main

import (
	"fmt"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/spf13/cobra"
)

func newCleanCmd(g *globalOptions) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "clean",
		Short: "Remove what crashed or killed labs left behind",
		Long: `Remove what labs whose start or stop was interrupted (a crash, SIGKILL)
left behind: processes, namespaces, /etc/netns files and state. Only what a
lab's state records is removed. Running labs are kept unless --all.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needRoot("netdojo clean"); err != nil {
				return err
			}
			reports, err := sandbox.Clean(g.store(), all)
			w := cmd.OutOrStdout()
			if g.json() {
				if reports == nil {
					reports = []sandbox.CleanReport{}
				}
				if jerr := writeJSON(w, reports); jerr != nil {
					return jerr
				}
			} else {
				for _, r := range reports {
					switch r.Action {
					case "removed":
						fmt.Fprintf(w, "lab %s: removed\n", r.Lab)
					case "skipped-running":
						fmt.Fprintf(w, "lab %s: running, kept (stop it with 'netdojo stop %s', or use --all)\n", r.Lab, r.Lab)
					case "skipped-busy":
						fmt.Fprintf(w, "lab %s: another netdojo is working on it, kept\n", r.Lab)
					default:
						fmt.Fprintf(w, "lab %s: %s\n", r.Lab, r.Error)
					}
				}
				if len(reports) == 0 {
					fmt.Fprintln(w, "nothing to clean")
				}
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "also stop running labs")
	return cmd
}
