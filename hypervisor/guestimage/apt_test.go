package guestimage

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestParseAptDepends(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    string
		wantErr bool
	}{
		{name: "bookworm", out: "linux-image-amd64\n  Depends: linux-image-6.1.0-56-amd64\n", want: "linux-image-6.1.0-56-amd64"},
		{name: "virtual and alternatives skipped", out: "linux-image-amd64\n |Depends: <linux-image-virtual>\n  Depends: firmware-x\n  Depends: linux-image-6.12.9-amd64\n  Recommends: foo\n", want: "linux-image-6.12.9-amd64"},
		{name: "no candidate", out: "linux-image-amd64\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseAptDepends([]byte(tt.out))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseAptDepends = %q, %v; want %q (err %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseAptShow(t *testing.T) {
	out := "Package: linux-image-6.1.0-56-amd64\nSource: linux-signed-amd64 (6.1.192+2)\nVersion: 6.1.192-2\nArchitecture: amd64\nDescription: x\n\nPackage: linux-image-6.1.0-56-amd64\nVersion: 6.1.100-1\nArchitecture: amd64\n"
	v, a, err := parseAptShow([]byte(out))
	if err != nil || v != "6.1.192-2" || a != "amd64" {
		t.Errorf("parseAptShow = %q, %q, %v", v, a, err)
	}
	if _, _, err := parseAptShow([]byte("N: Unable to locate package\n")); err == nil {
		t.Error("want error without Version")
	}
}

func TestDebFileName(t *testing.T) {
	if got := debFileName("busybox-static", "1:1.35.0-4+deb12u1+b1", "amd64"); got != "busybox-static_1%3a1.35.0-4+deb12u1+b1_amd64.deb" {
		t.Errorf("epoch not escaped like apt: %s", got)
	}
}

func TestFetchKernelDeb(t *testing.T) {
	cache := t.TempDir()
	const pkg, ver = "linux-image-6.1.0-56-amd64", "6.1.192-2"
	downloads := 0
	fake := &fakeRunner{t: t, handlers: map[string]func(string, []string) ([]byte, error){
		"apt-cache depends linux-image-amd64": func(string, []string) ([]byte, error) {
			return []byte("linux-image-amd64\n  Depends: " + pkg + "\n"), nil
		},
		"apt-cache show --no-all-versions " + pkg: func(string, []string) ([]byte, error) {
			return []byte("Package: " + pkg + "\nVersion: " + ver + "\nArchitecture: amd64\n"), nil
		},
		"apt-get download " + pkg + "=" + ver: func(dir string, _ []string) ([]byte, error) {
			downloads++
			if filepath.Dir(dir) != filepath.Join(cache, cacheDebs) {
				t.Errorf("apt-get ran in %s, want a temp dir under debs/", dir)
			}
			return nil, os.WriteFile(filepath.Join(dir, debFileName(pkg, ver, "amd64")), []byte("deb"), 0o600)
		},
	}}
	b := testBuilder(t, Options{CacheDir: cache}, fake)

	got, err := b.fetchKernelDeb(t.Context(), b.cache.debs())
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(cache, cacheDebs, pkg+"_"+ver+"_amd64.deb")
	if got != want {
		t.Errorf("deb = %s, want %s", got, want)
	}
	if fi, err := os.Stat(got); err != nil || fi.Mode().Perm() != fileMode {
		t.Errorf("downloaded deb: %v, mode %v", err, fi.Mode())
	}

	// The same version again is reused, not downloaded.
	if _, err := b.fetchKernelDeb(t.Context(), b.cache.debs()); err != nil {
		t.Fatal(err)
	}
	if downloads != 1 {
		t.Errorf("downloaded %d times, want 1", downloads)
	}
	entries, _ := os.ReadDir(b.cache.debs())
	if len(entries) != 1 {
		t.Errorf("debs/ holds %d entries, want just the .deb", len(entries))
	}
}

func TestFetchKernelDebDownloadFails(t *testing.T) {
	cache := t.TempDir()
	fake := &fakeRunner{t: t, handlers: map[string]func(string, []string) ([]byte, error){
		"apt-cache depends": func(string, []string) ([]byte, error) {
			return []byte("  Depends: linux-image-6.1.0-56-amd64\n"), nil
		},
		"apt-cache show": func(string, []string) ([]byte, error) {
			return []byte("Version: 6.1.192-2\nArchitecture: amd64\n"), nil
		},
		"apt-get download": func(dir string, _ []string) ([]byte, error) {
			// A partial file must not survive as if complete.
			os.WriteFile(filepath.Join(dir, "linux-image-6.1.0-56-amd64_6.1.192-2_amd64.deb"), []byte("partial"), 0o644)
			return nil, errors.New("E: connection reset")
		},
	}}
	b := testBuilder(t, Options{CacheDir: cache}, fake)
	if _, err := b.fetchKernelDeb(t.Context(), b.cache.debs()); err == nil {
		t.Fatal("want error")
	}
	entries, _ := os.ReadDir(b.cache.debs())
	if len(entries) != 0 {
		t.Errorf("debs/ not empty after a failed download: %v", entries)
	}
	if !slices.Contains(fake.calls, "apt-get download linux-image-6.1.0-56-amd64=6.1.192-2") {
		t.Errorf("calls = %q", fake.calls)
	}
}
