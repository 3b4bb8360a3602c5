package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// stream posts receipts at a steady rate from clients of its own: each tick
// of a ticker hands one receipt to a client that is free; a tick that finds
// every client busy is skipped, and counted, so the rate is held and not
// made up later.
type stream struct {
	rate    int
	done    chan struct{} // closed by stop
	wg      sync.WaitGroup
	commits chan struct{} // a signal per commit, for await (dropped when full)
	failed  chan error    // the first client's error (capacity 1)
	posted  atomic.Int64
	skipped atomic.Int64
	start   time.Time
	elapsed time.Duration
	stopped sync.Once
}

// startStream starts posting rate receipts a second from cs, which must
// leave no money off the lines (client.linesOnly).
func startStream(ctx context.Context, cs []*client, rate int) *stream {
	s := &stream{rate: rate, done: make(chan struct{}), commits: make(chan struct{}, rate), failed: make(chan error, 1), start: time.Now()}
	work := make(chan struct{}) // unbuffered: only a free client takes a tick
	for _, c := range cs {
		s.wg.Go(func() {
			for range work {
				if err := s.post(ctx, c); err != nil {
					select {
					case s.failed <- err:
					default:
					}
					return
				}
			}
		})
	}
	s.wg.Go(func() {
		defer close(work)
		t := time.NewTicker(time.Second / time.Duration(rate))
		defer t.Stop()
		for {
			select {
			case <-s.done:
				return
			case <-t.C:
				select {
				case work <- struct{}{}:
				default:
					s.skipped.Add(1)
				}
			}
		}
	})
	return s
}

// post posts c's next receipt and signals its commit.
func (s *stream) post(ctx context.Context, c *client) error {
	c.families = slices.DeleteFunc(c.families, func(f *openFamily) bool { return len(f.lines) == 0 })
	if len(c.families) == 0 {
		return errors.New("a stream client has paid every line of its families")
	}
	if err := c.post(ctx, c.receipt()); err != nil {
		return err
	}
	s.posted.Add(1)
	select {
	case s.commits <- struct{}{}:
	default:
	}
	return nil
}

// await waits until the stream has committed n more receipts.
func (s *stream) await(ctx context.Context, n int) error {
	for len(s.commits) > 0 { // commits before now do not count
		<-s.commits
	}
	for range n {
		select {
		case <-s.commits:
		case err := <-s.failed:
			return fmt.Errorf("receipt stream: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// stop ends the ticks and waits for the receipts being posted.
func (s *stream) stop() {
	s.stopped.Do(func() {
		close(s.done)
		s.wg.Wait()
		s.elapsed = time.Since(s.start)
	})
}

func (s *stream) String() string {
	return fmt.Sprintf("receipt stream: %d receipts on other families' lines in %.1fs (%.1f/s for a target of %d/s; %d ticks skipped with every one of the clients busy)",
		s.posted.Load(), s.elapsed.Seconds(), float64(s.posted.Load())/s.elapsed.Seconds(), s.rate, s.skipped.Load())
}
