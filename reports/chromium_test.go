package reports_test

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/probetest"
	"github.com/kprobe/kprobe/reports"
)

// chromium finds Debian's chromium (`make test` installs it). Without it
// the test is skipped on a workstation and fails in CI.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed, and CI must render the HTML report: apt-get install chromium (make test-deps)")
	}
	t.Skip("chromium is not installed: apt-get install chromium (make test-deps) to render the HTML report headless")
	return ""
}

// headless runs chromium on a file with args and returns its stdout.
func headless(t *testing.T, bin, page string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	args = append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--user-data-dir=" + t.TempDir(), "--window-size=1280,2000"}, args...)
	cmd := exec.CommandContext(ctx, bin, append(args, "file://"+page)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", bin, args, err, stderr.String())
	}
	return out
}

// TestHTMLInChromium opens the HTML report of a sandbox with blockers
// (gvisor-run) in headless Chromium: the DOM Chromium builds has the
// blockers table with one row per blocker, and a screenshot is produced
// (into $KPROBE_ARTIFACTS when set, for CI to keep).
func TestHTMLInChromium(t *testing.T) {
	bin := chromium(t)
	probetest.EachFixture(t, sandboxDir, func(t *testing.T, name string, s *probes.Scan) {
		if !rendered[name] {
			return
		}
		r := shared(t, fixtureReport(t, name, s))
		dir := t.TempDir()
		page := filepath.Join(dir, name+".html")
		if err := os.WriteFile(page, render(t, func(b *bytes.Buffer) error { return reports.WriteHTML(b, r) }), 0o644); err != nil {
			t.Fatal(err)
		}

		dom := string(headless(t, bin, page, "--dump-dom"))
		if !strings.Contains(dom, `<table id="blockers">`) {
			t.Fatalf("the rendered DOM has no blockers table:\n%.2000s", dom)
		}
		rows := regexp.MustCompile(`<tr class="blocker" id="blocker-([A-Z0-9-]+)">`).FindAllStringSubmatch(dom, -1)
		if len(rows) != len(r.Blockers) {
			t.Errorf("the blockers table has %d rows, the report %d blockers", len(rows), len(r.Blockers))
		}
		for i, f := range r.Blockers {
			if i < len(rows) && !strings.HasPrefix(rows[i][1], f.Code) {
				t.Errorf("row %d is %s, want %s", i, rows[i][1], f.Code)
			}
		}
		if len(r.Blockers) == 0 && !strings.Contains(dom, "None: nothing blocks a rung of the ladder.") {
			t.Error("a report without blockers must say so in the table")
		}
		for _, id := range []string{`id="verdict"`, `id="facts"`, `id="domain-identity"`, `id="rung-` + string(r.Verdict.Rung) + `"`} {
			if !strings.Contains(dom, id) {
				t.Errorf("the rendered DOM lacks %s", id)
			}
		}
		if len(r.Attempts) > 0 && !strings.Contains(dom, `<table id="attempts">`) {
			t.Error("the launch attempts are not rendered")
		}

		shots := os.Getenv("KPROBE_ARTIFACTS")
		if shots == "" {
			shots = dir
		} else if err := os.MkdirAll(shots, 0o755); err != nil {
			t.Fatal(err)
		}
		shot := filepath.Join(shots, "report-"+name+".png")
		headless(t, bin, page, "--screenshot="+shot)
		f, err := os.Open(shot)
		if err != nil {
			t.Fatalf("no screenshot: %v", err)
		}
		defer f.Close()
		cfg, err := png.DecodeConfig(f)
		if err != nil {
			t.Fatalf("the screenshot is not a PNG: %v", err)
		}
		if cfg.Width != 1280 || cfg.Height != 2000 {
			t.Errorf("screenshot is %dx%d, want 1280x2000", cfg.Width, cfg.Height)
		}
		t.Logf("screenshot %s", shot)
	})
}
