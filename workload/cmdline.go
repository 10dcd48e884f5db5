package workload

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// errHelp reports that --help was asked for.
var errHelp = errors.New("help requested")

// parseCommandLine turns "--k v" and "--k=v" words into the map Run takes.
// A bool flag may stand alone ("--device"); it then takes the next word
// only if that word is a boolean, since Argv writes "--device true".
// Later repeats of a flag win, as with the flag package.
func parseCommandLine(b *builtin, words []string) (map[string]string, error) {
	raw := map[string]string{}
	for i := 0; i < len(words); i++ {
		w := words[i]
		name, ok := strings.CutPrefix(w, "-")
		if !ok || name == "" || name == "-" {
			return nil, fmt.Errorf("workload: %s: unexpected argument %q (flags are --name value): %w", b.name, w, ErrBadArgument)
		}
		name = strings.TrimPrefix(name, "-")
		if name == "h" || name == "help" {
			return nil, errHelp
		}
		name, value, hasValue := strings.Cut(name, "=")
		if !hasValue {
			f, known := b.flag(name)
			switch {
			case known && f.kind == boolFlag:
				value = "true"
				if i+1 < len(words) {
					if _, err := strconv.ParseBool(words[i+1]); err == nil {
						i++
						value = words[i]
					}
				}
			case i+1 < len(words):
				i++
				value = words[i]
			case known:
				return nil, badFlag(b.name, name, "needs a value")
			}
		}
		// Unknown names are kept so parseArgs reports them with the list
		// of valid flags.
		raw[name] = value
	}
	return raw, nil
}

// usage describes every built-in and its flags.
func usage() string {
	var sb strings.Builder
	sb.WriteString("usage: builtin NAME [--flag value ...]; prints one JSON result line\n\nbuilt-ins:\n")
	for _, name := range Names() {
		b, _ := lookup(name)
		sb.WriteString(b.usage())
	}
	sb.WriteString("\nenvironment: " + strings.Join([]string{EnvPartition, EnvPartitions, EnvInputs, EnvInputOffset, EnvInputLength, EnvOutput}, ", ") + "\n")
	return sb.String()
}

func (b *builtin) usage() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "  %-10s %s\n", b.name, b.help)
	for _, f := range b.flags {
		note := ""
		switch {
		case f.required:
			note = " (required)"
		case f.def != "":
			note = " (default " + f.def + ")"
		}
		fmt.Fprintf(&sb, "    --%-16s %s%s\n", f.name, f.help, note)
	}
	return sb.String()
}
