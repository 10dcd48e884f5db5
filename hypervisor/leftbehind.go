package hypervisor

import (
	"errors"
	"fmt"
	"strings"
)

// ErrLeftBehind: the work was done, but resources vmctl made could not be
// removed. A *LeftBehind in the error's chain names each one with its fix.
// The CLI exits with code 3 when this is all that went wrong.
var ErrLeftBehind = errors.New("resources left behind")

// Leftover is one resource vmctl made and could not remove.
type Leftover struct {
	// Kind is what it is: "domain" (a VM), "statedir", "scratch",
	// "socket", "claim", or "worker" (a job worker that is not a VM).
	Kind string `json:"kind"`
	Host string `json:"host,omitempty"`
	Name string `json:"name"`
	Path string `json:"path,omitempty"`
	// Error is why it could not be removed.
	Error string `json:"error"`
	// Fix is the command (or step) that removes it.
	Fix string `json:"fix"`

	err error
}

func (l Leftover) String() string {
	var b strings.Builder
	b.WriteString(l.Kind)
	if l.Name != "" {
		b.WriteString(" " + l.Name)
	}
	if l.Path != "" && l.Path != l.Name {
		b.WriteString(" (" + l.Path + ")")
	}
	if l.Host != "" {
		b.WriteString(" on host " + l.Host)
	}
	if l.Error != "" {
		b.WriteString(": " + l.Error)
	}
	if l.Fix != "" {
		b.WriteString("; fix: " + l.Fix)
	}
	return b.String()
}

// LeftBehind lists resources that could not be removed. errors.Is(err,
// ErrLeftBehind) holds for it, and each removal's own error stays in the
// chain (errors.Is(err, context.DeadlineExceeded) still works).
type LeftBehind struct {
	Items []Leftover
}

func (e *LeftBehind) Error() string {
	switch len(e.Items) {
	case 0:
		return ErrLeftBehind.Error()
	case 1:
		return "left behind " + e.Items[0].String()
	}
	lines := make([]string, len(e.Items))
	for i, l := range e.Items {
		lines[i] = "  " + l.String()
	}
	return fmt.Sprintf("left behind %d resources:\n%s", len(e.Items), strings.Join(lines, "\n"))
}

// Is makes errors.Is(err, ErrLeftBehind) true.
func (e *LeftBehind) Is(target error) bool { return target == ErrLeftBehind }

// Unwrap returns each removal's error.
func (e *LeftBehind) Unwrap() []error {
	var out []error
	for _, l := range e.Items {
		if l.err != nil {
			out = append(out, l.err)
		}
	}
	return out
}

// VMFix is how to remove a VM vmctl could not. `vmctl gc --yes` is
// offered for a VM with an owner (Metadata.Owner), which gc removes once
// that process is gone; a user's VM only goes by `vmctl vm rm`.
func VMFix(host, name string, owned bool) string {
	if !owned {
		return fmt.Sprintf("`vmctl vm rm %s` on host %s", name, host)
	}
	return fmt.Sprintf("`vmctl vm rm %s` on host %s, or `vmctl gc --yes`", name, host)
}

// NewLeftover is a resource that could not be removed because of err.
func NewLeftover(kind, host, name, path, fix string, err error) Leftover {
	l := Leftover{Kind: kind, Host: host, Name: name, Path: path, Fix: fix, err: err}
	if err != nil {
		l.Error = err.Error()
	}
	return l
}

// LeftVM classifies the result of removing a VM vmctl made on host. A VM
// that was removed or is already gone (ErrNotFound) is nil; a domain that
// is not vmctl's, or a bad name, is err itself (nothing of vmctl's is
// left); any other failure may have left the VM there and is a
// *LeftBehind naming it and the fix (see VMFix; owned: the VM has an
// Owner).
func LeftVM(host, name string, owned bool, err error) error {
	switch {
	case err == nil, errors.Is(err, ErrNotFound):
		return nil
	case errors.Is(err, ErrNotOwned), errors.Is(err, ErrInvalidName):
		return err
	case OnlyLeftBehind(err):
		return err // it names what stayed already
	}
	return &LeftBehind{Items: []Leftover{NewLeftover("domain", host, name, "", VMFix(host, name, owned), err)}}
}

// JoinLeftovers is a *LeftBehind of items, or nil when there are none.
func JoinLeftovers(items []Leftover) error {
	if len(items) == 0 {
		return nil
	}
	return &LeftBehind{Items: append([]Leftover(nil), items...)}
}

// Leftovers gathers every Leftover named anywhere in err's tree.
func Leftovers(err error) []Leftover {
	var out []Leftover
	walk(err, func(lb *LeftBehind) { out = append(out, lb.Items...) })
	return out
}

func walk(err error, visit func(*LeftBehind)) {
	switch e := err.(type) {
	case nil:
		return
	case *LeftBehind:
		visit(e)
		return
	case interface{ Unwrap() []error }:
		for _, c := range e.Unwrap() {
			walk(c, visit)
		}
	case interface{ Unwrap() error }:
		walk(e.Unwrap(), visit)
	}
}

// OnlyLeftBehind reports whether err is nothing but resources left behind:
// every branch of its tree (errors.Join, wrapping) ends in a *LeftBehind.
// The CLI exits 3 for such an error and 1 for any other, whose message
// still names what was left behind.
func OnlyLeftBehind(err error) bool {
	switch e := err.(type) {
	case nil:
		return false
	case *LeftBehind:
		return true
	case interface{ Unwrap() []error }:
		cs := e.Unwrap()
		if len(cs) == 0 {
			return false
		}
		for _, c := range cs {
			if !OnlyLeftBehind(c) {
				return false
			}
		}
		return true
	case interface{ Unwrap() error }:
		return OnlyLeftBehind(e.Unwrap())
	}
	return false
}
