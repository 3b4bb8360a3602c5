package ledger

import (
	"database/sql/driver"
	"fmt"
	"strings"

	"github.com/shopspring/decimal"
)

// Money is an exact amount in the practice's currency with at most two decimal
// places. The zero value is 0.00. Arithmetic never rounds: adding or
// subtracting two-place amounts stays two-place.
type Money struct{ d decimal.Decimal }

// ParseMoney reads "12.30", "-5", "0.5". More than two decimal places, an
// exponent, or anything that is not a plain decimal number is an error.
func ParseMoney(s string) (Money, error) {
	t := strings.TrimSpace(s)
	if t == "" || t != s {
		return Money{}, fmt.Errorf("%q is not an amount: want a decimal like \"12.30\"", s)
	}
	if strings.ContainsAny(t, "eE") {
		return Money{}, fmt.Errorf("%q is not an amount: exponents are not allowed", s)
	}
	if len(t) > 20 {
		return Money{}, fmt.Errorf("%q is not an amount: too many digits", s)
	}
	d, err := decimal.NewFromString(t)
	if err != nil {
		return Money{}, fmt.Errorf("%q is not an amount: want a decimal like \"12.30\"", s)
	}
	if d.Exponent() < -2 {
		return Money{}, fmt.Errorf("%q has more than two decimal places", s)
	}
	if len(d.StringFixed(2)) > 20 {
		// The limit holds for the amount as written back (with ".00"), so
		// whatever is accepted can be sent again.
		return Money{}, fmt.Errorf("%q is not an amount: too many digits", s)
	}
	return Money{d.Round(2)}, nil
}

// MustMoney is ParseMoney for constants in tests and fixtures; it panics on bad input.
func MustMoney(s string) Money {
	m, err := ParseMoney(s)
	if err != nil {
		panic(err)
	}
	return m
}

// Cents returns the amount n/100.
func Cents(n int64) Money { return Money{decimal.New(n, -2)} }

// MoneyFromDecimal converts d, refusing more than two decimal places.
func MoneyFromDecimal(d decimal.Decimal) (Money, error) {
	if !d.Equal(d.Round(2)) {
		return Money{}, fmt.Errorf("%s has more than two decimal places", d)
	}
	return Money{d.Round(2)}, nil
}

// Decimal returns the amount as a decimal.Decimal.
func (m Money) Decimal() decimal.Decimal { return m.d }

func (m Money) Add(o Money) Money  { return Money{m.d.Add(o.d)} }
func (m Money) Sub(o Money) Money  { return Money{m.d.Sub(o.d)} }
func (m Money) Neg() Money         { return Money{m.d.Neg()} }
func (m Money) Cmp(o Money) int    { return m.d.Cmp(o.d) }
func (m Money) Equal(o Money) bool { return m.d.Equal(o.d) }
func (m Money) Sign() int          { return m.d.Sign() }
func (m Money) IsZero() bool       { return m.d.IsZero() }

// Min returns the smaller of m and o.
func (m Money) Min(o Money) Money {
	if m.Cmp(o) <= 0 {
		return m
	}
	return o
}

// Max returns the larger of m and o.
func (m Money) Max(o Money) Money {
	if m.Cmp(o) >= 0 {
		return m
	}
	return o
}

// Abs returns |m|.
func (m Money) Abs() Money { return Money{m.d.Abs()} }

// String formats with exactly two decimal places: "30.00", "-5.10".
func (m Money) String() string { return m.d.StringFixed(2) }

// Value stores the amount as a numeric literal.
func (m Money) Value() (driver.Value, error) { return m.d.StringFixed(2), nil }

// Scan reads a numeric column; a value with more than two places is an error.
func (m *Money) Scan(src any) error {
	var d decimal.Decimal
	if err := d.Scan(src); err != nil {
		return err
	}
	v, err := MoneyFromDecimal(d)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// MarshalJSON writes the amount as a string with two places.
func (m Money) MarshalJSON() ([]byte, error) { return []byte(`"` + m.String() + `"`), nil }
