package rules

import (
	"fmt"
	"reflect"

	"github.com/expr-lang/expr"
	"github.com/shopspring/decimal"
)

// The planner keeps money in integer cents: exact, and cheap to add and
// compare. Amounts enter as decimal.Decimal with at most two places and leave
// as decimal.Decimal with exponent -2.

// maxCents bounds amounts so that sums of a family's amounts cannot overflow.
const maxCents = 1e15

var decimalType = reflect.TypeOf(decimal.Decimal{})

// toCents converts d to cents. It fails if d has more than two decimal
// places or is absurdly large.
func toCents(d decimal.Decimal) (int64, error) {
	s := d.Shift(2)
	if !s.Equal(s.Truncate(0)) {
		return 0, fmt.Errorf("%s has more than two decimal places", d)
	}
	if s.Abs().GreaterThan(decimal.NewFromInt(maxCents)) {
		return 0, fmt.Errorf("%s is too large", d)
	}
	return s.IntPart(), nil
}

// truncCents converts d to cents, truncating any further places toward zero.
// It is used for amounts computed by expressions (caps, spendable amounts).
func truncCents(d decimal.Decimal) int64 {
	s := d.Shift(2).Truncate(0)
	switch {
	case s.GreaterThan(decimal.NewFromInt(maxCents)):
		return maxCents
	case s.LessThan(decimal.NewFromInt(-maxCents)):
		return -maxCents
	}
	return s.IntPart()
}

// zeroMoney is shared: decimals are immutable values.
var zeroMoney = decimal.New(0, -2)

// fromCents returns c cents as a decimal with two places.
func fromCents(c int64) decimal.Decimal {
	if c == 0 {
		return zeroMoney
	}
	return decimal.New(c, -2)
}

// asDecimal converts an operand of a money function: a decimal or an int
// literal.
func asDecimal(v any) decimal.Decimal {
	switch x := v.(type) {
	case decimal.Decimal:
		return x
	case int:
		return decimal.NewFromInt(int64(x))
	case int64:
		return decimal.NewFromInt(x)
	}
	panic(fmt.Sprintf("money operand of type %T", v))
}

type (
	dd   = func(decimal.Decimal, decimal.Decimal) decimal.Decimal
	di   = func(decimal.Decimal, int) decimal.Decimal
	id   = func(int, decimal.Decimal) decimal.Decimal
	ddb  = func(decimal.Decimal, decimal.Decimal) bool
	dib  = func(decimal.Decimal, int) bool
	idb  = func(int, decimal.Decimal) bool
	unop = func(decimal.Decimal) decimal.Decimal
)

// arith is a money operator whose result is bounded (boundMoney).
func arith(name string, f func(a, b decimal.Decimal) decimal.Decimal) expr.Option {
	return expr.Function(name, func(p ...any) (any, error) {
		d, ol := boundMoney(f(asDecimal(p[0]), asDecimal(p[1])))
		if ol != nil {
			return nil, ol
		}
		return d, nil
	}, new(dd), new(di), new(id))
}

func compare(name string, f func(c int) bool) expr.Option {
	return expr.Function(name, func(p ...any) (any, error) {
		return f(asDecimal(p[0]).Cmp(asDecimal(p[1]))), nil
	}, new(ddb), new(dib), new(idb))
}

// moneyOptions are the expr options that make decimal.Decimal behave as money:
// the arithmetic and comparison operators, unary minus (through the vetting
// patcher, which rewrites it to decNeg), and the helpers least and greatest.
// Division is deliberately absent: it would need a rounding rule. They also
// bound + between strings (strAdd).
var moneyOptions = []expr.Option{
	expr.Function("strAdd", func(p ...any) (any, error) {
		s, err := strAdd(p[0].(string), p[1].(string))
		if err != nil {
			return nil, err
		}
		return s, nil
	}, new(func(string, string) string)),
	arith("decAdd", decimal.Decimal.Add),
	arith("decSub", decimal.Decimal.Sub),
	arith("decMul", decimal.Decimal.Mul),
	compare("decLt", func(c int) bool { return c < 0 }),
	compare("decLe", func(c int) bool { return c <= 0 }),
	compare("decGt", func(c int) bool { return c > 0 }),
	compare("decGe", func(c int) bool { return c >= 0 }),
	compare("decEq", func(c int) bool { return c == 0 }),
	compare("decNe", func(c int) bool { return c != 0 }),
	expr.Function("decNeg", func(p ...any) (any, error) { return asDecimal(p[0]).Neg(), nil }, new(unop)),
	expr.Function("least", func(p ...any) (any, error) {
		return decimal.Min(asDecimal(p[0]), asDecimal(p[1])), nil
	}, new(dd)),
	expr.Function("greatest", func(p ...any) (any, error) {
		return decimal.Max(asDecimal(p[0]), asDecimal(p[1])), nil
	}, new(dd)),
	expr.Operator("+", "decAdd", "strAdd"),
	expr.Operator("-", "decSub"),
	expr.Operator("*", "decMul"),
	expr.Operator("<", "decLt"),
	expr.Operator("<=", "decLe"),
	expr.Operator(">", "decGt"),
	expr.Operator(">=", "decGe"),
	expr.Operator("==", "decEq"),
	expr.Operator("!=", "decNe"),
}

// dec is the money literal function: dec("12.50"). The vetting patcher only
// accepts a string literal argument, so every call is folded at compile time
// (expr.ConstExpr) and never runs during planning.
func dec(s string) decimal.Decimal {
	d, err := decimal.NewFromString(s)
	if err != nil {
		panic(fmt.Sprintf("dec(%q): not a decimal number", s))
	}
	return d
}
