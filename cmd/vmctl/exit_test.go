package main

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/vmctl/vmctl/hypervisor"
	"github.com/vmctl/vmctl/reap"
)

func TestWithExitCode(t *testing.T) {
	left := hypervisor.LeftVM("local", "j-a-0", true, errors.New("client socket is closed"))
	tests := []struct {
		name string
		err  error
		code int // 0: not an exitError, so main exits 1
	}{
		{name: "plain failure", err: errors.New("boom")},
		{name: "left behind", err: left, code: exitLeftBehind},
		{name: "left behind, wrapped and joined", err: errors.Join(fmt.Errorf("job: %w", left), hypervisor.LeftVM("h2", "j-a-1", true, errors.New("x"))), code: exitLeftBehind},
		{name: "failed and left behind", err: errors.Join(errors.New("partition 2 failed"), left)},
		{name: "not vmctl's", err: &hypervisor.ForeignDomain{Name: "x", Host: "local"}},
		{name: "guest exit code", err: exitError{code: 3}, code: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ee exitError
			got := withExitCode(tt.err)
			isExit := errors.As(got, &ee)
			if (tt.code != 0) != isExit || (isExit && ee.code != tt.code) {
				t.Fatalf("withExitCode(%v) = %#v, want code %d", tt.err, got, tt.code)
			}
			if hypervisor.OnlyLeftBehind(tt.err) && (ee.err == nil || !errors.Is(got, hypervisor.ErrLeftBehind) || got.Error() != tt.err.Error()) {
				t.Fatalf("the message and identity must survive: %v", got)
			}
		})
	}
}

func TestPrintFindings(t *testing.T) {
	tests := []struct {
		name    string
		found   []reap.Finding
		removed bool
		has     []string
	}{
		{name: "nothing", has: []string{"nothing left behind"}},
		{name: "dry run", found: []reap.Finding{{Kind: reap.KindDomain, Host: "local", Name: "j-a-0", Owner: "pid 7", Reason: "owner pid 7 is gone"}},
			has: []string{"domain", "j-a-0", "pid 7", "owner pid 7 is gone", "dry run: `vmctl gc --yes` removes these"}},
		{name: "removed", removed: true, found: []reap.Finding{
			{Kind: reap.KindStateDir, Host: "local", Name: "x", Path: "/var/lib/vmctl/vms/x", Removed: true},
			{Kind: reap.KindDomain, Host: "r", Name: "y", Error: "connection lost"}},
			has: []string{"/var/lib/vmctl/vms/x", "removed", "error: connection lost"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := printFindings(&b, tt.found, tt.removed); err != nil {
				t.Fatal(err)
			}
			for _, h := range tt.has {
				if !strings.Contains(b.String(), h) {
					t.Errorf("output lacks %q:\n%s", h, b.String())
				}
			}
		})
	}
}

func TestEmptyFindingsAreAJSONArray(t *testing.T) {
	var b bytes.Buffer
	if err := writeJSON(&b, reap.Filter([]reap.Finding{}, []string{"none"})); err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(b.String()) != "[]" {
		t.Fatalf("got %q, want []", b.String())
	}
}
