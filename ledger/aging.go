package ledger

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/shopspring/decimal"
)

// AgingBasis is the date a line's balance ages from.
type AgingBasis string

const (
	// AgingServiceDate ages a line from its date of service (the default).
	AgingServiceDate AgingBasis = "SERVICE_DATE"
	// AgingPostDate ages a line from the day it was entered (UTC).
	AgingPostDate AgingBasis = "POST_DATE"
	// AgingResponsibilityDate ages a line from the day its balance became the
	// patient's: the date of the latest insurance payment on it that has not
	// been reversed (as of the report's date), else its date of service.
	AgingResponsibilityDate AgingBasis = "RESPONSIBILITY_DATE"
)

// AgingGroup is what one row of an aging report stands for.
type AgingGroup string

const (
	AgingByPatient   AgingGroup = "PATIENT"
	AgingByGuarantor AgingGroup = "GUARANTOR" // the default: one row per family
	AgingByProvider  AgingGroup = "PROVIDER"
	AgingByLocation  AgingGroup = "LOCATION"
	AgingByPractice  AgingGroup = "PRACTICE"
)

// AgingCoverage narrows a report to insured or self-pay patients. A patient
// is insured, as of the report's date, when any of their lines carries an
// insurance estimate or any insurance payment has been split to them.
type AgingCoverage string

const (
	CoverageAll     AgingCoverage = "ALL"
	CoverageInsured AgingCoverage = "INSURED"
	CoverageSelfPay AgingCoverage = "SELF_PAY"
)

// AgingSort orders the rows of a report. Ties break on the row's key.
type AgingSort string

const (
	// SortTotalDesc: largest balance first (the default).
	SortTotalDesc AgingSort = "TOTAL_DESC"
	SortTotalAsc  AgingSort = "TOTAL_ASC"
	// SortOldestDesc: rows whose oldest owing bucket is oldest first, then by
	// the amount in that bucket, largest first; rows owing nothing last.
	SortOldestDesc AgingSort = "OLDEST_BUCKET_DESC"
	SortOldestAsc  AgingSort = "OLDEST_BUCKET_ASC"
)

// DefaultBucketLimits are the upper limits, in days, of every bucket but the
// last: 0–30, 31–60, 61–90, 91–120 and 120+.
var DefaultBucketLimits = []int{30, 60, 90, 120}

// MaxAgingBuckets bounds how many buckets a report may have.
const MaxAgingBuckets = 8

// over90 is the age past which A/R counts in the over-90 KPI.
const over90 = 90

// AgingQuery asks for an aging report. Zero fields take their defaults.
type AgingQuery struct {
	AsOf  *Date      // default today
	Basis AgingBasis // default SERVICE_DATE
	// BucketLimits are the last day of each bucket but the open-ended last
	// one, strictly increasing ([30 60 90] → 0–30, 31–60, 61–90, 90+).
	// Nil takes the practice's setting.
	BucketLimits []int
	GroupBy      AgingGroup // default GUARANTOR
	// CreditsToOldest nets each row's credits (overpaid lines, unallocated
	// and unearned money) against its oldest buckets first, as Open Dental
	// does by default; without it credits are shown in their own columns and
	// overpaid lines age as negative amounts in their buckets.
	CreditsToOldest bool

	MinBalance, MaxBalance *Money // on the row's total, inclusive
	MinAgeDays             *int   // rows whose oldest owing line is at least this old
	ProviderID, LocationID *ID    // only lines (and credits) of this provider / location
	Coverage               AgingCoverage
	// GuarantorIDs, when not nil, keeps only the lines and credits of these
	// families: statements read their families' aging so, and the live hub
	// re-reads the rows of the families a commit touched. The API does not
	// offer it.
	GuarantorIDs []ID
	// NoLastPayment leaves the rows' last payment out (statements do not
	// print it, and finding it for every family costs a pass over the
	// payments).
	NoLastPayment bool

	Sort AgingSort
	Page Page
}

// AgingBucket is one column of a report: ages FromDays to ToDays inclusive;
// ToDays is nil for the last, open-ended bucket.
type AgingBucket struct {
	Label    string
	FromDays int
	ToDays   *int
}

// AgingRow is one row of a report: a patient, a family, a provider, a
// location or the whole practice.
type AgingRow struct {
	// Key is the id of what the row stands for; the zero ID for lines and
	// credits with no provider (or location).
	Key   ID
	Name  string
	Group AgingGroup

	// Buckets hold the aged balance of the lines (patient and insurance
	// portions). Total = sum(Buckets) − Unallocated − Unearned, unless the
	// report nets credits to the oldest buckets, when Total = sum(Buckets).
	Buckets          []Money
	Total            Money
	InsurancePortion Money // pending insurance estimates
	PatientPortion   Money // Total − InsurancePortion
	Unallocated      Money // money received on nothing
	Unearned         Money // visible unearned money (prepayments)
	Credit           Money // overpaid lines + Unallocated + Unearned
	Over90           Money // owed on lines more than 90 days old (after netting credits, if asked)

	// OldestBucket is the index of the oldest bucket owing money, -1 if none.
	OldestBucket int
	// LastPaymentDate and LastPaymentAmount describe the latest patient
	// payment, as of the report's date, with a split in the row.
	LastPaymentDate   *Date
	LastPaymentAmount *Money
}

