package rules

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrRejected is wrapped by every *RejectedError.
	ErrRejected = errors.New("rules: plan rejected")
	// ErrUnknownParam is wrapped by a *ParamError for a param the policy
	// does not declare.
	ErrUnknownParam = errors.New("unknown param")
	// ErrParamValue is wrapped by a *ParamError for a value that does not
	// parse as the param's declared type.
	ErrParamValue = errors.New("bad param value")
	// ErrInvalidInput is wrapped by errors about a malformed Input: an amount
	// with more than two decimal places, a request naming an unknown charge or
	// credit, a missing as-of date, and the like.
	ErrInvalidInput = errors.New("rules: invalid input")
)

// CompileError is one problem in a policy document.
type CompileError struct {
	// Path names the expression or field, e.g. "stages[2].match".
	Path string
	// Line and Column locate the problem in the document (1-based); 0 when
	// unknown.
	Line, Column int
	// ExprLine and ExprColumn locate it inside the expression (1-based); 0
	// for problems that are not in an expression.
	ExprLine, ExprColumn int
	// Message is the problem, as expr or the vetter reports it.
	Message string
	// Snippet is the offending line of the expression with a caret under
	// the column, in expr's format ("\n | line\n | ....^"); empty when there
	// is no expression.
	Snippet string
}

func (e *CompileError) Error() string {
	var b strings.Builder
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	if e.Line > 0 {
		fmt.Fprintf(&b, " (%d:%d)", e.Line, e.Column)
	}
	b.WriteString(e.Snippet)
	return b.String()
}

// CompileErrors is every problem found in a document, in document order.
type CompileErrors []*CompileError

func (es CompileErrors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap lets errors.As find the individual *CompileError values.
func (es CompileErrors) Unwrap() []error {
	errs := make([]error, len(es))
	for i, e := range es {
		errs[i] = e
	}
	return errs
}

// ParamError is a request param override the policy cannot accept. Err is
// ErrUnknownParam or wraps ErrParamValue.
type ParamError struct {
	Name  string
	Value string
	Err   error
}

func (e *ParamError) Error() string {
	return fmt.Sprintf("rules: param %q = %q: %v", e.Name, e.Value, e.Err)
}

func (e *ParamError) Unwrap() error { return e.Err }

// RejectedError is a plan refused by the policy: a requirement that a
// proposed split failed, or a leftover rule with `to: refuse`.
type RejectedError struct {
	// Requirement is the requirement's name, or "leftover[i]" for a leftover
	// rule.
	Requirement string
	// Message is the requirement's message.
	Message string
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("rules: rejected by %s: %s", e.Requirement, e.Message)
}

func (e *RejectedError) Unwrap() error { return ErrRejected }

// EvalError is an expression that failed while planning, such as an index
// out of range. Compile-time checks make it rare.
type EvalError struct {
	Path string
	Err  error
}

func (e *EvalError) Error() string { return fmt.Sprintf("rules: %s: %v", e.Path, e.Err) }

func (e *EvalError) Unwrap() error { return e.Err }

func invalidInput(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidInput, fmt.Sprintf(format, args...))
}
