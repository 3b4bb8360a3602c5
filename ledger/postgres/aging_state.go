package postgres

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/paysplit/paysplit/ledger"
)

// AgingDrift is how far a practice's maintained aging state (migration
// 00015) is from the state recomputed from history: the number of lines
// and of credit buckets that differ, and whether the horizon is behind the
// ledger's latest date. Zero everywhere means in step.
type AgingDrift struct {
	Lines, Credits int
	HorizonBehind  bool
}

// InStep reports whether the maintained state equals the recomputed one.
func (d AgingDrift) InStep() bool { return d.Lines == 0 && d.Credits == 0 && !d.HorizonBehind }

// AgingRebuild replaces the practice's maintained aging state with one
// computed from history (aging_rebuild), in one transaction. Commits that
// run meanwhile wait for the lines it rewrites and stay counted.
func (s *Store) AgingRebuild(ctx context.Context, practiceID ledger.ID) error {
	_, err := s.exec(ctx, `SELECT aging_rebuild($1)`, practiceID)
	return translate(err)
}

// AgingCheck compares the practice's maintained aging state with a rebuild
// from history, computed in a transaction that is rolled back, so it
// changes nothing.
func (s *Store) AgingCheck(ctx context.Context, practiceID ledger.ID) (AgingDrift, error) {
	const stmt = `
WITH lines AS (SELECT * FROM m_lines EXCEPT SELECT * FROM aging_lines WHERE practice_id = $1
               UNION ALL
               SELECT * FROM aging_lines WHERE practice_id = $1 EXCEPT SELECT * FROM m_lines),
     now_credits AS (SELECT patient_id, provider_id, location_id, unearned_type_id, amount
                       FROM aging_credits WHERE practice_id = $1 AND amount <> 0),
     credits AS (SELECT * FROM m_credits EXCEPT SELECT * FROM now_credits
                 UNION ALL
                 SELECT * FROM now_credits EXCEPT SELECT * FROM m_credits)
SELECT (SELECT count(*) FROM lines), (SELECT count(*) FROM credits),
       coalesce((SELECT horizon FROM m_horizon), '-infinity') <
       coalesce((SELECT horizon FROM aging_horizons WHERE practice_id = $1), '-infinity')`
	var d AgingDrift
	t := &tenantTx{pool: s.pool}
	defer t.end(false) // always rolled back
	if err := t.enter(ctx, practiceID); err != nil {
		return d, translate(err)
	}
	err := func(db sqlx.ExtContext) error {
		// The copies hold the practice's rows only: row-level security
		// shows the transaction no other practice's.
		const copies = `
CREATE TEMP TABLE m_lines ON COMMIT DROP AS SELECT * FROM aging_lines;
CREATE TEMP TABLE m_credits ON COMMIT DROP AS
    SELECT patient_id, provider_id, location_id, unearned_type_id, amount FROM aging_credits WHERE amount <> 0;
CREATE TEMP TABLE m_horizon ON COMMIT DROP AS SELECT horizon FROM aging_horizons`
		if _, err := db.ExecContext(ctx, copies); err != nil {
			return err
		}
		if _, err := db.ExecContext(ctx, `SELECT aging_rebuild($1)`, practiceID); err != nil {
			return err
		}
		return db.QueryRowxContext(ctx, stmt, practiceID).Scan(&d.Lines, &d.Credits, &d.HorizonBehind)
	}(t.tx)
	if err != nil {
		return AgingDrift{}, translate(fmt.Errorf("aging check: %w", err))
	}
	return d, nil
}
