package hypervisor

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"libvirt.org/go/libvirtxml"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func goldenSpec(t *testing.T) VMSpec {
	t.Helper()
	share := t.TempDir()
	return VMSpec{
		Name: "golden", VCPUs: 2, MemoryMiB: 256,
		Accel:   AccelChoice{Mode: AccelTCG, Reason: "TCG emulation: test"},
		Profile: ProfileFast, Kernel: "/var/lib/vmctl/images/x/vmlinux", Initramfs: "/var/lib/vmctl/images/x/initramfs.cpio.gz",
		ConsoleLog: "/var/lib/vmctl/vms/golden/console.log",
		TSCKHz:     2596150,
		Shares:     []Share{{HostDir: share, Tag: "data"}},
		Meta:       Metadata{Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), ImageDir: "/var/lib/vmctl/images/x", StateDir: "/var/lib/vmctl/vms/golden"},
	}
}

// The share's host path is a per-test temp dir, so golden files see it
// replaced by a fixed placeholder.
func normalize(xml, shareDir string) string { return strings.ReplaceAll(xml, shareDir, "/srv/share") }

func TestDomainXMLGolden(t *testing.T) {
	tests := []struct {
		name   string
		golden string
		mutate func(*VMSpec)
	}{
		{"fast tcg", "domain-fast-tcg.xml", func(s *VMSpec) {}},
		{"fast tcg with tb-cache", "domain-fast-tcg-tbcache.xml", func(s *VMSpec) { s.TBCacheMiB = 64 }},
		{"fast kvm", "domain-fast-kvm.xml", func(s *VMSpec) { s.Accel = AccelChoice{Mode: AccelKVM, Reason: "vmx"} }},
		{"stock tcg", "domain-stock-tcg.xml", func(s *VMSpec) {
			s.Profile = ProfileStock
			s.Kernel = "/var/lib/vmctl/images/x/bzImage"
		}},
		{"writable share", "domain-share-rw.xml", func(s *VMSpec) { s.Shares[0].Writable = true }},
		{"pinned to one cell", "domain-pinned.xml", func(s *VMSpec) {
			s.Pinning = &Pinning{VCPUs: []int{2, 3}, Emulator: []int{2, 3}, MemoryNodes: []int{1}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := goldenSpec(t)
			tt.mutate(&spec)
			got, err := DomainXML(&spec)
			if err != nil {
				t.Fatal(err)
			}
			got = normalize(got, spec.Shares[0].HostDir) + "\n"
			path := filepath.Join("..", "testdata", "domains", tt.golden)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./hypervisor -run Golden -update)", err)
			}
			if got != string(want) {
				t.Errorf("domain XML differs from %s:\n--- got\n%s\n--- want\n%s", path, got, want)
			}
		})
	}
}

func TestDomainSemantics(t *testing.T) {
	spec := goldenSpec(t)
	dom, err := BuildDomain(&spec)
	if err != nil {
		t.Fatal(err)
	}
	if dom.Type != "qemu" {
		t.Errorf("TCG domain type = %q, want qemu", dom.Type)
	}
	if fs := dom.Devices.Filesystems; len(fs) != 1 || fs[0].ReadOnly == nil {
		t.Errorf("shares must be read-only unless asked: %+v", fs)
	}
	if dom.Devices.MemBalloon == nil || dom.Devices.MemBalloon.Model != "none" {
		t.Error("fast profile must disable the balloon")
	}
	meta, err := UnmarshalMetadata(dom.Metadata.XML)
	if err != nil {
		t.Fatal(err)
	}
	if meta.AccelMode != AccelTCG || meta.AccelReason == "" {
		t.Errorf("acceleration and its reason must be recorded on the VM, got %+v", meta)
	}

	spec.Accel = AccelChoice{Mode: AccelKVM, Reason: "vmx"}
	dom, err = BuildDomain(&spec)
	if err != nil {
		t.Fatal(err)
	}
	if dom.Type != "kvm" || dom.CPU == nil || dom.CPU.Mode != "host-passthrough" {
		t.Errorf("KVM domain: type %q cpu %+v, want kvm + host-passthrough", dom.Type, dom.CPU)
	}
	if dom.Features.TCG != nil {
		t.Error("KVM domain must not carry TCG settings")
	}
}

func TestAgentSocketPath(t *testing.T) {
	live := `<domain type='qemu'><name>a</name><devices>
	<channel type='unix'><source mode='bind' path='/var/lib/libvirt/qemu/channel/target/domain-1-a/org.vmctl.agent.0'/><target type='virtio' name='org.vmctl.agent.0' state='connected'/></channel>
	</devices></domain>`
	got, err := AgentSocketPath(live)
	if err != nil || got != "/var/lib/libvirt/qemu/channel/target/domain-1-a/org.vmctl.agent.0" {
		t.Fatalf("AgentSocketPath = %q, %v", got, err)
	}
	if _, err := AgentSocketPath(`<domain type='qemu'><name>a</name><devices/></domain>`); !errors.Is(err, ErrNoAgentChannel) {
		t.Fatalf("no channel: err = %v, want ErrNoAgentChannel", err)
	}
	var dom libvirtxml.Domain
	if err := dom.Unmarshal(live); err != nil {
		t.Fatal(err)
	}
}

func TestSpecValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*VMSpec)
		wantErr error
		msgHas  string
	}{
		{"valid", func(s *VMSpec) {}, nil, ""},
		{"bad name", func(s *VMSpec) { s.Name = "no spaces" }, ErrInvalidName, "letters, digits"},
		{"name too long", func(s *VMSpec) { s.Name = strings.Repeat("a", 64) }, ErrInvalidName, "63"},
		{"dot in name", func(s *VMSpec) { s.Name = "../etc" }, ErrInvalidName, ""},
		{"zero vcpus", func(s *VMSpec) { s.VCPUs = 0 }, ErrInvalidSpec, "vcpus"},
		{"tiny memory", func(s *VMSpec) { s.MemoryMiB = 8 }, ErrInvalidSpec, "memory"},
		{"undecided accel", func(s *VMSpec) { s.Accel = AccelChoice{Mode: AccelAuto} }, ErrInvalidSpec, "decided"},
		{"missing kernel", func(s *VMSpec) { s.Kernel = "" }, ErrInvalidSpec, "vmctl image build"},
		{"missing share dir", func(s *VMSpec) { s.Shares[0].HostDir = "/nonexistent/vmctl" }, ErrInvalidSpec, "nonexistent"},
		{"duplicate tag", func(s *VMSpec) { s.Shares = append(s.Shares, s.Shares[0]) }, ErrInvalidSpec, "twice"},
		{"bad tag", func(s *VMSpec) { s.Shares[0].Tag = "a b" }, ErrInvalidSpec, "tag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := goldenSpec(t)
			tt.mutate(&spec)
			err := spec.Validate()
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.msgHas) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tt.wantErr, tt.msgHas)
			}
		})
	}
}

func TestParseShare(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		in      string
		want    Share
		wantErr bool
	}{
		{dir, Share{HostDir: dir, Tag: filepath.Base(dir)}, false},
		{dir + ":data", Share{HostDir: dir, Tag: "data"}, false},
		{dir + ":data:rw", Share{HostDir: dir, Tag: "data", Writable: true}, false},
		{dir + ":data:ro", Share{HostDir: dir, Tag: "data"}, false},
		{dir + ":data:xx", Share{}, true},
		{":data", Share{}, true},
		{dir + ":a:rw:extra", Share{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseShare(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !tt.wantErr && got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDomainPinningRoundTrip(t *testing.T) {
	spec := goldenSpec(t)
	spec.Pinning = &Pinning{VCPUs: []int{5, 4}, Emulator: []int{4, 5}, MemoryNodes: []int{0}}
	xml, err := DomainXML(&spec)
	if err != nil {
		t.Fatal(err)
	}
	cpus, nodes, err := DomainPinning(xml)
	if err != nil {
		t.Fatal(err)
	}
	if len(cpus) != 2 || cpus[0] != 5 || cpus[1] != 4 || len(nodes) != 1 || nodes[0] != 0 {
		t.Fatalf("pinning read back as cpus %v nodes %v", cpus, nodes)
	}
	spec.Pinning = &Pinning{VCPUs: []int{1}, Emulator: []int{1}}
	if err := spec.Validate(); !errors.Is(err, ErrInvalidSpec) {
		t.Fatalf("1 pin for 2 vCPUs: err = %v", err)
	}
	spec.Pinning = &Pinning{VCPUs: []int{1, 1}, Emulator: []int{1}}
	if err := spec.Validate(); !errors.Is(err, ErrInvalidSpec) {
		t.Fatalf("CPU given twice: err = %v", err)
	}
}

// The host's TSC frequency is for emulation only; a stock boot stays stock
// and extra arguments are appended as given, and validated.
func TestKernelArgsByAccelAndProfile(t *testing.T) {
	for _, tt := range []struct {
		mode    Accel
		profile BootProfile
		want    bool
	}{{AccelTCG, ProfileFast, true}, {AccelKVM, ProfileFast, false}, {AccelTCG, ProfileStock, false}} {
		s := goldenSpec(t)
		s.Accel.Mode, s.Profile, s.ExtraKernelArgs = tt.mode, tt.profile, "loglevel=7"
		args := s.KernelArgs()
		if strings.Contains(args, "nolapic_timer") {
			t.Errorf("%s/%s: nolapic_timer in %q: it costs idle guests 6x the host CPU", tt.mode, tt.profile, args)
		}
		// The host's TSC frequency only means something to a TCG guest,
		// whose TSC is the host's.
		if got := strings.Contains(args, "tsc_early_khz=2596150"); got != tt.want {
			t.Errorf("%s/%s: tsc_early_khz %v in %q, want %v", tt.mode, tt.profile, got, args, tt.want)
		}
		if !strings.HasSuffix(args, " loglevel=7") {
			t.Errorf("%s/%s: extra args not appended: %q", tt.mode, tt.profile, args)
		}
	}
	s := goldenSpec(t)
	for _, bad := range []string{"a\nb", strings.Repeat("x", MaxKernelArgs+1)} {
		s.ExtraKernelArgs = bad
		if err := s.Validate(); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("kernel args %.20q: got %v, want ErrInvalidSpec", bad, err)
		}
	}
}
