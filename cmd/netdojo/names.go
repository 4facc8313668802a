package main

import (
	"github.com/netdojo/netdojo/sandbox"
	"github.com/netdojo/netdojo/scenarios"
)

// checkLabHost checks a lab and a host name given on the command line
// against the one name rule, before anything is read or made: exit 2.
// (Every store entry point checks lab names too; this also catches a bad
// host name before the lab is opened.)
func checkLabHost(lab, host string) error {
	if err := sandbox.ValidLabName(lab); err != nil {
		return withCode(exitUsage, err)
	}
	if err := scenarios.ValidName("host", host); err != nil {
		return withCode(exitUsage, err)
	}
	return nil
}
