package ledger

import (
	"context"
	"strings"
)

// Unearned types a practice manages (docs/credits.md, "Unearned types"):
// create, rename, show or hide, and choose the default type (where
// leftovers and prepayments go; always visible) and the treatment-plan type
// (prepayments for planned work). ADMIN's, like the practice's other
// settings. Types are never deleted: splits name them.

// NewUnearnedType describes an unearned type to create.
type NewUnearnedType struct {
	Name   string
	Hidden bool
	// IsDefault and IsTreatmentPlan give the new type that role, taking it
	// from the type that had it.
	IsDefault       bool
	IsTreatmentPlan bool
	IdempotencyKey  string `json:"-"`
}

// UnearnedTypeUpdate changes a type; nil fields stay as they are.
type UnearnedTypeUpdate struct {
	ID     ID
	Name   *string
	Hidden *bool
	// IsDefault true makes the type the default; false is refused while it
	// is the default (choose another type instead).
	IsDefault *bool
	// IsTreatmentPlan true makes the type the treatment-plan type; false
	// leaves the practice without one.
	IsTreatmentPlan *bool
	IdempotencyKey  string `json:"-"`
}

// CreateUnearnedType adds an unearned type. Names are unique in the
// practice; a hidden type cannot be the default.
func (l *Ledger) CreateUnearnedType(ctx context.Context, a Actor, in NewUnearnedType) (UnearnedType, error) {
	if err := text("name", in.Name, maxName, true); err != nil {
		return UnearnedType{}, err
	}
	u := UnearnedType{ID: newID(), Name: strings.TrimSpace(in.Name), Hidden: in.Hidden}
	if err := checkUnearnedRoles(u, in.IsDefault); err != nil {
		return UnearnedType{}, err
	}
	id, err := l.mutate(ctx, a, mutation{op: "createUnearnedType", key: in.IdempotencyKey, input: in}, func(tx Tx) (ID, error) {
		if err := tx.InsertUnearnedType(ctx, a.PracticeID, u); err != nil {
			return ID{}, err
		}
		u.IsDefault, u.IsTreatmentPlan = in.IsDefault, in.IsTreatmentPlan
		if !u.IsDefault && !u.IsTreatmentPlan {
			return u.ID, nil
		}
		return u.ID, tx.UpdateUnearnedType(ctx, a.PracticeID, u)
	})
	if err != nil {
		return UnearnedType{}, err
	}
	return l.unearnedType(ctx, a.PracticeID, id)
}

// UpdateUnearnedType renames a type, shows or hides it, or gives it the
// default or treatment-plan role.
func (l *Ledger) UpdateUnearnedType(ctx context.Context, a Actor, in UnearnedTypeUpdate) (UnearnedType, error) {
	if in.Name != nil {
		if err := text("name", *in.Name, maxName, true); err != nil {
			return UnearnedType{}, err
		}
	}
	id, err := l.mutate(ctx, a, mutation{op: "updateUnearnedType", key: in.IdempotencyKey, input: in}, func(tx Tx) (ID, error) {
		types, err := tx.UnearnedTypes(ctx, a.PracticeID)
		if err != nil {
			return ID{}, err
		}
		u, ok := byID(types, func(u UnearnedType) ID { return u.ID })[in.ID]
		if !ok {
			return ID{}, Invalid("id", "no unearned type with id %s", in.ID)
		}
		if in.IsDefault != nil && !*in.IsDefault && u.IsDefault {
			return ID{}, Invalid("isDefault", "the practice needs a default type: make another type the default instead")
		}
		if in.Name != nil {
			u.Name = strings.TrimSpace(*in.Name)
		}
		if in.Hidden != nil {
			u.Hidden = *in.Hidden
		}
		def, tp := u.IsDefault || in.IsDefault != nil && *in.IsDefault, u.IsTreatmentPlan
		if in.IsTreatmentPlan != nil {
			tp = *in.IsTreatmentPlan
		}
		if err := checkUnearnedRoles(u, def); err != nil {
			return ID{}, err
		}
		u.IsDefault, u.IsTreatmentPlan = def, tp
		return u.ID, tx.UpdateUnearnedType(ctx, a.PracticeID, u)
	})
	if err != nil {
		return UnearnedType{}, err
	}
	return l.unearnedType(ctx, a.PracticeID, id)
}

// checkUnearnedRoles refuses a hidden default type: leftovers and
// prepayments land on the default, and a credit there must show.
func checkUnearnedRoles(u UnearnedType, isDefault bool) error {
	if isDefault && u.Hidden {
		if u.IsDefault {
			return Invalid("hidden", "the default type is shown on the account; make another type the default first")
		}
		return Invalid("isDefault", "a hidden type cannot be the default: leftovers and prepayments land there and must show")
	}
	return nil
}

// unearnedType reads one type of the practice.
func (l *Ledger) unearnedType(ctx context.Context, pid, id ID) (UnearnedType, error) {
	types, err := l.store.UnearnedTypes(ctx, pid)
	if err != nil {
		return UnearnedType{}, err
	}
	rows := []UnearnedType{}
	if u, ok := byID(types, func(u UnearnedType) ID { return u.ID })[id]; ok {
		rows = append(rows, u)
	}
	return one(rows, nil, "unearned type", id)
}
