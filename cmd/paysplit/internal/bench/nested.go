package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// pageSizes are the page sizes of the nested query.
var pageSizes = []int{10, 100, 500}

const nestedQuery = `query Nested($first: Int!) {
  guarantors(first: $first) {
    totalCount
    edges { node {
      id name balance owed credit
      patients {
        id firstName lastName balance owed
        charges {
          id code serviceDate amount owed
          splits { id amount code receipt { id kind amount receivedOn } }
        }
      }
    } }
  }
}`

// nestedBaseline reads the same rows as the nested query (without the
// balances) in one hand-written statement.
const nestedBaseline = `
SELECT json_agg(json_build_object('id', g.id, 'name', g.name, 'patients', (
         SELECT coalesce(json_agg(json_build_object('id', p.id, 'firstName', p.first_name, 'lastName', p.last_name, 'charges', (
                  SELECT coalesce(json_agg(json_build_object('id', c.id, 'code', c.code, 'serviceDate', c.service_date, 'amount', c.amount,
                           'splits', (
                           SELECT coalesce(json_agg(json_build_object('id', s.id, 'amount', s.amount, 'code', s.code, 'receipt',
                                    json_build_object('id', r.id, 'kind', r.kind, 'amount', r.amount, 'receivedOn', r.received_on))
                                    ORDER BY s.id), '[]')
                             FROM splits s JOIN receipts r ON r.practice_id = s.practice_id AND r.id = s.receipt_id
                            WHERE s.practice_id = c.practice_id AND s.charge_id = c.id))
                           ORDER BY c.service_date, c.id), '[]')
                    FROM charges c WHERE c.practice_id = p.practice_id AND c.patient_id = p.id))
                  ORDER BY p.id), '[]')
           FROM patients p WHERE p.practice_id = g.practice_id AND p.guarantor_id = g.id))
       ORDER BY lower(g.name), g.id)
  FROM (SELECT * FROM guarantors WHERE practice_id = $1 ORDER BY lower(name), id LIMIT $2) g`

// nestedQuery measures the nested analyst query at each page size: the
// statements it runs against those at the smallest page, and its latency
// against the hand-written statement.
func (e *env) nestedQuery(ctx context.Context) ([]Result, error) {
	a, err := e.application(ctx)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{}
	var stmtRows, latRows []Result
	var base Figure
	for _, n := range pageSizes {
		var stmts []float64
		var shape string
		var times []statementTime
		samples, err := e.repeat(ctx,
			func(ctx context.Context) (float64, error) {
				a.counter.Times() // start afresh
				t0 := time.Now()
				before := a.counter.Statements()
				got, err := nested(ctx, hc, a, n)
				if err != nil {
					return 0, err
				}
				ms := float64(time.Since(t0).Microseconds()) / 1000
				stmts = append(stmts, float64(a.counter.Statements()-before))
				shape, times = got, a.counter.Times()
				return ms, nil
			},
			func(ctx context.Context) (float64, error) {
				t0 := time.Now()
				var out []byte
				if err := a.store.DB().QueryRowContext(ctx, nestedBaseline, a.practice.Practice.ID, n).Scan(&out); err != nil {
					return 0, err
				}
				return float64(time.Since(t0).Microseconds()) / 1000, nil
			},
		)
		if err != nil {
			return nil, err
		}
		stmts = stmts[e.opt.Warmups:]
		op := figure(fmt.Sprintf("SQL statements the server ran for the nested query, first: %d", n), "statements", stmts)
		if n == pageSizes[0] {
			base = op
			base.What = fmt.Sprintf("SQL statements at first: %d", n)
		}
		r := result(fmt.Sprintf("nested-query statements first=%d", n), e.opt.Size, op, base,
			&target{bound: 1, text: "constant (≤ 1× first=10)"})
		r.Notes = append(r.Notes, shape+"; statement texts sent more than once in the last repetition (one loader's batch split in parts, or two loaders sharing a statement):")
		for _, t := range times {
			if t.Count > 1 {
				r.Notes = append(r.Notes, fmt.Sprintf("  %d× %s", t.Count, abbreviate(t.SQL)))
			}
		}
		stmtRows = append(stmtRows, r)
		lat := result(fmt.Sprintf("nested-query latency first=%d", n), e.opt.Size,
			figure(fmt.Sprintf("nested query over GraphQL/HTTP with balances, first: %d", n), "ms", samples[0]),
			figure("one hand-written SQL statement reading the same rows as JSON, without balances", "ms", samples[1]), nil)
		lat.Notes = statementNotes(times, 1, 5)
		latRows = append(latRows, lat)
	}
	return append(stmtRows, latRows...), nil
}

// nested runs the nested query and describes what it returned.
func nested(ctx context.Context, hc *http.Client, a *app, first int) (string, error) {
	body, err := json.Marshal(map[string]any{"query": nestedQuery, "variables": map[string]any{"first": first}})
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.endpoint, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		Data struct {
			Guarantors struct {
				Edges []struct {
					Node struct {
						Patients []struct {
							Charges []struct {
								Splits []struct {
									Receipt struct{ ID string }
								}
							}
						}
					}
				}
			}
		}
		Errors []struct{ Message string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return "", fmt.Errorf("HTTP %s: %w", resp.Status, err)
	}
	if len(out.Errors) > 0 {
		return "", fmt.Errorf("nested query: %s", out.Errors[0].Message)
	}
	var g, p, c, s int
	for _, e := range out.Data.Guarantors.Edges {
		g++
		for _, pt := range e.Node.Patients {
			p++
			for _, ch := range pt.Charges {
				c++
				s += len(ch.Splits)
			}
		}
	}
	if g == 0 {
		return "", fmt.Errorf("nested query returned no guarantors")
	}
	return fmt.Sprintf("first=%d returned %d guarantors, %d patients, %d charges, %d splits", first, g, p, c, s), nil
}
