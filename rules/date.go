package rules

import (
	"fmt"
	"time"
)

// Date is a calendar date without a time zone: a service date, a split's
// date or an as-of date. The zero Date means "not set".
type Date struct {
	n int32 // days since 0001-01-01, plus one; 0 is the zero Date
}

// unixEpochDays is the number of days from 0001-01-01 to 1970-01-01.
const unixEpochDays = 719162

// NewDate returns the date year-month-day. Out-of-range values are
// normalized as by time.Date.
func NewDate(year int, month time.Month, day int) Date {
	t := time.Date(year, month, day, 0, 0, 0, 0, time.UTC)
	return Date{n: int32(t.Unix()/86400 + unixEpochDays + 1)}
}

// ParseDate parses a date written YYYY-MM-DD.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("rules: bad date %q: want YYYY-MM-DD", s)
	}
	return NewDate(t.Year(), t.Month(), t.Day()), nil
}

// IsZero reports whether d is the zero Date.
func (d Date) IsZero() bool { return d.n == 0 }

// String returns d as YYYY-MM-DD, or "" for the zero Date.
func (d Date) String() string {
	if d.n == 0 {
		return ""
	}
	y, m, day := d.civil()
	if y < 0 || y > 9999 {
		return d.time().Format(time.DateOnly)
	}
	b := [10]byte{
		byte('0' + y/1000), byte('0' + y/100%10), byte('0' + y/10%10), byte('0' + y%10), '-',
		byte('0' + m/10), byte('0' + m%10), '-', byte('0' + day/10), byte('0' + day%10),
	}
	return string(b[:])
}

func (d Date) time() time.Time {
	return time.Unix((int64(d.n)-1-unixEpochDays)*86400, 0).UTC()
}

// civil returns the year, month and day of d (Howard Hinnant's
// days-to-civil algorithm).
func (d Date) civil() (year, month, day int) {
	z := int(d.n) - 1 - unixEpochDays + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	year = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	day = doy - (153*mp+2)/5 + 1
	month = mp + 3
	if month > 12 {
		month -= 12
	}
	if month <= 2 {
		year++
	}
	return year, month, day
}

// Compare returns -1, 0 or +1 as d is before, equal to or after e.
func (d Date) Compare(e Date) int {
	switch {
	case d.n < e.n:
		return -1
	case d.n > e.n:
		return 1
	}
	return 0
}

// Before reports whether d is before e.
func (d Date) Before(e Date) bool { return d.n < e.n }

// After reports whether d is after e.
func (d Date) After(e Date) bool { return d.n > e.n }

// DaysSince returns the number of days from e to d.
func (d Date) DaysSince(e Date) int { return int(d.n) - int(e.n) }

// MarshalText implements encoding.TextMarshaler.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; empty text is the zero
// Date.
func (d *Date) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*d = Date{}
		return nil
	}
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
