package ledger_test

import (
	"strings"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
)

// TestParseMoney: the one money grammar, -?(0|[1-9][0-9]{0,12})\.[0-9]{2}.
func TestParseMoney(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{"30.00", "30.00", ""},
		{"-5.10", "-5.10", ""},
		{"0.00", "0.00", ""},
		{"0.05", "0.05", ""},
		{"-0.00", "0.00", ""},
		{"1234.50", "1234.50", ""},
		{"9999999999999.99", "9999999999999.99", ""}, // 13 digits before the point
		{"-9999999999999.99", "-9999999999999.99", ""},
		{"30", "", "exactly two decimal places"},
		{"30.5", "", "exactly two decimal places"},
		{"30.", "", "exactly two decimal places"},
		{"30.005", "", "exactly two decimal places"},
		{"30.000", "", "exactly two decimal places"},
		{"+1.00", "", "digits"},
		{"01.00", "", "leading zeros"},
		{"-00.50", "", "leading zeros"},
		{"10000000000000.00", "", "at most 13 digits"},
		{".50", "", "digits"},
		{"-.50", "", "digits"},
		{"--1.00", "", "digits"},
		{"1e3", "", "digits"},
		{"1.5e1", "", "exactly two decimal places"},
		{"", "", "digits"},
		{"-", "", "digits"},
		{" 3.00", "", "digits"},
		{"3.00 ", "", "exactly two decimal places"},
		{"3,00", "", "digits"},
		{"1,234.50", "", "digits"},
		{"$30.00", "", "digits"},
		{"1_000.00", "", "digits"},
		{"0x10.00", "", "digits"},
		{"NaN", "", "digits"},
		{"١٢٣.٠٠", "", "digits"},
		{"3.0\x00", "", "exactly two decimal places"},
	} {
		m, err := ledger.ParseMoney(tc.in)
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, m.String())
	}
	_, err := ledger.ParseMoney(strings.Repeat("9", 10_000) + ".00")
	require.ErrorContains(t, err, "at most 13 digits")
	require.Less(t, len(err.Error()), 200, "the message quotes the input cut short")
}

func TestMoneyArithmeticIsExact(t *testing.T) {
	var sum ledger.Money
	for range 10 {
		sum = sum.Add(ledger.MustMoney("0.10"))
	}
	require.True(t, sum.Equal(ledger.MustMoney("1.00")), sum.String())
	require.Equal(t, "-0.70", ledger.MustMoney("0.30").Sub(ledger.MustMoney("1.00")).String())
	require.Equal(t, "12.34", ledger.Cents(1234).String())
	_, err := ledger.MoneyFromDecimal(decimal.RequireFromString("1.001"))
	require.Error(t, err)
}

func TestMoneyScanRefusesThirdPlace(t *testing.T) {
	var m ledger.Money
	require.NoError(t, m.Scan("12.30"))
	require.Equal(t, "12.30", m.String())
	require.Error(t, m.Scan("12.301"))
}

func TestParseDate(t *testing.T) {
	d, err := ledger.ParseDate("2026-02-28")
	require.NoError(t, err)
	require.Equal(t, "2026-03-01", d.AddDays(1).String())
	require.Equal(t, 1, d.AddDays(1).DaysSince(d))
	for _, bad := range []string{"2026-13-01", "2026-02-30", "26-01-01", "2026-1-1", "2026-01-01T00:00:00Z", ""} {
		_, err := ledger.ParseDate(bad)
		require.ErrorContains(t, err, "not a date", bad)
	}
	// The range every input date keeps to.
	for _, ok := range []string{"1900-01-01", "2199-12-31"} {
		_, err := ledger.ParseDate(ok)
		require.NoError(t, err, ok)
	}
	for _, out := range []string{"0001-01-01", "1899-12-31", "2200-01-01", "9999-12-31"} {
		_, err := ledger.ParseDate(out)
		require.ErrorContains(t, err, "out of range: dates run from 1900-01-01 to 2199-12-31", out)
	}
	// A date read back from the database is not bound by the range.
	var d2 ledger.Date
	require.NoError(t, d2.Scan("0001-01-01"))
	require.NoError(t, d2.UnmarshalJSON([]byte(`"0001-01-01"`)))
	require.Equal(t, "0001-01-01", d2.String())
}
