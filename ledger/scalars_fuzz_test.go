package ledger_test

import (
	"regexp"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/paysplit/paysplit/ledger"
)

var twoPlaces = regexp.MustCompile(`^-?[0-9]+\.[0-9]{2}$`)

// FuzzParseMoney: ParseMoney never panics; what it accepts is the exact
// decimal it was given, prints with exactly two places and reads back equal.
func FuzzParseMoney(f *testing.F) {
	for _, s := range []string{"30.00", "-5", "0.5", ".5", "5.", "1.234", "1e3", " 1.00", "+1.00", "-0.00",
		"99999999999999999.99", "123456789012345678901", "0x10", "NaN", "Inf", "1_000.00", "١٢٣", "--1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ledger.ParseMoney(s)
		if err != nil {
			return
		}
		want, err := decimal.NewFromString(s)
		if err != nil {
			t.Fatalf("ParseMoney(%q) accepted what decimal refuses: %v", s, err)
		}
		if !m.Decimal().Equal(want) {
			t.Fatalf("ParseMoney(%q) = %s, want %s", s, m, want)
		}
		out := m.String()
		if !twoPlaces.MatchString(out) {
			t.Fatalf("ParseMoney(%q).String() = %q: not two places", s, out)
		}
		back, err := ledger.ParseMoney(out)
		if err != nil || !back.Equal(m) {
			t.Fatalf("ParseMoney(%q) = %q does not read back: %v, %v", s, out, back, err)
		}
	})
}

// FuzzParseDate: ParseDate never panics; what it accepts prints back as the
// same text and is a date PostgreSQL can store.
func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"2026-06-15", "2024-02-29", "2023-02-29", "0000-01-01", "0001-01-01", "9999-12-31",
		"2026-6-15", "2026-06-15T00:00:00Z", " 2026-06-15", "2026-13-01", "2026-00-10", "+002026-01-01", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ledger.ParseDate(s)
		if err != nil {
			return
		}
		if d.String() != s {
			t.Fatalf("ParseDate(%q) prints as %q", s, d.String())
		}
		if d.Year < 1 || d.Year > 9999 {
			t.Fatalf("ParseDate(%q) accepted year %d", s, d.Year)
		}
		if back, err := ledger.ParseDate(d.String()); err != nil || back != d {
			t.Fatalf("ParseDate(%q) = %v does not read back: %v, %v", s, d, back, err)
		}
	})
}
