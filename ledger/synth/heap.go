package synth

import (
	"runtime"
	"runtime/metrics"
	"time"
)

// WatchHeap samples the Go heap every 50 ms until the returned stop is
// called, for the import benchmarks: stop returns, above what was in use
// when WatchHeap was called (after a collection), the most heap in use
// (MemStats.HeapInuse: garbage not yet freed included, which the collector
// lets grow with everything live) and the most the last collection found
// live.
func WatchHeap() (stop func() (inuse, live uint64)) {
	runtime.GC()
	inuse0, live0 := heapNow()
	var inuse, live uint64
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			i, l := heapNow()
			inuse, live = max(inuse, i), max(live, l)
			select {
			case <-quit:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return func() (uint64, uint64) {
		close(quit)
		<-done
		return inuse - min(inuse, inuse0), live - min(live, live0)
	}
}

// heapNow is the Go heap in use and what the last collection found live.
func heapNow() (inuse, live uint64) {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}, {Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64() + s[1].Value.Uint64(), s[2].Value.Uint64()
}
