// Package drill runs incident drills: a timeline of injects (faults and
// messages, at times or on events) over a lab, a service-level probe that
// runs all the time, participants whose shell commands are recorded, and
// measures taken by probes (time to detect, mitigate and resolve,
// collateral damage, commands, hints, a score). Everything observed is
// kept in a Record, written as record.json in the drill's directory after
// every change, which the live board and the post-incident report read.
//
// The engine (Engine) runs in a runner process that is part of the lab
// (recorded in the lab's state, so stopping the lab ends it); commands
// reach it through files in the drill's directory, so the CLI, the join
// shells and the board never share memory with it. It changes the lab
// only by applying the drill's faults; it never touches the machine's own
// network, and every probe goes through the checker into lab hosts.
package drill
