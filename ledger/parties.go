package ledger

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on free text, in characters.
const (
	maxName = 200
	maxText = 2000
)

// text checks a single-line free-text field (a name, a code, a key): no
// control characters at all (CheckText), at most max characters, and not
// blank when required.
func text(field, v string, max int, required bool) error {
	return textField(field, v, max, required, false)
}

// noteText checks a multi-line free-text field (a note, a memo): as text, but
// tabs and line breaks are allowed, and it may be empty.
func noteText(field, v string) error { return textField(field, v, maxText, false, true) }

func textField(field, v string, max int, required, multiline bool) error {
	if required && strings.TrimSpace(v) == "" {
		return Invalid(field, "must not be empty")
	}
	if err := CheckText(v, multiline); err != nil {
		return Invalid(field, "%v", err)
	}
	if n := utf8.RuneCountInString(v); n > max {
		return Invalid(field, "is %d characters long; the limit is %d", n, max)
	}
	return nil
}

// CheckText is nil when s is text the ledger takes: valid UTF-8 without
// control characters (NUL, escape, DEL, the C1 range), except that
// multi-line text may hold tabs, line feeds and carriage returns. The API
// applies it, multi-line, to every string a request carries (the String
// scalar); the ledger applies it to each field by kind (text, note).
func CheckText(s string, multiline bool) error {
	if !utf8.ValidString(s) {
		return errors.New("is not valid UTF-8")
	}
	for i, r := range s {
		if unicode.IsControl(r) && !(multiline && (r == '\t' || r == '\n' || r == '\r')) {
			return fmt.Errorf("must not contain control characters (%U at byte %d)", r, i)
		}
	}
	return nil
}

// firstErr returns the first non-nil error.
func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// NewPractice describes a practice to create.
type NewPractice struct {
	Name         string
	RequireBatch bool
}

// CreatePractice creates a practice with its default PREPAYMENT unearned
// type and a hidden TP_PREPAYMENT type, its treatment-plan type. Practices are created by operators
// (CLI, demo), not through the API.
func (l *Ledger) CreatePractice(ctx context.Context, in NewPractice) (Practice, error) {
	if err := text("name", in.Name, maxName, true); err != nil {
		return Practice{}, err
	}
	p := Practice{ID: newID(), Name: strings.TrimSpace(in.Name), RequireBatch: in.RequireBatch, CreatedAt: l.stamp()}
	err := l.store.InTx(ctx, func(tx Tx) error {
		if err := tx.InsertPractice(ctx, p); err != nil {
			return err
		}
		if err := tx.InsertUnearnedType(ctx, p.ID, UnearnedType{ID: newID(), Name: "PREPAYMENT", IsDefault: true}); err != nil {
			return err
		}
		return tx.InsertUnearnedType(ctx, p.ID, UnearnedType{ID: newID(), Name: "TP_PREPAYMENT", Hidden: true, IsTreatmentPlan: true})
	})
	return p, err
}

// NewProvider describes a provider to create.
type NewProvider struct {
	Name           string
	Code           string
	IdempotencyKey string `json:"-"`
}

// CreateProvider adds a provider. Code, if given, is unique in the practice.
func (l *Ledger) CreateProvider(ctx context.Context, a Actor, in NewProvider) (Provider, error) {
	if err := firstErr(text("name", in.Name, maxName, true), text("code", in.Code, maxName, false)); err != nil {
		return Provider{}, err
	}
	id, err := l.mutate(ctx, a, mutation{op: "createProvider", key: in.IdempotencyKey, input: in}, func(tx Tx) (ID, error) {
		p := Provider{ID: newID(), Name: strings.TrimSpace(in.Name), Code: strings.TrimSpace(in.Code), CreatedAt: l.stamp()}
		return p.ID, tx.InsertProvider(ctx, a.PracticeID, p)
	})
	if err != nil {
		return Provider{}, err
	}
	rows, err := l.store.Providers(ctx, a.PracticeID, []ID{id})
	return one(rows, err, "provider", id)
}

// NewLocation describes a location to create.
type NewLocation struct {
	Name           string
	Code           string
	IdempotencyKey string `json:"-"`
}

// CreateLocation adds a location. Code, if given, is unique in the practice.
func (l *Ledger) CreateLocation(ctx context.Context, a Actor, in NewLocation) (Location, error) {
	if err := firstErr(text("name", in.Name, maxName, true), text("code", in.Code, maxName, false)); err != nil {
		return Location{}, err
	}
	id, err := l.mutate(ctx, a, mutation{op: "createLocation", key: in.IdempotencyKey, input: in}, func(tx Tx) (ID, error) {
		loc := Location{ID: newID(), Name: strings.TrimSpace(in.Name), Code: strings.TrimSpace(in.Code), CreatedAt: l.stamp()}
		return loc.ID, tx.InsertLocation(ctx, a.PracticeID, loc)
	})
	if err != nil {
		return Location{}, err
	}
	rows, err := l.store.Locations(ctx, a.PracticeID, []ID{id})
	return one(rows, err, "location", id)
}

