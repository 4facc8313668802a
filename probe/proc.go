package probe

import (
	"os"
	"slices"
	"strconv"
	"strings"
)

// scProcRoot is where the process table is read. A process holds a socket
// when one of its /proc/PID/fd links reads "socket:[INODE]", whatever
// namespace the process itself lives in.
const scProcRoot = "/proc"

// scAttachOwners fills Socket.Processes by matching socket inodes with the
// fd links of every process, as `ss -p` does. Processes that end while the
// table is read are skipped.
func scAttachOwners(socks []Socket) error {
	if len(socks) == 0 {
		return nil
	}
	byInode := make(map[uint32][]int, len(socks))
	for i := range socks {
		socks[i].Processes = nil
		if socks[i].Inode != 0 {
			byInode[socks[i].Inode] = append(byInode[socks[i].Inode], i)
		}
	}
	if len(byInode) == 0 {
		return nil
	}
	procs, err := os.ReadDir(scProcRoot)
	if err != nil {
		return err
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid <= 0 {
			continue
		}
		scScanProcessFDs(pid, byInode, socks)
	}
	for i := range socks {
		slices.SortFunc(socks[i].Processes, func(a, b SocketProcess) int {
			if a.PID != b.PID {
				return a.PID - b.PID
			}
			return a.FD - b.FD
		})
	}
	return nil
}

func scScanProcessFDs(pid int, byInode map[uint32][]int, socks []Socket) {
	dir := scProcRoot + "/" + strconv.Itoa(pid) + "/fd"
	f, err := os.Open(dir)
	if err != nil {
		return
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return
	}
	name := ""
	for _, n := range names {
		link, err := os.Readlink(dir + "/" + n)
		if err != nil || !strings.HasPrefix(link, "socket:[") || !strings.HasSuffix(link, "]") {
			continue
		}
		inode, err := strconv.ParseUint(link[len("socket:["):len(link)-1], 10, 32)
		if err != nil {
			continue
		}
		idx, ok := byInode[uint32(inode)]
		if !ok {
			continue
		}
		fd, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		if name == "" {
			name = scProcName(pid)
		}
		for _, i := range idx {
			socks[i].Processes = append(socks[i].Processes, SocketProcess{PID: pid, Name: name, FD: fd})
		}
	}
}

// scProcName is the process's command name as ss prints it (/proc/PID/comm).
func scProcName(pid int) string {
	b, err := os.ReadFile(scProcRoot + "/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return "?"
	}
	return strings.TrimSuffix(string(b), "\n")
}
