package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/paysplit/paysplit/ledger"
)

// ChangesChannel is the NOTIFY channel on which a commit that changed a
// practice's ledger announces it. The payload is only the practice id.
const ChangesChannel = "paysplit_ledger_changed"

// noKey stands for "no provider" or "no location" in an aging row's key.
var noKey = ledger.ID{}

// Aging computes an aging report in one statement (see docs/aging.md). The
// ledger is read as of q.AsOf: a charge counts if its date of service is on
// or before it, a split if its receipt was received on or before it, and a
// reversal only from its own date. Each line (a charge with the adjustments
// attached to it) owes amount + adjustments − insurance write-offs (written
// on or before the date) − money on it; that outstanding amount (patient and
// pending insurance portions together) is aged by the basis date into
// width_bucket(age, lower bounds). Credits not on a line (unallocated,
// visible unearned) are summed beside the buckets, or, with CreditsToOldest,
// netted with the overpaid lines against the oldest buckets first. The summary covers every row that passes the filters; the
// page is a keyset slice of the same rows.
//
// As of a date on or after the practice's aging horizon (no row aging reads
// is dated later, which is the case as of today), the lines and credits come
// from the maintained state (aging_lines, aging_credits: migration 00015);
// before it, from history. Ages are computed from dates either way.
func (s queries) Aging(ctx context.Context, practiceID ledger.ID, q ledger.AgingQuery) (ledger.AgingReport, error) {
	return s.aging(ctx, practiceID, q, false)
}

// AgingFromHistory computes the report as Aging does, but always from
// history, never from the maintained state: the recomputation that checks
// (paysplit aging check) and tests compare the maintained report with.
func (s queries) AgingFromHistory(ctx context.Context, practiceID ledger.ID, q ledger.AgingQuery) (ledger.AgingReport, error) {
	return s.aging(ctx, practiceID, q, true)
}

