package ledger

import (
	"testing"
	"time"
)

// TestHistoryCents checks that hcents agrees with Money, in int64 cents and
// past them: sums of the largest amounts leave int64 and stay exact.
func TestHistoryCents(t *testing.T) {
	top := MustMoney("9999999999999.99")
	for _, s := range []string{"0.00", "0.01", "-0.01", "30.50", "-1234.05", "9999999999999.99", "-9999999999999.99"} {
		m := MustMoney(s)
		if got := centsOf(m); got.big != nil || got.String() != s || !got.money().Equal(m) {
			t.Errorf("centsOf(%s) = %+v (%s)", s, got, got)
		}
	}
	sum, want := hcents{}, Money{}
	for i := 0; i < 20000; i++ { // 2·10^19 cents at the end: past int64
		sum, want = sum.add(centsOf(top)), want.Add(top)
	}
	if sum.big == nil || !sum.money().Equal(want) || sum.sign() != 1 {
		t.Fatalf("sum of 20,000 × %s = %s, want %s", top, sum, want)
	}
	back := sum
	for i := 0; i < 20000; i++ {
		back = back.sub(centsOf(top))
	}
	if back.big != nil || back.sign() != 0 || back.String() != "0.00" {
		t.Fatalf("back to zero: %+v (%s)", back, back)
	}
	neg := sum.neg()
	if !neg.money().Equal(want.Neg()) || neg.cmp(sum) != -1 || sum.cmp(neg) != 1 || neg.min(sum).cmp(neg) != 0 || neg.max(sum).cmp(sum) != 0 {
		t.Fatalf("neg %s of %s", neg, sum)
	}
	if m := (hcents{c: -1 << 63}).neg(); !m.money().Equal(Cents(-1 << 63).Neg()) {
		t.Fatalf("neg of the least int64: %s", m)
	}
}

// TestHistoryDay checks that hday keeps a date and its order.
func TestHistoryDay(t *testing.T) {
	days := []Date{{0, time.January, 1}, MinDate, MustDate("1999-12-31"), MustDate("2000-01-01"), MustDate("2024-02-29"),
		MustDate("2026-06-15"), MaxDate, {9999, time.December, 31}}
	for i, d := range days {
		if got := dayOf(d).date(); got != d {
			t.Errorf("dayOf(%s).date() = %s", d, got)
		}
		if i > 0 && dayOf(days[i-1]) >= dayOf(d) {
			t.Errorf("%s packs after %s", days[i-1], d)
		}
	}
}
