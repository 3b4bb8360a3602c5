package rules_test

import (
	"fmt"
	"testing"

	"github.com/paysplit/paysplit/rules"
)

func BenchmarkPlanTransfer(b *testing.B) {
	for _, name := range []string{"rigorous", "fifo", "same-guarantor"} {
		p, _ := rules.Builtin(name)
		for _, n := range []int{20, 200, 2000} {
			in := bigFamily(n)
			b.Run(fmt.Sprintf("%s/charges=%d", name, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := p.Plan(in); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkCompile(b *testing.B) {
	src, _ := rules.BuiltinDocument("rigorous")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rules.Compile(src); err != nil {
			b.Fatal(err)
		}
	}
}
