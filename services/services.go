// Package services holds the daemons a lab runs inside its hosts: a stub DNS
// server, an HTTP server, echo and banner services, a reverse proxy, a
// CLOSE_WAIT leaker, a connection churner, a slow reader, a listener that
// never accepts, a port squatter and an NFQUEUE delayer.
//
// Each service runs as its own process: the netdojo binary re-executed as
// `netdojo __service KIND PARAMS_JSON` inside a host's network namespace, so
// that learners see a real PID and a recognisable name in `ss -tlnp`. Main is
// the body of that child process; Catalog is the one explicit table of kinds
// that feeds validation, the JSON schema and the generated reference.
//
// This package never switches namespaces and never creates one: a child is
// started inside its namespace by the sandbox, and Ready health-checks a
// service through a sockets-only probe.Target.Do. A service only listens on,
// or sends to, the addresses its parameters name.
package services

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/netdojo/netdojo/probe"
)

// Kind is one entry of the explicit service table.
type Kind struct {
	Name      string        // "dns", "http", "tcp-echo", ...
	Summary   string        // one line
	Doc       string        // what it does and what a learner sees (ss, dig, curl)
	NewParams func() Params // pointer to a zero params struct
	// Run is the child process body; it returns when ctx ends.
	Run func(ctx context.Context, p Params, log *slog.Logger) error
	// Ready is the health check from outside, inside the host's namespace
	// (it dials in t.Do). It returns nil once the service answers, or the
	// last error seen when ctx ends.
	Ready func(ctx context.Context, t probe.Target, p Params) error
}

// Params are a kind's parameters, decoded strictly from the scenario.
type Params interface {
	// Check validates and fills defaults; errors name the field (yaml name)
	// and say what would be right.
	Check() error
	// ProcessName is the name `ss -tlnp` shows for the process (at most 15
	// characters).
	ProcessName() string
}

// Catalog is the one explicit table of service kinds.
func Catalog() []Kind {
	return []Kind{
		dnsKind(),
		httpKind(),
		tcpEchoKind(),
		udpEchoKind(),
		bannerKind(),
		proxyKind(),
		closeWaitLeakerKind(),
		churnerKind(),
		slowReaderKind(),
		backlogKind(),
		squatterKind(),
		delayerKind(),
		kubeProxyKind(),
	}
}

// Lookup finds a kind by name.
func Lookup(name string) (*Kind, bool) {
	for _, k := range Catalog() {
		if k.Name == name {
			return &k, true
		}
	}
	return nil, false
}

// Names lists the kinds in catalogue order.
func Names() []string {
	var names []string
	for _, k := range Catalog() {
		names = append(names, k.Name)
	}
	return names
}

// DecodeParams decodes a kind's parameters from JSON, rejecting unknown
// fields, and checks them.
func DecodeParams(kind string, data []byte) (Params, error) {
	k, ok := Lookup(kind)
	if !ok {
		return nil, fmt.Errorf("unknown service kind %q; known kinds: %v", kind, Names())
	}
	p := k.NewParams()
	if len(bytes.TrimSpace(data)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(p); err != nil {
			return nil, fmt.Errorf("decoding %s service parameters: %w", kind, err)
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("decoding %s service parameters: trailing data after the object", kind)
		}
	}
	if err := p.Check(); err != nil {
		return nil, fmt.Errorf("%s service: %w", kind, err)
	}
	return p, nil
}

// Exit codes of Main.
const (
	ExitOK    = 0 // stopped cleanly by SIGTERM or SIGINT
	ExitError = 1 // the service failed while running
	ExitUsage = 2 // bad arguments or parameters
)

// Main is the child entry point: args are [KIND, CONFIG], CONFIG being
// "@PATH", a configuration file Launch wrote (see Config), or the
// parameters as JSON. It reads the configuration, then replaces its command
// line and its comm with the service's program name (httpd, dnsd, ...), so
// that a learner's ps and /proc/PID/cmdline show an ordinary daemon and no
// configuration. It logs to stderr, runs the service until SIGTERM or
// SIGINT and returns the exit code: 0 on a clean stop. SIGHUP restarts the
// service in place with the configuration it was started from (the file is
// read again), as daemons reload.
func Main(args []string) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if len(args) != 2 {
		log.Error("usage: __service KIND @CONFIG_FILE|PARAMS_JSON", "kinds", Names())
		return ExitUsage
	}
	// args point into the memory setCommandLine overwrites: copy them.
	kind := strings.Clone(args[0])
	k, ok := Lookup(kind)
	if !ok {
		log.Error("unknown service kind", "kind", kind, "kinds", Names())
		return ExitUsage
	}
	cfg, err := readConfig(args[1])
	if err != nil {
		log.Error("bad configuration", "err", err)
		return ExitUsage
	}
	p, err := DecodeParams(kind, cfg.Params)
	if err != nil {
		log.Error("bad parameters", "err", err)
		return ExitUsage
	}
	name := cfg.Process
	if name == "" {
		name = p.ProcessName()
	}
	if name == "" {
		name = kind
	}
	reexec := cloneArgs(os.Args)
	setCommandLine(name)
	// The log names the program, as ps does, not the kind: a learner
	// who reads it (through /proc/PID/fd/1) must not see
	// close-wait-leaker or squatter.
	log = log.With("service", name, "pid", os.Getpid())
	if err := setProcessName(name); err != nil {
		log.Warn("process name not set", "name", name, "err", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx, reload := context.WithCancel(ctx)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	var reloading atomic.Bool
	go func() {
		if _, ok := <-hup; ok {
			reloading.Store(true)
			reload()
		}
	}()
	log.Info("starting")
	err = k.Run(ctx, p, log)
	signal.Stop(hup)
	close(hup)
	if err != nil {
		log.Error("stopped with an error", "err", err)
		return ExitError
	}
	if reloading.Load() {
		log.Info("restarting on SIGHUP")
		// A configuration passed as an open file was closed once read
		// (see readConfig): the restarted process gets it again in a
		// memfd of its own.
		if strings.HasPrefix(reexec[len(reexec)-1], "@/dev/fd/") {
			arg, err := configMemfd(cfg)
			if err != nil {
				log.Error("restarting", "err", err)
				return ExitError
			}
			reexec[len(reexec)-1] = arg
		}
		err := syscall.Exec("/proc/self/exe", reexec, os.Environ())
		log.Error("restarting", "err", err)
		return ExitError
	}
	log.Info("stopped")
	return ExitOK
}

// setProcessName writes the process's comm, the name ss, ps and top show.
// /proc/self resolves to the thread group leader, so the whole process gets
// the name whichever thread writes it.
func setProcessName(name string) error {
	if len(name) > 15 {
		name = name[:15]
	}
	return os.WriteFile("/proc/self/comm", []byte(name), 0)
}
