package guestimage

import (
	"slices"
	"strings"
	"testing"
)

func TestParseConfigFragment(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []kconfigOption
		wantErr string
	}{
		{
			name: "settings, unset lines, comments and blanks",
			in:   "# a comment\n\nCONFIG_A=y\n  CONFIG_B=64\n# CONFIG_C is not set\nCONFIG_D=\"ttyS0\"\n",
			want: []kconfigOption{
				{Symbol: "CONFIG_A", Value: "y", Line: 3},
				{Symbol: "CONFIG_B", Value: "64", Line: 4},
				{Symbol: "CONFIG_C", Value: "n", Line: 5},
				{Symbol: "CONFIG_D", Value: `"ttyS0"`, Line: 6},
			},
		},
		{name: "symbol set twice", in: "CONFIG_A=y\nCONFIG_A=m\n", wantErr: "line 2: CONFIG_A already set on line 1"},
		{name: "set and unset", in: "CONFIG_A=y\n# CONFIG_A is not set\n", wantErr: "already set"},
		{name: "not a setting", in: "CONFIG_A=y\nPVH=y\n", wantErr: `line 2: "PVH=y"`},
		{name: "no value", in: "CONFIG_A=\n", wantErr: "CONFIG_A has no value"},
		{name: "nothing set", in: "# only comments\n", wantErr: "sets nothing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseConfigFragment([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// The committed fragment parses and asks for what the guest cannot boot
// without, all built in.
func TestMinimalFragment(t *testing.T) {
	frag, err := parseConfigFragment(minimalFragment)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, o := range frag {
		got[o.Symbol] = o.Value
		if o.Value == "m" {
			t.Errorf("%s=m: the minimal kernel loads no modules", o.Symbol)
		}
	}
	for _, sym := range []string{
		"CONFIG_64BIT", "CONFIG_SMP", "CONFIG_PVH", "CONFIG_X86_MPPARSE", "CONFIG_PCI", "CONFIG_PCI_MSI",
		"CONFIG_VIRTIO_PCI", "CONFIG_VIRTIO_PCI_LEGACY", "CONFIG_VIRTIO_CONSOLE", "CONFIG_VIRTIO_BLK", "CONFIG_VIRTIO_NET",
		"CONFIG_NET_9P", "CONFIG_NET_9P_VIRTIO", "CONFIG_9P_FS", "CONFIG_HW_RANDOM_VIRTIO",
		"CONFIG_SERIAL_8250_CONSOLE", "CONFIG_DEVTMPFS", "CONFIG_TMPFS", "CONFIG_PROC_FS", "CONFIG_SYSFS",
		"CONFIG_BLK_DEV_INITRD", "CONFIG_BINFMT_ELF", "CONFIG_PROC_SYSCTL", "CONFIG_FUTEX", "CONFIG_EPOLL",
		"CONFIG_EVENTFD", "CONFIG_SIGNALFD", "CONFIG_TIMERFD", "CONFIG_POSIX_TIMERS", "CONFIG_MULTIUSER", "CONFIG_UNIX",
	} {
		if got[sym] != "y" {
			t.Errorf("%s = %q, want y", sym, got[sym])
		}
	}
	// vmctl allows 256 vCPUs; without ACPI the TSC must be trusted.
	for sym, want := range map[string]string{"CONFIG_NR_CPUS": "256", "CONFIG_ACPI": "n", "CONFIG_CMDLINE": `"tsc=reliable"`} {
		if got[sym] != want {
			t.Errorf("%s = %q, want %s", sym, got[sym], want)
		}
	}
}

func TestMergeConfigFragment(t *testing.T) {
	base := "#\n# header\n#\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=y\nCONFIG_AB=y\n"
	frag := []kconfigOption{{Symbol: "CONFIG_B", Value: "y"}, {Symbol: "CONFIG_C", Value: "n"}, {Symbol: "CONFIG_D", Value: "4"}}
	want := "#\n# header\n#\nCONFIG_A=y\nCONFIG_AB=y\n# vmctl minimal guest kernel fragment\nCONFIG_B=y\n# CONFIG_C is not set\nCONFIG_D=4\n"
	if got := string(mergeConfigFragment([]byte(base), frag)); got != want {
		t.Errorf("merged:\n%s\nwant:\n%s", got, want)
	}
}

func TestVerifyConfig(t *testing.T) {
	final := "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=m\nCONFIG_N=4\n"
	tests := []struct {
		name string
		frag string
		want []configMismatch
	}{
		{name: "everything stuck", frag: "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_N=4\n# CONFIG_ABSENT is not set\n"},
		{
			name: "dropped, absent, wrong value and wrongly set are all reported",
			frag: "CONFIG_B=y\nCONFIG_ABSENT=y\nCONFIG_C=y\nCONFIG_N=8\n# CONFIG_A is not set\n",
			want: []configMismatch{
				{Symbol: "CONFIG_B", Want: "y", Got: "n"},
				{Symbol: "CONFIG_ABSENT", Want: "y", Got: "n"},
				{Symbol: "CONFIG_C", Want: "y", Got: "m"},
				{Symbol: "CONFIG_N", Want: "8", Got: "4"},
				{Symbol: "CONFIG_A", Want: "n", Got: "y"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frag, err := parseConfigFragment([]byte(tt.frag))
			if err != nil {
				t.Fatal(err)
			}
			got := verifyConfig([]byte(final), frag)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
}
