package guestimage

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestOptionsValidate(t *testing.T) {
	dir := t.TempDir()
	agent := writeFile(t, dir, "agent", makeStaticBinary(t, "agent"))
	busybox := writeFile(t, dir, "busybox", makeStaticBinary(t, "busybox"))
	tests := []struct {
		name    string
		opts    Options
		mention []string
	}{
		{name: "minimal", opts: Options{AgentPath: agent, BusyboxPath: busybox}},
		{name: "no agent", opts: Options{BusyboxPath: busybox}, mention: []string{"agent path is required"}},
		{name: "missing files all reported", opts: Options{AgentPath: dir + "/nope", BusyboxPath: dir + "/nobb", KernelDeb: dir + "/x.deb"}, mention: []string{"agent", "busybox", "kernel package"}},
		{name: "directory as agent", opts: Options{AgentPath: dir, BusyboxPath: busybox}, mention: []string{"not a regular file"}},
		{name: "bad module name", opts: Options{AgentPath: agent, BusyboxPath: busybox, Modules: []string{"virtio", "../evil"}}, mention: []string{`"../evil"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			if len(tt.mention) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidOptions) {
				t.Fatalf("err = %v, want ErrInvalidOptions", err)
			}
			for _, m := range tt.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
		})
	}
}

func TestOptionsDefaults(t *testing.T) {
	o := Options{Modules: []string{"virtio-rng", "9p", "virtio_rng", " virtio_pci "}}.withDefaults()
	if o.CacheDir != DefaultCacheDir || o.BusyboxPath != DefaultBusyboxPath || o.Log == nil {
		t.Errorf("defaults not applied: %+v", o)
	}
	if want := []string{"9p", "virtio_pci", "virtio_rng"}; !slices.Equal(o.Modules, want) {
		t.Errorf("modules = %v, want %v", o.Modules, want)
	}
	if d := (Options{}).withDefaults(); len(d.Modules) != len(DefaultModules()) {
		t.Errorf("default modules = %v", d.Modules)
	}
}
