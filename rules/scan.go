package rules

import (
	"bytes"
	"cmp"
	"fmt"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"
)

// preScan refuses, in one pass over the bytes and before any YAML parsing,
// the documents that would make parsing expensive: one larger than
// MaxDocumentBytes, one whose collections nest deeper than MaxDocumentDepth
// (the parser's cost grows with the square of the depth), and one with an
// alias (*name), which the decoder expands: a few hundred bytes of nested
// aliases decode to billions of values. A policy needs neither.
func preScan(src []byte) *CompileError {
	if len(src) > MaxDocumentBytes {
		return &CompileError{Message: fmt.Sprintf("the document is %d bytes; the limit is %d", len(src), MaxDocumentBytes)}
	}
	s := yamlScan{block: -1}
	for n, line := range bytes.Split(src, []byte("\n")) {
		if msg, col := s.line(bytes.TrimSuffix(line, []byte("\r"))); msg != "" {
			return &CompileError{Message: msg, Line: n + 1, Column: col}
		}
	}
	return nil
}

// yamlScan estimates, line by line, how deep a YAML (or JSON) document's
// collections nest: open block indentations, sequence entries opened on the
// line ("- - x"), and open flow collections ([ and {). It skips quoted
// scalars, block scalars (| and >) and comments, and counts a bracket only
// where a value starts, so the brackets of an expression written as a
// plain scalar do not count. It errs on the deep side.
type yamlScan struct {
	indents []int // indentation of each open block level
	flow    int   // open flow collections
	quote   byte  // the quote of a scalar still open at the end of a line
	block   int   // a block scalar's content is indented more than this; -1: none
	value   bool  // a value may start here
}

// line scans one line; it returns a message and a 1-based column for the
// first problem.
func (s *yamlScan) line(l []byte) (string, int) {
	ind := 0
	for ind < len(l) && l[ind] == ' ' {
		ind++
	}
	rest := bytes.TrimSpace(l[ind:])
	if s.block >= 0 {
		if len(rest) == 0 || ind > s.block {
			return "", 0
		}
		s.block = -1
	}
	if s.quote == 0 && s.flow == 0 {
		if len(rest) == 0 || rest[0] == '#' {
			return "", 0
		}
		for len(s.indents) > 0 && s.indents[len(s.indents)-1] > ind {
			s.indents = s.indents[:len(s.indents)-1]
		}
		if len(s.indents) == 0 || s.indents[len(s.indents)-1] < ind {
			s.indents = append(s.indents, ind)
		}
		s.value = true
	}
	entries, key := 0, ind // sequence entries opened on this line; where its key starts
	for i := ind; i < len(l); i++ {
		c := l[i]
		if s.quote != 0 {
			switch {
			case s.quote == '"' && c == '\\':
				i++
			case s.quote == '\'' && c == '\'' && i+1 < len(l) && l[i+1] == '\'':
				i++
			case c == s.quote:
				s.quote, s.value = 0, false
			}
			continue
		}
		spaceAfter := i+1 == len(l) || l[i+1] == ' ' || l[i+1] == '\t'
		switch {
		case c == ' ' || c == '\t':
		case c == '#' && (i == 0 || l[i-1] == ' ' || l[i-1] == '\t'):
			return "", 0 // a comment to the end of the line
		case s.value && c == '*':
			return "aliases (*name) are not allowed in a policy document", i + 1
		case s.value && (c == '&' || c == '!'): // an anchor or a tag before the value
			for i+1 < len(l) && l[i+1] != ' ' && l[i+1] != '\t' {
				i++
			}
		case s.value && (c == '"' || c == '\''):
			s.quote = c
			if key < 0 {
				key = i
			}
		case s.value && s.flow == 0 && (c == '|' || c == '>'):
			s.block = key
			return "", 0
		case (s.value || s.flow > 0) && (c == '[' || c == '{'):
			s.flow++
			s.value = true
			if d := len(s.indents) + entries + s.flow; d > MaxDocumentDepth {
				return fmt.Sprintf("the document nests deeper than %d levels", MaxDocumentDepth), i + 1
			}
		case s.flow > 0 && (c == ']' || c == '}'):
			s.flow--
			s.value = false
		case s.flow > 0 && c == ',':
			s.value = true
		case c == ':' && (spaceAfter || s.flow > 0):
			s.value = true
		case s.value && s.flow == 0 && (c == '-' || c == '?') && spaceAfter:
			entries++
			key = -1
			if d := len(s.indents) + entries; d > MaxDocumentDepth {
				return fmt.Sprintf("the document nests deeper than %d levels", MaxDocumentDepth), i + 1
			}
		default:
			if key < 0 {
				key = i
			}
			s.value = false
		}
	}
	return "", 0
}

// badRune returns the first control character (other than tab, newline and
// carriage return) or invalid UTF-8 byte in s, and its byte offset; ok is
// false when there is none.
func badRune(s string) (r rune, at int, ok bool) {
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], string(utf8.RuneError)):
			return r, i, true
		case unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r':
			return r, i, true
		}
	}
	return 0, 0, false
}

func badRuneMessage(r rune) string {
	if r == utf8.RuneError {
		return "the document is not valid UTF-8"
	}
	return fmt.Sprintf("control character %U is not allowed", r)
}

// controlText finds the first string of the decoded document (a value or a
// map key, escapes decoded) holding a control character, and names it by
// its path.
func controlText(v reflect.Value, path string, pos *positions) *CompileError {
	switch v.Kind() {
	case reflect.String:
		if r, _, bad := badRune(v.String()); bad {
			ce := &CompileError{Path: path, Message: badRuneMessage(r)}
			ce.Line, ce.Column = pos.node(path)
			return ce
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return controlText(v.Elem(), path, pos)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if ce := controlText(v.Index(i), fmt.Sprintf("%s[%d]", path, i), pos); ce != nil {
				return ce
			}
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			p := joinPath(path, fmt.Sprint(iter.Key().Interface()))
			if ce := controlText(iter.Key(), p, pos); ce != nil {
				return ce
			}
			if ce := controlText(iter.Value(), p, pos); ce != nil {
				return ce
			}
		}
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if ce := controlText(v.Field(i), joinPath(path, cmp.Or(name, f.Name)), pos); ce != nil {
				return ce
			}
		}
	}
	return nil
}

// controlSource finds a control character or invalid UTF-8 anywhere in the
// source, comments included (the source is stored as written).
func controlSource(src []byte) *CompileError {
	r, at, bad := badRune(string(src))
	if !bad {
		return nil
	}
	before := src[:at]
	line := bytes.Count(before, []byte("\n")) + 1
	col := utf8.RuneCount(before[bytes.LastIndexByte(before, '\n')+1:]) + 1
	return &CompileError{Message: badRuneMessage(r), Line: line, Column: col}
}