// agingSQL is the aging statement with named parameters (@name, bound to
// $n in agingParams order by bindParams). practice and as_of come first, as
// $1 and $2, which the shared fragments (billedSelect, offLineSplits) use.
var agingSQL = `
WITH state AS (       -- whether the maintained state answers: nothing aging reads is dated after @as_of
    SELECT NOT @from_history AND @as_of::date >= coalesce((SELECT horizon FROM aging_horizons WHERE practice_id = @practice), '-infinity') AS maintained
), fam AS (           -- the patients of the families asked for (@guarantors; null: every family), as one array
    SELECT array_agg(id) AS ids FROM patients WHERE practice_id = @practice AND guarantor_id = ANY(@guarantors::uuid[])
), rev AS NOT MATERIALIZED (   -- receipts reversed by a reversal dated on or before the as-of date
    SELECT reverses_id AS id FROM receipts
     WHERE practice_id = @practice AND kind = 'REVERSAL' AND received_on <= @as_of
), adjs AS NOT MATERIALIZED (  -- adjustments attached to a charge fold into it
    SELECT id, attached_to_id AS root, amount FROM charges
     WHERE practice_id = @practice AND attached_to_id IS NOT NULL AND service_date <= @as_of
), adj AS (
    SELECT root, sum(amount) AS amount FROM adjs GROUP BY root
), paid AS (           -- money on each line (on the charge or its adjustments); the latest insurance payment still standing
    SELECT coalesce(a.root, s.charge_id) AS root, sum(s.amount) AS paid,
           max(r.received_on) FILTER (WHERE r.kind = 'INSURANCE_PAYMENT' AND rev.id IS NULL) AS insured_on
      FROM splits s
      JOIN receipts r ON r.practice_id = @practice AND r.id = s.receipt_id AND r.received_on <= @as_of
      LEFT JOIN rev ON rev.id = r.id
      LEFT JOIN adjs a ON a.id = s.charge_id
     WHERE s.practice_id = @practice AND s.charge_id IS NOT NULL AND s.unearned_type_id IS NULL
     GROUP BY 1
), wo AS (             -- insurance write-offs on each line
    SELECT charge_id AS root, sum(amount) AS amount FROM insurance_write_offs
     WHERE practice_id = @practice AND written_on <= @as_of
     GROUP BY 1
), billed AS (         -- lines billed to the patient as of the date
    ` + billedSelect + `b.changed_on <= @as_of` + billedGroup + `
), lines AS (         -- as of a date on or after the horizon: the maintained open lines
    SELECT l.patient_id, l.provider_id, l.location_id, l.service_date, l.posted_at, l.outstanding, l.insured_on,
           CASE WHEN (SELECT balances_dont_subtract_ins FROM practices WHERE id = @practice) THEN 0 ELSE l.estimate END AS estimate,
           billed.billed_on
      FROM aging_lines l
      LEFT JOIN billed ON billed.root = l.charge_id
     WHERE (SELECT maintained FROM state) AND l.practice_id = @practice AND l.status = 'COMPLETED' AND l.adjusted <> l.paid
       AND l.service_date <= @as_of
       AND (@provider::uuid IS NULL OR l.provider_id = @provider) AND (@location::uuid IS NULL OR l.location_id = @location)
       AND (@guarantors::uuid[] IS NULL OR l.patient_id = ANY((SELECT ids FROM fam)::uuid[]))
    UNION ALL          -- before it: computed from history as of the date
    SELECT c.patient_id, c.provider_id, c.location_id, c.service_date, c.posted_at,
           c.amount + coalesce(adj.amount, 0) - coalesce(wo.amount, 0) - coalesce(m.paid, 0), m.insured_on,
           CASE WHEN (SELECT balances_dont_subtract_ins FROM practices WHERE id = @practice) THEN 0
                ELSE least(c.insurance_estimate, greatest(c.amount + coalesce(adj.amount, 0) - coalesce(wo.amount, 0), 0)) END,
           billed.billed_on
      FROM charges c
      LEFT JOIN paid m ON m.root = c.id
      LEFT JOIN adj ON adj.root = c.id
      LEFT JOIN wo ON wo.root = c.id
      LEFT JOIN billed ON billed.root = c.id
     WHERE NOT (SELECT maintained FROM state)
       AND c.practice_id = @practice AND c.service_date <= @as_of AND c.attached_to_id IS NULL AND c.status = 'COMPLETED'
       AND (@provider::uuid IS NULL OR c.provider_id = @provider) AND (@location::uuid IS NULL OR c.location_id = @location)
       AND (@guarantors::uuid[] IS NULL OR c.patient_id = ANY((SELECT ids FROM fam)::uuid[]))
), credits AS (        -- money on no line: unallocated, and unearned of visible types
    SELECT a.patient_id, a.provider_id, a.location_id,
           coalesce(sum(a.amount) FILTER (WHERE a.unearned_type_id IS NULL), 0) AS unallocated,
           coalesce(sum(a.amount) FILTER (WHERE NOT u.hidden), 0) AS unearned
      FROM aging_credits a
      LEFT JOIN unearned_types u ON u.practice_id = @practice AND u.id = a.unearned_type_id
     WHERE (SELECT maintained FROM state) AND a.practice_id = @practice
       AND (@provider::uuid IS NULL OR a.provider_id = @provider) AND (@location::uuid IS NULL OR a.location_id = @location)
       AND (@guarantors::uuid[] IS NULL OR a.patient_id = ANY((SELECT ids FROM fam)::uuid[]))
     GROUP BY 1, 2, 3
    UNION ALL
    SELECT s.patient_id, s.provider_id, s.location_id,
           coalesce(sum(s.amount) FILTER (WHERE s.unearned_type_id IS NULL), 0) AS unallocated,
           coalesce(sum(s.amount) FILTER (WHERE NOT u.hidden), 0) AS unearned
      FROM ` + offLineSplits + ` AND NOT (SELECT maintained FROM state)
       AND (@provider::uuid IS NULL OR s.provider_id = @provider) AND (@location::uuid IS NULL OR s.location_id = @location)
       AND (@guarantors::uuid[] IS NULL OR s.patient_id = ANY((SELECT ids FROM fam)::uuid[]))
     GROUP BY 1, 2, 3
), insured AS (        -- patients with insurance as of the date (read only for a coverage filter)
    SELECT patient_id FROM charges
     WHERE practice_id = @practice AND service_date <= @as_of AND insurance_estimate > 0
    UNION
    SELECT s.patient_id FROM splits s
      JOIN receipts r ON r.practice_id = @practice AND r.id = s.receipt_id AND r.received_on <= @as_of
     WHERE s.practice_id = @practice AND r.kind = 'INSURANCE_PAYMENT'
), items AS (
    SELECT patient_id, provider_id, location_id, outstanding AS amt,
           CASE WHEN insured_on IS NULL AND billed_on IS NULL THEN estimate ELSE 0 END AS ins,
           0 AS unallocated, 0 AS unearned,
           greatest(@as_of::date - CASE @basis
               WHEN 'POST_DATE' THEN (posted_at AT TIME ZONE 'UTC')::date
               WHEN 'RESPONSIBILITY_DATE' THEN greatest(service_date, coalesce(insured_on, service_date), coalesce(billed_on, service_date))
               ELSE service_date END, 0) AS age
      FROM lines WHERE outstanding <> 0
    UNION ALL
    SELECT patient_id, provider_id, location_id, 0, 0, unallocated, unearned, NULL FROM credits
), keyed AS (
    SELECT ` + groupKey("i") + ` AS key,
           i.amt, i.ins, i.unallocated, i.unearned, i.age,
           CASE WHEN @to_oldest THEN greatest(i.amt, 0) ELSE i.amt END AS aged,
           width_bucket(i.age, @lower::int[]) AS b
      FROM items i   -- a LEFT JOIN the planner drops when the key needs no guarantor
      LEFT JOIN patients p ON p.practice_id = @practice AND p.id = i.patient_id
     WHERE @coverage = 'ALL' OR (i.patient_id IN (SELECT patient_id FROM insured)) = (@coverage = 'INSURED')
), grouped AS (
    SELECT key,
           coalesce(sum(aged) FILTER (WHERE b = 0), 0) AS p0, coalesce(sum(aged) FILTER (WHERE b = 1), 0) AS p1,
           coalesce(sum(aged) FILTER (WHERE b = 2), 0) AS p2, coalesce(sum(aged) FILTER (WHERE b = 3), 0) AS p3,
           coalesce(sum(aged) FILTER (WHERE b = 4), 0) AS p4, coalesce(sum(aged) FILTER (WHERE b = 5), 0) AS p5,
           coalesce(sum(aged) FILTER (WHERE b = 6), 0) AS p6, coalesce(sum(aged) FILTER (WHERE b = 7), 0) AS p7,
           sum(amt) AS lines, sum(ins) AS ins, sum(unallocated) AS unallocated, sum(unearned) AS unearned,
           coalesce(sum(-amt) FILTER (WHERE amt < 0), 0) AS line_credit,
           coalesce(sum(amt) FILTER (WHERE age > 90), 0) AS over90_net,
           coalesce(sum(amt) FILTER (WHERE age > 90 AND amt > 0), 0) AS over90_owed,
           max(age) FILTER (WHERE amt > 0) AS oldest_age,
           bool_or(amt <> 0 OR unallocated <> 0 OR unearned <> 0) AS has_items
      FROM keyed GROUP BY key
), credit AS (
    SELECT g.*, line_credit + unallocated + unearned AS credit,
           p0 + p1 + p2 + p3 + p4 + p5 + p6 + p7 AS s0, p1 + p2 + p3 + p4 + p5 + p6 + p7 AS s1,
           p2 + p3 + p4 + p5 + p6 + p7 AS s2, p3 + p4 + p5 + p6 + p7 AS s3, p4 + p5 + p6 + p7 AS s4,
           p5 + p6 + p7 AS s5, p6 + p7 AS s6, p7 AS s7
      FROM grouped g WHERE has_items
), net AS (            -- bucket i keeps what the credit left of it, the credit eating the oldest first
    SELECT key, lines - unallocated - unearned AS total, ins, unallocated, unearned, credit, oldest_age,
           CASE WHEN @to_oldest THEN greatest(over90_owed - credit, 0) ELSE over90_net END AS over90,
           CASE WHEN @to_oldest THEN greatest(0, least(p0, s0 - credit)) - greatest(credit - s0, 0) ELSE p0 END AS n0,
           CASE WHEN @to_oldest THEN greatest(0, least(p1, s1 - credit)) ELSE p1 END AS n1,
           CASE WHEN @to_oldest THEN greatest(0, least(p2, s2 - credit)) ELSE p2 END AS n2,
           CASE WHEN @to_oldest THEN greatest(0, least(p3, s3 - credit)) ELSE p3 END AS n3,
           CASE WHEN @to_oldest THEN greatest(0, least(p4, s4 - credit)) ELSE p4 END AS n4,
           CASE WHEN @to_oldest THEN greatest(0, least(p5, s5 - credit)) ELSE p5 END AS n5,
           CASE WHEN @to_oldest THEN greatest(0, least(p6, s6 - credit)) ELSE p6 END AS n6,
           CASE WHEN @to_oldest THEN greatest(0, least(p7, s7 - credit)) ELSE p7 END AS n7
      FROM credit
), report AS (
    SELECT n.*,
           CASE WHEN n7 > 0 THEN 7 WHEN n6 > 0 THEN 6 WHEN n5 > 0 THEN 5 WHEN n4 > 0 THEN 4
                WHEN n3 > 0 THEN 3 WHEN n2 > 0 THEN 2 WHEN n1 > 0 THEN 1 WHEN n0 > 0 THEN 0 ELSE -1 END AS oldest
      FROM net n
     WHERE (@min_balance::numeric IS NULL OR total >= @min_balance) AND (@max_balance::numeric IS NULL OR total <= @max_balance)
       AND (@min_age::int IS NULL OR oldest_age >= @min_age)
), summary AS (
    SELECT count(*) AS accounts,
           coalesce(sum(n0), 0) AS t0, coalesce(sum(n1), 0) AS t1, coalesce(sum(n2), 0) AS t2, coalesce(sum(n3), 0) AS t3,
           coalesce(sum(n4), 0) AS t4, coalesce(sum(n5), 0) AS t5, coalesce(sum(n6), 0) AS t6, coalesce(sum(n7), 0) AS t7,
           coalesce(sum(total), 0) AS t_total, coalesce(sum(ins), 0) AS t_ins,
           coalesce(sum(unallocated), 0) AS t_unallocated, coalesce(sum(unearned), 0) AS t_unearned,
           coalesce(sum(credit), 0) AS t_credit, coalesce(sum(over90), 0) AS t_over90
      FROM report
), sorted AS (
    SELECT r.*,
           CASE @sort WHEN 'TOTAL_DESC' THEN -total WHEN 'TOTAL_ASC' THEN total
                    WHEN 'OLDEST_BUCKET_DESC' THEN -oldest ELSE oldest END AS k1,
           CASE @sort WHEN 'OLDEST_BUCKET_DESC' THEN -1 WHEN 'OLDEST_BUCKET_ASC' THEN 1 ELSE 0 END *
           CASE oldest WHEN 7 THEN n7 WHEN 6 THEN n6 WHEN 5 THEN n5 WHEN 4 THEN n4
                       WHEN 3 THEN n3 WHEN 2 THEN n2 WHEN 1 THEN n1 WHEN 0 THEN n0 ELSE 0 END AS k2
      FROM report r
), page AS (
    SELECT * FROM sorted
     WHERE @after_k1::numeric IS NULL OR (k1, k2, key) > (@after_k1::numeric, @after_k2::numeric, @after_key::uuid)
     ORDER BY k1, k2, key
     LIMIT @limit
), lastpay AS (        -- the latest patient payment (not reversed as of the date) with a split in each page row
    SELECT DISTINCT ON (key) key, received_on, amount FROM (
        SELECT ` + groupKey("s") + ` AS key,
               r.id, r.received_on, sum(s.amount) AS amount
          FROM splits s
          JOIN receipts r ON r.practice_id = @practice AND r.id = s.receipt_id
          JOIN patients p ON p.practice_id = @practice AND p.id = s.patient_id
         WHERE @group_by <> 'PRACTICE' AND NOT @no_last_payment AND s.practice_id = @practice AND r.kind = 'PATIENT_PAYMENT' AND r.received_on <= @as_of
           AND (@guarantors::uuid[] IS NULL OR s.patient_id = ANY((SELECT ids FROM fam)::uuid[]))
           AND NOT EXISTS (SELECT 1 FROM rev WHERE rev.id = r.id)
           AND ` + groupKey("s") + ` IN (SELECT key FROM page)
         GROUP BY 1, r.id, r.received_on
        UNION ALL      -- the whole practice: its latest payment, found by index
        (SELECT @practice, r.id, r.received_on, r.amount FROM receipts r
          WHERE @group_by = 'PRACTICE' AND NOT @no_last_payment AND r.practice_id = @practice AND r.kind = 'PATIENT_PAYMENT' AND r.received_on <= @as_of
            AND NOT EXISTS (SELECT 1 FROM rev WHERE rev.id = r.id)
          ORDER BY r.received_on DESC, r.id DESC LIMIT 1)
    ) x
    ORDER BY key, received_on DESC, id DESC
)
SELECT sm.accounts, sm.t0, sm.t1, sm.t2, sm.t3, sm.t4, sm.t5, sm.t6, sm.t7,
       sm.t_total, sm.t_ins, sm.t_unallocated, sm.t_unearned, sm.t_credit, sm.t_over90,
       pg.key, pg.n0, pg.n1, pg.n2, pg.n3, pg.n4, pg.n5, pg.n6, pg.n7,
       pg.total, pg.ins, pg.unallocated, pg.unearned, pg.credit, pg.over90, pg.oldest,
       pg.k1::text, pg.k2::text, lp.received_on AS last_paid_on, lp.amount AS last_paid,
       CASE @group_by WHEN 'PATIENT' THEN (SELECT last_name || ', ' || first_name FROM patients WHERE practice_id = @practice AND id = pg.key)
               WHEN 'GUARANTOR' THEN (SELECT name FROM guarantors WHERE practice_id = @practice AND id = pg.key)
               WHEN 'PROVIDER' THEN coalesce((SELECT name FROM providers WHERE practice_id = @practice AND id = pg.key), 'No provider')
               WHEN 'LOCATION' THEN coalesce((SELECT name FROM locations WHERE practice_id = @practice AND id = pg.key), 'No location')
               ELSE (SELECT name FROM practices WHERE id = @practice) END AS name
  FROM summary sm
  LEFT JOIN page pg ON true
  LEFT JOIN lastpay lp ON lp.key = pg.key
 ORDER BY pg.k1, pg.k2, pg.key`

