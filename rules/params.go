package rules

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"

	"github.com/shopspring/decimal"
)

// paramType is the declared type of a param.
type paramType string

const (
	paramBool   paramType = "bool"
	paramMoney  paramType = "money"
	paramString paramType = "string"
)

func (t paramType) goType() reflect.Type {
	switch t {
	case paramBool:
		return reflect.TypeOf(false)
	case paramMoney:
		return decimalType
	}
	return reflect.TypeOf("")
}

// param is a declared param with its typed default.
type param struct {
	name string
	typ  paramType
	def  any // bool, decimal.Decimal or string
}

var paramName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// parseDefault checks and normalizes a default as decoded from YAML or JSON.
func (t paramType) parseDefault(v any) (any, error) {
	switch t {
	case paramBool:
		switch x := v.(type) {
		case nil:
			return false, nil
		case bool:
			return x, nil
		}
		return nil, fmt.Errorf("default must be true or false, not %v", v)
	case paramMoney:
		switch x := v.(type) {
		case nil:
			return decimal.Zero, nil
		case string:
			d, err := decimal.NewFromString(x)
			if err != nil {
				return nil, fmt.Errorf("default %q is not a decimal amount", x)
			}
			return moneyParam(d, "default ")
		case int, int64, uint64:
			return moneyParam(decimal.RequireFromString(fmt.Sprint(x)), "default ")
		}
		return nil, fmt.Errorf("a money default must be a quoted decimal such as \"12.50\", not %v (%T)", v, v)
	case paramString:
		switch x := v.(type) {
		case nil:
			return "", nil
		case string:
			return x, nil
		}
		return nil, fmt.Errorf("default must be a string, not %v", v)
	}
	return nil, fmt.Errorf("unknown type %q (want bool, money or string)", string(t))
}

// parseValue parses a request override given as text.
func (t paramType) parseValue(s string) (any, error) {
	switch t {
	case paramBool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, errors.New("want true or false")
		}
		return b, nil
	case paramMoney:
		d, err := decimal.NewFromString(s)
		if err != nil {
			return nil, errors.New("want a decimal amount")
		}
		return moneyParam(d, "")
	}
	return s, nil
}

// moneyParam checks a money param's value (at most two places, within the
// planner's range) and returns it with exactly two places.
func moneyParam(d decimal.Decimal, prefix string) (any, error) {
	c, err := toCents(d)
	if err != nil {
		return nil, fmt.Errorf("%s%w", prefix, err)
	}
	return fromCents(c), nil
}

// paramValues builds the params struct of one plan: defaults, then
// overrides. An override naming no declared param is a *ParamError wrapping
// ErrUnknownParam; a value that does not parse wraps ErrParamValue.
func (p *Policy) paramValues(overrides map[string]string) (reflect.Value, error) {
	v := reflect.New(p.layout.params)
	for i, prm := range p.params {
		v.Elem().Field(i).Set(reflect.ValueOf(prm.def))
	}
	for _, name := range slices.Sorted(maps.Keys(overrides)) {
		i, ok := p.layout.index[name]
		if !ok {
			return reflect.Value{}, &ParamError{Name: name, Value: overrides[name], Err: ErrUnknownParam}
		}
		val, err := p.params[i].typ.parseValue(overrides[name])
		if err != nil {
			return reflect.Value{}, &ParamError{Name: name, Value: overrides[name], Err: fmt.Errorf("%w: %v", ErrParamValue, err)}
		}
		v.Elem().Field(i).Set(reflect.ValueOf(val))
	}
	return v, nil
}

// CheckParams reports whether overrides name only declared params with
// values of the declared types. It returns the same errors as Plan would.
func (p *Policy) CheckParams(overrides map[string]string) error {
	_, err := p.paramValues(overrides)
	return err
}
