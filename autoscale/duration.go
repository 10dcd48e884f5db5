package autoscale

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written as "30s" or "2m" in YAML and JSON.
// It lives here because jobs imports autoscale, not the other way round;
// jobs.Duration is this type.
type Duration struct {
	time.Duration
}

// D is shorthand for building policies in Go.
func D(d time.Duration) Duration { return Duration{d} }

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration such as 30s or 5m", n.Line)
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	d.Duration = v
	return nil
}

func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON takes the string MarshalJSON writes, or nanoseconds, which
// is what a plain time.Duration field would have written.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var ns int64
	if err := json.Unmarshal(b, &ns); err == nil {
		d.Duration = time.Duration(ns)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string such as \"30s\": %w", err)
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// ParseDuration is time.ParseDuration with errors that say how to write
// the value.
func ParseDuration(s string) (time.Duration, error) {
	v, err := time.ParseDuration(s)
	if err == nil {
		return v, nil
	}
	// A bare number is the likeliest mistake; say which unit to add rather
	// than guess seconds.
	if _, nerr := strconv.ParseFloat(s, 64); nerr == nil {
		return 0, fmt.Errorf("duration %q has no unit: write %ss or %sm", s, s, s)
	}
	return 0, fmt.Errorf("duration %q: want a number and a unit, such as 500ms, 30s or 1h30m", s)
}
