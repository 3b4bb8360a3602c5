package synth

import (
	"fmt"
	"hash/fnv"

	"github.com/paysplit/paysplit/ledger"
)

// Size is how big a synthetic practice is.
type Size string

const (
	Small  Size = "small"  // ~40 families, ~1k charges: tests, seconds
	Medium Size = "medium" // ~2k families, ~50k charges
	Large  Size = "large"  // ~20k families, ~500k charges
)

// Sizes lists the sizes from smallest to largest.
var Sizes = []Size{Small, Medium, Large}

// ParseSize reads "small", "medium" or "large".
func ParseSize(s string) (Size, error) {
	for _, z := range Sizes {
		if string(z) == s {
			return z, nil
		}
	}
	return "", fmt.Errorf("unknown size %q: want small, medium or large", s)
}

// shape is what a size means in rows.
type shape struct {
	families  int
	providers int
	locations int
}

var shapes = map[Size]shape{
	Small:  {families: 40, providers: 3, locations: 2},
	Medium: {families: 2_000, providers: 6, locations: 3},
	Large:  {families: 20_000, providers: 12, locations: 5},
}

// Config says which practice to generate.
type Config struct {
	Size Size
	Seed uint64
	// AsOf is the practice's today: completed visits and every receipt fall
	// in the two years up to it; planned treatment lies after it.
	AsOf ledger.Date
}

// validate checks the config.
func (c Config) validate() error {
	if _, ok := shapes[c.Size]; !ok {
		return fmt.Errorf("synth: unknown size %q", c.Size)
	}
	if c.AsOf.IsZero() {
		return fmt.Errorf("synth: AsOf is required")
	}
	return nil
}

// stream returns the generator salt for one part of the practice, so that the
// same seed with another size or as-of date gives another practice (with other
// ids), and each family draws from a stream of its own.
func (c Config) stream(part uint64) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%s", c.Size, c.AsOf)
	return h.Sum64() ^ part*0x9e3779b97f4a7c15
}
