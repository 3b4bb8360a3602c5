// Package model holds the GraphQL input and connection types gqlgen
// generates, and the scalars: Money (a JSON string in ledger.ParseMoney's
// grammar, exactly two decimal places; numbers are refused so no float ever
// carries money), Date (YYYY-MM-DD within ledger.MinDate..MaxDate), ID (a
// UUID in canonical text form) and String (no control characters).
package model

import (
	"fmt"
	"io"
	"strconv"

	"github.com/99designs/gqlgen/graphql"

	"github.com/paysplit/paysplit/ledger"
)

// MarshalMoney writes an amount as a string with two places: "30.00".
func MarshalMoney(m ledger.Money) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(m.String())) })
}

// UnmarshalMoney accepts only a string in ledger.ParseMoney's grammar, such
// as "30.00" or "-5.10": JSON numbers, float literals, "30", "+1.00" and a
// third decimal place are refused.
func UnmarshalMoney(v any) (ledger.Money, error) {
	s, ok := v.(string)
	if !ok {
		return ledger.Money{}, bad("Money must be a string such as \"30.00\", not a number (%v)", v)
	}
	m, err := ledger.ParseMoney(s)
	if err != nil {
		return m, bad("%v", err)
	}
	return m, nil
}

// MarshalString writes a string as gqlgen does.
func MarshalString(s string) graphql.Marshaler { return graphql.MarshalString(s) }

// UnmarshalString reads every String a request carries, argument or input
// field: text the ledger could never take (invalid UTF-8, NUL and the other
// control characters but tab, line feed and carriage return) is bad input
// naming its field here, in one place no new field can miss. The ledger
// checks each field's own rules (length, single line) again.
func UnmarshalString(v any) (string, error) {
	s, err := graphql.UnmarshalString(v)
	if err != nil {
		return "", bad("%v", err)
	}
	if err := ledger.CheckText(s, true); err != nil {
		return "", bad("%v", err)
	}
	return s, nil
}

// MarshalDate writes a date as "YYYY-MM-DD".
func MarshalDate(d ledger.Date) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(d.String())) })
}

// UnmarshalDate reads "YYYY-MM-DD" between ledger.MinDate and
// ledger.MaxDate.
func UnmarshalDate(v any) (ledger.Date, error) {
	s, ok := v.(string)
	if !ok {
		return ledger.Date{}, bad("Date must be a string YYYY-MM-DD")
	}
	d, err := ledger.ParseDate(s)
	if err != nil {
		return d, bad("%v", err)
	}
	return d, nil
}

// MarshalID writes an id in canonical UUID form.
func MarshalID(id ledger.ID) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(id.String())) })
}

// UnmarshalID reads a canonical UUID.
func UnmarshalID(v any) (ledger.ID, error) {
	s, ok := v.(string)
	if !ok {
		return ledger.ID{}, bad("ID must be a string")
	}
	id, err := ledger.ParseID(s)
	if err != nil {
		return ledger.ID{}, bad("%q is not a valid id", s)
	}
	return id, nil
}

// bad is an input error without a field: the error presenter names the field
// from the path gqlgen reports it on.
func bad(format string, args ...any) error {
	return &ledger.InputError{Message: fmt.Sprintf(format, args...)}
}

// MarshalUpload is never used on output; it exists to pair with
// UnmarshalUpload.
func MarshalUpload(u graphql.Upload) graphql.Marshaler { return graphql.MarshalUpload(u) }

// UnmarshalUpload accepts only a file sent by multipart upload; anything
// else (a string, a number) is bad input, not an internal error.
func UnmarshalUpload(v any) (graphql.Upload, error) {
	u, err := graphql.UnmarshalUpload(v)
	if err != nil {
		return u, bad("must be a file sent as a multipart upload")
	}
	return u, nil
}
