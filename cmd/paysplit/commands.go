package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"text/tabwriter"
)

// command is one command of the CLI and its line in "paysplit help". To add
// a command, add its line to commands (below) with a function that takes
// the arguments after its name, in a file of its own; build its flags with
// newFlagSet and, if it uses the database, dbFlags (every printed command
// it offers to paste should carry dbFlags.pasteArgs).
type command struct {
	name    string // the words that select it: "serve", "keys create"
	summary string // one line for "paysplit help" and its --help
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands is the CLI, in the order "paysplit help" lists it.
var commands []command

func init() {
	commands = []command{
		{"serve", "serve GraphQL at /graphql, the playground at /, the live aging dashboard, health and metrics (the default)", ignoreOut(serve)},
		{"migrate", "apply the embedded database migrations (every command also does on start)", ignoreOut(migrate)},
		{"demo", "load a demo practice (--size small|medium|large: a synthetic one) and print its ADMIN key", ignoreOut(loadDemo)},
		{"keys create", "create an API key for a practice; the key is shown once", sub("create", keysOut)},
		{"keys list", "list a practice's API keys (never their secrets)", sub("list", keysOut)},
		{"keys revoke", "revoke an API key at once (also its open websockets)", sub("revoke", keysOut)},
		{"import balances", "check (or with --commit post) a balance-forward CSV from a prior system", sub("balances", runImport)},
		{"import history", "check (or with --commit post) a history set from a prior system: a zip, or a folder (docs/conversion.md)", sub("history", runImport)},
		{"import history-template", "write the history set template (a zip) to stdout", sub("history-template", runImport)},
		{"import undo", "reverse a committed import (balance forward or history)", sub("undo", runImport)},
		{"import template", "print the balance-forward CSV template", sub("template", runImport)},
		{"credits manage", "credit management over every family (or the named ones), as a run", sub("manage", runCredits)},
		{"balance", "the family balancer over every family (or the named ones), as a run", runBalance},
		{"runs list", "list a practice's runs, newest first", sub("list", runRuns)},
		{"runs show", "print a run's report", sub("show", runRuns)},
		{"runs resume", "continue an interrupted, cancelled or failed run", sub("resume", runRuns)},
		{"runs cancel", "ask a running run to stop after its batch", sub("cancel", runRuns)},
		{"plans complete", "a planned procedure was done: it becomes production, dated --on", sub("complete", runPlans)},
		{"plans remove", "a planned procedure will not be done", sub("remove", runPlans)},
		{"plans attach", "attach prepayment to a planned procedure", sub("attach", runPlans)},
		{"plans detach", "detach prepayment from a planned procedure", sub("detach", runPlans)},
		{"aging check", "compare the maintained aging state with a recomputation from history (exit 1 if it differs; changes nothing)", sub("check", runAging)},
		{"aging rebuild", "replace the maintained aging state with one recomputed from history (docs/aging.md)", sub("rebuild", runAging)},
		{"reports net-unearned", "the Net Unearned Income report as CSV on stdout (docs/reports.md)", sub("net-unearned", runReports)},
		{"bench", "run the benchmark harness on a synthetic practice", ignoreOut(runBench)},
		{"version", "print the version and the commit it was built from", printVersion},
		{"help", "list the commands", printHelp},
	}
}

func ignoreOut(f func(context.Context, []string) error) func(context.Context, []string, io.Writer, io.Writer) error {
	return func(ctx context.Context, args []string, _, _ io.Writer) error { return f(ctx, args) }
}

func keysOut(ctx context.Context, args []string, stdout, _ io.Writer) error {
	return runKeys(ctx, args, stdout)
}

// sub runs a group's function (runKeys, runRuns…) on its subcommand.
func sub(name string, f func(context.Context, []string, io.Writer, io.Writer) error) func(context.Context, []string, io.Writer, io.Writer) error {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		return f(ctx, append([]string{name}, args...), stdout, stderr)
	}
}

// run runs the command args name, on the process's stdout and stderr.
func run(ctx context.Context, args []string) error { return runTo(ctx, args, os.Stdout, os.Stderr) }

// runTo runs the command args name: "serve" when args start with a flag or
// are empty, except --help and --version.
func runTo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "-h", "-help", "--help":
			return printHelp(ctx, nil, stdout, stderr)
		case "-version", "--version":
			return printVersion(ctx, nil, stdout, stderr)
		}
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		args = append([]string{"serve"}, args...)
	}
	var group []command
	for _, c := range commands {
		words := strings.Fields(c.name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == c.name {
			return c.run(ctx, args[len(words):], stdout, stderr)
		}
		if words[0] == args[0] {
			group = append(group, c)
		}
	}
	if len(group) == 0 {
		return fmt.Errorf("unknown command %q; 'paysplit help' lists them", args[0])
	}
	listCommands(stderr, group)
	if len(args) > 1 && !strings.HasPrefix(args[1], "-") {
		return fmt.Errorf("unknown command %q", args[0]+" "+args[1])
	}
	if len(args) > 1 { // "paysplit keys --help"
		return flag.ErrHelp
	}
	return fmt.Errorf("%s: which one?", args[0])
}

// newFlagSet is the flag set of the command name: its --help prints the
// command's line and its own flags.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		for _, c := range commands {
			if c.name == name {
				fmt.Fprintf(fs.Output(), "paysplit %s: %s\n", name, c.summary)
			}
		}
		fmt.Fprintf(fs.Output(), "flags of paysplit %s (each also read from its PAYSPLIT_* environment variable where named):\n", name)
		fs.PrintDefaults()
	}
	return fs
}

func listCommands(w io.Writer, cs []command) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range cs {
		fmt.Fprintf(tw, "  paysplit %s\t%s\n", c.name, c.summary)
	}
	tw.Flush()
}

func printHelp(_ context.Context, _ []string, stdout, _ io.Writer) error {
	fmt.Fprintln(stdout, "paysplit keeps patient balances for medical and dental practices.\n\ncommands:")
	listCommands(stdout, commands)
	fmt.Fprintln(stdout, "\n'paysplit COMMAND --help' shows a command's flags. Beside a running 'paysplit serve' on the\n"+
		"same --data-dir, commands use its private PostgreSQL. 'paysplit --version' prints the version.")
	return nil
}

// version and commit are set at build time (scripts/run does:
// -ldflags "-X main.version=v1.2.3 -X main.commit=…"); printVersion falls
// back on the module version and the commit Go records.
var version, commit string

func printVersion(_ context.Context, _ []string, stdout, _ io.Writer) error {
	v, c, modified := version, commit, ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && c == "":
				c = s.Value
			case s.Key == "vcs.modified" && s.Value == "true":
				modified = " (with uncommitted changes)"
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	if c == "" {
		c = "unknown"
	}
	_, err := fmt.Fprintf(stdout, "paysplit %s, commit %s%s\n", v, c, modified)
	return err
}
