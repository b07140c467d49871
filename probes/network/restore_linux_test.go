//go:build linux

package network

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestFailedBlock(t *testing.T) {
	input, ends := restoreInput(restoreBlocks)
	lines := strings.Split(strings.TrimSuffix(input, "\n"), "\n")
	if len(lines) != ends[len(ends)-1] {
		t.Fatalf("input has %d lines, the last block ends at %d", len(lines), ends[len(ends)-1])
	}
	for i, end := range ends {
		if lines[end-1] != "COMMIT" {
			t.Errorf("block %d ends at line %d = %q, want COMMIT", i, end, lines[end-1])
		}
	}
	// The messages iptables-restore 1.8.9 wrote, with line numbers of
	// this input: a legacy commit refused at the second block's COMMIT,
	// nft naming the third block's rule, a parse error in the fourth.
	for _, c := range []struct {
		stderr string
		want   int
	}{
		{"iptables-restore: line 7 failed\n", 1},
		{"iptables-nft-restore v1.8.9 (nf_tables): \nline 9: RULE_APPEND failed (Invalid argument): rule in chain KPROBE-TEST\niptables-restore: line 10 failed\n", 2},
		{"iptables-restore v1.8.9 (legacy): Couldn't load match `addrtype':No such file or directory\n\nError occurred at line: 12\n", 3},
		{"iptables-nft-restore/1.8.9 (nf_tables) Failed to initialize nft: Protocol not supported\n", -1},
		{"iptables-restore: line 999 failed\n", -1},
	} {
		if got := failedBlock(c.stderr, ends); got != c.want {
			t.Errorf("failedBlock(%q) = %d, want %d", c.stderr, got, c.want)
		}
	}
}

// TestLiveRestoreBlocks runs the restore trials and the step-by-step ones
// for each installed backend, each in a new network namespace of its own
// (tryIptables leaves its chains to the namespace's end), with a block the
// kernel refuses (MASQUERADE belongs to nat) added after the chain, and
// checks that both name the same steps with the same outcome.
func TestLiveRestoreBlocks(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if testing.Short() {
		t.Skip("live: makes network namespaces")
	}
	const refused = "filter -j MASQUERADE"
	blocks := slices.Clone(restoreBlocks)
	blocks = slices.Insert(blocks, 1, restoreBlock{table: "filter", steps: []string{refused}, needs: stepRule,
		lines: []string{"-A " + chainName + " -j MASQUERADE"}})
	lock := filepath.Join(t.TempDir(), "xtables.lock")
	tried := 0
	for _, b := range []string{"nft", "legacy"} {
		bin, err := exec.LookPath("iptables-" + b)
		if err != nil {
			continue
		}
		tried++
		var got, want BackendResult
		var gotClean []Step
		inNewNetns(t, func() { got, gotClean = tryIptablesBlocks(b, bin, lock, blocks) })
		inNewNetns(t, func() { want, _ = tryIptablesSteps(b, bin, lock, false) })
		t.Logf("%s restore: %s", b, summarize(got.Steps))
		if len(gotClean) > 0 {
			t.Errorf("%s restore cleanup failed: %s", b, summarize(gotClean))
		}
		if s, _ := find(got.Steps, refused); s.OK || s.Msg == "" {
			t.Errorf("%s restore: step %q = %+v, want a failure with the restore's message", b, refused, s)
		}
		// The step path has no refused block: drop it from got.
		got.Steps = slices.DeleteFunc(got.Steps, func(s Step) bool { return s.Name == refused })
		if g, w := outcomes(got.Steps), outcomes(want.Steps); g != w {
			t.Errorf("%s: restore steps\n%s\nstep-by-step\n%s", b, g, w)
		}
	}
	if tried == 0 {
		t.Skip("no iptables-nft or iptables-legacy")
	}
}

// inNewNetns runs f on a locked thread in a new network namespace and
// then puts the thread back into its own, so that the namespace, and
// whatever f made in it, goes. Going back matters: should the thread be
// the process's main one, Go keeps it when the goroutine ends, and
// /proc/self/net (the main thread's) would show the new namespace to the
// tests that run after.
func inNewNetns(t *testing.T, f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			t.Errorf("this thread's network namespace: %v", err)
			return // the thread stays locked and is not reused
		}
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			t.Errorf("unshare(CLONE_NEWNET): %v", err)
			runtime.UnlockOSThread()
			return
		}
		f()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			t.Errorf("back to the thread's network namespace: %v", err)
			return // the thread stays locked and is not reused
		}
		runtime.UnlockOSThread()
	}()
	<-done
}

func outcomes(steps []Step) string {
	var b strings.Builder
	for _, s := range steps {
		b.WriteString(s.Name)
		if s.OK {
			b.WriteString(" ok\n")
		} else {
			b.WriteString(" FAIL\n")
		}
	}
	return b.String()
}

// TestNftInitFailure: where iptables-nft-restore cannot open nf_tables
// at all (its stderr is what 1.8.9 wrote in the zoo's gvisor-run), the
// list step fails with its message and errno, and no step-by-step
// iptables-nft runs after it.
func TestNftInitFailure(t *testing.T) {
	dir := t.TempDir()
	bin, called := filepath.Join(dir, "iptables-nft"), filepath.Join(dir, "called")
	scripts := map[string]string{
		bin:              "#!/bin/sh\ntouch " + called + "\necho 'iptables: Failed to initialize nft: Protocol not supported' >&2\nexit 1\n",
		bin + "-restore": "#!/bin/sh\ncat >/dev/null\necho 'iptables-nft-restore/1.8.9 (nf_tables) Failed to initialize nft: Protocol not supported' >&2\nexit 1\n",
	}
	for p, s := range scripts {
		if err := os.WriteFile(p, []byte(s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	res, cleanup := tryIptablesBlocks("nft", bin, filepath.Join(dir, "lock"), restoreBlocks)
	if len(res.Steps) != 1 || res.Steps[0].Name != stepList || res.Steps[0].OK ||
		res.Steps[0].Errno != "EPROTONOSUPPORT" || !strings.Contains(res.Steps[0].Msg, "Failed to initialize nft") || len(cleanup) != 0 {
		t.Errorf("steps %+v, cleanup %+v; want only %q failed with EPROTONOSUPPORT", res.Steps, cleanup, stepList)
	}
	if _, err := os.Stat(called); err == nil {
		t.Error("the step-by-step iptables-nft ran after the restore had decided the list step")
	}
}
