package ledger_test

import (
	"regexp"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/paysplit/paysplit/ledger"
)

// moneyGrammar is ParseMoney's documented grammar, written as a regexp.
var moneyGrammar = regexp.MustCompile(`^-?(0|[1-9][0-9]{0,12})\.[0-9]{2}$`)

// FuzzParseMoney: ParseMoney never panics and accepts exactly the strings of
// its documented grammar; what it accepts is the exact decimal it was given
// and prints back as the same text ("-0.00" prints as "0.00").
func FuzzParseMoney(f *testing.F) {
	for _, s := range []string{"30.00", "-5", "0.5", ".5", "5.", "1.234", "1e3", " 1.00", "+1.00", "-0.00", "01.00", "30", "30.5",
		"9999999999999.99", "10000000000000.00", "99999999999999999.99", "123456789012345678901", "0x10", "NaN", "Inf",
		"1_000.00", "١٢٣", "--1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ledger.ParseMoney(s)
		if want := moneyGrammar.MatchString(s); (err == nil) != want {
			t.Fatalf("ParseMoney(%q): err %v, but the grammar says %v", s, err, want)
		}
		if err != nil {
			return
		}
		want, err := decimal.NewFromString(s)
		if err != nil || !m.Decimal().Equal(want) {
			t.Fatalf("ParseMoney(%q) = %s, want %s (%v)", s, m, want, err)
		}
		if out := m.String(); out != s && !(s == "-0.00" && out == "0.00") {
			t.Fatalf("ParseMoney(%q).String() = %q", s, out)
		}
	})
}

// FuzzParseDate: ParseDate never panics; what it accepts prints back as the
// same text and lies between MinDate and MaxDate.
func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"2026-06-15", "2024-02-29", "2023-02-29", "0000-01-01", "0001-01-01", "9999-12-31", "1900-01-01", "1899-12-31", "2199-12-31", "2200-01-01",
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
		if d.Before(ledger.MinDate) || d.After(ledger.MaxDate) {
			t.Fatalf("ParseDate(%q) accepted a date out of range", s)
		}
		if back, err := ledger.ParseDate(d.String()); err != nil || back != d {
			t.Fatalf("ParseDate(%q) = %v does not read back: %v, %v", s, d, back, err)
		}
	})
}
