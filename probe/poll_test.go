package probe

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestPollReturnsNilOnceTrySucceeds(t *testing.T) {
	n := 0
	err := Poll(context.Background(), time.Millisecond, func(context.Context) error {
		if n++; n < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil || n != 3 {
		t.Fatalf("Poll = %v after %d tries, want nil after 3", err, n)
	}
}

func TestPollReturnsTheLastErrorWithTheContextsWhenItEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err := Poll(ctx, time.Millisecond, func(context.Context) error {
		if n++; n == 2 {
			cancel()
		}
		return errors.New("try " + string(rune('0'+n)))
	})
	if !errors.Is(err, context.Canceled) || err.Error() != "context canceled\ntry 2" {
		t.Fatalf("Poll = %q, want the context's error and try 2's", err)
	}
}

func TestPollForReturnsTheLastErrorAloneAfterTheTimeout(t *testing.T) {
	n := 0
	err := PollFor(context.Background(), time.Millisecond, 0, func(context.Context) error {
		n++
		return errors.New("still broken")
	})
	if err == nil || err.Error() != "still broken" || n != 1 {
		t.Fatalf("PollFor = %v after %d tries, want \"still broken\" after 1", err, n)
	}
}
