package guestimage

import (
	"fmt"
	"slices"
	"strings"
)

// loadPlan is the result of resolving the wanted modules.
type loadPlan struct {
	// Order lists the modules to insmod, every module after its
	// dependencies.
	Order []string
	// Builtin lists wanted modules that are compiled into the kernel.
	Builtin []string
}

// resolveLoadOrder orders wanted and their transitive dependencies so that
// dependencies come first. Modules are visited in sorted order and so are
// each module's dependencies, so the result depends only on the inputs'
// content. available maps a normalised module name to its modinfo; builtin
// holds names listed in modules.builtin. A name found in neither is an error
// wrapping ErrModuleNotFound that names every missing module; a loop is an
// error wrapping ErrDependencyCycle that shows it.
func resolveLoadOrder(wanted []string, available map[string]moduleInfo, builtin map[string]bool) (loadPlan, error) {
	const (
		unvisited = iota
		visiting
		done
	)
	var (
		plan    loadPlan
		state   = map[string]int{}
		missing []string
		stack   []string
	)
	var visit func(name, requiredBy string) error
	visit = func(name, requiredBy string) error {
		switch state[name] {
		case done:
			return nil
		case visiting:
			i := slices.Index(stack, name)
			cycle := append(slices.Clone(stack[i:]), name)
			return fmt.Errorf("%w: %s", ErrDependencyCycle, strings.Join(cycle, " -> "))
		}
		// Built-in wins over a stray .ko: insmod of a built-in module fails.
		if builtin[name] {
			state[name] = done
			if requiredBy == "" {
				plan.Builtin = append(plan.Builtin, name)
			}
			return nil
		}
		info, ok := available[name]
		if !ok {
			state[name] = done
			if requiredBy == "" {
				missing = append(missing, name)
			} else {
				missing = append(missing, fmt.Sprintf("%s (required by %s)", name, requiredBy))
			}
			return nil
		}
		state[name] = visiting
		stack = append(stack, name)
		deps := make([]string, 0, len(info.Depends))
		for _, d := range info.Depends {
			deps = append(deps, normalizeModule(d))
		}
		slices.Sort(deps)
		for _, d := range slices.Compact(deps) {
			if err := visit(d, name); err != nil {
				return err
			}
		}
		stack = stack[:len(stack)-1]
		state[name] = done
		plan.Order = append(plan.Order, name)
		return nil
	}

	names := make([]string, 0, len(wanted))
	for _, w := range wanted {
		names = append(names, normalizeModule(w))
	}
	slices.Sort(names)
	for _, name := range slices.Compact(names) {
		if err := visit(name, ""); err != nil {
			return loadPlan{}, err
		}
	}
	if len(missing) > 0 {
		return loadPlan{}, fmt.Errorf("%w (neither a .ko in the package nor built in): %s", ErrModuleNotFound, strings.Join(missing, ", "))
	}
	return plan, nil
}
