// Package aginghub keeps live aging reports (the agingUpdated subscription)
// up to date: a Hub recomputes a practice's reports through the ledger when
// told the practice changed, and hands each watcher the reports that differ
// from its last. It is infrastructure around package ledger (goroutines,
// coalescing, a bound on concurrent computations), kept apart so that its
// options (WithSettle, WithMaxComputing, WithLogger) do not share a
// namespace with the Ledger's. What feeds it is postgres.Listen; what reads
// it is graph's agingUpdated subscription.
package aginghub

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/paysplit/paysplit/ledger"
)

// Hub keeps live aging reports (the agingUpdated subscription) up to
// date. Something outside the ledger tells it which practices changed
// (Changed, fed by the database's change notifications, see
// postgres.Listener); the hub recomputes each affected report once and hands
// it to every watcher whose last report differs.
//
// Watchers asking for the same report of the same practice share one
// group: one query per change, whatever the number of watchers. A report by
// family (GUARANTOR, first page) keeps all its rows, and a change naming the
// families it touched (ChangedFamilies) re-reads only theirs (patch.go). Bursts
// coalesce: a change starts a short settle window (WithSettle) during which
// further changes join it, changes arriving while a report is being
// computed cause one more computation, not one each, and a watcher that has
// not taken its last report finds it replaced by the newer one. However
// many groups there are, at most DefaultComputations reports are computed
// at once (WithMaxComputing): the others wait, so watchers cannot take more
// than that many database connections.
type Hub struct {
	ledger    *ledger.Ledger
	settle    time.Duration
	log       *slog.Logger
	computing chan struct{} // a slot per report being computed

	mu     sync.Mutex
	groups map[agingKey]*agingGroup
	closed bool
	wg     sync.WaitGroup
}

// Option configures a Hub.
type Option func(*Hub)

// WithSettle sets how long the hub waits after a change for more changes
// before recomputing (default 20ms).
func WithSettle(d time.Duration) Option { return func(h *Hub) { h.settle = d } }

// DefaultComputations is how many reports a hub computes at once.
const DefaultComputations = 4

// WithMaxComputing sets how many reports the hub computes at once (at least
// one; default DefaultComputations).
func WithMaxComputing(n int) Option {
	return func(h *Hub) { h.computing = make(chan struct{}, max(1, n)) }
}

// WithLogger sets where the hub logs failed recomputations.
func WithLogger(l *slog.Logger) Option { return func(h *Hub) { h.log = l } }

// New returns a hub computing reports through l.
func New(l *ledger.Ledger, opts ...Option) *Hub {
	h := &Hub{ledger: l, settle: 20 * time.Millisecond, log: slog.Default(), groups: map[agingKey]*agingGroup{},
		computing: make(chan struct{}, DefaultComputations)}
	for _, o := range opts {
		o(h)
	}
	return h
}

// agingKey identifies a group: a practice and a query (its JSON).
type agingKey struct {
	practice ledger.ID
	query    string
}

// agingGroup is the watchers of one report.
type agingGroup struct {
	key     agingKey
	query   ledger.AgingQuery
	changed chan struct{} // a change to coalesce (capacity 1)
	now     chan struct{} // a new watcher waits for a report (capacity 1)
	done    chan struct{} // closed when the group ends

	mu       sync.Mutex
	watchers map[*agingWatcher]struct{}
	full     bool                   // a change not limited to known families is pending
	families map[ledger.ID]struct{} // families changed since the last computation
	rows     *familyRows            // a family report's rows, patched family by family (run's alone)
}

// agingWatcher is one subscription: its channel holds at most the latest
// report it has not taken yet.
type agingWatcher struct {
	ch   chan ledger.AgingReport
	last []byte // the report last handed over, as JSON
}

// Watch returns a channel that receives the report for q as soon as it is
// computed, then again after every change that alters it, until ctx ends or
// the hub closes (then the channel closes). A query the ledger would refuse
// is refused here. q.AsOf nil means "today" at each computation; nil bucket
// limits follow the practice's setting as it changes.
func (h *Hub) Watch(ctx context.Context, a ledger.Actor, q ledger.AgingQuery) (<-chan ledger.AgingReport, error) {
	if err := h.ledger.CheckAgingQuery(ctx, a, q); err != nil {
		return nil, err
	}
	b, err := json.Marshal(q)
	if err != nil {
		return nil, err
	}
	key := agingKey{practice: a.PracticeID, query: string(b)}
	w := &agingWatcher{ch: make(chan ledger.AgingReport, 1)}

	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		close(w.ch)
		return w.ch, nil
	}
	g := h.groups[key]
	if g == nil {
		g = &agingGroup{key: key, query: q, changed: make(chan struct{}, 1), now: make(chan struct{}, 1),
			done: make(chan struct{}), watchers: map[*agingWatcher]struct{}{}, families: map[ledger.ID]struct{}{}}
		h.groups[key] = g
		h.wg.Add(1)
		go h.run(g)
	}
	g.mu.Lock()
	g.watchers[w] = struct{}{}
	g.mu.Unlock()
	h.mu.Unlock()
	poke(g.now)

	context.AfterFunc(ctx, func() { h.leave(g, w) })
	return w.ch, nil
}