// agingParams names the aging statement's parameters in the order of their
// values ($1, $2, …).
var agingParams = []string{"practice", "as_of", "basis", "lower", "group_by", "provider", "location", "coverage", "to_oldest", "min_balance", "max_balance", "min_age", "sort", "after_k1", "after_k2", "after_key", "limit", "no_key", "guarantors", "no_last_payment", "from_history"}

// agingStatement is agingSQL with its parameters numbered.
var agingStatement = bindParams(agingSQL, agingParams)

// groupKey is the key of an aging row for the grouping asked for (@group_by),
// from row alias r (a line or a split, with its patient p): the patient, the
// family's guarantor, the provider or location (@no_key when none), or the
// practice.
func groupKey(r string) string {
	return `CASE @group_by WHEN 'PATIENT' THEN ` + r + `.patient_id
                   WHEN 'GUARANTOR' THEN p.guarantor_id
                   WHEN 'PROVIDER' THEN coalesce(` + r + `.provider_id, @no_key)
                   WHEN 'LOCATION' THEN coalesce(` + r + `.location_id, @no_key)
                   ELSE @practice END`
}

func (s queries) aging(ctx context.Context, practiceID ledger.ID, q ledger.AgingQuery, fromHistory bool) (ledger.AgingReport, error) {

	n := len(q.BucketLimits) + 1
	lower := make([]int64, len(q.BucketLimits)) // first day of buckets 1..n-1
	for i, l := range q.BucketLimits {
		lower[i] = int64(l) + 1
	}
	var afterK1, afterK2 *string
	var afterKey *ledger.ID
	if q.Page.After != nil {
		k1, k2, err := ledger.ParseAgingCursor(q.Sort, q.Page.After.Key)
		if err != nil {
			return ledger.AgingReport{}, err
		}
		s1, s2 := k1.String(), k2.String()
		afterK1, afterK2, afterKey = &s1, &s2, &q.Page.After.ID
	}
	var guarantors any // NULL: every family
	if q.GuarantorIDs != nil {
		guarantors = idArray(q.GuarantorIDs)
	}
	var minBal, maxBal *string
	if q.MinBalance != nil {
		v := q.MinBalance.String()
		minBal = &v
	}
	if q.MaxBalance != nil {
		v := q.MaxBalance.String()
		maxBal = &v
	}

	// The statement runs in a transaction of its own (queries.in) with JIT off:
	// its estimated cost passes PostgreSQL's JIT threshold on large practices,
	// and compiling its expressions costs more than it saves. It reads the
	// whole practice, so it plans with PostgreSQL's default page cost, not
	// the service's key-lookup setting (RandomPageCost), which made it choose
	// index paths 1.5× slower on the large practice.
	rep := ledger.AgingReport{AsOf: *q.AsOf, Basis: q.Basis, GroupBy: q.GroupBy, CreditsToOldest: q.CreditsToOldest,
		Buckets: ledger.AgingBuckets(q.BucketLimits), HasPrevious: q.Page.After != nil}
	err := s.in(ctx, practiceID, func(db sqlx.ExtContext) error {
		if s.tx == nil { // a transaction of its own: settings local to it
			if _, err := db.ExecContext(ctx, `SELECT set_config('jit', 'off', true), set_config('random_page_cost', '4', true)`); err != nil {
				return err
			}
		}
		rows, err := db.QueryxContext(ctx, agingStatement, paramValues(agingParams, map[string]any{
			"practice": practiceID, "as_of": *q.AsOf, "basis": string(q.Basis), "lower": pq.Array(lower),
			"group_by": string(q.GroupBy), "provider": q.ProviderID, "location": q.LocationID, "coverage": string(q.Coverage),
			"to_oldest": q.CreditsToOldest, "min_balance": minBal, "max_balance": maxBal, "min_age": q.MinAgeDays,
			"sort": string(q.Sort), "after_k1": afterK1, "after_k2": afterK2, "after_key": afterKey, "limit": q.Page.First + 1,
			"no_key": noKey, "guarantors": guarantors, "no_last_payment": q.NoLastPayment, "from_history": fromHistory})...)
		if err != nil {
			return err
		}
		defer rows.Close()
		return scanAging(rows, &rep, n, q)
	})
	if err != nil {
		return ledger.AgingReport{}, translate(fmt.Errorf("aging: %w", err))
	}

	if len(rep.Rows) > q.Page.First {
		rep.Rows, rep.Cursors, rep.HasNext = rep.Rows[:q.Page.First], rep.Cursors[:q.Page.First], true
	}
	return rep, nil
}

