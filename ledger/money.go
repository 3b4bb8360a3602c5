package ledger

import (
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"
)

// Money is an exact amount in the practice's currency with at most two decimal
// places. The zero value is 0.00. Arithmetic never rounds: adding or
// subtracting two-place amounts stays two-place.
type Money struct{ d decimal.Decimal }

// MaxMoneyDigits is the most digits an amount may have before its decimal
// point: amounts stay below 10,000,000,000,000.00, inside what the rules
// engine can hold in cents (rules' limit is 10^15 cents).
const MaxMoneyDigits = 13

// ParseMoney reads an amount in paysplit's one money grammar, the grammar of
// the API's Money scalar, of CLI flags and policy param overrides, and of the
// balance-forward file once its spreadsheet formatting is normalised:
//
//	-?(0|[1-9][0-9]{0,12})\.[0-9]{2}
//
// An optional minus sign, no plus sign, no leading zeros, no spaces,
// separators or exponents, exactly two decimal places, at most MaxMoneyDigits
// digits before the point. "30.00", "-5.10" and "0.50" are amounts; "30",
// "30.5", "+1.00", "01.00" and "1e3" are not.
func ParseMoney(s string) (Money, error) {
	if err := moneyGrammar(s); err != nil {
		return Money{}, fmt.Errorf("%s is not an amount: %v", quoteShort(s), err)
	}
	d, err := decimal.NewFromString(s)
	if err != nil { // not reached: the grammar is a subset of decimal's
		return Money{}, fmt.Errorf("%s is not an amount: %v", quoteShort(s), err)
	}
	return Money{d}, nil
}

// moneyGrammar says what in s breaks ParseMoney's grammar, or nil.
func moneyGrammar(s string) error {
	whole, frac, ok := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	switch {
	case !digits(whole):
		return errors.New(`write digits with an optional minus sign and two decimal places, like "1234.50" or "-30.00"`)
	case !ok || len(frac) != 2 || !digits(frac):
		return errors.New(`write exactly two decimal places, like "30.00"`)
	case len(whole) > 1 && whole[0] == '0':
		return errors.New("no leading zeros")
	case len(whole) > MaxMoneyDigits:
		return fmt.Errorf("at most %d digits before the decimal point", MaxMoneyDigits)
	}
	return nil
}

// digits reports whether s is one or more ASCII digits.
func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// quoteShort quotes s for an error message, cut to its first 40 bytes.
func quoteShort(s string) string {
	if len(s) > 40 {
		return strconv.Quote(strings.ToValidUTF8(s[:40], "")) + "…"
	}
	return strconv.Quote(s)
}

// readMoney reads an amount paysplit wrote itself (a plan's or a report's
// JSON kept in the database): any decimal with at most two places, so that
// what older versions stored under other limits still reads.
func readMoney(s string) (Money, error) {
	d, err := decimal.NewFromString(s)
	if err != nil {
		return Money{}, fmt.Errorf("%s is not an amount", quoteShort(s))
	}
	return MoneyFromDecimal(d)
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

// UnmarshalJSON reads what MarshalJSON wrote (an amount in a string), so
// that stored reports and plans decode without shadow types.
func (m *Money) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("an amount is a string: %w", err)
	}
	v, err := readMoney(s)
	*m = v
	return err
}
