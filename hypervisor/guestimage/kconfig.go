package guestimage

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// kernelConfig looks up a symbol in a kernel .config: "CONFIG_X=value", or
// absent for "# CONFIG_X is not set". Quotes around strings are removed.
func kernelConfig(cfg []byte, symbol string) (string, bool) {
	prefix := symbol + "="
	for _, line := range bytes.Split(cfg, []byte("\n")) {
		if v, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte(prefix)); ok {
			return strings.Trim(string(v), `"`), true
		}
	}
	return "", false
}

// kconfigOption is one line of a config fragment: Value is the text after
// '=' as written ("y", "m", "64", "\"str\""), or "n" for "# CONFIG_X is not
// set".
type kconfigOption struct {
	Symbol string
	Value  string
	Line   int
}

// kconfigLine parses one .config line. ok is false for blank lines and
// comments other than "# CONFIG_X is not set".
func kconfigLine(line string) (symbol, value string, ok bool) {
	line = strings.TrimSpace(line)
	if rest, found := strings.CutPrefix(line, "# "); found {
		if sym, found := strings.CutSuffix(rest, " is not set"); found && validKconfigSymbol(sym) {
			return sym, "n", true
		}
		return "", "", false
	}
	sym, val, found := strings.Cut(line, "=")
	if !found || !validKconfigSymbol(sym) {
		return "", "", false
	}
	return sym, val, true
}

// validKconfigSymbol accepts CONFIG_ followed by upper-case letters, digits
// and '_', as Kconfig writes them.
func validKconfigSymbol(s string) bool {
	name, ok := strings.CutPrefix(s, "CONFIG_")
	if !ok || name == "" {
		return false
	}
	for _, c := range name {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// parseConfigFragment reads a fragment in .config syntax. Anything that is
// neither a setting, a "# CONFIG_X is not set" line, a comment nor blank is
// an error, and so is a symbol set twice: a fragment is a specification,
// and a typo in it must not pass silently.
func parseConfigFragment(data []byte) ([]kconfigOption, error) {
	var opts []kconfigOption
	seen := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		text := strings.TrimSpace(sc.Text())
		sym, val, ok := kconfigLine(text)
		switch {
		case ok && val == "":
			return nil, fmt.Errorf("config fragment line %d: %s has no value", n, sym)
		case ok:
			if prev, dup := seen[sym]; dup {
				return nil, fmt.Errorf("config fragment line %d: %s already set on line %d", n, sym, prev)
			}
			seen[sym] = n
			opts = append(opts, kconfigOption{Symbol: sym, Value: val, Line: n})
		case text == "" || strings.HasPrefix(text, "#"):
		default:
			return nil, fmt.Errorf("config fragment line %d: %q is not CONFIG_X=value or \"# CONFIG_X is not set\"", n, text)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read config fragment: %w", err)
	}
	if len(opts) == 0 {
		return nil, fmt.Errorf("config fragment sets nothing")
	}
	return opts, nil
}

// parseKconfig maps every symbol a .config mentions to its value ("n" for
// "is not set").
func parseKconfig(cfg []byte) map[string]string {
	vals := map[string]string{}
	for _, line := range strings.Split(string(cfg), "\n") {
		if sym, val, ok := kconfigLine(line); ok {
			vals[sym] = val
		}
	}
	return vals
}

// mergeConfigFragment returns base with every fragment symbol's line removed
// and the fragment's settings appended, as scripts/kconfig/merge_config.sh
// does; `make allnoconfig` with the result as KCONFIG_ALLCONFIG then
// resolves dependencies.
func mergeConfigFragment(base []byte, frag []kconfigOption) []byte {
	set := make(map[string]bool, len(frag))
	for _, o := range frag {
		set[o.Symbol] = true
	}
	var out bytes.Buffer
	for _, line := range strings.Split(strings.TrimRight(string(base), "\n"), "\n") {
		if sym, _, ok := kconfigLine(line); ok && set[sym] {
			continue
		}
		out.WriteString(line + "\n")
	}
	out.WriteString("# vmctl minimal guest kernel fragment\n")
	for _, o := range frag {
		if o.Value == "n" {
			fmt.Fprintf(&out, "# %s is not set\n", o.Symbol)
		} else {
			fmt.Fprintf(&out, "%s=%s\n", o.Symbol, o.Value)
		}
	}
	return out.Bytes()
}

// configMismatch is a fragment option the final .config does not honour.
type configMismatch struct {
	Symbol string
	Want   string
	// Got is the final value: "n" when unset or absent.
	Got string
}

func (m configMismatch) String() string {
	return fmt.Sprintf("%s=%s (got %s)", m.Symbol, m.Want, m.Got)
}

// verifyConfig lists the fragment options that did not stick in cfg, the
// final .config: usually a dependency the fragment does not enable, which
// Kconfig silently resolves by dropping the option. A symbol absent from
// cfg counts as "n".
func verifyConfig(cfg []byte, frag []kconfigOption) []configMismatch {
	final := parseKconfig(cfg)
	var bad []configMismatch
	for _, o := range frag {
		got, ok := final[o.Symbol]
		if !ok {
			got = "n"
		}
		if got != o.Value {
			bad = append(bad, configMismatch{Symbol: o.Symbol, Want: o.Value, Got: got})
		}
	}
	return bad
}
