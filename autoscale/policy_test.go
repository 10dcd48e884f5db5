package autoscale

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestDefaultPolicyIsValid(t *testing.T) {
	p := DefaultPolicy()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	c, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Policy(); !reflect.DeepEqual(got, p.withDefaults()) {
		t.Errorf("Policy() = %+v, want %+v", got, p)
	}
}

func TestNewFillsMeaninglessZeros(t *testing.T) {
	c, err := New(Policy{Max: 3, Metric: MetricBusy})
	if err != nil {
		t.Fatal(err)
	}
	p := c.Policy()
	if p.Target != DefaultBusyTarget || p.Sync.Duration != DefaultSync || p.Ceiling.Settle.Duration != DefaultSettle {
		t.Errorf("defaults not filled: %+v", p)
	}
	// Zero that means zero stays zero.
	if p.Tolerance != 0 || p.ScaleDownWindow.Duration != 0 || p.Ceiling.Enabled {
		t.Errorf("meaningful zeros changed: %+v", p)
	}
}

func TestValidateNamesTheField(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Policy)
		field string
	}{
		{"max zero", func(p *Policy) { p.Max = 0 }, "max"},
		{"min above max", func(p *Policy) { p.Min, p.Max = 5, 4 }, "min"},
		{"negative min", func(p *Policy) { p.Min = -1 }, "min"},
		{"unknown metric", func(p *Policy) { p.Metric = "latency" }, "metric"},
		{"negative backlog target", func(p *Policy) { p.Target = -1 }, "target"},
		{"busy target above 1", func(p *Policy) { p.Metric, p.Target = MetricBusy, 1.5 }, "target"},
		{"tolerance 1", func(p *Policy) { p.Tolerance = 1 }, "tolerance"},
		{"step upper below lower", func(p *Policy) { p.Steps = []Step{{Lower: 2, Upper: 1, Adjust: 1}} }, "steps[0].upper"},
		{"negative step lower", func(p *Policy) { p.Steps = []Step{{Lower: -1, Upper: 1}} }, "steps[0].lower"},
		{"overlapping steps", func(p *Policy) { p.Steps = []Step{{Lower: 0, Upper: 2}, {Lower: 1, Upper: 0, Adjust: 1}} }, "steps[1]"},
		{"negative window", func(p *Policy) { p.ScaleDownWindow = D(-time.Second) }, "scale_down_window"},
		{"negative cooldown", func(p *Policy) { p.CooldownIn = D(-time.Second) }, "cooldown_in"},
		{"negative idle timeout", func(p *Policy) { p.IdleTimeout = D(-time.Second) }, "idle_timeout"},
		{"sync too short", func(p *Policy) { p.Sync = D(time.Millisecond) }, "sync"},
		{"negative max step up", func(p *Policy) { p.MaxStepUp = -1 }, "max_step_up"},
		{"negative max step down", func(p *Policy) { p.MaxStepDown = -2 }, "max_step_down"},
		{"min gain above 1", func(p *Policy) { p.Ceiling.MinGain = 2 }, "ceiling.min_gain"},
		{"negative settle", func(p *Policy) { p.Ceiling.Settle = D(-time.Second) }, "ceiling.settle"},
		{"host cpu above 1", func(p *Policy) { p.Ceiling.HostCPU = 1.5 }, "ceiling.host_cpu"},
		{"warm above max", func(p *Policy) { p.Warm = 9 }, "warm"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := DefaultPolicy()
			tc.edit(&p)
			err := p.Validate()
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("Validate() = %v, want ErrInvalidPolicy", err)
			}
			var pe *PolicyError
			if !errors.As(err, &pe) || pe.Field != tc.field {
				t.Fatalf("Validate() = %v, want a problem with field %s", err, tc.field)
			}
			if !strings.HasPrefix(err.Error(), tc.field+": ") {
				t.Errorf("message %q does not start with the field", err)
			}
			if _, err := New(p); !errors.Is(err, ErrInvalidPolicy) {
				t.Errorf("New accepted it: %v", err)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	p := DefaultPolicy()
	p.Max, p.Tolerance, p.MaxStepUp = 0, -1, -1
	err := p.Validate()
	for _, f := range []string{"max:", "tolerance:", "max_step_up:"} {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("%q missing from %v", f, err)
		}
	}
}

func TestPolicyYAMLKeepsDefaults(t *testing.T) {
	var p Policy
	src := "max: 6\nscale_down_window: 45s\nceiling:\n  min_gain: 0.2\nsteps:\n  - {lower: 1.5, adjust: 2}\n"
	if err := yaml.Unmarshal([]byte(src), &p); err != nil {
		t.Fatal(err)
	}
	want := DefaultPolicy()
	want.Max = 6
	want.ScaleDownWindow = D(45 * time.Second)
	want.Ceiling.MinGain = 0.2
	want.Steps = []Step{{Lower: 1.5, Adjust: 2}}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("got %+v\nwant %+v", p, want)
	}

	out, err := yaml.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "scale_down_window: 45s") || !strings.Contains(string(out), "settle: 10s") {
		t.Errorf("marshalled durations not as strings:\n%s", out)
	}
	var back Policy
	if err := yaml.Unmarshal(out, &back); err != nil || !reflect.DeepEqual(back, p) {
		t.Errorf("round trip: %v\n%+v", err, back)
	}
}

func TestPolicyYAMLErrors(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"unknown field", "max: 4\nmax_stepup: 2\n", "max_stepup: unknown field: use one of"},
		{"unknown nested field", "ceiling:\n  gain: 0.2\n", "ceiling.gain: unknown field"},
		{"unknown step field", "steps:\n  - {lower: 1, add: 2}\n", "steps[0].add: unknown field"},
		{"bare number duration", "sync: 2\n", `"2" has no unit: write 2s`},
		{"duration mapping", "sync: {s: 2}\n", "want a duration"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p Policy
			err := yaml.Unmarshal([]byte(tc.src), &p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestPolicyJSONRoundTrip(t *testing.T) {
	p := DefaultPolicy()
	p.Max, p.Warm = 8, 2
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"idle_timeout":"30s"`) {
		t.Errorf("durations not written as strings: %s", b)
	}
	var back Policy
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, p) {
		t.Errorf("round trip: %v\n%+v", err, back)
	}
	// Fields left out keep their defaults; nanoseconds are accepted.
	var q Policy
	if err := json.Unmarshal([]byte(`{"max": 3, "sync": 500000000}`), &q); err != nil {
		t.Fatal(err)
	}
	if q.Max != 3 || q.Sync.Duration != 500*time.Millisecond || !q.Ceiling.Enabled || q.Tolerance != DefaultTolerance {
		t.Errorf("got %+v", q)
	}
}
