// Package model holds the GraphQL input and connection types gqlgen
// generates, and the scalars: Money (a JSON string with two decimal places;
// numbers are refused so no float ever carries money), Date (YYYY-MM-DD) and
// ID (a UUID in canonical text form).
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

// UnmarshalMoney accepts only a string such as "30.00" or "-5": JSON numbers
// and float literals are refused, and so is a third decimal place.
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

// MarshalDate writes a date as "YYYY-MM-DD".
func MarshalDate(d ledger.Date) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(d.String())) })
}

// UnmarshalDate reads "YYYY-MM-DD".
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
