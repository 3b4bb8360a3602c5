package postgres

import (
	"log/slog"
	"sync"
	"time"

	"github.com/lib/pq"

	"github.com/paysplit/paysplit/ledger"
)

// ChangeSink receives the practices whose ledger changed (*ledger.AgingHub).
type ChangeSink interface {
	// Changed: a transaction that changed the practice's ledger committed.
	Changed(practiceID ledger.ID)
	// ChangedAll: notifications may have been missed (the connection was
	// lost and is back); treat every practice as changed.
	ChangedAll()
}

// Listener follows the commits of every server instance sharing the
// database: it LISTENs on ChangesChannel over a dedicated connection
// (lib/pq's pq.Listener) and passes each practice named to a ChangeSink. When
// the connection is lost (the database restarted, the backend was killed) it
// reconnects by itself, with back-off, and then reports ChangedAll, since
// notifications sent meanwhile are lost.
type Listener struct {
	l    *pq.Listener
	sink ChangeSink
	log  *slog.Logger
	done chan struct{}
	wg   sync.WaitGroup

	mu         sync.Mutex
	reconnects int
}

// pingEvery is how often an idle listener checks its connection (a silently
// dropped TCP connection is otherwise only noticed when the kernel gives up).
const pingEvery = 30 * time.Second

// Listen connects to dsn (a lib/pq connection string or URL), starts
// listening and delivers changes to sink until Close. It returns once the
// LISTEN is in place, so commits after it returns are seen.
func Listen(dsn string, sink ChangeSink, log *slog.Logger) (*Listener, error) {
	if log == nil {
		log = slog.Default()
	}
	ln := &Listener{sink: sink, log: log, done: make(chan struct{})}
	ln.l = pq.NewListener(dsn, 100*time.Millisecond, 5*time.Second, ln.event)
	if err := ln.l.Listen(ChangesChannel); err != nil {
		ln.l.Close()
		return nil, translate(err)
	}
	ln.wg.Add(1)
	go ln.run()
	return ln, nil
}

// event logs the connection's state changes (called by pq's goroutine).
func (ln *Listener) event(ev pq.ListenerEventType, err error) {
	switch ev {
	case pq.ListenerEventDisconnected:
		ln.log.Warn("change listener: lost its database connection; reconnecting", "err", err)
	case pq.ListenerEventConnectionAttemptFailed:
		ln.log.Warn("change listener: reconnecting failed; retrying", "err", err)
	case pq.ListenerEventReconnected:
		ln.mu.Lock()
		ln.reconnects++
		ln.mu.Unlock()
		ln.log.Info("change listener: reconnected")
	}
}

// Reconnects counts how often the listener has reconnected.
func (ln *Listener) Reconnects() int {
	ln.mu.Lock()
	defer ln.mu.Unlock()
	return ln.reconnects
}

func (ln *Listener) run() {
	defer ln.wg.Done()
	ping := time.NewTicker(pingEvery)
	defer ping.Stop()
	for {
		select {
		case <-ln.done:
			return
		case n, ok := <-ln.l.Notify:
			switch {
			case !ok:
				return
			case n == nil: // reconnected: anything may have changed meanwhile
				ln.sink.ChangedAll()
			default:
				id, err := ledger.ParseID(n.Extra)
				if err != nil {
					ln.log.Warn("change listener: ignoring a notification that names no practice", "payload", n.Extra)
					continue
				}
				ln.sink.Changed(id)
			}
		case <-ping.C:
			go func() { _ = ln.l.Ping() }() // a failure makes pq reconnect
		}
	}
}

// Close stops listening and closes the connection.
func (ln *Listener) Close() error {
	close(ln.done)
	err := ln.l.Close()
	ln.wg.Wait()
	return err
}
