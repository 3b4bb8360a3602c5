package localpg

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"
)

// How Supervise paces restarts: the first comes restartFirst after the
// server exits, each failed attempt doubles the wait up to restartMax, and a
// server that ran restartSettled or longer before exiting starts the count
// again.
const (
	restartFirst   = 100 * time.Millisecond
	restartMax     = 10 * time.Second
	restartSettled = time.Minute
)

// Supervise restarts the server whenever it exits, with the same data
// directory, socket directory and port (so the cluster's URLs stay valid),
// until ctx ends or Stop is called. Restarts back off (restartFirst,
// doubling, at most restartMax apart) and go on until one succeeds: a
// server killed with its sessions still alive cannot start until they have
// gone, and a server that cannot start says why in its log. Each attempt is
// logged with its number and the cause (how the server exited, or why the
// previous attempt failed), and each success; restarted, if not nil, is
// called after each success.
func (c *Cluster) Supervise(ctx context.Context, log *slog.Logger, restarted func()) {
	if c.owner != 0 {
		return // another process's server: that process supervises it
	}
	wait := restartFirst
	for {
		srv := c.current()
		ranSince := time.Now()
		select {
		case <-ctx.Done():
			return
		case <-srv.exited:
		}
		if c.isStopping() {
			return
		}
		if time.Since(ranSince) >= restartSettled {
			wait = restartFirst
		}
		cause := "postgres exited"
		if srv.waitErr != nil {
			cause += ": " + srv.waitErr.Error()
		}
		for attempt := 1; ; attempt++ {
			log.Warn("private PostgreSQL is down; restarting it", "attempt", attempt, "cause", cause, "after", wait.String())
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			wait = min(2*wait, restartMax)
			err := c.start(ctx)
			if err == nil {
				log.Info("private PostgreSQL restarted", "attempt", attempt, "data", c.dataDir)
				if restarted != nil {
					restarted()
				}
				break
			}
			if errors.Is(err, errStopped) || ctx.Err() != nil {
				return
			}
			first, _, _ := strings.Cut(err.Error(), "\n")
			cause = first + "; log: " + lastLogLine(c.logPath())
		}
	}
}

// isStopping reports whether Stop has been called.
func (c *Cluster) isStopping() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopping
}

// lastLogLine returns the last line of the server's log, which says why it
// could not start.
func lastLogLine(path string) string {
	b := []byte(readTail(path))
	b = bytes.TrimSpace(b)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	return string(bytes.TrimSpace(b))
}