// Changed tells the hub that a practice's ledger changed.
func (h *Hub) Changed(practiceID ledger.ID) { h.changed(&practiceID, nil) }

// ChangedFamilies tells the hub that a practice's aging changed only in the
// lines and credits of these families (guarantor ids): reports by family
// re-read only their rows.
func (h *Hub) ChangedFamilies(practiceID ledger.ID, families []ledger.ID) {
	h.changed(&practiceID, families)
}

// ChangedAll tells the hub that any practice may have changed (the change
// feed reconnected and may have missed notifications).
func (h *Hub) ChangedAll() { h.changed(nil, nil) }

// changed marks the groups of a practice (nil: of every practice) changed,
// in the families given (nil: in anything) and wakes them.
func (h *Hub) changed(practiceID *ledger.ID, families []ledger.ID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, g := range h.groups {
		if practiceID != nil && k.practice != *practiceID {
			continue
		}
		g.mu.Lock()
		g.full = g.full || families == nil
		for _, f := range families {
			g.families[f] = struct{}{}
		}
		g.mu.Unlock()
		poke(g.changed)
	}
}

// Watchers counts the open watches.
func (h *Hub) Watchers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, g := range h.groups {
		g.mu.Lock()
		n += len(g.watchers)
		g.mu.Unlock()
	}
	return n
}

// Close ends every watch (their channels close) and waits for the hub's
// goroutines. Later watches end at once.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	for k, g := range h.groups {
		delete(h.groups, k)
		g.end()
	}
	h.mu.Unlock()
	h.wg.Wait()
}

// leave removes a watcher; the last one out ends the group.
func (h *Hub) leave(g *agingGroup, w *agingWatcher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	g.mu.Lock()
	_, ok := g.watchers[w]
	delete(g.watchers, w)
	empty := len(g.watchers) == 0
	g.mu.Unlock()
	if !ok {
		return // ended with its group
	}
	close(w.ch)
	if empty && h.groups[g.key] == g {
		delete(h.groups, g.key)
		g.end()
	}
}

// end closes the group and its watchers' channels.
func (g *agingGroup) end() {
	g.mu.Lock()
	defer g.mu.Unlock()
	close(g.done)
	for w := range g.watchers {
		delete(g.watchers, w)
		close(w.ch)
	}
}

// run recomputes the group's report when asked, until the group ends.
func (h *Hub) run(g *agingGroup) {
	defer h.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-g.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	a := ledger.Actor{PracticeID: g.key.practice, Role: ledger.RoleAnalyst}
	for {
		select {
		case <-g.done:
			return
		case <-g.now:
		case <-g.changed:
			if h.settle > 0 {
				t := time.NewTimer(h.settle)
				select {
				case <-g.done:
					t.Stop()
					return
				case <-t.C:
				}
			}
		}
		select { // wait for a slot
		case <-g.done:
			return
		case h.computing <- struct{}{}:
		}
		// What arrived until now is in the report about to be computed.
		drain(g.changed)
		drain(g.now)
		rep, err := h.compute(ctx, a, g)
		<-h.computing
		if err != nil {
			if ctx.Err() == nil {
				h.log.Error("live aging: recomputing a report failed; retrying on the next change",
					"practice", g.key.practice, "err", err)
			}
			continue
		}
		b, err := json.Marshal(rep)
		if err != nil {
			h.log.Error("live aging: encoding a report", "err", err)
			continue
		}
		g.publish(rep, b)
	}
}

// publish hands rep to every watcher whose last report differs, replacing
// any report it has not taken yet.
func (g *agingGroup) publish(rep ledger.AgingReport, b []byte) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for w := range g.watchers {
		if bytes.Equal(w.last, b) {
			continue
		}
		w.last = b
		select {
		case <-w.ch: // not taken yet: replaced
		default:
		}
		w.ch <- rep
	}
}

// poke sets a capacity-1 signal without blocking.
func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// drain clears a capacity-1 signal.
func drain(c chan struct{}) {
	select {
	case <-c:
	default:
	}
}
