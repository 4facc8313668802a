// Command netdojo builds network labs from scenario files, breaks them, and
// judges a learner's diagnosis and fix. This package only wires flags to the
// scenarios, sandbox, probe, services, faults and checker packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/scenarios"
	"github.com/netdojo/netdojo/services"
)

// Exit codes, documented in docs/cli.md.
const (
	exitOK       = 0 // success; every check passed
	exitFailed   = 1 // the operation failed, or a check did not pass
	exitUsage    = 2 // bad command line or bad scenario file
	exitTimeout  = 3 // a deadline passed
	exitNotReady = 4 // environment not ready: not root, a tool missing
	exitBusy     = 5 // the lab is locked by another netdojo (changing it), or already running
)

// exitError carries an exit code to main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// The main goroutine keeps the main thread, whose namespaces are the
// process's as /proc shows them: no other goroutine may ever run on it,
// in particular not one that enters a lab namespace.
func init() { sandbox.KeepMainThread() }

func main() {
	// Entering a host must happen before anything else runs in this process.
	if len(os.Args) > 1 && os.Args[1] == sandbox.EnterCommand {
		err := sandbox.EnterMain(os.Args[2:])
		fmt.Fprintln(os.Stderr, "netdojo:", err)
		os.Exit(exitNotReady)
	}
	if len(os.Args) > 1 && os.Args[1] == services.ServiceCommand {
		os.Exit(services.Main(os.Args[2:]))
	}
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	root := newRootCmd()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var quiet *silentError
	if !errors.As(err, &quiet) {
		fmt.Fprintln(os.Stderr, "netdojo:", err)
	}
	return codeOf(err)
}

// codeOf is the documented exit code (docs/cli.md) of a command's error.
func codeOf(err error) int {
	var quiet *silentError
	if errors.As(err, &quiet) {
		return quiet.code
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return exitTimeout // a bounded wait ran out: a setup step, a service's readiness
	}
	if errors.Is(err, sandbox.ErrLocked) {
		return exitBusy
	}
	var bad *scenarios.NameError
	if errors.As(err, &bad) {
		return exitUsage // a lab or host name that breaks the name rule
	}
	if isUsage(err) {
		return exitUsage
	}
	return exitFailed
}

// silentError is an error already reported on stdout (a failed check,
// an invalid file); main only sets the exit code.
type silentError struct{ code int }

func (e *silentError) Error() string { return fmt.Sprintf("exit %d", e.code) }
