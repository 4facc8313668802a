package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NetnsDir is where named network namespaces are bind-mounted, the same
// directory iproute2 uses, so that every lab host appears in `ip netns list`.
const NetnsDir = "/run/netns"

// EtcNetnsDir holds the per-namespace files that `ip netns exec` bind-mounts
// over /etc.
const EtcNetnsDir = "/etc/netns"

// Netns is a named network namespace: a file under /run/netns kept alive by a
// bind mount, exactly as `ip netns add` makes it. It holds an open handle to
// the namespace; Close releases it.
type Netns struct {
	name   string
	handle netns.NsHandle
}

// Name is the namespace's name as `ip netns list` shows it.
func (n *Netns) Name() string { return n.name }

// Path is the namespace's file under /run/netns.
func (n *Netns) Path() string { return filepath.Join(NetnsDir, n.name) }

// Fd is the open namespace file descriptor.
func (n *Netns) Fd() int { return int(n.handle) }

// Close releases the handle; the namespace lives on while it is mounted.
func (n *Netns) Close() error {
	if n == nil || !n.handle.IsOpen() {
		return nil
	}
	err := n.handle.Close()
	n.handle = netns.None()
	return err
}

// NetlinkHandle returns a netlink handle bound to the namespace. No thread
// switches namespace: the netlink socket is created inside it.
func (n *Netns) NetlinkHandle(families ...int) (*netlink.Handle, error) {
	h, err := netlink.NewHandleAt(n.handle, families...)
	if err != nil {
		return nil, fmt.Errorf("opening netlink in namespace %q: %w", n.name, err)
	}
	return h, nil
}

// Do runs fn on an OS thread that has entered the namespace, and waits for
// it. fn must not start goroutines (they would run in another namespace) and
// must only dial IP literals. Sockets that fn creates keep the namespace they
// were born in and may be used from any goroutine afterwards; processes that
// fn starts inherit the namespace.
func (n *Netns) Do(fn func() error) error {
	return doInNetns(n.handle, n.name, fn)
}

