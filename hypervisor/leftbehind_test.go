package hypervisor_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vmctl/vmctl/hypervisor"
)

func TestLeftVM(t *testing.T) {
	lost := fmt.Errorf("lookup j-0: %w", hypervisor.ErrConnectionLost)
	tests := []struct {
		name     string
		err      error
		wantNil  bool
		wantLeft bool
		wantIs   error
	}{
		{name: "removed", err: nil, wantNil: true},
		{name: "already gone", err: fmt.Errorf("remove j-0: %w", hypervisor.ErrNotFound), wantNil: true},
		{name: "not vmctl's", err: fmt.Errorf("j-0: %w", hypervisor.ErrNotOwned), wantIs: hypervisor.ErrNotOwned},
		{name: "bad name", err: fmt.Errorf("%w: x/y", hypervisor.ErrInvalidName), wantIs: hypervisor.ErrInvalidName},
		{name: "connection lost", err: lost, wantLeft: true, wantIs: hypervisor.ErrConnectionLost},
		{name: "timed out", err: fmt.Errorf("destroy j-0: %w", context.DeadlineExceeded), wantLeft: true, wantIs: context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := hypervisor.LeftVM("h1", "j-0", true, tt.err)
			if tt.wantNil {
				if got != nil {
					t.Fatalf("got %v, want nil", got)
				}
				return
			}
			if errors.Is(got, hypervisor.ErrLeftBehind) != tt.wantLeft {
				t.Fatalf("errors.Is(%v, ErrLeftBehind) = %v, want %v", got, !tt.wantLeft, tt.wantLeft)
			}
			if !errors.Is(got, tt.wantIs) {
				t.Fatalf("%v lost its identity %v", got, tt.wantIs)
			}
			if !tt.wantLeft {
				return
			}
			var lb *hypervisor.LeftBehind
			if !errors.As(got, &lb) || len(lb.Items) != 1 {
				t.Fatalf("want one *LeftBehind item, got %#v", got)
			}
			l := lb.Items[0]
			if l.Kind != "domain" || l.Name != "j-0" || l.Host != "h1" || l.Error != tt.err.Error() {
				t.Fatalf("item %+v", l)
			}
			for _, want := range []string{"j-0", "host h1", tt.err.Error(), "`vmctl vm rm j-0` on host h1", "`vmctl gc --yes`"} {
				if !strings.Contains(got.Error(), want) {
					t.Errorf("message %q lacks %q", got, want)
				}
			}
		})
	}
}

func TestOnlyLeftBehind(t *testing.T) {
	left := hypervisor.LeftVM("h1", "a", true, errors.New("client socket is closed"))
	other := errors.New("partition 3 failed")
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "nil", err: nil},
		{name: "plain error", err: other},
		{name: "left behind", err: left, want: true},
		{name: "wrapped", err: fmt.Errorf("job x: %w", left), want: true},
		{name: "joined left behind", err: errors.Join(left, hypervisor.LeftVM("h2", "b", true, other)), want: true},
		{name: "joined with nil", err: errors.Join(nil, left), want: true},
		{name: "failure and left behind", err: errors.Join(other, left)},
		{name: "sentinel alone", err: hypervisor.ErrLeftBehind},
		{name: "empty join", err: hypervisor.JoinLeftovers(nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hypervisor.OnlyLeftBehind(tt.err); got != tt.want {
				t.Fatalf("OnlyLeftBehind(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestLeftoversGathersEveryItem(t *testing.T) {
	err := errors.Join(
		fmt.Errorf("stop: %w", hypervisor.LeftVM("h1", "a", true, errors.New("x"))),
		errors.New("unrelated"),
		hypervisor.JoinLeftovers([]hypervisor.Leftover{hypervisor.NewLeftover("scratch", "local", "b", "/s/b.raw", "remove /s/b.raw by hand", errors.New("EBUSY"))}),
	)
	items := hypervisor.Leftovers(err)
	if len(items) != 2 || items[0].Name != "a" || items[1].Path != "/s/b.raw" {
		t.Fatalf("items %+v", items)
	}
	msg := hypervisor.JoinLeftovers(items).Error()
	if !strings.HasPrefix(msg, "left behind 2 resources:\n") || !strings.Contains(msg, "scratch b (/s/b.raw) on host local: EBUSY; fix: remove /s/b.raw by hand") {
		t.Fatalf("message %q", msg)
	}
}

func TestRemoveNamesAStateDirThatStays(t *testing.T) {
	e := newEnv(t)
	if _, err := e.mgr.Create(context.Background(), e.req("a")); err != nil {
		t.Fatal(err)
	}
	// An immutable file cannot be unlinked, even by root.
	dir := e.mgr.StateDir("a")
	pin := dir + "/pin"
	if err := setImmutable(t, pin); err != nil {
		t.Skipf("cannot make %s immutable here: %v", pin, err)
	}
	err := hypervisor.LeftVM("h1", "a", true, e.mgr.Remove(context.Background(), "a"))
	items := hypervisor.Leftovers(err)
	if !hypervisor.OnlyLeftBehind(err) || len(items) != 1 || items[0].Kind != "statedir" || items[0].Path != dir {
		t.Fatalf("err = %v, items %+v: want the state dir named", err, items)
	}
	if _, lerr := e.fake.Lookup(context.Background(), "a"); !errors.Is(lerr, hypervisor.ErrNotFound) {
		t.Fatalf("the domain must be gone: %v", lerr)
	}
}

// fsImmutableFL is FS_IMMUTABLE_FL of linux/fs.h (chattr's i).
const fsImmutableFL = 0x10

// setImmutable creates path with the immutable flag (chattr +i), cleared
// again when the test ends.
func setImmutable(t *testing.T, path string) error {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err != nil {
		return err
	}
	if err := unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, int(flags|fsImmutableFL)); err != nil {
		return err
	}
	t.Cleanup(func() {
		if g, err := os.Open(path); err == nil {
			unix.IoctlSetPointerInt(int(g.Fd()), unix.FS_IOC_SETFLAGS, int(flags))
			g.Close()
		}
	})
	return nil
}
