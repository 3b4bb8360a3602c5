package model_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"testing"

	"github.com/paysplit/paysplit/graph/model"
	"github.com/paysplit/paysplit/ledger"
)

// decode reads a JSON value as gqlgen reads variables (numbers as
// json.Number).
func decode(b []byte) (any, bool) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return nil, false
	}
	return v, true
}

var seeds = []string{`"30.00"`, `"-5"`, `30`, `30.5`, `"1.234"`, `"1e3"`, `null`, `true`, `["1.00"]`, `{"a":1}`,
	`"+1.00"`, `"01.00"`, `"30"`, `"30.5"`, `"-0.00"`,
	`"2026-06-15"`, `"2026-02-30"`, `"0000-01-01"`, `"0001-01-01"`, `"2200-01-01"`, `"2026-06-15T00:00:00Z"`, `1e400`, `""`}

// FuzzUnmarshalMoney: any JSON variable value either becomes Money that
// marshals back to itself, or is refused as bad input (never a panic, never a
// number accepted).
func FuzzUnmarshalMoney(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, ok := decode(b)
		if !ok {
			return
		}
		m, err := model.UnmarshalMoney(v)
		if err != nil {
			var ie *ledger.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("UnmarshalMoney(%s): %T is not bad input: %v", b, err, err)
			}
			return
		}
		if _, isString := v.(string); !isString {
			t.Fatalf("UnmarshalMoney(%s) accepted a %T", b, v)
		}
		var out bytes.Buffer
		model.MarshalMoney(m).MarshalGQL(&out)
		s, err := strconv.Unquote(out.String())
		if err != nil {
			t.Fatalf("MarshalMoney wrote %s: not a JSON string", out.String())
		}
		back, err := model.UnmarshalMoney(s)
		if err != nil || !back.Equal(m) {
			t.Fatalf("Money %s round-trips to %v, %v", m, back, err)
		}
	})
}

// FuzzUnmarshalDate: as FuzzUnmarshalMoney, for Date.
func FuzzUnmarshalDate(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, ok := decode(b)
		if !ok {
			return
		}
		d, err := model.UnmarshalDate(v)
		if err != nil {
			var ie *ledger.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("UnmarshalDate(%s): %T is not bad input: %v", b, err, err)
			}
			return
		}
		var out bytes.Buffer
		model.MarshalDate(d).MarshalGQL(&out)
		if want := strconv.Quote(v.(string)); out.String() != want {
			t.Fatalf("UnmarshalDate(%s) marshals as %s", b, out.String())
		}
	})
}
