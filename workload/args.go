package workload

import "strconv"

// args holds a built-in's flags, parsed, bounded and defaulted.
type args struct {
	builtin string
	ints    map[string]int64
	strs    map[string]string
	bools   map[string]bool
	// given records the flags set explicitly rather than by default.
	given map[string]bool
}

func (a *args) int(name string) int64    { return a.ints[name] }
func (a *args) str(name string) string   { return a.strs[name] }
func (a *args) bool(name string) bool    { return a.bools[name] }
func (a *args) isGiven(name string) bool { return a.given[name] }

// parseArgs checks raw against b's flags and fills in defaults.
func parseArgs(b *builtin, raw map[string]string) (*args, error) {
	a := &args{
		builtin: b.name,
		ints:    map[string]int64{},
		strs:    map[string]string{},
		bools:   map[string]bool{},
		given:   map[string]bool{},
	}
	for key := range raw {
		if _, ok := b.flag(key); !ok {
			return nil, badFlag(b.name, key, "unknown flag (flags: %s)", b.flagNames())
		}
	}
	for i := range b.flags {
		f := &b.flags[i]
		v, ok := raw[f.name]
		if ok {
			a.given[f.name] = true
		} else if f.required {
			return nil, badFlag(b.name, f.name, "required")
		} else if f.def == "" {
			continue
		} else {
			v = f.def
		}
		if err := a.set(f, v); err != nil {
			return nil, err
		}
	}
	if b.check != nil {
		if err := b.check(a); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func (a *args) set(f *flagSpec, v string) error {
	switch f.kind {
	case intFlag:
		n, err := strconv.ParseInt(v, 10, 64)
		switch {
		case err != nil:
			return badFlag(a.builtin, f.name, "%q is not an integer", v)
		case n < 0 && f.min >= 0:
			return badFlag(a.builtin, f.name, "%d is negative", n)
		case n < f.min:
			return badFlag(a.builtin, f.name, "%d is below the minimum %d", n, f.min)
		case n > f.max:
			return badFlag(a.builtin, f.name, "%d is above the maximum %d", n, f.max)
		}
		a.ints[f.name] = n
	case boolFlag:
		t, err := strconv.ParseBool(v)
		if err != nil {
			return badFlag(a.builtin, f.name, "%q is not true or false", v)
		}
		a.bools[f.name] = t
	default:
		a.strs[f.name] = v
	}
	return nil
}