// scanAging reads the aging statement's rows into rep: the summary from the
// first row, then a row per group (an empty page has only the summary).
func scanAging(rows *sqlx.Rows, rep *ledger.AgingReport, n int, q ledger.AgingQuery) error {
	for rows.Next() {
		var (
			sm        ledger.AgingSummary
			st        [ledger.MaxAgingBuckets]ledger.Money
			key       *ledger.ID
			nb        [ledger.MaxAgingBuckets]nullMoney
			total     nullMoney
			ins       nullMoney
			unalloc   nullMoney
			unearned  nullMoney
			credit    nullMoney
			over      nullMoney
			oldest    sql.NullInt64
			k1, k2    sql.NullString
			paidOn    *ledger.Date
			paid      nullMoney
			name      sql.NullString
			summaryOK = len(rep.Summary.Buckets) == 0
		)
		err := rows.Scan(&sm.Accounts, &st[0], &st[1], &st[2], &st[3], &st[4], &st[5], &st[6], &st[7],
			&sm.Total, &sm.InsurancePortion, &sm.Unallocated, &sm.Unearned, &sm.Credit, &sm.Over90,
			&key, &nb[0], &nb[1], &nb[2], &nb[3], &nb[4], &nb[5], &nb[6], &nb[7],
			&total, &ins, &unalloc, &unearned, &credit, &over, &oldest, &k1, &k2, &paidOn, &paid, &name)
		if err != nil {
			return err
		}
		if summaryOK {
			sm.Buckets = append([]ledger.Money(nil), st[:n]...)
			sm.PatientPortion = sm.Total.Sub(sm.InsurancePortion)
			rep.Summary = sm
		}
		if key == nil { // an empty page
			continue
		}
		row := ledger.AgingRow{Key: *key, Name: name.String, Group: q.GroupBy, Total: total.m, InsurancePortion: ins.m,
			PatientPortion: total.m.Sub(ins.m), Unallocated: unalloc.m, Unearned: unearned.m, Credit: credit.m, Over90: over.m,
			OldestBucket: int(oldest.Int64), LastPaymentDate: paidOn}
		if paid.ok {
			row.LastPaymentAmount = &paid.m
		}
		for i := range n {
			row.Buckets = append(row.Buckets, nb[i].m)
		}
		rep.Rows = append(rep.Rows, row)
		rep.Cursors = append(rep.Cursors, ledger.Cursor{Key: ledger.AgingCursor(q.Sort, k1.String, k2.String), ID: *key})
	}
	return rows.Err()
}

