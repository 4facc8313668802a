package board

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/netdojo/netdojo/drill"
)

type receipt struct {
	elapsed float64
	at      time.Time
}

// watch reads the board's event stream like a browser's EventSource and
// reports, for every record event, the record's elapsed time and when
// the event arrived.
func watch(ctx context.Context, url string, out chan<- receipt, ready *sync.WaitGroup) error {
	req, err := http.NewRequestWithContext(ctx, "GET", url+"/events", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	rd := bufio.NewReaderSize(resp.Body, 64<<10)
	first := true
	key := []byte(`"elapsed_s":`)
	for {
		line, err := rd.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A long data line: keep its start, which holds elapsed_s.
			rest := append([]byte(nil), line...)
			for err == bufio.ErrBufferFull {
				line, err = rd.ReadSlice('\n')
			}
			line = rest
		}
		if err != nil {
			return err
		}
		at := time.Now()
		i := bytes.Index(line, key)
		if !bytes.HasPrefix(line, []byte("data: ")) || i < 0 {
			continue
		}
		num := line[i+len(key):]
		end := bytes.IndexAny(num, ",}")
		e, err := strconv.ParseFloat(string(num[:end]), 64)
		if err != nil {
			return err
		}
		if first {
			first = false
			ready.Done()
			continue
		}
		out <- receipt{elapsed: e, at: at}
	}
}

// BenchmarkBoard50Watchers measures how long a change takes to reach 50
// watching browsers: from Set on the Source to each watcher's receipt of
// the whole record, through the real server on loopback. It reports the
// 50th and 99th percentile and the worst of all receipts.
func BenchmarkBoard50Watchers(b *testing.B) {
	b.Run("fixture, 60 samples", func(b *testing.B) { benchWatchers(b, fixture(b)) })
	b.Run("30 min drill, 900 samples, 300 commands", func(b *testing.B) {
		r := fixture(b)
		for len(r.SLI) < 900 {
			last := r.SLI[len(r.SLI)-1]
			r.SLI = append(r.SLI, drill.Sample{T: last.T + 2, OK: len(r.SLI)%9 != 0, Detail: "200 in 14 ms"})
		}
		for len(r.Commands) < 300 {
			c := r.Commands[len(r.Commands)%13]
			c.T = float64(len(r.Commands) * 6)
			r.Commands = append(r.Commands, c)
		}
		r.Elapsed = r.SLI[len(r.SLI)-1].T
		benchWatchers(b, r)
	})
}

func benchWatchers(b *testing.B, r *drill.Record) {
	const watchers = 50
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	mem := NewMemory()
	r.Status = drill.StatusRunning
	mem.Set(r)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = Serve(ctx, ln, mem) }()
	url := "http://" + ln.Addr().String()

	out := make(chan receipt, watchers*4)
	var ready sync.WaitGroup
	ready.Add(watchers)
	for range watchers {
		go func() {
			if err := watch(ctx, url, out, &ready); err != nil && ctx.Err() == nil {
				b.Error(err)
			}
		}()
	}
	ready.Wait()

	var lat []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		// One probe sample more, as the engine writes after each run.
		t := r.Elapsed + 5
		r.Elapsed = t
		r.SLI = append(r.SLI, drill.Sample{T: t, OK: i%7 != 0, Detail: "200 in 14 ms"})
		start := time.Now()
		mem.Set(r)
		for got := 0; got < watchers; {
			rc := <-out
			if rc.elapsed != t {
				continue // a watcher that lagged a change behind (none should)
			}
			lat = append(lat, rc.at.Sub(start))
			got++
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(len(r.SLI)), "samples")
}
