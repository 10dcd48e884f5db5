package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// interspersed rewrites argv so that a command's flags may follow its
// positional arguments (`vmctl vm create a --vcpus 2`): urfave/cli v2 stops
// parsing flags at the first positional argument, which would silently ignore
// them. Everything after "--" is passed through untouched.
func interspersed(app *cli.App, argv []string) []string {
	if len(argv) < 2 {
		return argv
	}
	out := []string{argv[0]}
	rest := argv[1:]
	flags := app.Flags
	cmds := app.Commands
	// Global flags, then the command path.
	for len(rest) > 0 {
		tok := rest[0]
		if strings.HasPrefix(tok, "-") && tok != "--" {
			n := flagTokens(flags, rest)
			out = append(out, rest[:n]...)
			rest = rest[n:]
			continue
		}
		sub := findCommand(cmds, tok)
		if sub == nil {
			break
		}
		out = append(out, tok)
		rest = rest[1:]
		flags, cmds = sub.Flags, sub.Subcommands
		if len(cmds) == 0 {
			break
		}
	}
	var globalToks, flagToks, positional []string
	for len(rest) > 0 {
		tok := rest[0]
		if tok == "--" {
			positional = append(positional, rest...)
			break
		}
		if strings.HasPrefix(tok, "-") && len(tok) > 1 {
			// A global flag (-o json) given after the command goes back to
			// where urfave/cli looks for it, unless the command has a flag
			// of the same name.
			if !hasFlag(flags, tok) && hasFlag(app.Flags, tok) {
				n := flagTokens(app.Flags, rest)
				globalToks = append(globalToks, rest[:n]...)
				rest = rest[n:]
				continue
			}
			n := flagTokens(flags, rest)
			flagToks = append(flagToks, rest[:n]...)
			rest = rest[n:]
			continue
		}
		positional = append(positional, tok)
		rest = rest[1:]
	}
	if len(globalToks) > 0 {
		out = append(append([]string{out[0]}, globalToks...), out[1:]...)
	}
	out = append(out, flagToks...)
	return append(out, positional...)
}

// flagTokens says how many tokens the flag at args[0] uses: one for a
// boolean or --name=value, two for a flag that takes a separate value.
func flagTokens(flags []cli.Flag, args []string) int {
	tok := args[0]
	if strings.Contains(tok, "=") {
		return 1
	}
	name := strings.TrimLeft(tok, "-")
	for _, f := range flags {
		for _, n := range f.Names() {
			if n != name {
				continue
			}
			if _, isBool := f.(*cli.BoolFlag); isBool {
				return 1
			}
			if len(args) > 1 {
				return 2
			}
			return 1
		}
	}
	// Unknown: leave it to urfave/cli to report.
	return 1
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.Name == name {
			return c
		}
		for _, a := range c.Aliases {
			if a == name {
				return c
			}
		}
	}
	return nil
}

func hasFlag(flags []cli.Flag, tok string) bool {
	name, _, _ := strings.Cut(strings.TrimLeft(tok, "-"), "=")
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
}