// nullMoney scans a nullable numeric.
type nullMoney struct {
	m  ledger.Money
	ok bool
}

func (n *nullMoney) Scan(src any) error {
	if src == nil {
		*n = nullMoney{}
		return nil
	}
	n.ok = true
	return n.m.Scan(src)
}

func (s queries) AgingSettings(ctx context.Context, practiceID ledger.ID) (ledger.AgingSettings, error) {
	const q = `SELECT bucket_limits FROM aging_settings WHERE practice_id = $1`
	var limits pq.Int64Array
	err := s.get(ctx, &limits, q, practiceID)
	if errors.Is(err, sql.ErrNoRows) {
		return ledger.AgingSettings{}, nil
	}
	if err != nil {
		return ledger.AgingSettings{}, translate(err)
	}
	out := ledger.AgingSettings{BucketLimits: make([]int, len(limits))}
	for i, l := range limits {
		out.BucketLimits[i] = int(l)
	}
	return out, nil
}

func (s *txStore) PutAgingSettings(ctx context.Context, practiceID ledger.ID, set ledger.AgingSettings, at time.Time) error {
	if set.BucketLimits == nil {
		_, err := s.exec(ctx, `DELETE FROM aging_settings WHERE practice_id = $1`, practiceID)
		return translate(err)
	}
	const q = `INSERT INTO aging_settings (practice_id, bucket_limits, updated_at) VALUES ($1, $2, $3)
	           ON CONFLICT ON CONSTRAINT aging_settings_pkey DO UPDATE SET bucket_limits = EXCLUDED.bucket_limits, updated_at = EXCLUDED.updated_at`
	limits := make(pq.Int64Array, len(set.BucketLimits))
	for i, l := range set.BucketLimits {
		limits[i] = int64(l)
	}
	_, err := s.exec(ctx, q, practiceID, limits, at)
	return translate(err)
}

// changedFamilies ends a change notification's payload (after the
// practice id and "|| "): ":family,family" when the transaction's changes to
// aging were all to known families, else nothing.
const changedFamilies = `CASE WHEN f IN ('', '*') THEN '' ELSE ':' || f END)
	             FROM coalesce(current_setting('paysplit.aging_families', true), '') AS f`

// NotifyChanged queues a NOTIFY naming the practice; PostgreSQL delivers it
// when the transaction commits (never if it rolls back) and folds identical
// notifications of one transaction into one. When the transaction's changes
// to aging were all to lines and credits of known families (at most 100,
// recorded by the aging triggers in paysplit.aging_families), the payload
// names them after the practice ("practice:family,family"), and the live hub
// re-reads only those families; otherwise it names the practice alone.
func (s *txStore) NotifyChanged(ctx context.Context, practiceID ledger.ID) error {
	const q = `SELECT pg_notify($2, $1::text || ` + changedFamilies
	_, err := s.exec(ctx, q, practiceID, ChangesChannel)
	return translate(err)
}
