package services

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/scenarios"
	"golang.org/x/sys/unix"
)

// DelayerParams configure the delayer.
type DelayerParams struct {
	Queue  int    `yaml:"queue,omitempty" json:"queue,omitempty" doc:"NFQUEUE number to serve: the --queue-num of the iptables rule that feeds it (0-65535)."`
	Delay  string `yaml:"delay,omitempty" json:"delay,omitempty" doc:"How long each packet is held before it is let through, such as \"100ms\" (default 100ms)."`
	Jitter string `yaml:"jitter,omitempty" json:"jitter,omitempty" doc:"Random variation, up to this much either way, around the delay, such as \"20ms\" (default none)."`

	delay, jitter time.Duration
}

// Check implements Params.
func (p *DelayerParams) Check() error {
	if err := scenarios.CheckRange("queue", &p.Queue, 0, 0, 65535); err != nil {
		return err
	}
	var err error
	if p.delay, err = scenarios.CheckDuration("delay", p.Delay, 100*time.Millisecond); err != nil {
		return err
	}
	if p.jitter, err = scenarios.CheckDuration("jitter", p.Jitter, 0); err != nil {
		return err
	}
	if p.delay > time.Minute || p.jitter > p.delay {
		return scenarios.FieldErrorf("delay", "%v±%v (delay±jitter) is out of range; give a delay up to 1m and a jitter no larger than the delay", p.delay, p.jitter)
	}
	return nil
}

// ProcessName implements Params.
func (p *DelayerParams) ProcessName() string { return "nfqd" }

func delayerKind() Kind {
	return Kind{
		Name:    "delayer",
		Summary: "NFQUEUE delayer: holds packets for delay±jitter, for latency without netem.",
		Doc: "Serves one NFQUEUE: every packet an iptables rule sends to the queue is held for delay±jitter and " +
			"then accepted. The rule is not the delayer's: a fault installs it, always with --queue-bypass so " +
			"that packets pass undelayed when no delayer runs. `ping` shows the RTT grow by the delay for each " +
			"direction that crosses the rule, and mdev by the jitter; `iptables -vnL` counts the packets queued; " +
			"`cat /proc/net/netfilter/nfnetlink_queue` inside the host shows the bound queue.",
		NewParams: func() Params { return &DelayerParams{} },
		Run: func(ctx context.Context, p Params, log *slog.Logger) error {
			return runDelayer(ctx, p.(*DelayerParams), log)
		},
		Ready: func(ctx context.Context, t probe.Target, p Params) error {
			d := p.(*DelayerParams)
			return pollReady(ctx, t, fmt.Sprintf("delayer on queue %d", d.Queue), func(ctx context.Context) error {
				var bound bool
				err := t.Do(func() error {
					var err error
					bound, err = queueBound("/proc/thread-self/net/netfilter/nfnetlink_queue", d.Queue)
					return err
				})
				if err != nil {
					return err
				}
				if !bound {
					return fmt.Errorf("queue %d not bound yet", d.Queue)
				}
				return nil
			})
		},
	}
}

// queueBound reports whether the kernel's table of NFQUEUE instances lists
// queue.
func queueBound(path string, queue int) (bool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", path, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == strconv.Itoa(queue) {
			return true, nil
		}
	}
	return false, nil
}

// nfnetlink_queue protocol (linux/netfilter/nfnetlink_queue.h).
const (
	nfqnlMsgPacket  = 0
	nfqnlMsgVerdict = 1
	nfqnlMsgConfig  = 2

	nfqaCfgCmd         = 1
	nfqaCfgParams      = 2
	nfqaCfgQueueMaxlen = 3
	nfqaCfgMask        = 4
	nfqaCfgFlags       = 5
	nfqaPacketHdr      = 1
	nfqaVerdictHdr     = 2

	nfqnlCfgCmdBind   = 1
	nfqnlCfgCmdUnbind = 2
	nfqnlCopyMeta     = 1
	nfqaCfgFFailOpen  = 1

	nfAccept = 1

	delayerMaxQueue = 4096
	nlaTypeMask     = 0x3fff // without NLA_F_NESTED and NLA_F_NET_BYTEORDER
)

// nfqueue is a netlink socket bound to one NFQUEUE.
type nfqueue struct {
	fd    int
	queue uint16
	mu    sync.Mutex // serialises sends
	seq   uint32
}

func openNFQueue(queue uint16) (*nfqueue, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	if err != nil {
		return nil, fmt.Errorf("opening a netfilter netlink socket: %w", err)
	}
	q := &nfqueue{fd: fd, queue: queue}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("binding the netlink socket: %w", err)
	}
	// Big buffers, no ENOBUFS on overrun, and a receive timeout so the read
	// loop notices when to stop.
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
	unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_NO_ENOBUFS, 1)
	tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("setting the receive timeout: %w", err)
	}
	steps := []struct {
		what  string
		attrs []byte
	}{
		{"binding queue", nlattr(nfqaCfgCmd, []byte{nfqnlCfgCmdBind, 0, 0, 0})},
		{"setting copy mode", nlattr(nfqaCfgParams, append(be32(0), nfqnlCopyMeta))},
		{"setting queue length", nlattr(nfqaCfgQueueMaxlen, be32(delayerMaxQueue))},
		// Fail open: when the queue is full, accept rather than drop.
		{"setting fail-open", append(nlattr(nfqaCfgMask, be32(nfqaCfgFFailOpen)), nlattr(nfqaCfgFlags, be32(nfqaCfgFFailOpen))...)},
	}
	for _, s := range steps {
		if err := q.request(nfqnlMsgConfig, s.attrs); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("%s %d: %w", s.what, queue, err)
		}
	}
	return q, nil
}

