package rules

import (
	"embed"
	"fmt"
	"sync"
)

//go:embed policies/*.yaml
var builtinFS embed.FS

// BuiltinNames lists the built-in policies.
func BuiltinNames() []string {
	return []string{"fifo", "rigorous", "same-guarantor", "additional-patient"}
}

// BuiltinDocument returns the source of a built-in policy, the starting
// point for a practice's own copy.
func BuiltinDocument(name string) ([]byte, bool) {
	b, err := builtinFS.ReadFile("policies/" + name + ".yaml")
	if err != nil {
		return nil, false
	}
	return b, true
}

var builtins = sync.OnceValue(func() map[string]*Policy {
	m := map[string]*Policy{}
	for _, name := range BuiltinNames() {
		src, _ := BuiltinDocument(name)
		p, err := Compile(src)
		if err != nil {
			panic(fmt.Sprintf("rules: built-in policy %s: %v", name, err))
		}
		m[name] = p
	}
	return m
})

// Builtin returns the compiled built-in policy name: fifo, rigorous,
// same-guarantor or additional-patient.
func Builtin(name string) (*Policy, bool) {
	p, ok := builtins()[name]
	return p, ok
}