// AgingSummary totals a whole report (every row that passes the filters,
// not just one page).
type AgingSummary struct {
	Buckets          []Money
	Total            Money // net A/R
	InsurancePortion Money
	PatientPortion   Money
	Unallocated      Money
	Unearned         Money
	Credit           Money
	Over90           Money
	Accounts         int // rows in the report
}

// Over90Percent is A/R over 90 days as a percentage of total A/R, rounded to
// two places ("13.50"); ok is false when the total is not positive.
func (s AgingSummary) Over90Percent() (pct string, ok bool) {
	if s.Total.Sign() <= 0 {
		return "", false
	}
	return s.Over90.Decimal().Mul(decimal.NewFromInt(100)).DivRound(s.Total.Decimal(), 2).StringFixed(2), true
}

// AgingReport is an aging report as of a date.
type AgingReport struct {
	AsOf            Date
	Basis           AgingBasis
	GroupBy         AgingGroup
	Buckets         []AgingBucket
	CreditsToOldest bool
	Summary         AgingSummary

	Rows        []AgingRow
	Cursors     []Cursor // one per row
	HasNext     bool
	HasPrevious bool // the page starts after a cursor
}

// AgingSettings are a practice's aging defaults.
type AgingSettings struct {
	BucketLimits []int // nil: DefaultBucketLimits
}

// AgingReader is the read side of aging in the Store.
type AgingReader interface {
	// Aging computes a report from the ledger. The query is complete: AsOf,
	// Basis, BucketLimits, GroupBy, Coverage and Sort are set and valid.
	Aging(ctx context.Context, practiceID ID, q AgingQuery) (AgingReport, error)
	// AgingSettings returns the practice's settings (zero if never set).
	AgingSettings(ctx context.Context, practiceID ID) (AgingSettings, error)
}

// AgingWriter is the write side of aging in a Tx.
type AgingWriter interface {
	PutAgingSettings(ctx context.Context, practiceID ID, s AgingSettings, at time.Time) error
	// NotifyChanged announces, when the transaction commits, that the
	// practice's ledger changed (live aging subscribers recompute). Several
	// calls in one transaction announce once.
	NotifyChanged(ctx context.Context, practiceID ID) error
}

// Aging computes an aging report for the actor's practice (any role may).
func (l *Ledger) Aging(ctx context.Context, a Actor, q AgingQuery) (AgingReport, error) {
	q, err := l.completeAging(ctx, a.PracticeID, q)
	if err != nil {
		return AgingReport{}, err
	}
	return l.store.Aging(ctx, a.PracticeID, q)
}

// CheckAgingQuery returns the error Aging would return for q's input (nil
// if the ledger accepts q), without computing the report: the live hub
// (package aginghub) refuses a watch with it.
func (l *Ledger) CheckAgingQuery(ctx context.Context, a Actor, q AgingQuery) error {
	_, err := l.completeAging(ctx, a.PracticeID, q)
	return err
}

