package rules_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paysplit/paysplit/rules"
)

func TestDate(t *testing.T) {
	for d := time.Date(1899, 12, 25, 0, 0, 0, 0, time.UTC); d.Year() < 2101; d = d.AddDate(0, 0, 13) {
		rd := rules.NewDate(d.Year(), d.Month(), d.Day())
		require.Equal(t, d.Format(time.DateOnly), rd.String())
		back, err := rules.ParseDate(rd.String())
		require.NoError(t, err)
		require.Equal(t, rd, back)
	}
	a, b := rules.NewDate(2024, 2, 28), rules.NewDate(2024, 3, 1)
	require.Equal(t, 2, b.DaysSince(a))
	require.True(t, a.Before(b))
	require.Equal(t, 1, b.Compare(a))
	require.Equal(t, "", rules.Date{}.String())
	_, err := rules.ParseDate("2024-13-01")
	require.Error(t, err)
}