// request sends a config message and waits for the kernel's ack.
func (q *nfqueue) request(msgType uint16, attrs []byte) error {
	seq, err := q.send(msgType, unix.NLM_F_REQUEST|unix.NLM_F_ACK, attrs)
	if err != nil {
		return err
	}
	buf := make([]byte, 8192)
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		n, _, err := unix.Recvfrom(q.fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			return err
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.Header.Seq != seq || m.Header.Type != unix.NLMSG_ERROR || len(m.Data) < 4 {
				continue
			}
			if errno := int32(binary.NativeEndian.Uint32(m.Data[:4])); errno != 0 {
				return unix.Errno(-errno)
			}
			return nil
		}
	}
	return errors.New("no answer from the kernel")
}

func (q *nfqueue) send(msgType uint16, flags uint16, attrs []byte) (uint32, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.seq++
	b := make([]byte, unix.NLMSG_HDRLEN+4, unix.NLMSG_HDRLEN+4+len(attrs))
	binary.NativeEndian.PutUint32(b[0:4], uint32(unix.NLMSG_HDRLEN+4+len(attrs)))
	binary.NativeEndian.PutUint16(b[4:6], unix.NFNL_SUBSYS_QUEUE<<8|msgType)
	binary.NativeEndian.PutUint16(b[6:8], flags)
	binary.NativeEndian.PutUint32(b[8:12], q.seq)
	b[16] = unix.AF_UNSPEC
	b[17] = 0 // NFNETLINK_V0
	binary.BigEndian.PutUint16(b[18:20], q.queue)
	b = append(b, attrs...)
	if err := unix.Sendto(q.fd, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, err
	}
	return q.seq, nil
}

// accept lets packet id through.
func (q *nfqueue) accept(id uint32) error {
	_, err := q.send(nfqnlMsgVerdict, unix.NLM_F_REQUEST, nlattr(nfqaVerdictHdr, append(be32(nfAccept), be32(id)...)))
	return err
}

func (q *nfqueue) close() error {
	_, err := q.send(nfqnlMsgConfig, unix.NLM_F_REQUEST, nlattr(nfqaCfgCmd, []byte{nfqnlCfgCmdUnbind, 0, 0, 0}))
	return errors.Join(err, unix.Close(q.fd))
}

// packetIDs returns the ids of the queued packets in a batch of messages.
func packetIDs(buf []byte) ([]uint32, error) {
	msgs, err := syscall.ParseNetlinkMessage(buf)
	if err != nil {
		return nil, err
	}
	var ids []uint32
	for _, m := range msgs {
		if m.Header.Type != unix.NFNL_SUBSYS_QUEUE<<8|nfqnlMsgPacket || len(m.Data) < 4 {
			continue
		}
		for a := m.Data[4:]; len(a) >= 4; {
			l := int(binary.NativeEndian.Uint16(a[0:2]))
			typ := binary.NativeEndian.Uint16(a[2:4]) & nlaTypeMask
			if l < 4 || l > len(a) {
				break
			}
			if typ == nfqaPacketHdr && l >= 8 {
				ids = append(ids, binary.BigEndian.Uint32(a[4:8]))
			}
			a = a[min(len(a), (l+3)&^3):]
		}
	}
	return ids, nil
}

func nlattr(typ uint16, value []byte) []byte {
	l := 4 + len(value)
	b := make([]byte, (l+3)&^3)
	binary.NativeEndian.PutUint16(b[0:2], uint16(l))
	binary.NativeEndian.PutUint16(b[2:4], typ)
	copy(b[4:], value)
	return b
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func runDelayer(ctx context.Context, p *DelayerParams, log *slog.Logger) error {
	q, err := openNFQueue(uint16(p.Queue))
	if err != nil {
		return err
	}
	log.Info("serving queue", "queue", p.Queue, "delay", p.delay, "jitter", p.jitter)

	var mu sync.Mutex
	held := map[uint32]*time.Timer{}
	var sendErrs, packets int
	var inflight sync.WaitGroup // one per held packet, done once its verdict is sent
	release := func(id uint32) {
		defer inflight.Done()
		mu.Lock()
		delete(held, id)
		mu.Unlock()
		if err := q.accept(id); err != nil {
			mu.Lock()
			sendErrs++
			mu.Unlock()
		}
	}
	buf := make([]byte, 1<<16)
	var runErr error
	for ctx.Err() == nil {
		n, _, err := unix.Recvfrom(q.fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) || errors.Is(err, unix.ENOBUFS) {
				continue
			}
			runErr = fmt.Errorf("reading queue %d: %w", p.Queue, err)
			break
		}
		ids, err := packetIDs(buf[:n])
		if err != nil {
			log.Warn("bad netlink message", "err", err)
			continue
		}
		for _, id := range ids {
			hold := p.delay
			if p.jitter > 0 {
				hold += time.Duration(rand.Int64N(int64(2*p.jitter)+1)) - p.jitter
			}
			mu.Lock()
			packets++
			inflight.Add(1)
			held[id] = time.AfterFunc(hold, func() { release(id) })
			mu.Unlock()
		}
	}
	// Let every packet still held through at once, then unbind: closing the
	// socket with packets queued would drop them.
	mu.Lock()
	var pending []uint32
	for id, t := range held {
		if t.Stop() {
			pending = append(pending, id)
		}
	}
	mu.Unlock()
	for _, id := range pending {
		release(id)
	}
	inflight.Wait()
	mu.Lock()
	log.Info("released", "packets", packets, "released_at_stop", len(pending), "verdict_errors", sendErrs)
	mu.Unlock()
	return errors.Join(runErr, q.close())
}
