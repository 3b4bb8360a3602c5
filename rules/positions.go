package rules

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// positions maps paths in a policy document ("stages[2].match") to where
// their values are in the source, so that an error inside an expression can
// be reported at its document line and column.
type positions struct {
	lines []string
	at    map[string]scalarPos
}

type scalarPos struct {
	line, col int  // of the value's first character (1-based)
	block     byte // '|' literal block, '>' folded block, 0 otherwise
	quote     byte // '"' or '\'' for quoted scalars
}

func newPositions(src []byte, f *ast.File) *positions {
	ps := &positions{lines: strings.Split(string(src), "\n"), at: map[string]scalarPos{}}
	if f != nil && len(f.Docs) > 0 && f.Docs[0].Body != nil {
		ps.walk("", f.Docs[0].Body)
	}
	return ps
}

func (ps *positions) walk(path string, n ast.Node) {
	switch x := n.(type) {
	case *ast.MappingNode:
		ps.record(path, n)
		for _, v := range x.Values {
			ps.walk(joinPath(path, v.Key.GetToken().Value), v.Value)
		}
	case *ast.MappingValueNode:
		ps.walk(joinPath(path, x.Key.GetToken().Value), x.Value)
	case *ast.SequenceNode:
		ps.record(path, n)
		for i, v := range x.Values {
			ps.walk(fmt.Sprintf("%s[%d]", path, i), v)
		}
	case *ast.AnchorNode:
		ps.walk(path, x.Value)
	case *ast.TagNode:
		ps.walk(path, x.Value)
	case *ast.LiteralNode:
		tk := x.GetToken()
		sp := scalarPos{line: tk.Position.Line + 1, col: 1, block: '|'}
		if tk.Type == token.FoldedType {
			sp.block = '>'
		}
		if sp.line-1 < len(ps.lines) {
			l := ps.lines[sp.line-1]
			sp.col = len(l) - len(strings.TrimLeft(l, " \t")) + 1
		}
		ps.at[path] = sp
	default:
		ps.record(path, n)
	}
}

func (ps *positions) record(path string, n ast.Node) {
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return
	}
	sp := scalarPos{line: tk.Position.Line, col: tk.Position.Column}
	switch tk.Type {
	case token.DoubleQuoteType:
		sp.col, sp.quote = sp.col+1, '"'
	case token.SingleQuoteType:
		sp.col, sp.quote = sp.col+1, '\''
	}
	if _, ok := ps.at[path]; !ok {
		ps.at[path] = sp
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// node returns the document position of the value at path, or of its
// nearest recorded ancestor; 0, 0 if none.
func (ps *positions) node(path string) (line, col int) {
	if ps == nil {
		return 0, 0
	}
	for p := path; p != ""; p = parentPath(p) {
		if sp, ok := ps.at[p]; ok {
			return sp.line, sp.col
		}
	}
	return 0, 0
}

func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

// locate maps a 1-based position inside the expression at path to the
// document. A literal block (|) maps line for line. Plain, quoted and folded
// (>) scalars fold their source lines into one line joined by spaces; the
// mapping follows the folds. Escapes in double-quoted scalars shift columns,
// so those are approximate.
func (ps *positions) locate(path string, exprLine, exprCol int) (line, col int) {
	if ps == nil {
		return 0, 0
	}
	sp, ok := ps.at[path]
	if !ok {
		return ps.node(path)
	}
	if sp.block == '|' {
		return sp.line + exprLine - 1, sp.col + exprCol - 1
	}
	if exprLine > 1 {
		return sp.line, sp.col
	}
	line, col = sp.line, sp.col
	off := exprCol - 1
	for {
		if line-1 >= len(ps.lines) {
			return line, col
		}
		text := ps.lines[line-1]
		start := byteOffset(text, col-1)
		seg := strings.TrimRight(text[start:], " \t\r")
		if sp.quote != 0 {
			// Walk the raw text, counting an escape as one character.
			raw, n := unescapedPrefix(seg, off, sp.quote)
			if n == off || line >= len(ps.lines) {
				return line, col + raw
			}
			off -= n + 1
		} else {
			n := utf8.RuneCountInString(seg)
			if off <= n || line >= len(ps.lines) {
				return line, col + off
			}
			off -= n + 1
		}
		line++
		next := ps.lines[line-1]
		col = len(next) - len(strings.TrimLeft(next, " \t")) + 1
	}
}

// byteOffset returns the byte offset of the rune at index r of s, or len(s).
func byteOffset(s string, r int) int {
	for i := range s {
		if r == 0 {
			return i
		}
		r--
	}
	return len(s)
}

// unescapedPrefix walks the raw text of a quoted scalar until it has seen n
// decoded characters (or the closing quote, or the end of the line). It
// returns how many raw characters that took and how many decoded characters
// it saw.
func unescapedPrefix(raw string, n int, quote byte) (rawCount, seen int) {
	rs := []rune(raw)
	i := 0
	for seen < n && i < len(rs) {
		switch {
		case quote == '"' && rs[i] == '\\':
			i += escapeLen(rs[i:])
		case quote == '\'' && rs[i] == '\'' && i+1 < len(rs) && rs[i+1] == '\'':
			i += 2
		case rs[i] == rune(quote):
			return i, seen
		default:
			i++
		}
		seen++
	}
	return i, seen
}

// escapeLen is the raw length of the double-quoted escape at the start of
// rs.
func escapeLen(rs []rune) int {
	if len(rs) < 2 {
		return 1
	}
	switch rs[1] {
	case 'x':
		return min(4, len(rs))
	case 'u':
		return min(6, len(rs))
	case 'U':
		return min(10, len(rs))
	}
	return 2
}
