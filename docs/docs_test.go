// Package docs holds paysplit's documentation. Its test keeps the code
// honest about it: every document a comment, a policy or a page cites must be
// one git tracks, and every section it cites must exist.
package docs

import (
	"bytes"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

var (
	// A document cited by path, with the sections cited after it:
	// "docs/allocation.md §3.4", "design.md §5, §7", "[rules](rules.md#x) §2".
	citeRe = regexp.MustCompile(`([A-Za-z0-9_./-]*[A-Za-z0-9_-])\.md\b(?:#[\w-]*)?\)?(` + sectionList + `)?`)
	// Sections cited on their own: "§3.4 step 4", "§2.1–2.3".
	bareRe = regexp.MustCompile(sectionList)
	numRe  = regexp.MustCompile(sectionNum)
	// A heading that numbers its section: "## 3. Operations", "### 3.4 FIFO".
	headingRe  = regexp.MustCompile(`^#+\s+(\d+(?:\.\d+)*)\.?\s`)
	linkTextRe = regexp.MustCompile(`\[[^\]]*\]\(`)
	urlRe      = regexp.MustCompile(`[a-z][a-z0-9+.-]*://[^\s)>"'\x60]+`)
	// Sources that live outside the repository, named without a path of
	// ours, with any sections cited after them.
	outsideRe = regexp.MustCompile(`(?i)(\bseeds?\s+0\d\d\b|\bseeds/|/work/shared|credits-aging-import(?:\.md)?|allocation-rules\.md|style-anchors(?:\.md)?)(` + sectionList + `)?`)
)

const (
	sectionNum   = `\d+(?:\.\d+)*`
	sectionRange = `§\s?` + sectionNum + `(?:\s?[–-]\s?` + sectionNum + `)?`
	sectionSep   = `(?:\s*,\s*(?:and\s+|or\s+)?|\s+and\s+|\s+or\s+|\s*;\s*)`
	sectionList  = `,?\s*` + sectionRange + `(?:` + sectionSep + sectionRange + `)*`
)

// TestCitations fails when a tracked file cites a document git does not
// track, a section its document does not have, or a source that lives
// outside the repository.
func TestCitations(t *testing.T) {
	root, files := trackedFiles(t)
	contents := map[string][]byte{}
	for _, f := range files {
		if f == "docs/docs_test.go" {
			continue // its fixtures cite documents that exist only in them
		}
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f)))
		if err != nil {
			continue // deleted in the working tree, not yet in the index
		}
		contents[f] = b
	}
	for _, p := range checkCitations(contents) {
		t.Error(p)
	}
}