// completeAging validates q and fills in its defaults.
func (l *Ledger) completeAging(ctx context.Context, pid ID, q AgingQuery) (AgingQuery, error) {
	if q.AsOf == nil {
		today := l.Today()
		q.AsOf = &today
	}
	if q.Basis == "" {
		q.Basis = AgingServiceDate
	}
	if q.GroupBy == "" {
		q.GroupBy = AgingByGuarantor
	}
	if q.Coverage == "" {
		q.Coverage = CoverageAll
	}
	if q.Sort == "" {
		q.Sort = SortTotalDesc
	}
	switch {
	case !slices.Contains([]AgingBasis{AgingServiceDate, AgingPostDate, AgingResponsibilityDate}, q.Basis):
		return q, Invalid("basis", "must be SERVICE_DATE, POST_DATE or RESPONSIBILITY_DATE")
	case !slices.Contains([]AgingGroup{AgingByPatient, AgingByGuarantor, AgingByProvider, AgingByLocation, AgingByPractice}, q.GroupBy):
		return q, Invalid("groupBy", "must be PATIENT, GUARANTOR, PROVIDER, LOCATION or PRACTICE")
	case !slices.Contains([]AgingCoverage{CoverageAll, CoverageInsured, CoverageSelfPay}, q.Coverage):
		return q, Invalid("coverage", "must be ALL, INSURED or SELF_PAY")
	case !slices.Contains([]AgingSort{SortTotalDesc, SortTotalAsc, SortOldestDesc, SortOldestAsc}, q.Sort):
		return q, Invalid("sort", "must be TOTAL_DESC, TOTAL_ASC, OLDEST_BUCKET_DESC or OLDEST_BUCKET_ASC")
	case q.MinBalance != nil && q.MaxBalance != nil && q.MinBalance.Cmp(*q.MaxBalance) > 0:
		return q, Invalid("maxBalance", "is below minBalance")
	case q.MinAgeDays != nil && *q.MinAgeDays < 0:
		return q, Invalid("minAgeDays", "must not be negative")
	case q.Page.First < 0:
		return q, Invalid("first", "must not be negative")
	}
	if q.BucketLimits == nil {
		s, err := l.store.AgingSettings(ctx, pid)
		if err != nil {
			return q, err
		}
		q.BucketLimits = s.BucketLimits
		if q.BucketLimits == nil {
			q.BucketLimits = DefaultBucketLimits
		}
	} else if err := checkBucketLimits("buckets", q.BucketLimits); err != nil {
		return q, err
	}
	if q.Page.After != nil {
		if _, _, err := ParseAgingCursor(q.Sort, q.Page.After.Key); err != nil {
			return q, err
		}
	}
	return q, nil
}

// checkBucketLimits checks the limits of 2 to MaxAgingBuckets buckets.
func checkBucketLimits(field string, limits []int) error {
	if len(limits) < 1 || len(limits) > MaxAgingBuckets-1 {
		return Invalid(field, "give 1 to %d limits (2 to %d buckets)", MaxAgingBuckets-1, MaxAgingBuckets)
	}
	for i, n := range limits {
		if n < 1 || i > 0 && n <= limits[i-1] {
			return Invalid(fmt.Sprintf("%s[%d]", field, i), "limits are positive days in increasing order")
		}
	}
	return nil
}

// AgingBuckets describes the buckets that limits make.
func AgingBuckets(limits []int) []AgingBucket {
	out := make([]AgingBucket, 0, len(limits)+1)
	from := 0
	for _, to := range limits {
		out = append(out, AgingBucket{Label: fmt.Sprintf("%d–%d", from, to), FromDays: from, ToDays: &to})
		from = to + 1
	}
	last := limits[len(limits)-1]
	return append(out, AgingBucket{Label: fmt.Sprintf("%d+", last), FromDays: last + 1})
}

// AgingCursor encodes a row's position in a report sorted by sort: the two
// sort keys (decimal text) the store orders by, ascending.
func AgingCursor(sort AgingSort, k1, k2 string) string { return string(sort) + "|" + k1 + "|" + k2 }

// ParseAgingCursor decodes a cursor key made by AgingCursor for sort.
func ParseAgingCursor(sort AgingSort, key string) (k1, k2 decimal.Decimal, err error) {
	bad := Invalid("after", "is not a cursor from this report's sort")
	prefix := string(sort) + "|"
	if len(key) <= len(prefix) || key[:len(prefix)] != prefix {
		return k1, k2, bad
	}
	rest := key[len(prefix):]
	for i := 0; i < len(rest); i++ {
		if rest[i] == '|' {
			var e1, e2 error
			k1, e1 = decimal.NewFromString(rest[:i])
			k2, e2 = decimal.NewFromString(rest[i+1:])
			if e1 != nil || e2 != nil {
				return k1, k2, bad
			}
			return k1, k2, nil
		}
	}
	return k1, k2, bad
}

// UpdateAgingSettings sets the practice's default buckets (ADMIN only).
// Nil limits restore the default.
func (l *Ledger) UpdateAgingSettings(ctx context.Context, a Actor, s AgingSettings, idempotencyKey string) (AgingSettings, error) {
	if a.Role != RoleAdmin {
		return AgingSettings{}, fmt.Errorf("updateAgingSettings: role %s: %w", a.Role, ErrForbidden)
	}
	if s.BucketLimits != nil {
		if err := checkBucketLimits("bucketLimits", s.BucketLimits); err != nil {
			return AgingSettings{}, err
		}
	}
	in := struct{ BucketLimits []int }{s.BucketLimits}
	_, err := l.mutate(ctx, a, mutation{op: "updateAgingSettings", key: idempotencyKey, input: in}, func(tx Tx) (ID, error) {
		return a.PracticeID, tx.PutAgingSettings(ctx, a.PracticeID, s, l.stamp())
	})
	if err != nil {
		return AgingSettings{}, err
	}
	return l.store.AgingSettings(ctx, a.PracticeID)
}
