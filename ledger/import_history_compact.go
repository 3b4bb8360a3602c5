package ledger

import (
	"math"
	"time"
)

// hcents is an amount a history plan holds for a row (a line's worth, what
// a receipt's splits sum to, a family's change): int64 cents, with no heap
// allocation of its own, where a Money would carry a big.Int. It is exact:
// every amount ParseMoney admits is under 10^15 cents, and a sum that would
// leave int64 (some 9,000 of the largest amounts) is kept as a Money
// instead. Money goes in (centsOf) and comes out (money) at every boundary.
type hcents struct {
	c   int64
	big *Money // the amount, when it does not fit c
}

// centsOf is m in cents (Money has at most two decimal places).
func centsOf(m Money) hcents {
	if c := m.d.Shift(2).BigInt(); c.IsInt64() {
		return hcents{c: c.Int64()}
	}
	return hcents{big: &m}
}

// money is a as a Money.
func (a hcents) money() Money {
	if a.big != nil {
		return *a.big
	}
	return Cents(a.c)
}

func (a hcents) add(b hcents) hcents {
	if a.big == nil && b.big == nil {
		s := a.c + b.c
		if (s > a.c) == (b.c > 0) {
			return hcents{c: s}
		}
	}
	return centsOf(a.money().Add(b.money()))
}

func (a hcents) neg() hcents {
	if a.big == nil && a.c != math.MinInt64 {
		return hcents{c: -a.c}
	}
	return centsOf(a.money().Neg())
}

func (a hcents) sub(b hcents) hcents { return a.add(b.neg()) }

func (a hcents) sign() int {
	switch {
	case a.big != nil:
		return a.big.Sign()
	case a.c < 0:
		return -1
	case a.c > 0:
		return 1
	}
	return 0
}

func (a hcents) cmp(b hcents) int { return a.sub(b).sign() }

func (a hcents) min(b hcents) hcents {
	if a.cmp(b) <= 0 {
		return a
	}
	return b
}

func (a hcents) max(b hcents) hcents {
	if a.cmp(b) >= 0 {
		return a
	}
	return b
}

// String writes a as Money does ("-30.00").
func (a hcents) String() string { return a.money().String() }

// hday is a Date a history plan holds per encounter, packed in 32 bits
// (year, month and day as bit fields: a file's years have four digits) and
// ordered as dates are.
type hday uint32

func dayOf(d Date) hday { return hday(d.Year<<9 | int(d.Month)<<5 | d.Day) }

func (h hday) date() Date {
	return Date{Year: int(h >> 9), Month: time.Month(h >> 5 & 15), Day: int(h & 31)}
}
