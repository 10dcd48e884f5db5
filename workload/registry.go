package workload

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
)

type flagKind int

const (
	intFlag flagKind = iota
	stringFlag
	boolFlag
)

// flagSpec describes one flag of a built-in.
type flagSpec struct {
	name     string
	kind     flagKind
	def      string // default as text; "" means none
	required bool
	min, max int64 // bounds of an int flag
	help     string
}

// builtin is one workload: its flags and how to run it.
type builtin struct {
	name  string
	help  string
	flags []flagSpec
	// check tests relations between flags; nil when there are none.
	check func(a *args) error
	run   func(ctx context.Context, a *args, p partition) (Result, error)
}

// builtins is the table of every workload. It is built on each call so
// there is no package state to mutate.
func builtins() []*builtin {
	return []*builtin{cpuHash(), ioBuiltin(), membw(), primes(), syscallsBuiltin(), wordcount()}
}

func lookup(name string) (*builtin, error) {
	for _, b := range builtins() {
		if b.name == name {
			return b, nil
		}
	}
	return nil, fmt.Errorf("workload: %w %q (built-ins: %s)", ErrUnknownBuiltin, name, strings.Join(Names(), ", "))
}

func (b *builtin) flag(name string) (*flagSpec, bool) {
	for i := range b.flags {
		if b.flags[i].name == name {
			return &b.flags[i], true
		}
	}
	return nil, false
}

func (b *builtin) flagNames() string {
	names := make([]string, len(b.flags))
	for i, f := range b.flags {
		names[i] = f.name
	}
	return strings.Join(names, ", ")
}

// Names returns the built-in names, sorted.
func Names() []string {
	var names []string
	for _, b := range builtins() {
		names = append(names, b.name)
	}
	slices.Sort(names)
	return names
}

// Validate checks a built-in's name and flags without running it, so the
// host can refuse a bad job before any VM exists. Keys are flag names
// without "--". Only what the flags alone decide is checked: files and
// partition variables belong to the machine that runs the workload.
func Validate(name string, args map[string]string) error {
	b, err := lookup(name)
	if err != nil {
		return err
	}
	_, err = parseArgs(b, args)
	return err
}

// Argv is the command line that runs a built-in, to be appended to the
// agent binary's path: ["builtin", name, "--k", "v", ...], keys sorted so
// the same job always gives the same command.
func Argv(name string, args map[string]string) []string {
	argv := []string{"builtin", name}
	for _, k := range slices.Sorted(maps.Keys(args)) {
		argv = append(argv, "--"+k, args[k])
	}
	return argv
}
