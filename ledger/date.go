package ledger

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"time"
)

// Date is a calendar date with no time zone: a service date, a receipt date,
// an aging as-of date. The zero value is not a valid date.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// The dates paysplit takes as input, everywhere (the API's Date scalar, as-of
// dates, CLI flags, the balance-forward file): MinDate through MaxDate. The
// lower bound is older than any living patient's birth and any ledger a
// practice carries over, so a year typed short (0001, 0202) is refused; the
// upper bound leaves two centuries for treatment plans and catches a year
// typed long (2202 for 2022). Dates read back from the database are not
// checked again.
var (
	MinDate = Date{1900, time.January, 1}
	MaxDate = Date{2199, time.December, 31}
)

// ParseDate reads YYYY-MM-DD between MinDate and MaxDate.
func ParseDate(s string) (Date, error) {
	d, err := readDate(s)
	if err != nil {
		return d, err
	}
	return d, d.InRange()
}

// InRange is nil when d lies between MinDate and MaxDate, and otherwise says
// the range.
func (d Date) InRange() error {
	if d.Before(MinDate) || d.After(MaxDate) {
		return fmt.Errorf("%s is out of range: dates run from %s to %s", d, MinDate, MaxDate)
	}
	return nil
}

// readDate reads YYYY-MM-DD with any year from 0001: a date paysplit wrote
// itself (a column, a plan's JSON), which ParseDate's range does not bind.
func readDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil || len(s) != len(time.DateOnly) {
		return Date{}, fmt.Errorf("%s is not a date: want YYYY-MM-DD", quoteShort(s))
	}
	if t.Year() < 1 {
		// Year 0000 parses but PostgreSQL has no year 0.
		return Date{}, fmt.Errorf("%q is not a date: the year must be 0001 or later", s)
	}
	return DateOf(t), nil
}

// MustDate is ParseDate for constants; it panics on bad input.
func MustDate(s string) Date {
	d, err := ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

// DateOf returns the calendar date of t in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// Time returns midnight UTC of d.
func (d Date) Time() time.Time { return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC) }

// IsZero reports whether d is the zero Date.
func (d Date) IsZero() bool { return d == Date{} }

// AddDays returns d moved by n days.
func (d Date) AddDays(n int) Date { return DateOf(d.Time().AddDate(0, 0, n)) }

// Before reports whether d is earlier than o.
func (d Date) Before(o Date) bool { return d.Compare(o) < 0 }

// After reports whether d is later than o.
func (d Date) After(o Date) bool { return d.Compare(o) > 0 }

// Compare returns -1, 0 or +1.
func (d Date) Compare(o Date) int { return d.Time().Compare(o.Time()) }

// DaysSince returns the number of days from o to d.
func (d Date) DaysSince(o Date) int { return int(d.Time().Sub(o.Time()).Hours() / 24) }

// String formats as YYYY-MM-DD.
func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// Value stores the date as a date literal.
func (d Date) Value() (driver.Value, error) { return d.String(), nil }

// Scan reads a date column.
func (d *Date) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		*d = DateOf(v)
		return nil
	case string:
		p, err := readDate(v)
		*d = p
		return err
	case []byte:
		p, err := readDate(string(v))
		*d = p
		return err
	}
	return fmt.Errorf("cannot scan %T into Date", src)
}

// MarshalJSON writes the date as "YYYY-MM-DD".
func (d Date) MarshalJSON() ([]byte, error) { return []byte(`"` + d.String() + `"`), nil }

// UnmarshalJSON reads what MarshalJSON wrote (any year from 0001, as a
// column does).
func (d *Date) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a date is a string YYYY-MM-DD: %w", err)
	}
	p, err := readDate(s)
	*d = p
	return err
}