// TestCitationsCatchBadOnes runs the check over a small tree of bad
// citations, so that a check that quietly stopped matching fails too.
func TestCitationsCatchBadOnes(t *testing.T) {
	design := "DES" + "IGN.md" // in two parts, so that a search for the name finds only real citations
	tree := map[string][]byte{
		"docs/good.md": []byte("# Good\n\n## 1. One\n\n### 1.2 Two\n\nSee §1.2 and [other](other.md).\n"),
		"docs/other.md": []byte("# Other\n\n## 3. Three\n\nBack to [good](good.md) §1, §1.2.\n\n```yaml\n" +
			"# (docs/good.md §1.2)\nx: 1 # §1.2 step 4\n```\n"),
		"ledger/ok.go":      []byte("// As docs/good.md §1.2 says; also §1 and docs/other.md §3.\npackage ledger\n"),
		"ledger/a.go":       []byte("// Invariants (" + design + " §3).\npackage ledger\n"),
		"ledger/b.go":       []byte("// FIFO (docs/good.md §9.9).\npackage ledger\n"),
		"ledger/c.go":       []byte("// The generated ledger keeps the invariants (§3).\npackage ledger\n"),
		"ledger/d.go":       []byte("// Force apply (seed " + "002).\npackage ledger\n"),
		"rules/p.yaml":      []byte("# rigorous (docs/good.md §1, §4).\nname: x\n"),
		"docs/third.md":     []byte("# Third\n\nSee credits-aging" + "-import §1.6 and [x](missing.md), and §2.\n"),
		"README.md":         []byte("See https://example.com/x/" + design + ", [good.md](docs/good.md) and [x](" + design + ").\n"),
		"docs/img.png":      []byte("\x00\x01 " + design),
		"rules/range.yaml":  []byte("# docs/good.md §1–1.2, and §1.2–9.\n"),
		"ledger/ok_test.go": []byte("// docs/other.md §3: fine.\npackage ledger\n"),
	}
	got := checkCitations(tree)
	want := []string{
		"README.md:1: cites " + design + ", which git does not track",
		"docs/third.md:3: cites credits-aging-import, which lives outside the repository",
		"docs/third.md:3: cites missing.md, which git does not track",
		"docs/third.md:3: cites §2, which docs/third.md does not have",
		"ledger/a.go:1: cites " + design + ", which git does not track",
		"ledger/b.go:1: cites §9.9, which docs/good.md does not have",
		"ledger/c.go:1: cites §3 without naming the document",
		"ledger/d.go:1: cites seed 002, which lives outside the repository",
		"rules/p.yaml:1: cites §4, which docs/good.md does not have",
		"rules/range.yaml:1: cites §9, which docs/good.md does not have",
	}
	if !slices.Equal(got, want) {
		t.Errorf("checkCitations found\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

// trackedFiles returns the repository's root and the files git tracks in it
// (slash-separated, relative to the root). Outside a git checkout (a source
// archive) every file under the root counts as tracked.
func trackedFiles(t *testing.T) (string, []string) {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("git", "-C", root, "ls-files", "-z").Output()
	if err == nil {
		var files []string
		for _, f := range strings.Split(string(out), "\x00") {
			if f != "" {
				files = append(files, f)
			}
		}
		return root, files
	}
	t.Logf("git ls-files: %v; checking the files on disk instead", err)
	var files []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && d.Name() == ".git":
			return filepath.SkipDir
		case d.Type().IsRegular():
			rel, err := filepath.Rel(root, p)
			files = append(files, filepath.ToSlash(rel))
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return root, files
}

// checkCitations checks every text file of tree (path → content) and
// returns one "path:line: problem" per bad citation, sorted.
//
// A document is cited by a path ending in .md, resolved from the citing
// file's directory, then from the repository's root; the sections after it
// ("§3.4, §3.5") must be numbered headings of that document. A section
// cited on its own refers, in a page, to the page itself (or, inside a code
// block, to the last document the block cited); anywhere else, to the last
// document cited before it in the file.
func checkCitations(tree map[string][]byte) []string {
	c := checker{tree: tree, sections: map[string]map[string]bool{}}
	for _, file := range slices.Sorted(maps.Keys(tree)) {
		b := tree[file]
		if bytes.IndexByte(b, 0) < 0 && utf8.Valid(b) && !thirdParty(file) {
			c.file(file, string(b))
		}
	}
	slices.Sort(c.problems)
	return c.problems
}

// thirdParty reports whether file is another project's, shipped as built
// (the playground's minified scripts and source map): its text cites
// nothing of ours.
func thirdParty(file string) bool {
	return strings.HasSuffix(file, ".map") || strings.Contains(path.Base(file), ".min.")
}

type checker struct {
	tree     map[string][]byte
	sections map[string]map[string]bool // document → its numbered sections
	problems []string
}

// file checks one file's citations, line by line, in the order they appear.
func (c *checker) file(file, text string) {
	page := strings.HasSuffix(file, ".md")
	fenced := false
	last := "" // the document a section cited on its own refers to
	if page {
		last = file
	}
	for i, line := range strings.Split(text, "\n") {
		report := func(format string, args ...any) {
			c.problems = append(c.problems, fmt.Sprintf("%s:%d: ", file, i+1)+fmt.Sprintf(format, args...))
		}
		if page && strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced, last = !fenced, file
		}
		if !mayCite(line) {
			continue
		}
		line = blank(line, urlRe)
		if page { // a link's text is not what it cites: [ledger.md](docs/ledger.md)
			line = linkTextRe.ReplaceAllStringFunc(line, func(m string) string {
				return "[" + strings.Repeat(" ", len(m)-3) + "]("
			})
		}
		for _, m := range outsideRe.FindAllStringSubmatch(line, -1) {
			report("cites %s, which lives outside the repository", m[1])
		}
		line = blank(line, outsideRe)
		type event struct {
			at       int
			from, to int    // the sections cited, if any (from < 0: none)
			doc      string // a citation by path; "" for sections on their own
		}
		var events []event
		for _, m := range citeRe.FindAllStringSubmatchIndex(line, -1) {
			name := line[m[2]:m[3]] + ".md"
			doc, ok := c.resolve(file, name)
			if !ok {
				report("cites %s, which git does not track", name)
				continue
			}
			events = append(events, event{at: m[0], from: m[4], to: m[5], doc: doc})
		}
		for _, m := range bareRe.FindAllStringIndex(blank(line, citeRe), -1) {
			events = append(events, event{at: m[0], from: m[0], to: m[1]})
		}
		slices.SortFunc(events, func(a, b event) int { return a.at - b.at })
		for _, e := range events {
			doc := e.doc
			switch {
			case doc != "":
				last = doc
			case page && !fenced:
				doc = file
			default:
				doc = last
			}
			if e.from < 0 {
				continue
			}
			for _, n := range numRe.FindAllString(line[e.from:e.to], -1) {
				switch {
				case doc == "":
					report("cites §%s without naming the document", n)
				case !c.sectionsOf(doc)[n]:
					report("cites §%s, which %s does not have", n, doc)
				}
			}
		}
	}
}

// mayCite reports whether line could hold anything the check looks for;
// most lines cannot, and the regular expressions are slow on them.
func mayCite(line string) bool {
	l := strings.ToLower(line)
	for _, s := range []string{".md", "§", "seed", "/work/", "credits-aging", "style-anchors"} {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// sectionsOf returns the numbers of doc's numbered headings.
func (c *checker) sectionsOf(doc string) map[string]bool {
	if s, ok := c.sections[doc]; ok {
		return s
	}
	s := map[string]bool{}
	for _, line := range strings.Split(string(c.tree[doc]), "\n") {
		if m := headingRe.FindStringSubmatch(line); m != nil {
			s[m[1]] = true
		}
	}
	c.sections[doc] = s
	return s
}

// blank replaces re's matches in line with spaces, keeping positions.
func blank(line string, re *regexp.Regexp) string {
	return re.ReplaceAllStringFunc(line, func(m string) string { return strings.Repeat(" ", len(m)) })
}

// resolve finds the tracked document name refers to from file: relative to
// file's directory, then to the repository's root.
func (c *checker) resolve(file, name string) (string, bool) {
	for _, p := range []string{path.Join(path.Dir(file), name), path.Clean(name)} {
		if _, ok := c.tree[p]; ok {
			return p, true
		}
	}
	return "", false
}
