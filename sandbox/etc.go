package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/netdojo/netdojo/scenarios"
	"golang.org/x/sys/unix"
)

// writeEtc writes a host's resolv.conf, hosts and hostname into dir, in the
// lab's state on tmpfs (etcOnTmpfs). linkEtc links /etc/netns/NS to it: that is what
// `ip netns exec NS` and netdojo's own exec and shell mount over /etc. A
// host without a resolver gets a resolv.conf that says so, never the
// machine's.
func writeEtc(dir string, h *scenarios.Host) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	files := map[string]string{
		"resolv.conf": resolvConf(h),
		"hosts":       hostsFile(h),
		"hostname":    h.Name + "\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("writing %s of host %q: %w", name, h.Name, err)
		}
	}
	return nil
}

// EtcDir is the directory of a lab's state that holds each host's /etc
// files, one directory per host.
const EtcDir = "etc"

// etcOnTmpfs makes the lab's etc directory and, where the store is not on
// tmpfs already (as /run is on most machines, but not on every VM), mounts
// a small tmpfs of the lab's own there: a 200-host lab writes 800 entries
// (a directory and three files per host), and on this VM's disk-backed
// /run each create costs up to half a millisecond of the kernel's inode
// allocator, more than the whole network build. Store.remove unmounts it
// with the lab's directory; Leftovers reports it if it stays. Where
// mounting fails, the files are written to the directory on disk.
func etcOnTmpfs(labDir string) error {
	dir := filepath.Join(labDir, EtcDir)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	var fs unix.Statfs_t
	if unix.Statfs(labDir, &fs) == nil && fs.Type == unix.TMPFS_MAGIC {
		return nil
	}
	_ = unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0755,size=16m")
	return nil
}

// unmountEtc detaches a tmpfs mounted on a lab's etc directory, without
// following a link planted there; nothing mounted is not an error.
func unmountEtc(labDir string) error {
	dir := filepath.Join(labDir, EtcDir)
	if err := unix.Unmount(dir, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmounting %s: %w", dir, err)
	}
	return nil
}

// linkEtc makes /etc/netns/NS a symlink to the host's directory in the
// lab's state. One symlink per host is the only write to /etc, which is on
// disk; everything else a lab writes is on tmpfs.
//
// Each link is created exclusively: one that exists already is someone
// else's and fails the start. On failure, the links this run did not make
// are dropped from the lab's record, so that no rollback removes them.
func linkEtc(lab *Lab, links, targets []string) error {
	for i, link := range links {
		if err := retryVanished(func() error {
			if err := os.MkdirAll(EtcNetnsDir, 0o755); err != nil {
				return err
			}
			return os.Symlink(targets[i], link)
		}); err != nil {
			if errors.Is(err, os.ErrExist) {
				err = fmt.Errorf("%s already exists and is not part of lab %q; remove it, or choose another lab name with --name", link, lab.Name)
			} else {
				err = fmt.Errorf("linking %s: %w", link, err)
			}
			return errors.Join(err, lab.forget(links[i:]...))
		}
	}
	return nil
}

func resolvConf(h *scenarios.Host) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# netdojo: resolver of host %s\n", h.Name)
	if len(h.DNS.Nameservers) == 0 {
		b.WriteString("# this host has no nameserver configured\n")
	}
	for _, ns := range h.DNS.Nameservers {
		fmt.Fprintf(&b, "nameserver %s\n", ns)
	}
	if len(h.DNS.Search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(h.DNS.Search, " "))
	}
	if len(h.DNS.Options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(h.DNS.Options, " "))
	}
	return b.String()
}

func hostsFile(h *scenarios.Host) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# netdojo: hosts file of host %s\n127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n", h.Name, h.Name)
	for _, e := range h.HostsFile {
		fmt.Fprintf(&b, "%s\t%s\n", e.IP, strings.Join(e.Names, " "))
	}
	return b.String()
}