// doInNetns is the one place that switches a thread's network namespace.
// It uses a fresh goroutine with a locked thread, and unlocks the thread
// only if switching back succeeded; otherwise the thread dies with the
// goroutine, so no other goroutine ever runs in the wrong namespace.
func doInNetns(target netns.NsHandle, name string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		origin, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("reading the thread's own namespace: %w", err)
			return // the locked thread exits with the goroutine
		}
		defer origin.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("entering namespace %q: %w", name, err)
			return
		}
		ferr := fn()
		if err := netns.Set(origin); err != nil {
			// Leave the thread locked: it is terminated when this goroutine ends.
			errc <- errors.Join(ferr, fmt.Errorf("returning from namespace %q: %w", name, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// ErrMachineNetns refuses a lab's namespace name that holds the machine's
// own network namespace (someone ran 'ip netns attach NAME 1', or mounted
// it there): nothing of a lab may act on it.
var ErrMachineNetns = errors.New("it is the machine's own network namespace")

// OpenNetns opens an existing named namespace. It refuses one that is the
// machine's own (PID 1's), so that no fault, probe, service or command
// meant for a lab host ever acts on the machine's network.
//
// A symbolic link under the name is never followed: it is not a namespace
// netdojo made, and it could lead to another lab's.
func OpenNetns(name string) (*Netns, error) {
	fd, err := unix.Open(filepath.Join(NetnsDir, name), unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if errors.Is(err, unix.ELOOP) {
		return nil, fmt.Errorf("opening namespace %q: %s is a symbolic link, not a namespace netdojo made; remove it by hand", name, filepath.Join(NetnsDir, name))
	}
	if err != nil {
		return nil, fmt.Errorf("opening namespace %q: %w", name, err)
	}
	h := netns.NsHandle(fd)
	if err := RefuseMachineNetns(int(h)); err != nil {
		h.Close()
		return nil, fmt.Errorf("opening namespace %q: %w; remove it with 'ip netns del %s' (that leaves the machine's namespace as it is)", name, err, name)
	}
	return &Netns{name: name, handle: h}, nil
}

// RefuseMachineNetns refuses a namespace file descriptor that is the
// machine's own network namespace (ErrMachineNetns). Everything that
// enters a lab host by name checks it: OpenNetns here, and the re-executed
// netdojo that enters a host for exec, shell and Spawn should too.
func RefuseMachineNetns(fd int) error {
	var ns unix.Stat_t
	if err := unix.Fstat(fd, &ns); err != nil {
		return err
	}
	own := machineNetns
	if own.ok && ns.Dev == own.dev && ns.Ino == own.ino {
		return ErrMachineNetns
	}
	return nil
}

type nsID struct {
	dev, ino uint64
	ok       bool
}

// machineNetns is the machine's own network namespace: PID 1's, or, where
// PID 1 cannot be read (a supervisor without ptrace rights over it), the
// one this netdojo started in, unless netdojo runs inside a lab host
// (Lab.Command marks what it starts with NETDOJO_LAB). It is read once,
// while the package is initialised: /proc/self/ns/net is the main
// thread's namespace, and later a goroutine locked to the main thread may
// be inside a lab namespace for a moment (a lab's switch was once taken for
// the machine's that way, and refused).
var machineNetns = readMachineNetns()

func readMachineNetns() nsID {
	var st unix.Stat_t
	if unix.Stat("/proc/1/ns/net", &st) == nil {
		return nsID{uint64(st.Dev), st.Ino, true}
	}
	if _, inLab := os.LookupEnv(LabMarker); !inLab && unix.Stat("/proc/self/ns/net", &st) == nil {
		return nsID{uint64(st.Dev), st.Ino, true}
	}
	return nsID{}
}

// NetnsExists reports whether a named namespace file exists.
func NetnsExists(name string) bool {
	_, err := os.Lstat(filepath.Join(NetnsDir, name))
	return err == nil
}

// EnsureNetnsDir prepares /run/netns as iproute2 does: a directory that is a
// shared mount point, so namespace mounts propagate to `ip netns exec`
// children. It is idempotent and is the only state netdojo leaves in the
// machine's own mount table, the same state `ip netns add` leaves.
func EnsureNetnsDir() error {
	if err := os.MkdirAll(NetnsDir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", NetnsDir, err)
	}
	err := unix.Mount("", NetnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("making %s a shared mount: %w", NetnsDir, err)
	}
	if err := unix.Mount(NetnsDir, NetnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind-mounting %s: %w", NetnsDir, err)
	}
	if err := unix.Mount("", NetnsDir, "none", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("making %s a shared mount: %w", NetnsDir, err)
	}
	return nil
}

// CreateNetns makes a new named network namespace, as `ip netns add` does,
// without moving the calling goroutine: a locked thread unshares, the new
// namespace is bind-mounted under /run/netns, and the thread is discarded.
// It refuses a name that already exists.
func CreateNetns(name string) (*Netns, error) {
	if err := validNetnsName(name); err != nil {
		return nil, err
	}
	path := filepath.Join(NetnsDir, name)
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("namespace %q already exists and is not this lab's: %w", name, os.ErrExist)
		}
		return nil, fmt.Errorf("creating namespace file %s: %w", path, err)
	}
	f.Close()

	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		origin, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("reading the thread's own namespace: %w", err)
			return
		}
		defer origin.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("unsharing network namespace: %w", err)
			return
		}
		self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		merr := unix.Mount(self, path, "none", unix.MS_BIND, "")
		if merr != nil {
			merr = fmt.Errorf("bind-mounting namespace to %s: %w", path, merr)
		}
		// Back to where the thread came from; if that fails the thread
		// stays locked and is discarded with this goroutine.
		if err := netns.Set(origin); err != nil {
			errc <- errors.Join(merr, fmt.Errorf("returning from the new namespace: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- merr
	}()
	if err := <-errc; err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("creating namespace %q: %w", name, err)
	}
	return OpenNetns(name)
}

// DeleteNetns unmounts and removes a named namespace, as `ip netns del`
// does. The kernel frees the namespace once no process or handle uses it.
// A namespace that does not exist is not an error.
//
// A symbolic link under the name is not a namespace netdojo made (it may
// lead to another lab's): it is kept, and the error says so.
func DeleteNetns(name string) error {
	path := filepath.Join(NetnsDir, name)
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err == nil && fi.Mode()&os.ModeSymlink != 0 {
		return fmt.Errorf("keeping %s: it is a symbolic link, not a namespace netdojo made; remove it by hand", path)
	}
	if err := unix.Unmount(path, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmounting namespace %q: %w", name, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing namespace %q: %w", name, err)
	}
	return nil
}

func validNetnsName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/ \t\n") || len(name) > 200 {
		return fmt.Errorf("invalid namespace name %q", name)
	}
	return nil
}

// dropShared removes from inodes every namespace that is also mounted
// under a name that is not lab's (another lab's host, or any other
// namespace of /run/netns): it is not only the lab's, and its processes
// are not ended with the lab. Each one is reported.
func dropShared(lab string, inodes map[uint64]bool) error {
	if len(inodes) == 0 {
		return nil
	}
	entries, err := os.ReadDir(NetnsDir)
	if err != nil {
		return nil
	}
	var errs []error
	for _, e := range entries {
		if labOwns(lab, e.Name()) || e.Type()&os.ModeSymlink != 0 {
			continue
		}
		var sb unix.Stat_t
		path := filepath.Join(NetnsDir, e.Name())
		if unix.Stat(path, &sb) != nil || !inodes[sb.Ino] || !isNsfs(path) {
			continue
		}
		delete(inodes, sb.Ino)
		errs = append(errs, fmt.Errorf("a namespace of lab %q is also mounted as %q, which is not the lab's; its processes are left alone", lab, e.Name()))
	}
	return errors.Join(errs...)
}

// EtcFile is the file processes in the namespace see as /etc/NAME: the
// namespace's own under /etc/netns when it exists, as `ip netns exec` does.
func (n *Netns) EtcFile(name string) string {
	p := filepath.Join(EtcNetnsDir, n.name, name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return filepath.Join("/etc", name)
}
