package sandbox

import "runtime"

// KeepMainThread wires the calling goroutine to its OS thread for good.
// Called from package main's init (which runs on the main goroutine), it
// keeps the main thread, whose namespaces are the process's as /proc shows
// them, for the main goroutine alone: no other goroutine ever runs on it,
// in particular not one that enters a lab namespace (Netns.Do). It lives
// here because only this package locks OS threads.
func KeepMainThread() { runtime.LockOSThread() }
