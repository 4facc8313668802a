package services

import (
	"context"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// BenchmarkDNSAnswer measures the authoritative lookup of one A record,
// in process, without sockets.
func BenchmarkDNSAnswer(b *testing.B) {
	p := authParams()
	if err := p.Check(); err != nil {
		b.Fatal(err)
	}
	s := &dnsServer{p: p, stop: make(chan struct{})}
	q := new(dns.Msg)
	q.SetQuestion("www.corp.test.", dns.TypeA)
	for b.Loop() {
		if m := s.answer(q); len(m.Answer) != 1 {
			b.Fatalf("answer: %v", m)
		}
	}
}

// BenchmarkServiceStartStop measures what a lab start pays per service:
// re-executing the binary in a namespace, waiting for Ready, SIGTERM and
// wait.
func BenchmarkServiceStartStop(b *testing.B) {
	ns := testNetns(b)
	k, _ := Lookup("tcp-echo")
	for b.Loop() {
		p := &ListenParams{defPort: 7, name: "echod"}
		c := spawnService(b, ns, "tcp-echo", p)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := k.Ready(ctx, ns, p); err != nil {
			b.Fatal(err)
		}
		cancel()
		if code := c.stop(); code != ExitOK {
			b.Fatalf("exit %d", code)
		}
	}
}
