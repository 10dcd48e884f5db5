package scheduler

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/xrash/smetrics"
	"gopkg.in/yaml.v3"
)

// checkHostsKeys walks the document for keys the format does not have and
// values of the wrong type, and returns the line of each host entry.
func checkHostsKeys(doc *yaml.Node) ([]int, error) {
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil // empty file: reported as "no hosts"
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%w: line %d: the top level must be a mapping with a `hosts:` list", ErrInvalidHostsFile, root.Line)
	}
	var lines []int
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Value != "hosts" {
			return nil, unknownKey(k, "the top level", []string{"hosts"})
		}
		if v.Kind != yaml.SequenceNode {
			if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
				continue // "hosts:" with nothing: reported as "no hosts"
			}
			return nil, fmt.Errorf("%w: line %d: `hosts` must be a list of entries, each starting with `- name:`", ErrInvalidHostsFile, v.Line)
		}
		fields := hostSpecFields()
		known := make([]string, len(fields))
		for n, f := range fields {
			known[n] = f.key
		}
		for j, item := range v.Content {
			lines = append(lines, item.Line)
			if item.Kind != yaml.MappingNode {
				return nil, fmt.Errorf("%w: line %d: hosts[%d] must be a mapping (name: ..., uri: ...)", ErrInvalidHostsFile, item.Line, j)
			}
			where := fmt.Sprintf("hosts[%d]", j)
			for n := 0; n+1 < len(item.Content); n += 2 {
				if key, val := item.Content[n], item.Content[n+1]; key.Value == "name" && val.Kind == yaml.ScalarNode {
					where += " (" + strings.TrimSpace(val.Value) + ")"
					break
				}
			}
			for n := 0; n+1 < len(item.Content); n += 2 {
				key, val := item.Content[n], item.Content[n+1]
				i := slices.Index(known, key.Value)
				if i < 0 {
					return nil, unknownKey(key, where, known)
				}
				if !valueFits(val, fields[i].typ) {
					return nil, fmt.Errorf("%w: line %d: %s: %s must be %s, not %s", ErrInvalidHostsFile, val.Line, where, key.Value, typeWord(fields[i].typ), describeNode(val))
				}
			}
		}
	}
	return lines, nil
}

func unknownKey(k *yaml.Node, where string, known []string) error {
	hint := ""
	if s := closest(k.Value, known); s != "" {
		hint = fmt.Sprintf("did you mean %s? ", s)
	}
	return fmt.Errorf("%w: line %d: %s: unknown field %q; %sknown fields: %s", ErrInvalidHostsFile, k.Line, where, k.Value, hint, strings.Join(known, ", "))
}

// hostField is one YAML key of a host entry and the Go type it fills.
type hostField struct {
	key string
	typ reflect.Type
}

// hostSpecFields lists the keys of a host entry, read from the struct tags
// so the list cannot drift from the type.
func hostSpecFields() []hostField {
	var out []hostField
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if opts == "inline" {
				walk(f.Type)
				continue
			}
			if name != "" && name != "-" {
				out = append(out, hostField{name, f.Type})
			}
		}
	}
	walk(reflect.TypeOf(HostSpec{}))
	return out
}

// valueFits reports whether val is a scalar the field's type holds
// exactly: yaml.v3 would truncate 1.5 into an int field without a word.
func valueFits(val *yaml.Node, t reflect.Type) bool {
	if val.Kind != yaml.ScalarNode {
		return false
	}
	if val.Tag == "!!null" {
		return true // unset
	}
	if val.Decode(reflect.New(t).Interface()) != nil {
		return false
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int:
		return val.Tag == "!!int"
	case reflect.Float64:
		return val.Tag == "!!int" || val.Tag == "!!float"
	}
	return true
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	}
	return strconv.Quote(n.Value)
}

// typeWord says in words what a field holds.
func typeWord(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int:
		return "a whole number"
	case reflect.Float64:
		return "a number"
	default:
		return "a string"
	}
}

// closest returns the known key a mistyped key most likely meant: one that
// contains it (a shortened key), else the nearest by edit distance when
// that is at most a third of the key's length.
func closest(s string, known []string) string {
	s = strings.ToLower(s)
	if len(s) >= 3 {
		for _, k := range known {
			if strings.Contains(k, s) {
				return k
			}
		}
	}
	best, bestD := "", 0
	for _, k := range known {
		d := editDistance(s, k)
		if d <= (len(k)+2)/3 && (best == "" || d < bestD) {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance (unit costs).
func editDistance(a, b string) int { return smetrics.WagnerFischer(a, b, 1, 1, 1) }
