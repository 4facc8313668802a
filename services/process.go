package services

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/netdojo/netdojo/probe"
)

// Config is what a service process is started with, kept in a file of the
// lab's directory rather than on its command line: a learner's ps shows
// the program name and nothing of how the lab set it up (a fault mode, the
// name of a squatter). RunningParams reads it back.
type Config struct {
	Kind string `json:"kind"`
	// Process is the program name the service shows (argv[0] and comm).
	Process string          `json:"process"`
	Params  json.RawMessage `json:"params"`
}

// configPath is the configuration file of service NAME on HOST in a lab
// directory. Its name says nothing of the service.
func configPath(labDir, host, name string) string {
	sum := sha256.Sum256([]byte(host + "\x00" + name))
	return filepath.Join(labDir, "services", hex.EncodeToString(sum[:8])+".json")
}

// writeConfig writes a service's configuration for Launch.
func writeConfig(path string, cfg Config) error {
	data, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("creating the services directory: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("writing service configuration: %w", err)
	}
	return os.Rename(tmp, path)
}

// readConfig reads a service's configuration from its argument: @PATH, a
// file written by Launch, or the parameters as JSON (a service started by
// hand).
func readConfig(arg string) (Config, error) {
	path, ok := strings.CutPrefix(arg, "@")
	if !ok {
		return Config{Params: json.RawMessage(arg)}, nil
	}
	data, err := os.ReadFile(path)
	// Passed as an open file (the store is hidden in hosts, see
	// sandbox.EnterMain): closed once read, so /proc/PID/fd of the service
	// does not lead a learner to it.
	if n, ok := strings.CutPrefix(path, "/dev/fd/"); ok {
		if fd, aerr := strconv.Atoi(n); aerr == nil && fd > 2 {
			unix.Close(fd)
		}
	}
	if err != nil {
		return Config{}, fmt.Errorf("reading service configuration: %w", err)
	}
	var cfg Config
	if err := json.Unmarshal(data, &cfg); err != nil {
		return Config{}, fmt.Errorf("reading service configuration %s: %w", path, err)
	}
	return cfg, nil
}

// configMemfd passes cfg to a process this one executes: a memfd, left
// open across exec, named as readConfig reads it (@/dev/fd/N).
func configMemfd(cfg Config) (string, error) {
	data, err := json.Marshal(cfg)
	if err != nil {
		return "", err
	}
	fd, err := unix.MemfdCreate("config", 0)
	if err != nil {
		return "", fmt.Errorf("passing the configuration on: %w", err)
	}
	if _, err := unix.Write(fd, data); err != nil {
		unix.Close(fd)
		return "", fmt.Errorf("passing the configuration on: %w", err)
	}
	return "@/dev/fd/" + strconv.Itoa(fd), nil
}

// ProcessNameFor is the program name a service NAME of kind p shows: the
// kind's daemon name (httpd, dnsd, ...) or, for kinds that stand for an
// application of the scenario's story (the CLOSE_WAIT leaker, a churning
// client, an echo service), the service's own name, such as orders-api.
func ProcessNameFor(p Params, service string) string {
	if n := p.ProcessName(); n != "" {
		return n
	}
	if len(service) > 15 {
		service = service[:15]
	}
	return service
}

func cloneArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = strings.Clone(a)
	}
	return out
}

// setCommandLine overwrites the process's command line, as
// /proc/PID/cmdline and ps show it, with name. The kernel shows the memory
// the arguments were passed in, which os.Args points into: the arguments
// are overwritten in place (with zeros after name), so the configuration
// given on the command line is gone from it. os.Args must not be used
// afterwards.
func setCommandLine(name string) {
	if len(os.Args) == 0 || len(os.Args[0]) == 0 {
		return
	}
	base := unsafe.Pointer(unsafe.StringData(os.Args[0]))
	end := uintptr(base)
	for _, a := range os.Args {
		if len(a) == 0 {
			end++
			continue
		}
		p := uintptr(unsafe.Pointer(unsafe.StringData(a)))
		if p != end {
			return // not one contiguous block: leave it
		}
		end = p + uintptr(len(a)) + 1
	}
	area := unsafe.Slice((*byte)(base), end-uintptr(base)-1)
	n := copy(area, name)
	clear(area[n:])
}

// listenProto is the socket a listening kind holds once it is ready: "tcp"
// for a listening TCP socket (dns binds UDP first, then listens on TCP),
// "udp" for a bound UDP socket, "" for a kind that listens on nothing.
func listenProto(kind string, p Params) string {
	switch kind {
	case "udp-echo":
		return "udp"
	case "squatter":
		return p.(*SquatterParams).Protocol
	case "dns", "http", "proxy", "tcp-echo", "banner", "close-wait-leaker", "slow-reader", "backlog":
		return "tcp"
	}
	return ""
}

// ownedListenerReady waits until process pid holds a listening TCP socket
// (or a bound UDP socket) in the target, read from the kernel's socket
// table through sock_diag: readiness that needs no connection, so a
// firewall that blocks loopback does not make a running service look dead.
func ownedListenerReady(ctx context.Context, t probe.Target, what string, pid int, owns func(pid int) bool, proto string) error {
	f := probe.SocketFilter{Processes: true}
	if proto == "udp" {
		f.UDP = true
	} else {
		f.TCP = true
		f.States = []probe.SocketState{probe.StateListen}
	}
	return pollReady(ctx, t, fmt.Sprintf("%s (process %d) on %s", what, pid, proto), func(ctx context.Context) error {
		table, err := probe.ListSockets(t, f)
		if err != nil {
			return err
		}
		for _, sk := range table.Sockets {
			for _, owner := range sk.Processes {
				if owns(owner.PID) {
					return nil
				}
			}
		}
		return fmt.Errorf("process %d holds no %s socket yet", pid, proto)
	})
}
