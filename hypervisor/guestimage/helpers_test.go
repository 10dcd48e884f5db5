package guestimage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cavaliergopher/cpio"
	"github.com/sirupsen/logrus"
)

// testWriter sends log output to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// cpioEntry is one entry read back from an initramfs.
type cpioEntry struct {
	mode cpio.FileMode
	body []byte
	link string
}

// readInitramfs parses an initramfs.cpio.
func readInitramfs(t *testing.T, path string) map[string]cpioEntry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := cpio.NewReader(f)
	entries := map[string]cpioEntry{}
	for {
		hdr, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read initramfs: %v", err)
		}
		body, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := entries[hdr.Name]; dup {
			t.Errorf("initramfs has %s twice", hdr.Name)
		}
		entries[hdr.Name] = cpioEntry{mode: hdr.Mode, body: body, link: hdr.Linkname}
	}
	return entries
}

// fakeRunner stands in for apt-cache, apt-get and busybox --list.
type fakeRunner struct {
	t        *testing.T
	applets  string
	handlers map[string]func(dir string, args []string) ([]byte, error)

	mu    sync.Mutex // concurrent builds share one runner
	calls []string
}

func (f *fakeRunner) run(_ context.Context, dir, name string, args ...string) ([]byte, error) {
	call := strings.Join(append([]string{filepath.Base(name)}, args...), " ")
	f.mu.Lock()
	f.calls = append(f.calls, call)
	f.mu.Unlock()
	if len(args) == 1 && args[0] == "--list" {
		return []byte(f.applets), nil
	}
	for prefix, h := range f.handlers {
		if strings.HasPrefix(call, prefix) {
			return h(dir, args)
		}
	}
	f.t.Errorf("unexpected command %q", call)
	return nil, fmt.Errorf("unexpected command %q", call)
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// testLogger logs to t.
func testLogger(t *testing.T) *logrus.Logger {
	l := logrus.New()
	l.SetOutput(testWriter{t})
	l.SetLevel(logrus.DebugLevel)
	return l
}

// testBuilder returns a builder using fake for commands, without
// validating opts (for tests of single steps).
func testBuilder(t *testing.T, opts Options, fake *fakeRunner) *builder {
	t.Helper()
	if opts.Log == nil {
		opts.Log = testLogger(t)
	}
	opts = opts.withDefaults()
	cache, err := newCacheLayout(opts.CacheDir)
	if err != nil {
		t.Fatal(err)
	}
	return &builder{opts: opts, log: opts.Log, cache: cache, run: fake.run, now: time.Now, fragment: minimalFragment}
}

// buildWith runs Build with fake standing in for busybox --list and apt.
func buildWith(ctx context.Context, t *testing.T, opts Options, fake *fakeRunner) (*Image, error) {
	t.Helper()
	if opts.Log == nil {
		opts.Log = testLogger(t)
	}
	b, err := newBuilder(opts)
	if err != nil {
		return nil, err
	}
	b.run = fake.run
	return b.build(ctx)
}
