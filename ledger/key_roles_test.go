package ledger

import (
	"errors"
	"testing"
)

func TestRoleAllows(t *testing.T) {
	for _, tc := range []struct {
		have, need Role
		want       bool
	}{
		{RoleAnalyst, RoleAnalyst, true}, {RoleAnalyst, RoleBiller, false}, {RoleAnalyst, RoleAdmin, false},
		{RoleBiller, RoleAnalyst, true}, {RoleBiller, RoleBiller, true}, {RoleBiller, RoleAdmin, false},
		{RoleAdmin, RoleAnalyst, true}, {RoleAdmin, RoleBiller, true}, {RoleAdmin, RoleAdmin, true},
		{Role(""), RoleAnalyst, false}, {Role("ROOT"), RoleAnalyst, false},
	} {
		if got := tc.have.Allows(tc.need); got != tc.want {
			t.Errorf("%q.Allows(%q) = %v, want %v", tc.have, tc.need, got, tc.want)
		}
	}
	// An operation the table does not list needs BILLER.
	if err := authorize(Actor{Role: RoleAnalyst}, "someNewOperation"); !errors.Is(err, ErrForbidden) {
		t.Errorf("analyst on an unlisted operation: %v", err)
	}
	if err := authorize(Actor{Role: RoleBiller}, "savePolicy"); !errors.Is(err, ErrForbidden) {
		t.Errorf("biller saving a policy: %v", err)
	}
	if err := authorize(Actor{Role: RoleAdmin}, "savePolicy"); err != nil {
		t.Errorf("admin saving a policy: %v", err)
	}
}
