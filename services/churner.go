package services

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/netdojo/netdojo/probe"
	"github.com/netdojo/netdojo/scenarios"
)

// ChurnerParams configure the churner client.
type ChurnerParams struct {
	Target  string  `yaml:"target,omitempty" json:"target,omitempty" doc:"IP:port to connect to, such as \"10.0.0.10:7\"."`
	Count   int     `yaml:"count,omitempty" json:"count,omitempty" doc:"How many connections to make (default 100); -1 keeps going until the service stops."`
	Rate    float64 `yaml:"rate,omitempty" json:"rate,omitempty" doc:"Connections per second (default 10)."`
	Closer  string  `yaml:"closer,omitempty" json:"closer,omitempty" doc:"Which side closes first and so holds TIME_WAIT: client (the churner, default) or server (the churner waits for the server to close, as after an HTTP/1.0 answer or a banner with close)."`
	Payload string  `yaml:"payload,omitempty" json:"payload,omitempty" doc:"Bytes sent on each connection before closing, such as \"GET / HTTP/1.0\\r\\n\\r\\n\"."`
}

// Check implements Params.
func (p *ChurnerParams) Check() error {
	if err := scenarios.CheckAddrPort("target", p.Target); err != nil {
		return err
	}
	switch {
	case p.Count == 0:
		p.Count = 100
	case p.Count < -1:
		return scenarios.FieldErrorf("count", "%d is not a count; give 1 or more, or -1 for no end", p.Count)
	}
	if err := scenarios.CheckPositive("rate", &p.Rate, 10, 10000); err != nil {
		return err
	}
	return scenarios.CheckOneOf("closer", &p.Closer, "client", false, "client", "server")
}

// ProcessName implements Params: a churner is the scenario's client
// program, named after its service (ProcessNameFor).
func (p *ChurnerParams) ProcessName() string { return "" }

func churnerKind() Kind {
	return Kind{
		Name:    "churner",
		Summary: "Client that makes many short TCP connections at a rate: TIME_WAIT piles up.",
		Doc: "Connects to target count times at rate per second; each connection sends the payload and is " +
			"closed first by the side named in closer, which then holds the socket in TIME_WAIT for 60 s. " +
			"`ss -tan state time-wait` grows on that side (on the client, with dport = the target port; on the " +
			"server, with sport = its port); with a narrow ip_local_port_range, new connections fail with " +
			"\"Cannot assign requested address\". After the last connection the process idles until stopped.",
		NewParams: func() Params { return &ChurnerParams{} },
		Run: func(ctx context.Context, p Params, log *slog.Logger) error {
			return runChurner(ctx, p.(*ChurnerParams), log)
		},
		Ready: func(ctx context.Context, t probe.Target, p Params) error {
			return nil // a client: nothing to wait for
		},
	}
}

func runChurner(ctx context.Context, p *ChurnerParams, log *slog.Logger) error {
	interval := time.Duration(float64(time.Second) / p.Rate)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	log.Info("churning", "target", p.Target, "count", p.Count, "rate", p.Rate, "closer", p.Closer)
	ok, failed := 0, 0
	for i := 0; p.Count < 0 || i < p.Count; i++ {
		if err := churnOnce(ctx, p); err != nil {
			if ctx.Err() != nil {
				break
			}
			failed++
			// The first failures, then one in a hundred: an exhausted port
			// range at a high rate would otherwise flood the log.
			if failed <= 10 || failed%100 == 0 {
				log.Warn("connection failed", "n", i+1, "failed_so_far", failed, "err", err)
			}
		} else {
			ok++
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
			continue
		}
		break
	}
	log.Info("done", "ok", ok, "failed", failed)
	<-ctx.Done()
	return nil
}

// churnOnce makes one connection. The first close decides which side holds
// TIME_WAIT: the client half-closes first for closer=client; it waits for the
// server's FIN for closer=server. Either way it reads to end of stream
// before closing, so that no unread data turns the close into a reset.
func churnOnce(ctx context.Context, p *ChurnerParams) error {
	d := net.Dialer{Timeout: 3 * time.Second}
	c, err := d.DialContext(ctx, "tcp", p.Target)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if p.Payload != "" {
		if _, err := io.WriteString(c, p.Payload); err != nil {
			return err
		}
	}
	if p.Closer == "client" {
		if err := c.(*net.TCPConn).CloseWrite(); err != nil {
			return err
		}
	}
	if _, err := io.Copy(io.Discard, c); err != nil {
		return fmt.Errorf("waiting for the server to close: %w", err)
	}
	return nil
}
