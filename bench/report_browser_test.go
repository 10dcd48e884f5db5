//go:build integration

package bench

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// browserTimeout bounds one headless chromium run; a cold start takes
// a few seconds, a hung one would otherwise hold the test forever.
const browserTimeout = 2 * time.Minute

// chromiumBinary finds Debian's chromium. Missing, the test fails: it
// was asked for with -tags integration, and a skip would read as a pass.
func chromiumBinary(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium or chromium-headless-shell in PATH: run scripts/setup-host.sh as root, which installs chromium")
	return ""
}

// TestBrowserRendersTheReport opens the HTML report in headless
// chromium and reads back the DOM it built: the page must parse as
// meant in a real browser, not only contain the right bytes.
func TestBrowserRendersTheReport(t *testing.T) {
	bin := chromiumBinary(t)
	r := syntheticReport(t, "tcg")
	dir := t.TempDir()
	path := filepath.Join(dir, "report.html")
	if err := WriteHTMLFile(path, r); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), browserTimeout)
	defer cancel()
	// --no-sandbox: the test runs as root, where chromium refuses its
	// sandbox. --enable-logging=stderr makes it print console messages,
	// among them any request the page's policy blocked.
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--enable-logging=stderr", "--v=0",
		"--dump-dom", "file://"+path)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v (context: %v)\n%s", bin, err, ctx.Err(), stderr.String())
	}
	dom := stdout.String()

	wantIDs := map[string]float64{
		"ratio-primes-1-vcpu": r.Results[0].Ratio.Estimate,
		"ratio-membw-1-vcpu":  r.Results[1].Ratio.Estimate,
	}
	for id, want := range wantIDs {
		el := regexp.MustCompile(`<[a-z]+[^>]*\bid="` + id + `"[^>]*>`).FindString(dom)
		if el == "" {
			t.Errorf("no element with id %s in the DOM", id)
			continue
		}
		m := regexp.MustCompile(`\bdata-estimate="([^"]*)"`).FindStringSubmatch(el)
		if m == nil {
			t.Errorf("%s has no data-estimate: %s", id, el)
			continue
		}
		got, err := strconv.ParseFloat(m[1], 64)
		if err != nil || got != want {
			t.Errorf("%s data-estimate %q, want %v", id, m[1], want)
		}
	}
	if !strings.Contains(dom, tcgWarning) {
		t.Errorf("DOM lacks the TCG warning %q", tcgWarning)
	}
	// The ratio chart, one chart of runs per workload, and boot times.
	if got, want := strings.Count(dom, "<svg"), 1+len(r.Results)+1; got != want {
		t.Errorf("%d <svg> elements in the DOM, want %d", got, want)
	}
	if strings.Contains(stderr.String(), "Content Security Policy") {
		t.Errorf("the page tried to load something its policy blocked:\n%s", stderr.String())
	}
}
