package rules

import (
	"crypto/sha256"
	"sync"
)

// Cache shares compiled policies, keyed by the SHA-256 of their source, so
// that a policy version is compiled once per process. It is safe for
// concurrent use. A full cache (its size in policies, or CacheBytes of
// sources: a compiled policy takes up to about sixty times its source)
// forgets its oldest entries.
type Cache struct {
	mu    sync.Mutex
	max   int
	bytes int // of the cached sources
	m     map[[sha256.Size]byte]*cacheEntry
	order [][sha256.Size]byte
}

// CacheBytes bounds the sources of the policies a Cache holds.
const CacheBytes = 2 << 20

type cacheEntry struct {
	once sync.Once
	size int
	p    *Policy
	err  error
}

// NewCache returns a cache holding up to size policies (at least 1).
func NewCache(size int) *Cache {
	return &Cache{max: max(1, size), m: map[[sha256.Size]byte]*cacheEntry{}}
}

// Compile returns the compiled policy for src, compiling it on first use.
// Concurrent callers with the same src wait for one compilation. Errors are
// cached too: the same source always fails the same way.
func (c *Cache) Compile(src []byte) (*Policy, error) {
	key := sha256.Sum256(src)
	c.mu.Lock()
	e, ok := c.m[key]
	if !ok {
		e = &cacheEntry{size: len(src)}
		c.m[key] = e
		c.order = append(c.order, key)
		c.bytes += e.size
		for len(c.order) > 1 && (len(c.order) > c.max || c.bytes > CacheBytes) {
			c.bytes -= c.m[c.order[0]].size
			delete(c.m, c.order[0])
			c.order = c.order[1:]
		}
	}
	c.mu.Unlock()
	e.once.Do(func() { e.p, e.err = Compile(src) })
	return e.p, e.err
}

// Len returns the number of cached policies.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
