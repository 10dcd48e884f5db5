package workload

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestNames(t *testing.T) {
	want := []string{"cpu-hash", "io", "membw", "primes", "syscalls", "wordcount"}
	if got := Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name     string
		builtin  string
		args     map[string]string
		want     error
		wantText []string // each must appear in the error
	}{
		{name: "primes ok", builtin: "primes", args: map[string]string{"to": "100"}},
		{name: "every built-in with defaults", builtin: "cpu-hash"},
		{name: "io ok", builtin: "io", args: map[string]string{"path": "/dev/vda", "device": "true", "fsync-every-mib": "0"}},
		{name: "wordcount without flags", builtin: "wordcount"},
		{name: "unknown built-in", builtin: "fib", want: ErrUnknownBuiltin, wantText: []string{`"fib"`, "primes", "wordcount"}},
		{name: "unknown key", builtin: "primes", args: map[string]string{"to": "9", "upto": "10"}, want: ErrBadArgument, wantText: []string{"--upto", "from, to"}},
		{name: "missing required", builtin: "primes", want: ErrBadArgument, wantText: []string{"--to", "required"}},
		{name: "negative size", builtin: "cpu-hash", args: map[string]string{"mib": "-1"}, want: ErrBadArgument, wantText: []string{"--mib", "negative"}},
		{name: "negative from", builtin: "primes", args: map[string]string{"from": "-5", "to": "10"}, want: ErrBadArgument, wantText: []string{"--from", "negative"}},
		{name: "zero passes", builtin: "membw", args: map[string]string{"passes": "0"}, want: ErrBadArgument, wantText: []string{"--passes", "minimum 1"}},
		{name: "not a number", builtin: "syscalls", args: map[string]string{"count": "lots"}, want: ErrBadArgument, wantText: []string{"--count", `"lots"`}},
		{name: "too large", builtin: "primes", args: map[string]string{"to": "99999999999999999"}, want: ErrBadArgument, wantText: []string{"--to", "maximum"}},
		{name: "from after to", builtin: "primes", args: map[string]string{"from": "10", "to": "5"}, want: ErrBadArgument, wantText: []string{"--from", "--to"}},
		{name: "io needs a path", builtin: "io", want: ErrBadArgument, wantText: []string{"--path", "required"}},
		{name: "io empty path", builtin: "io", args: map[string]string{"path": ""}, want: ErrBadArgument, wantText: []string{"--path"}},
		{name: "device not a bool", builtin: "io", args: map[string]string{"path": "/x", "device": "yes"}, want: ErrBadArgument, wantText: []string{"--device"}},
		{name: "negative block size", builtin: "io", args: map[string]string{"path": "/x", "block-kib": "-4"}, want: ErrBadArgument, wantText: []string{"--block-kib"}},
		{name: "range over two files", builtin: "wordcount", args: map[string]string{"file": "a,b", "length": "5"}, want: ErrBadArgument, wantText: []string{"--offset", "one --file"}},
		{name: "empty file list", builtin: "wordcount", args: map[string]string{"file": ","}, want: ErrBadArgument, wantText: []string{"--file"}},
		{name: "negative length", builtin: "wordcount", args: map[string]string{"file": "a", "length": "-1"}, want: ErrBadArgument, wantText: []string{"--length"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.builtin, tt.args)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Validate = %v, want %v", err, tt.want)
			}
			for _, s := range tt.wantText {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %s", err, s)
				}
			}
		})
	}
}

func TestArgv(t *testing.T) {
	got := Argv("io", map[string]string{"path": "/dev/vda", "mib": "64", "device": "true"})
	want := []string{"builtin", "io", "--device", "true", "--mib", "64", "--path", "/dev/vda"}
	if !slices.Equal(got, want) {
		t.Errorf("Argv = %q, want %q", got, want)
	}
	if got := Argv("primes", nil); !slices.Equal(got, []string{"builtin", "primes"}) {
		t.Errorf("Argv without args = %q", got)
	}
}

// TestArgvRoundTrip checks that what the host writes, the agent reads
// back into the same flags.
func TestArgvRoundTrip(t *testing.T) {
	args := map[string]string{"path": "/tmp/x", "device": "false", "mib": "8", "block-kib": "-3"}
	argv := Argv("io", args)
	b, err := lookup(argv[1])
	if err != nil {
		t.Fatal(err)
	}
	raw, err := parseCommandLine(b, argv[2:])
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != len(args) {
		t.Fatalf("parsed %v, want %v", raw, args)
	}
	for k, v := range args {
		if raw[k] != v {
			t.Errorf("--%s = %q, want %q", k, raw[k], v)
		}
	}
}
