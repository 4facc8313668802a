package probe

import (
	"context"
	"errors"
	"time"
)

// Poll calls try at once and then every interval until it returns nil or
// ctx ends. It returns nil, or try's last error joined with ctx's error.
func Poll(ctx context.Context, every time.Duration, try func(context.Context) error) error {
	return poll(ctx, every, time.Time{}, try)
}

// PollFor is Poll bounded by a timeout as well: once the timeout has
// passed, try's next error is returned alone.
func PollFor(ctx context.Context, every, timeout time.Duration, try func(context.Context) error) error {
	return poll(ctx, every, time.Now().Add(timeout), try)
}

func poll(ctx context.Context, every time.Duration, deadline time.Time, try func(context.Context) error) error {
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		err := try(ctx)
		if err == nil {
			return nil
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			return err
		}
		t.Reset(every)
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-t.C:
		}
	}
}
