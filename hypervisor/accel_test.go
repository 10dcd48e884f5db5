package hypervisor

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestChooseAccel(t *testing.T) {
	denied := &os.PathError{Op: "open", Path: "/dev/kvm", Err: os.ErrPermission}
	tests := []struct {
		name      string
		requested Accel
		probe     KVMProbe
		want      Accel
		wantErr   error
		reasonHas string
	}{
		{"auto with vmx and device", AccelAuto, KVMProbe{CPUFlags: []string{"fpu", "vmx"}}, AccelKVM, nil, "vmx"},
		{"auto with svm and device", AccelAuto, KVMProbe{CPUFlags: []string{"svm"}}, AccelKVM, nil, "svm"},
		{"auto on PVM host: device but no flags", AccelAuto, KVMProbe{CPUFlags: []string{"fpu", "hypervisor"}}, AccelTCG, nil, "neither vmx nor svm"},
		{"auto with flags but device denied", AccelAuto, KVMProbe{DeviceErr: denied, CPUFlags: []string{"vmx"}}, AccelTCG, nil, "permission"},
		{"auto with nothing", AccelAuto, KVMProbe{DeviceErr: denied}, AccelTCG, nil, "no vmx/svm"},
		{"kvm requested and usable", AccelKVM, KVMProbe{CPUFlags: []string{"vmx"}}, AccelKVM, nil, "kvm requested"},
		{"kvm requested on PVM host", AccelKVM, KVMProbe{CPUFlags: []string{"fpu"}}, "", ErrKVMUnavailable, ""},
		{"tcg requested on KVM host", AccelTCG, KVMProbe{CPUFlags: []string{"vmx"}}, AccelTCG, nil, "tcg requested"},
		{"unknown mode", Accel("hvf"), KVMProbe{}, "", ErrInvalidSpec, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ChooseAccel(tt.requested, tt.probe)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Mode != tt.want {
				t.Errorf("mode = %s, want %s (reason %q)", got.Mode, tt.want, got.Reason)
			}
			if !strings.Contains(got.Reason, tt.reasonHas) {
				t.Errorf("reason %q does not mention %q", got.Reason, tt.reasonHas)
			}
		})
	}
}

func TestCPUInfoFlags(t *testing.T) {
	in := "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vme vmx sse\n\nprocessor\t: 1\nflags\t\t: other\n"
	got := CPUInfoFlags([]byte(in))
	if want := []string{"fpu", "vme", "vmx", "sse"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("flags = %v, want %v", got, want)
	}
	if CPUInfoFlags([]byte("nothing here")) != nil {
		t.Fatal("expected nil flags for input without a flags line")
	}
}

func TestParseAccel(t *testing.T) {
	for in, want := range map[string]Accel{"": AccelAuto, "AUTO": AccelAuto, "kvm": AccelKVM, "tcg": AccelTCG, "qemu": AccelTCG} {
		got, err := ParseAccel(in)
		if err != nil || got != want {
			t.Errorf("ParseAccel(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseAccel("xen"); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("ParseAccel(xen) err = %v, want ErrInvalidSpec", err)
	}
}
