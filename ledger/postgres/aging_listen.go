package postgres

import (
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/lib/pq"

	"github.com/paysplit/paysplit/ledger"
)

// ChangeSink receives the practices whose ledger changed (*aginghub.Hub).
type ChangeSink interface {
	// Changed: a transaction that changed the practice's ledger committed.
	Changed(practiceID ledger.ID)
	// ChangedAll: notifications may have been missed (the connection was
	// lost and is back); treat every practice as changed.
	ChangedAll()
}

// FamilySink is a ChangeSink that can use the families a commit touched
// (*aginghub.Hub): a notification naming them goes to ChangedFamilies
// instead of Changed.
type FamilySink interface {
	ChangeSink
	// ChangedFamilies: a transaction that changed aging only in these
	// families' lines and credits committed.
	ChangedFamilies(practiceID ledger.ID, families []ledger.ID)
}

// RevocationSink receives the API keys revoked (*graph.Server closes their
// websockets).
type RevocationSink interface {
	// KeyRevoked: a transaction that revoked the key committed.
	KeyRevoked(practiceID, keyID ledger.ID)
	// RecheckKeys: revocations may have been missed (the connection was
	// lost and is back); check every key still in use.
	RecheckKeys()
}

// ListenOption configures a Listener.
type ListenOption func(*Listener)

// WithRevocations makes the Listener also pass the keys revoked
// (RevokedChannel) to s.
func WithRevocations(s RevocationSink) ListenOption { return func(ln *Listener) { ln.keys = s } }

// Listener follows the commits of every server instance sharing the
// database: it LISTENs on ChangesChannel (and RevokedChannel) over a
// dedicated connection (lib/pq's pq.Listener) and passes each practice named
// to a ChangeSink (each key revoked to a RevocationSink). When the
// connection is lost (the database restarted, the backend was killed) it
// reconnects by itself, with back-off, and then reports ChangedAll (and
// RecheckKeys), since notifications sent meanwhile are lost.
type Listener struct {
	l    *pq.Listener
	sink ChangeSink
	keys RevocationSink // nil: revocations are not followed
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
func Listen(dsn string, sink ChangeSink, log *slog.Logger, opts ...ListenOption) (*Listener, error) {
	if log == nil {
		log = slog.Default()
	}
	ln := &Listener{sink: sink, log: log, done: make(chan struct{})}
	for _, o := range opts {
		o(ln)
	}
	ln.l = pq.NewListener(dsn, 100*time.Millisecond, 5*time.Second, ln.event)
	channels := []string{ChangesChannel}
	if ln.keys != nil {
		channels = append(channels, RevokedChannel)
	}
	for _, c := range channels {
		if err := ln.l.Listen(c); err != nil {
			ln.l.Close()
			return nil, translate(err)
		}
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
				if ln.keys != nil {
					ln.keys.RecheckKeys()
				}
			default:
				ln.deliver(n)
			}
		case <-ping.C:
			go func() { _ = ln.l.Ping() }() // a failure makes pq reconnect
		}
	}
}

// deliver passes one notification to its sink.
func (ln *Listener) deliver(n *pq.Notification) {
	if n.Channel == RevokedChannel {
		p, k, _ := strings.Cut(n.Extra, "/")
		pid, err1 := ledger.ParseID(p)
		kid, err2 := ledger.ParseID(k)
		if err1 != nil || err2 != nil {
			ln.log.Warn("change listener: ignoring a revocation that names no key", "payload", n.Extra)
			return
		}
		ln.keys.KeyRevoked(pid, kid)
		return
	}
	p, fams, _ := strings.Cut(n.Extra, ":")
	id, err := ledger.ParseID(p)
	if err != nil {
		ln.log.Warn("change listener: ignoring a notification that names no practice", "payload", n.Extra)
		return
	}
	fs, ok := ln.sink.(FamilySink)
	if fams == "" || !ok {
		ln.sink.Changed(id)
		return
	}
	var ids []ledger.ID
	for _, f := range strings.Split(fams, ",") {
		fid, err := ledger.ParseID(f)
		if err != nil {
			ln.sink.Changed(id) // not understood: the whole practice
			return
		}
		ids = append(ids, fid)
	}
	fs.ChangedFamilies(id, ids)
}

// Close stops listening and closes the connection.
func (ln *Listener) Close() error {
	close(ln.done)
	err := ln.l.Close()
	ln.wg.Wait()
	return err
}
