package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/paysplit/paysplit/cmd/paysplit/internal/bench"
	"github.com/paysplit/paysplit/ledger/synth"
)

// runBench is "paysplit bench [workload…] [flags]": it runs the benchmark
// harness and prints its table (or JSON).
func runBench(ctx context.Context, args []string) error {
	fs := newFlagSet("bench")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: paysplit bench [%s …] [flags]\n", strings.Join(bench.Workloads, "|"))
		fs.PrintDefaults()
	}
	size := fs.String("size", string(synth.Medium), "synthetic practice size: small, medium or large")
	seed := fs.Uint64("seed", 1, "synthetic practice seed")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	url := fs.String("database-url", "", "a PostgreSQL server on which the harness may create and drop databases; empty starts a throwaway local one")
	reps := fs.Int("reps", 0, "measured repetitions per figure (default 5, 3 at large)")
	warmups := fs.Int("warmups", 1, "unmeasured repetitions before them (0 for none)")
	duration := fs.Duration("duration", 10*time.Second, "receipts: length of each timed run")
	clients := fs.Int("clients", 16, "receipts: concurrent clients (and pgbench -c)")
	idle := fs.Int("max-idle-conns", 0, "the GraphQL server's idle connection pool size; 0 keeps database/sql's default of 2, as paysplit serve has it")
	quiet := fs.Bool("quiet", false, "do not log progress to stderr")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run (harness and GraphQL server) to this file, for go tool pprof")
	// Workloads come first, flags after (or the other way round).
	var workloads []string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		workloads, args = append(workloads, args[0]), args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	workloads = append(workloads, fs.Args()...)
	sz, err := synth.ParseSize(*size)
	if err != nil {
		return fmt.Errorf("--size: %w", err)
	}
	if *warmups == 0 {
		*warmups = -1 // bench.Options: negative means none
	}
	opt := bench.Options{Workloads: workloads, Size: sz, Seed: *seed, DatabaseURL: *url, Reps: *reps, Warmups: *warmups,
		Duration: *duration, Clients: *clients, MaxIdleConns: *idle}
	if !*quiet {
		opt.Logf = func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
		}
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	rep, err := bench.Run(ctx, opt)
	if err != nil {
		return err
	}
	if *asJSON {
		return rep.WriteJSON(os.Stdout)
	}
	if err := rep.WriteTable(os.Stdout); err != nil {
		return err
	}
	for _, r := range rep.Results {
		if r.Pass != nil && !*r.Pass {
			return errors.New("some workloads missed their target")
		}
	}
	return nil
}
