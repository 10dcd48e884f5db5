package workload

import (
	"errors"
	"fmt"
)

// Sentinel errors; test for them with errors.Is. Both mean nothing was
// run, and Main exits 2 for them.
var (
	// ErrUnknownBuiltin: the name is not one of Names().
	ErrUnknownBuiltin = errors.New("unknown built-in")
	// ErrBadArgument: a flag or partition variable is unknown, missing,
	// malformed or out of range.
	ErrBadArgument = errors.New("bad argument")
)

// badFlag names the flag at fault, so a user can find it in a job spec.
func badFlag(builtin, key, format string, a ...any) error {
	return fmt.Errorf("workload: %s: --%s: %s: %w", builtin, key, fmt.Sprintf(format, a...), ErrBadArgument)
}

// badEnv names the environment variable at fault.
func badEnv(name, value, reason string) error {
	return fmt.Errorf("%s=%q: %s: %w", name, value, reason, ErrBadArgument)
}
