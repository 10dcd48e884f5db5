package jobs

import (
	"errors"
	"strconv"
	"strings"
)

// FieldError is one problem with a spec, located by the field's path
// (e.g. "vm.shares[1].path") and, when the spec came from YAML, its line.
// It wraps ErrInvalidSpec.
type FieldError struct {
	File  string
	Line  int
	Field string // empty for a problem with the file as a whole
	Msg   string // what is wrong and how to fix it
}

func (e *FieldError) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		b.WriteString(e.File + ":" + strconv.Itoa(e.Line) + ": ")
	case e.File != "":
		b.WriteString(e.File + ": ")
	case e.Line > 0:
		b.WriteString("line " + strconv.Itoa(e.Line) + ": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

func (e *FieldError) Unwrap() error { return ErrInvalidSpec }

// inFile stamps errs with the spec's file name and joins them, so a user
// sees every problem at once; nil when there are none.
func inFile(file string, errs ...*FieldError) error {
	if len(errs) == 0 {
		return nil
	}
	if len(errs) == 1 {
		errs[0].File = file
		return errs[0]
	}
	all := make([]error, len(errs))
	for i, e := range errs {
		e.File = file
		all[i] = e
	}
	return errors.Join(all...)
}

// lineOf finds the YAML line of field, or of its nearest written parent
// ("partition.count" falls back to "partition" when count is absent).
func lineOf(lines map[string]int, field string) int {
	for field != "" {
		if l, ok := lines[field]; ok {
			return l
		}
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			return 0
		}
		field = field[:i]
	}
	return 0
}
