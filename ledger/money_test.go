package ledger_test

import (
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/ledger"
)

func TestParseMoney(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"30", "30.00", true},
		{"30.5", "30.50", true},
		{"-5.10", "-5.10", true},
		{"0.00", "0.00", true},
		{"30.005", "", false},
		{"30.000", "", false},
		{"1e3", "", false},
		{"", "", false},
		{" 3", "", false},
		{"3,00", "", false},
		{"abc", "", false},
		{"123456789012345678901", "", false},
	} {
		m, err := ledger.ParseMoney(tc.in)
		if !tc.ok {
			require.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, m.String())
	}
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
		require.Error(t, err, bad)
	}
}
