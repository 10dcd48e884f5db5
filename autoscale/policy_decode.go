package autoscale

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// policyFields is Policy without its methods, so decoding it does not
// recurse into UnmarshalYAML/UnmarshalJSON.
type policyFields Policy

// UnmarshalYAML decodes onto DefaultPolicy, so a spec names only what it
// changes ("autoscale: {max: 6}") and a bool like ceiling.enabled keeps
// its default true when left out. Unknown keys are errors: yaml.v3 does
// not carry a caller's KnownFields into a custom unmarshaler.
func (p *Policy) UnmarshalYAML(n *yaml.Node) error {
	if err := checkKeys(n, reflect.TypeFor[Policy](), ""); err != nil {
		return err
	}
	v := policyFields(DefaultPolicy())
	if err := n.Decode(&v); err != nil {
		return err
	}
	*p = Policy(v)
	return nil
}

// UnmarshalJSON decodes onto DefaultPolicy, like UnmarshalYAML.
func (p *Policy) UnmarshalJSON(b []byte) error {
	v := policyFields(DefaultPolicy())
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*p = Policy(v)
	return nil
}

// checkKeys reports the first mapping key under n that names no field of
// t, with the fields it could have meant.
func checkKeys(n *yaml.Node, t reflect.Type, path string) error {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		return checkKeys(n.Content[0], t, path)
	}
	if n.Kind == yaml.AliasNode {
		return checkKeys(n.Alias, t, path)
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode && t != reflect.TypeFor[Duration]():
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Tag == "!!merge" {
				continue
			}
			f, ok := fieldByYAMLName(t, k.Value)
			if !ok {
				return fmt.Errorf("line %d: %s%s: unknown field: use one of %s", k.Line, path, k.Value, strings.Join(yamlNames(t), ", "))
			}
			if err := checkKeys(v, f.Type, path+k.Value+"."); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, c := range n.Content {
			if err := checkKeys(c, t.Elem(), fmt.Sprintf("%s[%d].", strings.TrimSuffix(path, "."), i)); err != nil {
				return err
			}
		}
	}
	return nil
}

func fieldByYAMLName(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if yamlName(f) == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func yamlNames(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		if n := yamlName(t.Field(i)); n != "" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" || !f.IsExported() {
		return ""
	}
	return name
}
