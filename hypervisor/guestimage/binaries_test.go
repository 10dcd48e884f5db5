package guestimage

import (
	"debug/elf"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestCheckBinaries(t *testing.T) {
	static := makeStaticBinary(t, "busybox")
	dynamic := makeDynamicBinary(t)
	object := makeModule(t, "virtio")
	tests := []struct {
		name       string
		check      func(string, []byte) error
		data       []byte
		wantErr    error
		wantDetail string
	}{
		{name: "static busybox", check: checkBusybox, data: static},
		{name: "dynamic busybox names the fix", check: checkBusybox, data: dynamic, wantErr: ErrNotStatic, wantDetail: "apt-get install busybox-static"},
		{name: "busybox not ELF", check: checkBusybox, data: []byte("#!/bin/sh\n"), wantDetail: "busybox-static"},
		{name: "busybox is an object file", check: checkBusybox, data: object, wantDetail: "not an executable"},
		{name: "static agent", check: checkAgent, data: static},
		{name: "script agent", check: checkAgent, data: []byte("#!/bin/sh\nexec /bin/agent\n")},
		{name: "dynamic agent", check: checkAgent, data: dynamic, wantErr: ErrNotStatic, wantDetail: "CGO_ENABLED=0"},
		{name: "agent is text", check: checkAgent, data: []byte("hello"), wantDetail: "not an ELF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.check("/path/bin", tt.data)
			if tt.wantErr == nil && tt.wantDetail == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("want an error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantDetail) || !strings.Contains(err.Error(), "/path/bin") {
				t.Errorf("error %q should name the file and %q", err, tt.wantDetail)
			}
		})
	}
	if f, err := elf.NewFile(strings.NewReader(string(dynamic))); err != nil || f.Progs[0].Type != elf.PT_INTERP {
		t.Fatalf("dynamic fixture is not what it claims: %v", err)
	}
}

func TestParseApplets(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    []string
		wantErr bool
	}{
		{name: "sorted, reserved names dropped", out: "sh\n[\n[[\nbusybox\ninit\nlinuxrc\nls\nsh\n", want: []string{"[", "[[", "ls", "sh"}},
		{name: "blank lines and spaces", out: "\n  mount \n\numount\n", want: []string{"mount", "umount"}},
		{name: "path escape rejected", out: "ls\n../etc/passwd\n", wantErr: true},
		{name: "dot rejected", out: "..\n", wantErr: true},
		{name: "nothing listed", out: "\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseApplets([]byte(tt.out))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("applets = %q, want %q", got, tt.want)
			}
		})
	}
}
