package agent

import (
	"fmt"
	"math"
	"path"
	"strings"
)

// maxInfoString bounds free-text fields a guest reports, so a hostile
// guest cannot make the host log or store arbitrary amounts of text.
const maxInfoString = 256

// Validate checks a request before it is sent or run. The output cap
// allowed depends on r.Stream.
func (r *ExecRequest) Validate() error {
	return r.validate(r.Stream)
}

// validate checks the request as it will run: streamed or not is decided
// by the caller's writers (Client.Exec) or output function (Executor.Run)
// rather than by the Stream field the caller filled in.
func (r *ExecRequest) validate(streamed bool) error {
	if len(r.Argv) == 0 || r.Argv[0] == "" {
		return fmt.Errorf("agent: exec: empty argv: %w", ErrBadRequest)
	}
	for _, a := range r.Argv {
		if strings.IndexByte(a, 0) >= 0 {
			return fmt.Errorf("agent: exec: NUL byte in argv: %w", ErrBadRequest)
		}
	}
	for _, e := range r.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" || strings.IndexByte(e, 0) >= 0 {
			return fmt.Errorf("agent: exec: env entry %q is not KEY=VALUE: %w", e, ErrBadRequest)
		}
	}
	if r.Dir != "" && !path.IsAbs(r.Dir) {
		return fmt.Errorf("agent: exec: dir %q is not absolute: %w", r.Dir, ErrBadRequest)
	}
	limit := int64(MaxExecOutput)
	if streamed {
		limit = MaxStreamExecOutput
	}
	if r.MaxOutput < 0 || r.MaxOutput > limit {
		how := "unstreamed"
		if streamed {
			how = "streamed"
		}
		return fmt.Errorf("agent: exec: max_output %d outside [0, %d] for %s output: %w", r.MaxOutput, limit, how, ErrBadRequest)
	}
	if r.Timeout < 0 {
		return fmt.Errorf("agent: exec: negative timeout: %w", ErrBadRequest)
	}
	return nil
}

// Validate checks a mount request.
func (r *MountRequest) Validate() error {
	// The tag becomes mount(2)'s source and the target a path; refuse
	// anything that could smuggle options or escape via "..".
	if r.Tag == "" || len(r.Tag) > maxInfoString || strings.ContainsAny(r.Tag, ",\x00/ ") {
		return fmt.Errorf("agent: mount: invalid tag %q: %w", r.Tag, ErrBadRequest)
	}
	if !path.IsAbs(r.Target) || path.Clean(r.Target) != r.Target || r.Target == "/" || strings.IndexByte(r.Target, 0) >= 0 {
		return fmt.Errorf("agent: mount: target %q must be a clean absolute path other than /: %w", r.Target, ErrBadRequest)
	}
	return nil
}

func (h *HelloInfo) validate() error {
	switch {
	case len(h.AgentVersion) > maxInfoString || len(h.KernelRelease) > maxInfoString:
		return fmt.Errorf("agent: hello: oversize version string: %w", ErrProtocol)
	case !finiteNonNegative(h.UptimeSeconds):
		return fmt.Errorf("agent: hello: uptime %v: %w", h.UptimeSeconds, ErrProtocol)
	case h.Boot.ModulesLoaded < 0 || h.Boot.ModulesFailed < 0 || h.Boot.ModulesTime < 0 || h.Boot.PortWait < 0 || h.Boot.InitTime < 0:
		return fmt.Errorf("agent: hello: negative boot info: %w", ErrProtocol)
	}
	return nil
}

// validate checks a result against the cap the host asked for.
func (r *ExecResult) validate(limit int64, streamed bool) error {
	switch {
	case r.ExitCode < -1 || r.ExitCode > 255:
		return fmt.Errorf("agent: exec: exit code %d: %w", r.ExitCode, ErrProtocol)
	case r.Signal != "" && (r.ExitCode != -1 || len(r.Signal) > 16):
		return fmt.Errorf("agent: exec: signal %q with exit code %d: %w", r.Signal, r.ExitCode, ErrProtocol)
	case r.Duration < 0:
		return fmt.Errorf("agent: exec: negative duration: %w", ErrProtocol)
	case streamed && (len(r.Stdout) > 0 || len(r.Stderr) > 0):
		return fmt.Errorf("agent: exec: output in a streamed response: %w", ErrProtocol)
	case int64(len(r.Stdout)) > limit || int64(len(r.Stderr)) > limit:
		return fmt.Errorf("agent: exec: output of %d/%d bytes exceeds cap %d: %w", len(r.Stdout), len(r.Stderr), limit, ErrProtocol)
	}
	return nil
}

func (s *GuestStats) validate() error {
	if s.NumCPU < 1 || s.NumCPU > 1<<16 {
		return fmt.Errorf("agent: stats: num_cpu %d: %w", s.NumCPU, ErrProtocol)
	}
	if !finiteNonNegative(s.UptimeSeconds) {
		return fmt.Errorf("agent: stats: uptime %v: %w", s.UptimeSeconds, ErrProtocol)
	}
	for _, l := range s.LoadAverage {
		if !finiteNonNegative(l) {
			return fmt.Errorf("agent: stats: load average %v: %w", l, ErrProtocol)
		}
	}
	m := s.Memory
	if m.Free > m.Total || m.Available > m.Total {
		return fmt.Errorf("agent: stats: free/available memory above total: %w", ErrProtocol)
	}
	return nil
}

func finiteNonNegative(f float64) bool {
	return f >= 0 && !math.IsInf(f, 0) && !math.IsNaN(f)
}