// NewGuarantor describes a guarantor (a responsible party who is not
// necessarily a patient) to create.
type NewGuarantor struct {
	Name           string
	ExternalID     string
	IdempotencyKey string `json:"-"`
}

// CreateGuarantor adds a guarantor with no patients yet.
func (l *Ledger) CreateGuarantor(ctx context.Context, a Actor, in NewGuarantor) (Guarantor, error) {
	if err := firstErr(text("name", in.Name, maxName, true), text("externalId", in.ExternalID, maxName, false)); err != nil {
		return Guarantor{}, err
	}
	id, err := l.mutate(ctx, a, mutation{op: "createGuarantor", key: in.IdempotencyKey, input: in}, func(tx Tx) (ID, error) {
		g := Guarantor{ID: newID(), Name: strings.TrimSpace(in.Name), ExternalID: strings.TrimSpace(in.ExternalID), CreatedAt: l.stamp()}
		return g.ID, tx.InsertGuarantor(ctx, a.PracticeID, g)
	})
	if err != nil {
		return Guarantor{}, err
	}
	rows, err := l.store.Guarantors(ctx, a.PracticeID, []ID{id})
	return one(rows, err, "guarantor", id)
}

// NewPatient describes a patient to create. Exactly one of GuarantorID and
// SelfGuarantor is set: SelfGuarantor makes the patient their own guarantor
// (a guarantor is created with the patient's name and GuarantorExternalID).
type NewPatient struct {
	GuarantorID         *ID
	SelfGuarantor       bool
	GuarantorExternalID string
	FirstName           string
	LastName            string
	BirthDate           *Date
	ExternalID          string
	IdempotencyKey      string `json:"-"`
}

// CreatePatient adds a patient to a family, or as their own guarantor.
func (l *Ledger) CreatePatient(ctx context.Context, a Actor, in NewPatient) (Patient, error) {
	err := firstErr(
		text("firstName", in.FirstName, maxName, true),
		text("lastName", in.LastName, maxName, true),
		text("externalId", in.ExternalID, maxName, false),
		text("guarantorExternalId", in.GuarantorExternalID, maxName, false),
	)
	switch {
	case err != nil:
	case in.GuarantorID == nil && !in.SelfGuarantor:
		err = Invalid("guarantorId", "give a guarantorId, or selfGuarantor: true for a patient who is their own guarantor")
	case in.GuarantorID != nil && in.SelfGuarantor:
		err = Invalid("selfGuarantor", "cannot be true when guarantorId is given")
	case in.GuarantorExternalID != "" && !in.SelfGuarantor:
		err = Invalid("guarantorExternalId", "only applies with selfGuarantor: true")
	case in.BirthDate != nil && in.BirthDate.After(l.Today()):
		err = Invalid("birthDate", "is in the future")
	}
	if err != nil {
		return Patient{}, err
	}
	id, err := l.mutate(ctx, a, mutation{op: "createPatient", key: in.IdempotencyKey, input: in}, func(tx Tx) (ID, error) {
		p := Patient{
			ID: newID(), FirstName: strings.TrimSpace(in.FirstName), LastName: strings.TrimSpace(in.LastName),
			BirthDate: in.BirthDate, ExternalID: strings.TrimSpace(in.ExternalID), CreatedAt: l.stamp(),
		}
		if in.SelfGuarantor {
			g := Guarantor{ID: newID(), Name: p.FirstName + " " + p.LastName, ExternalID: strings.TrimSpace(in.GuarantorExternalID),
				SelfPatientID: &p.ID, CreatedAt: p.CreatedAt}
			if err := tx.InsertGuarantor(ctx, a.PracticeID, g); err != nil {
				var in *InputError
				if errors.As(err, &in) && in.Field == "externalId" {
					// The guarantor's external id is guarantorExternalId here.
					return ID{}, Invalid("guarantorExternalId", "%s", in.Message)
				}
				return ID{}, err
			}
			p.GuarantorID = g.ID
		} else {
			rows, err := tx.Guarantors(ctx, a.PracticeID, []ID{*in.GuarantorID})
			if _, err := ref(rows, err, "guarantorId", "guarantor", *in.GuarantorID); err != nil {
				return ID{}, err
			}
			p.GuarantorID = *in.GuarantorID
		}
		return p.ID, tx.InsertPatient(ctx, a.PracticeID, p)
	})
	if err != nil {
		return Patient{}, err
	}
	rows, err := l.store.Patients(ctx, a.PracticeID, []ID{id})
	return one(rows, err, "patient", id)
}
