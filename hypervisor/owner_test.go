package hypervisor_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vmctl/vmctl/hypervisor"
)

// exitedPID runs a process to its end and returns its pid: a pid nothing
// owns any more.
func exitedPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.ProcessState.Pid()
}

func TestCheckOwner(t *testing.T) {
	self := *hypervisor.SelfOwner()
	if self.PID != os.Getpid() || self.Start == 0 || self.Boot == "" || self.Host == "" {
		t.Fatalf("SelfOwner() = %+v: every part is readable here", self)
	}
	with := func(f func(*hypervisor.Owner)) hypervisor.Owner { o := self; f(&o); return o }
	tests := []struct {
		name      string
		owner     hypervisor.Owner
		alive     bool
		reasonHas string
	}{
		{name: "this process", owner: self, alive: true, reasonHas: "still runs"},
		{name: "exited", owner: with(func(o *hypervisor.Owner) { o.PID = exitedPID(t) }), reasonHas: "is gone"},
		{name: "pid reused", owner: with(func(o *hypervisor.Owner) { o.Start++ }), reasonHas: "another process"},
		{name: "earlier boot", owner: with(func(o *hypervisor.Owner) { o.Boot = "00000000-0000-0000-0000-000000000000" }), reasonHas: "rebooted"},
		{name: "another machine", owner: with(func(o *hypervisor.Owner) { o.Host = "elsewhere.example"; o.PID = exitedPID(t) }), alive: true, reasonHas: "elsewhere.example"},
		{name: "old record without start, boot or host", owner: hypervisor.Owner{PID: os.Getpid()}, alive: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			alive, why := hypervisor.CheckOwner(tt.owner)
			if alive != tt.alive || !strings.Contains(why, tt.reasonHas) {
				t.Fatalf("CheckOwner(%+v) = %v, %q; want %v mentioning %q", tt.owner, alive, why, tt.alive, tt.reasonHas)
			}
		})
	}
}

func TestMetadataOwner(t *testing.T) {
	owner := &hypervisor.Owner{PID: 4242, Start: 987654, Boot: "b0b0", Host: "h"}
	tests := []struct {
		name  string
		meta  hypervisor.Metadata
		xmlIn string // parsed instead of meta, when set
		want  *hypervisor.Owner
		has   string
	}{
		{name: "with owner", meta: hypervisor.Metadata{Job: "abc123", Owner: owner}, want: owner,
			has: `<owner pid="4242" start="987654" boot="b0b0" host="h"></owner>`},
		{name: "without owner", meta: hypervisor.Metadata{Job: "abc123"}},
		{name: "written before owners", xmlIn: `<vm version="1"><created>2026-01-02T03:04:05Z</created><job>abc123</job></vm>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := tt.xmlIn
			if x == "" {
				var err error
				if x, err = hypervisor.MarshalMetadata(tt.meta); err != nil {
					t.Fatal(err)
				}
			}
			if !strings.Contains(x, tt.has) || (tt.want == nil && strings.Contains(x, "<owner")) {
				t.Fatalf("xml %s: want %q, and no owner element without an owner", x, tt.has)
			}
			got, err := hypervisor.UnmarshalMetadata(x)
			if err != nil {
				t.Fatal(err)
			}
			if (got.Owner == nil) != (tt.want == nil) || (got.Owner != nil && *got.Owner != *tt.want) {
				t.Fatalf("owner %+v, want %+v", got.Owner, tt.want)
			}
			if got.Job != "abc123" {
				t.Fatalf("job %q", got.Job)
			}
		})
	}
}

func TestCreateRecordsOwners(t *testing.T) {
	tests := []struct {
		name  string
		owner *hypervisor.Owner
	}{
		{name: "a job worker", owner: &hypervisor.Owner{PID: 7, Start: 8, Boot: "b", Host: "h"}},
		{name: "the user's vm", owner: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			req := e.req("a")
			req.Owner = tt.owner
			res, err := e.mgr.Create(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Info.Meta.Owner; (got == nil) != (tt.owner == nil) || (got != nil && *got != *tt.owner) {
				t.Fatalf("domain owner %+v, want %+v", got, tt.owner)
			}
			// The state dir names the process that made it, whatever the
			// VM's owner: that is the create in flight.
			so, err := hypervisor.ReadStateOwner(e.mgr.StateDir("a"))
			if err != nil {
				t.Fatal(err)
			}
			if so.PID != os.Getpid() || so.Start == 0 || so.Created.IsZero() {
				t.Fatalf("owner file %+v", so)
			}
		})
	}
}

func TestReadStateOwner(t *testing.T) {
	dir := t.TempDir()
	if _, err := hypervisor.ReadStateOwner(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing owner file: %v, want ErrNotExist", err)
	}
	os.WriteFile(dir+"/"+hypervisor.OwnerFile, []byte("{not json"), 0o600)
	if _, err := hypervisor.ReadStateOwner(dir); err == nil {
		t.Fatal("a torn owner file must not read as an owner")
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := hypervisor.WriteStateOwner(dir, &hypervisor.Owner{PID: 12, Start: 34, Boot: "b", Host: "h"}, now); err != nil {
		t.Fatal(err)
	}
	so, err := hypervisor.ReadStateOwner(dir)
	if err != nil || so.PID != 12 || so.Start != 34 || !so.Created.Equal(now) {
		t.Fatalf("%+v, %v", so, err)
	}
}
