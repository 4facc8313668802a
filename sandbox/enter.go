package sandbox

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// EnterCommand is the hidden netdojo subcommand that enters a host and
// executes a command there. Lab.Command and Lab.Spawn use it.
const EnterCommand = "__enter"

// EnterMain is the body of `netdojo __enter --netns NS --hostname H [--pidns PID:START] -- CMD...`.
// On a locked thread it does what `ip netns exec` does: a new mount
// namespace with / made a slave, a fresh /sys for the network namespace,
// each /etc/netns/NS/FILE bind-mounted over /etc/FILE; then a new UTS
// namespace with the host's name, and it executes CMD in place, or, with
// --pidns, runs it in the lab's PID namespace (see pidns.go). It only
// returns on error. `__enter --lab-init` is the lab init. With --hide DIR
// (the store's labs directory), DIR is covered by an empty tmpfs (see
// hideStore).
func EnterMain(args []string) error {
	if len(args) > 0 && args[0] == labInitArg {
		return labInitMain(args[1:])
	}
	if len(args) > 0 && args[0] == procArg {
		return procMain(args[1:])
	}
	fs := flag.NewFlagSet(EnterCommand, flag.ContinueOnError)
	nsName := fs.String("netns", "", "network namespace")
	hostname := fs.String("hostname", "", "host name")
	pidns := fs.String("pidns", "", "PID:STARTTIME of the lab init whose PID namespace to join")
	hide := fs.String("hide", "", "a directory of the store to hide under an empty tmpfs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	argv := fs.Args()
	if *nsName == "" || len(argv) == 0 {
		return errors.New("usage: netdojo __enter --netns NS [--hostname H] -- CMD [ARG...]")
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return fmt.Errorf("finding %q: %w", argv[0], err)
	}
	runtime.LockOSThread() // never unlocked: the thread becomes the command
	fd, err := unix.Open(filepath.Join(NetnsDir, *nsName), unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("opening namespace %q: %w", *nsName, err)
	}
	h := netns.NsHandle(fd)
	if err := RefuseMachineNetns(fd); err != nil {
		return fmt.Errorf("opening namespace %q: %w", *nsName, err)
	}
	if err := unix.Unshare(unix.CLONE_NEWNS | unix.CLONE_NEWUTS); err != nil {
		return fmt.Errorf("unsharing mount and UTS namespaces: %w", err)
	}
	if err := netns.Set(h); err != nil {
		return fmt.Errorf("entering namespace %q: %w", *nsName, err)
	}
	h.Close()
	if err := unix.Mount("", "/", "none", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("making / a slave mount: %w", err)
	}
	// /sys shows the network namespace of whoever mounted it.
	if err := unix.Unmount("/sys", unix.MNT_DETACH); err == nil {
		if err := unix.Mount(*nsName, "/sys", "sysfs", 0, ""); err != nil {
			return fmt.Errorf("mounting /sys: %w", err)
		}
	}
	dir := filepath.Join(EtcNetnsDir, *nsName)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		dst := filepath.Join("/etc", e.Name())
		if _, err := os.Stat(dst); err != nil {
			continue // as ip netns exec: only files that exist in /etc
		}
		if err := unix.Mount(filepath.Join(dir, e.Name()), dst, "none", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind-mounting %s: %w", dst, err)
		}
	}
	if *hide != "" {
		if argv, err = hideStore(*hide, argv); err != nil {
			return err
		}
	}
	if *hostname != "" {
		if err := unix.Sethostname([]byte(*hostname)); err != nil {
			return fmt.Errorf("setting host name: %w", err)
		}
	}
	if *pidns != "" {
		return joinPidns(*pidns, path, argv)
	}
	return syscall.Exec(path, argv, os.Environ())
}

// hideStore covers dir (the store's labs directory) with an empty tmpfs in
// the command's private mount namespace: a learner's shell, exec, a step
// or a service sees no lab state there (faults.json, the scenario with its
// solution, service configurations). It is obscurity for a root learner
// who can unmount it, not a wall: nothing lists it by accident. An
// argument that names a file under dir (PATH, or @PATH as services take
// their configuration) is opened first and passed as /dev/fd/N (inherited
// by the command; a service closes it once read), so netdojo's own
// commands that need a file of the lab still get it.
func hideStore(dir string, argv []string) ([]string, error) {
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		return argv, nil // no store there: nothing to hide
	}
	prefix := filepath.Clean(dir) + string(filepath.Separator)
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = a
		at, p := "", a
		if rest, ok := strings.CutPrefix(a, "@"); ok {
			at, p = "@", rest
		}
		if i == 0 || !strings.HasPrefix(filepath.Clean(p), prefix) {
			continue
		}
		// Without O_CLOEXEC: the command (through stage 2) inherits it.
		fd, err := unix.Open(p, unix.O_RDONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("opening %s for the command: %w", p, err)
		}
		out[i] = at + "/dev/fd/" + strconv.Itoa(fd)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0755,size=64k"); err != nil {
		return nil, fmt.Errorf("hiding the lab store %s: %w", dir, err)
	}
	return out, nil
}
