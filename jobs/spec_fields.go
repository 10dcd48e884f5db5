package jobs

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/xrash/smetrics"
	"gopkg.in/yaml.v3"

	"github.com/vmctl/vmctl/autoscale"
)

var (
	specType     = reflect.TypeFor[Spec]()
	durationType = reflect.TypeFor[Duration]()
)

// checkFields walks a parsed YAML tree along the Go type it will decode
// into and reports unknown fields and values of the wrong kind by their
// path, which yaml.v3's own errors do not give. It records the line of
// every key in lines so later validation errors can point at it.
func checkFields(n *yaml.Node, t reflect.Type, path string, lines map[string]int) []*FieldError {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil
		}
		return checkFields(n.Content[0], t, path, lines)
	case yaml.AliasNode:
		return checkFields(n.Alias, t, path, lines)
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil // "key:" with no value keeps the default
	}
	bad := func(format string, a ...any) []*FieldError {
		return []*FieldError{{Line: n.Line, Field: path, Msg: fmt.Sprintf(format, a...)}}
	}
	switch {
	case t == durationType:
		if n.Kind != yaml.ScalarNode {
			return bad("want a duration such as 90s or 5m")
		}
		if _, err := autoscale.ParseDuration(n.Value); err != nil {
			return bad("%v", err)
		}
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return bad("must be a mapping with the fields %s", strings.Join(yamlFields(t), ", "))
		}
		var errs []*FieldError
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Tag == "!!merge" {
				continue // "<<: *anchor": the strict decode checks what it brings
			}
			p := joinPath(path, k.Value)
			lines[p] = k.Line
			f, ok := fieldByTag(t, k.Value)
			if !ok {
				errs = append(errs, unknownField(k, t, path, p))
				continue
			}
			errs = append(errs, checkFields(v, f.Type, p, lines)...)
		}
		return errs
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return bad("must be a list, such as [a, b]")
		}
		var errs []*FieldError
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			lines[p] = c.Line
			errs = append(errs, checkFields(c, t.Elem(), p, lines)...)
		}
		return errs
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			return bad("must be a mapping of names to values")
		}
		var errs []*FieldError
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := joinPath(path, k.Value)
			lines[p] = k.Line
			errs = append(errs, checkFields(v, t.Elem(), p, lines)...)
		}
		return errs
	case t.Kind() == reflect.Int:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			return bad("must be a whole number (got %s)", describe(n))
		}
	case t.Kind() == reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			return bad("must be true or false (got %s)", describe(n))
		}
	case t.Kind() == reflect.String:
		if n.Kind != yaml.ScalarNode {
			return bad("must be a single value, not a list or mapping")
		}
	}
	return nil
}

func unknownField(k *yaml.Node, t reflect.Type, parent, path string) *FieldError {
	known := yamlFields(t)
	owner := parent
	if owner == "" {
		owner = "a job spec"
	}
	msg := fmt.Sprintf("unknown field %q", k.Value)
	if s := closest(k.Value, known); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	msg += fmt.Sprintf(" (%s takes: %s)", owner, strings.Join(known, ", "))
	return &FieldError{Line: k.Line, Field: path, Msg: msg}
}

func describe(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return fmt.Sprintf("%q", n.Value)
	}
	return "a list or mapping"
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}

func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		if f := t.Field(i); yamlName(f) == name && name != "-" {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func yamlFields(t reflect.Type) []string {
	var names []string
	for i := 0; i < t.NumField(); i++ {
		if n := yamlName(t.Field(i)); n != "" && n != "-" {
			names = append(names, n)
		}
	}
	return names
}

// closest suggests the known name a typo most likely meant: one that
// starts with it ("memory" for memory_mib) or is a couple of edits away.
func closest(name string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if len(name) >= 3 && (strings.HasPrefix(k, name) || strings.HasPrefix(name, k)) {
			return k
		}
		if d := editDistance(name, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance (unit costs).
func editDistance(a, b string) int { return smetrics.WagnerFischer(a, b, 1, 1, 1) }
