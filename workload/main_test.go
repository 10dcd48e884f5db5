package workload

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestMainPrintsOneJSONResult(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, r Result)
	}{
		{"separate values", []string{"primes", "--to", "100"}, nil, func(t *testing.T, r Result) {
			if r.Value != 25 || r.Unit != UnitPrimes {
				t.Errorf("result %+v", r)
			}
		}},
		{"equals form and single dash", []string{"primes", "-from=2", "--to=3"}, nil, func(t *testing.T, r Result) {
			if r.Value != 1 {
				t.Errorf("result %+v", r)
			}
		}},
		{"partition from the environment", []string{"primes", "--to", "100"}, map[string]string{EnvPartition: "1", EnvPartitions: "2"}, func(t *testing.T, r Result) {
			if r.Value != 10 || r.Text != "[50,100)" { // 53 59 61 67 71 73 79 83 89 97
				t.Errorf("result %+v", r)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Main(context.Background(), tt.args, envOf(tt.env), &stdout, &stderr)
			if code != 0 {
				t.Fatalf("exit %d, stderr %q", code, stderr.String())
			}
			if strings.Count(stdout.String(), "\n") != 1 {
				t.Errorf("stdout %q is not one line", stdout.String())
			}
			var r Result
			if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
				t.Fatalf("stdout %q: %v", stdout.String(), err)
			}
			if r.Workload != tt.args[0] {
				t.Errorf("workload %q, want %q", r.Workload, tt.args[0])
			}
			tt.check(t, r)
		})
	}
}

func TestMainExitCodes(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		want       int
		wantStderr string
	}{
		{"no built-in", nil, 2, "usage"},
		{"unknown built-in", []string{"fib"}, 2, "unknown built-in"},
		{"unknown flag", []string{"primes", "--to", "5", "--bogus", "1"}, 2, "--bogus"},
		{"flag without value", []string{"primes", "--to"}, 2, "--to"},
		{"positional argument", []string{"primes", "100"}, 2, "unexpected argument"},
		{"negative value", []string{"membw", "--mib", "-2"}, 2, "--mib"},
		{"missing file is a runtime error", []string{"wordcount", "--file", "/nonexistent/vmctl"}, 1, "no such file"},
		{"help", []string{"--help"}, 0, ""},
		{"built-in help", []string{"io", "--help"}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Main(context.Background(), tt.args, envOf(nil), &stdout, &stderr)
			if code != tt.want || !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("exit %d stderr %q, want %d mentioning %q", code, stderr.String(), tt.want, tt.wantStderr)
			}
			if code != 0 && stdout.Len() != 0 {
				t.Errorf("failed run printed %q on stdout", stdout.String())
			}
		})
	}
}

func TestMainBoolFlagForms(t *testing.T) {
	b, err := lookup("io")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		argv []string
		want string
	}{
		{"bare", []string{"--device", "--path", "/x"}, "true"},
		{"bare at the end", []string{"--path", "/x", "--device"}, "true"},
		{"with value", []string{"--device", "false", "--path", "/x"}, "false"},
		{"equals", []string{"--device=true"}, "true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := parseCommandLine(b, tt.argv)
			if err != nil || raw["device"] != tt.want {
				t.Errorf("parsed %v, %v; want device=%s", raw, err, tt.want)
			}
		})
	}
}
