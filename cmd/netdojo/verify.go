package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/netdojo/netdojo/scenarios"
	"github.com/netdojo/netdojo/verify"
	"github.com/spf13/cobra"
)

type verifyOptions struct {
	all         bool
	drills      bool
	seed        uint64
	parallel    int
	junit       string
	verbose     bool
	adversarial bool
	jobs        int
}

func newVerifyCmd(g *globalOptions) *cobra.Command {
	o := &verifyOptions{}
	cmd := &cobra.Command{
		Use:   "verify [FILE|SCENARIO...] [--all]",
		Short: "Prove scenarios solvable, each on fresh labs",
		Long: `For each scenario, on fresh labs:
  1. healthy: without its faults, every state check and invariant passes;
  2. broken: with its faults, every task judged on the lab fails and every
     fault's documented symptom is observed;
  3. solution: the reference solution makes every task pass, invariants hold;
  4. wrong-fix: each wrong fix leaves a task failing or an invariant broken;
  5. teardown: nothing of any lab is left.
Drill files (kind: Drill) and built-in drills (--drills) are proved with their
reference response on an accelerated clock (docs/drills.md).
With --adversarial, also:
  6. adversarial: each entry of the built-in catalogue of lazy and wrong
     fixes (docs/adversarial.md), written for the scenario's own hosts,
     links and addresses, is applied to a fresh broken lab; an entry that
     makes every lab task and invariant pass fails the scenario, unless a
     fault accepts it (accepts:).
Exit code 0 when every scenario passes, 1 otherwise.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needRoot("netdojo verify"); err != nil {
				return err
			}
			if o.all {
				args = append(args, scenariosLibrary()...)
			}
			args, drills, err := splitDrills(args, o.drills, o.seed)
			if err != nil {
				return err
			}
			if len(args) == 0 && len(drills) == 0 {
				return withCode(exitUsage, fmt.Errorf("name scenario or drill files, built-in scenarios or drills, or use --all or --drills"))
			}
			var ss []*scenarios.Scenario
			for _, a := range args {
				l, err := loadScenario(a, o.seed)
				if err != nil {
					return err
				}
				noteRoot(cmd.ErrOrStderr(), l, "verify")
				ss = append(ss, l.scenario)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			store := g.store()
			t0 := time.Now()
			reports := verify.All(ctx, ss, o.parallel, func(i int) verify.Options {
				return verify.Options{Store: store, LabPrefix: fmt.Sprintf("vfy%d-%d-", os.Getpid()%10000, i), Adversarial: o.adversarial, Jobs: o.jobs}
			})
			reports = append(reports, verifyDrills(ctx, store, drills)...)
			if o.junit != "" {
				f, err := os.Create(o.junit)
				if err != nil {
					return err
				}
				if err := verify.JUnit(f, reports); err != nil {
					f.Close()
					return err
				}
				if err := f.Close(); err != nil {
					return err
				}
			}
			failed := 0
			for _, r := range reports {
				if !r.Pass {
					failed++
				}
			}
			w := cmd.OutOrStdout()
			if g.json() {
				if err := writeJSON(w, reports); err != nil {
					return err
				}
			} else {
				for _, r := range reports {
					status := "PASS"
					if !r.Pass {
						status = "FAIL"
					}
					fmt.Fprintf(w, "%s %s (seed %d, %s)\n", status, r.Scenario, r.Seed, r.Elapsed.Round(time.Millisecond))
					for _, p := range r.Phases {
						mark := "ok  "
						if !p.Pass {
							mark = "FAIL"
						}
						fmt.Fprintf(w, "  %s %-28s %s\n", mark, p.Name, p.Elapsed.Round(time.Millisecond))
						for _, pr := range p.Problems {
							fmt.Fprintf(w, "       %s\n", pr)
						}
						if o.verbose {
							for _, d := range p.Details {
								fmt.Fprintf(w, "       . %s\n", d)
							}
						}
					}
				}
				fmt.Fprintf(w, "%d of %d scenarios passed in %s\n", len(reports)-failed, len(reports), time.Since(t0).Round(time.Millisecond))
			}
			if failed > 0 {
				return &silentError{code: exitFailed}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&o.all, "all", false, "verify every built-in scenario")
	cmd.Flags().BoolVar(&o.drills, "drills", false, "verify every built-in drill")
	cmd.Flags().Uint64Var(&o.seed, "seed", 1, "draw the scenarios' parameters from this seed")
	cmd.Flags().IntVar(&o.parallel, "parallel", 1, "scenarios verified at once")
	cmd.Flags().StringVar(&o.junit, "junit", "", "also write a JUnit XML report to this file")
	cmd.Flags().BoolVarP(&o.verbose, "verbose", "v", false, "print every observation")
	cmd.Flags().BoolVar(&o.adversarial, "adversarial", false, "also try every entry of the adversarial catalogue on each scenario's broken lab")
	cmd.Flags().IntVar(&o.jobs, "jobs", verify.DefaultJobs, "labs of one scenario run at once (phases and catalogue entries)")
	return cmd
}
