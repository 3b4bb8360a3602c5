package graph

import (
	"context"
	"net/http"
	"sync"
	"time"
)

const (
	// ReadyTimeout is how long /readyz waits for the database's answer
	// before it says 503.
	ReadyTimeout = 2 * time.Second
	// readyCheckTimeout bounds one check in the background: a driver
	// waiting on a frozen server may not give up when its context ends, so
	// /readyz does not wait for the check itself (see readiness).
	readyCheckTimeout = 30 * time.Second
)

// readiness runs the ready check for /readyz: at most one at a time, shared
// by every request that asks meanwhile, each of which waits for it at most
// ReadyTimeout. A check stuck on a frozen database thus holds one goroutine
// (and one connection), however often /readyz is asked.
type readiness struct {
	check   func(context.Context) error
	mu      sync.Mutex
	running *readyCheck
}

// readyCheck is one run of the check; err is set before done is closed.
type readyCheck struct {
	done chan struct{}
	err  error
}

// wait starts a check unless one is running, and waits for it until ctx ends.
func (rd *readiness) wait(ctx context.Context) error {
	rd.mu.Lock()
	c := rd.running
	if c == nil {
		c = &readyCheck{done: make(chan struct{})}
		rd.running = c
		go rd.run(c)
	}
	rd.mu.Unlock()
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (rd *readiness) run(c *readyCheck) {
	ctx, cancel := context.WithTimeout(context.Background(), readyCheckTimeout)
	defer cancel()
	c.err = rd.check(ctx)
	rd.mu.Lock()
	rd.running = nil
	rd.mu.Unlock()
	close(c.done)
}

// serve answers /readyz: 200 if the database answered within
// ReadyTimeout, else 503.
func (rd *readiness) serve(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), ReadyTimeout)
	defer cancel()
	if err := rd.wait(ctx); err != nil {
		http.Error(w, "database unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte("ready\n"))
}
