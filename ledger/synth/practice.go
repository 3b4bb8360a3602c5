package synth

import (
	"encoding/binary"
	"math/rand/v2"
	"time"

	"github.com/paysplit/paysplit/ledger"
)

// Practice is a generated practice: every row to load, and what the
// generator computed about it.
type Practice struct {
	Config        Config
	Practice      ledger.Practice
	UnearnedTypes []ledger.UnearnedType // PREPAYMENT (default) and TP_PREPAYMENT (hidden)
	Providers     []ledger.Provider
	Locations     []ledger.Location
	Guarantors    []ledger.Guarantor
	Patients      []ledger.Patient
	Encounters    []ledger.Encounter
	Charges       []ledger.Charge
	Receipts      []ledger.Receipt
	Splits        []ledger.Split

	// Families is each family's balance by guarantor id, computed in Go by
	// the rules the database's balance queries follow.
	Families map[ledger.ID]ledger.Balance
	// Forced lists the charges that a forced split paid beyond what they
	// owed; no other line is ever overpaid.
	Forced []ledger.ID
}

// Counts is how many rows of each table a practice has.
type Counts struct {
	Practices, UnearnedTypes, Providers, Locations, Guarantors, Patients int
	Encounters, Charges, Receipts, Splits                                int
}

// Counts returns the practice's row counts.
func (p *Practice) Counts() Counts {
	return Counts{
		Practices: 1, UnearnedTypes: len(p.UnearnedTypes), Providers: len(p.Providers), Locations: len(p.Locations),
		Guarantors: len(p.Guarantors), Patients: len(p.Patients), Encounters: len(p.Encounters),
		Charges: len(p.Charges), Receipts: len(p.Receipts), Splits: len(p.Splits),
	}
}

// Total is the number of rows.
func (c Counts) Total() int {
	return c.Practices + c.UnearnedTypes + c.Providers + c.Locations + c.Guarantors + c.Patients +
		c.Encounters + c.Charges + c.Receipts + c.Splits
}

// newID returns a UUIDv7 for a row stamped at: its time is at's millisecond
// and its random bits come from rng, so ids are deterministic for a seed and
// roughly ordered by the rows' own timestamps, as the ledger's ids are.
func newID(rng *rand.Rand, at time.Time) ledger.ID {
	var u ledger.ID
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(at.UnixMilli()))
	copy(u[0:6], ms[2:8])
	binary.BigEndian.PutUint64(u[8:16], rng.Uint64())
	r := rng.Uint32()
	u[6] = 0x70 | byte(r>>8)&0x0f // version 7
	u[7] = byte(r)
	u[8] = 0x80 | u[8]&0x3f // RFC 4122 variant
	return u
}

// stampOn returns an instant during business hours on d.
func stampOn(rng *rand.Rand, d ledger.Date) time.Time {
	return d.Time().Add(8*time.Hour + time.Duration(rng.IntN(9*3600*1000))*time.Millisecond)
}
