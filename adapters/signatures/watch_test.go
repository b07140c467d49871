package signatures

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

const (
	kmsgLine = `E1128 15:19:29.561234    4321 run.go:72] "command failed" err="failed to run Kubelet: failed to create kubelet: open /dev/kmsg: no such file or directory"`
	swapLine = `E1128 15:19:29.561234    4321 run.go:72] "command failed" err="failed to run Kubelet: running with swap on is not supported, please disable swap or set --fail-swap-on flag to false"`
	okLine   = `I1128 15:19:29.600000    4321 server.go:1290] "Started kubelet"`
)

func appendTo(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, l := range lines {
		if _, err := f.WriteString(l); err != nil {
			t.Fatal(err)
		}
	}
}

// next waits for the next hit, failing after a few seconds.
func next(t *testing.T, hits <-chan Hit) Hit {
	t.Helper()
	select {
	case h, ok := <-hits:
		if !ok {
			t.Fatal("the hit channel closed")
		}
		return h
	case <-time.After(5 * time.Second):
		t.Fatal("no hit within 5s")
	}
	return Hit{}
}

// none checks that no hit arrives for a few polls.
func none(t *testing.T, hits <-chan Hit) {
	t.Helper()
	select {
	case h := <-hits:
		t.Fatalf("unexpected hit %s on %q", h.Signature.Code, h.Line)
	case <-time.After(100 * time.Millisecond):
	}
}

func watch(t *testing.T, w *Watcher) (<-chan Hit, context.CancelFunc) {
	t.Helper()
	if w.Interval == 0 {
		w.Interval = 5 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	hits := w.Watch(ctx)
	t.Cleanup(func() {
		cancel()
		for range hits { // drain until closed: the goroutine has ended
		}
	})
	return hits, cancel
}

func TestWatcherNewLinesOnly(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "kubelet.log")
	appendTo(t, log, okLine+"\n", kmsgLine+"\n") // before the watch: ignored
	hits, _ := watch(t, &Watcher{Sources: []Source{{log, Kubelet}}})
	none(t, hits)

	appendTo(t, log, okLine+"\n", kmsgLine+"\n")
	h := next(t, hits)
	if h.Signature.Code != "SIG-KMSG-ENOENT" || h.Line != kmsgLine || h.Log != Kubelet || h.File != log {
		t.Fatalf("hit %+v", h)
	}
	appendTo(t, log, kmsgLine+"\n") // the same code again: reported once
	none(t, hits)
	appendTo(t, log, swapLine+"\n")
	if h := next(t, hits); h.Signature.Code != "SIG-SWAP-ON" {
		t.Fatalf("second code: %+v", h)
	}
}

func TestWatcherFromStart(t *testing.T) {
	log := filepath.Join(t.TempDir(), "kubelet.log")
	appendTo(t, log, kmsgLine+"\n")
	hits, _ := watch(t, &Watcher{Sources: []Source{{log, Kubelet}}, FromStart: true})
	if h := next(t, hits); h.Signature.Code != "SIG-KMSG-ENOENT" {
		t.Fatalf("hit %+v", h)
	}
}

func TestWatcherFileAppearsLater(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "kubelet.log")
	hits, _ := watch(t, &Watcher{Sources: []Source{{log, Kubelet}}})
	none(t, hits)
	appendTo(t, log, kmsgLine+"\n") // a new file is read from its start
	if h := next(t, hits); h.Signature.Code != "SIG-KMSG-ENOENT" {
		t.Fatalf("hit %+v", h)
	}
}

func TestWatcherPartialLine(t *testing.T) {
	log := filepath.Join(t.TempDir(), "kubelet.log")
	appendTo(t, log, "")
	hits, _ := watch(t, &Watcher{Sources: []Source{{log, Kubelet}}})
	half := len(kmsgLine) - 20
	appendTo(t, log, kmsgLine[:half])
	none(t, hits)
	appendTo(t, log, kmsgLine[half:]+"\r\n")
	if h := next(t, hits); h.Line != kmsgLine {
		t.Fatalf("the line was not put back together: %q", h.Line)
	}
}

func TestWatcherTruncation(t *testing.T) {
	log := filepath.Join(t.TempDir(), "kubelet.log")
	appendTo(t, log, strings.Repeat(okLine+"\n", 50))
	hits, _ := watch(t, &Watcher{Sources: []Source{{log, Kubelet}}})
	none(t, hits)
	// copytruncate, or the launcher reusing the file: shorter than before.
	if err := os.Truncate(log, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond)
	appendTo(t, log, kmsgLine+"\n")
	if h := next(t, hits); h.Signature.Code != "SIG-KMSG-ENOENT" {
		t.Fatalf("hit %+v", h)
	}
}

func TestWatcherRotation(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "kubelet.log")
	appendTo(t, log, okLine+"\n")
	hits, _ := watch(t, &Watcher{Sources: []Source{{log, Kubelet}}})
	none(t, hits)
	// A last line lands in the old file right before it is renamed, without
	// its newline; then the writer moves on to a new file at the same path.
	appendTo(t, log, swapLine)
	if err := os.Rename(log, log+".1"); err != nil {
		t.Fatal(err)
	}
	appendTo(t, log, okLine+"\n", kmsgLine+"\n")
	got := map[string]bool{}
	for i := 0; i < 2; i++ {
		got[next(t, hits).Signature.Code] = true
	}
	if !got["SIG-SWAP-ON"] || !got["SIG-KMSG-ENOENT"] {
		t.Fatalf("hits %v: want the old file's last line and the new file's", got)
	}
	// Removed and created again: also followed.
	if err := os.Remove(log); err != nil {
		t.Fatal(err)
	}
	appendTo(t, log, `E1128 1 kubelet.go:1703] "Failed to start ContainerManager" err="failed to get rootfs info: unable to find data in memory cache"`+"\n")
	if h := next(t, hits); h.Signature.Code != "SIG-ROOTFS-CACHE" {
		t.Fatalf("hit %+v", h)
	}
}

func TestWatcherSeveralFiles(t *testing.T) {
	dir := t.TempDir()
	kubelet := filepath.Join(dir, "kubelet.log")
	proxy := filepath.Join(dir, "kube-proxy.log")
	srcs := []Source{{kubelet, Kubelet}, {proxy, KubeProxy}}
	hits, _ := watch(t, &Watcher{Sources: srcs})
	// The kubelet's canaries do not count; kube-proxy's failure does.
	nft := "iptables v1.8.9 (nf_tables): Failed to initialize nft: Protocol not supported"
	appendTo(t, kubelet, nft+"\n")
	none(t, hits)
	appendTo(t, proxy, nft+"\n")
	if h := next(t, hits); h.Signature.Code != "SIG-IPTABLES-NFT" || h.File != proxy || h.Log != KubeProxy {
		t.Fatalf("hit %+v", h)
	}
}

func TestWatcherKlogMultiline(t *testing.T) {
	log := filepath.Join(t.TempDir(), "k3s.log")
	appendTo(t, log, "")
	hits, _ := watch(t, &Watcher{Sources: []Source{{log, K3s}}})
	// The kubelet's iptables canary failing, as klog writes a multi-line
	// value: the nft error alone on its line must not count.
	appendTo(t, log,
		`E1128 15:19:31.200000    4321 kubelet_network_linux.go:76] "Failed to ensure that iptables hint chain exists" err=<`+"\n",
		"\terror creating chain \"KUBE-IPTABLES-HINT\": exit status 1: iptables v1.8.9 (nf_tables): Failed to initialize nft: Protocol not supported\n",
		" >\n")
	none(t, hits)
	// kube-proxy's own failure, multi-line too, does count, and its hit
	// carries the whole value.
	appendTo(t, log,
		`E1128 15:19:32.000000    5555 proxier.go:1505] "Failed to execute iptables-restore" err=<`+"\n",
		"\texit status 1: iptables-restore v1.8.9 (nf_tables):\n",
		"\tFailed to initialize nft: Protocol not supported\n",
		` > rules=<`+"\n",
		"\t*filter\n",
		" >\n")
	h := next(t, hits)
	if h.Signature.Code != "SIG-IPTABLES-NFT" || !strings.Contains(h.Line, "Failed to execute iptables-restore") {
		t.Fatalf("hit %+v", h)
	}
	// A multi-line value left open (the process died) is matched when the
	// file goes quiet.
	appendTo(t, log, `E1128 1 run.go:72] "command failed" err=<`+"\n", "\topen /dev/kmsg: no such file or directory\n")
	if h := next(t, hits); h.Signature.Code != "SIG-KMSG-ENOENT" {
		t.Fatalf("hit %+v", h)
	}
}

func TestWatcherLongLines(t *testing.T) {
	log := filepath.Join(t.TempDir(), "kubelet.log")
	appendTo(t, log, "")
	hits, _ := watch(t, &Watcher{Sources: []Source{{log, Kubelet}}})
	// 4 MiB of one line, with a signature's text only past MaxLine: cut,
	// not matched, and the next line is read normally.
	appendTo(t, log, strings.Repeat("x", 4<<20)+" open /dev/kmsg: no such file or directory\n")
	none(t, hits)
	appendTo(t, log, swapLine+"\n")
	if h := next(t, hits); h.Signature.Code != "SIG-SWAP-ON" {
		t.Fatalf("hit %+v", h)
	}
}

// TestWatcherStops: the goroutine ends when ctx ends, whether or not the
// reader reads, and the channel closes.
func TestWatcherStops(t *testing.T) {
	base := runtime.NumGoroutine()
	dir := t.TempDir()
	log := filepath.Join(dir, "kubelet.log")
	for i := 0; i < 20; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		w := &Watcher{Sources: []Source{{log, Kubelet}, {filepath.Join(dir, "missing.log"), Containerd}}, Interval: time.Millisecond}
		hits := w.Watch(ctx)
		appendTo(t, log, kmsgLine+"\n", swapLine+"\n") // nobody reads these
		time.Sleep(5 * time.Millisecond)
		cancel()
		select {
		case <-drained(hits):
		case <-time.After(5 * time.Second):
			t.Fatal("the channel did not close after cancel")
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		t.Fatalf("%d goroutines left, %d before", n, base)
	}
}

func drained(hits <-chan Hit) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		for range hits {
		}
		close(done)
	}()
	return done
}

func TestScanFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, lines ...string) {
		appendTo(t, filepath.Join(dir, name), strings.Join(lines, "\n")+"\n")
	}
	write("kubelet.log", okLine, kmsgLine, kmsgLine, swapLine)
	write("kube-proxy.log", "iptables/1.8.7 Failed to initialize nft: Protocol not supported")
	write("containerd.log", "iptables/1.8.7 Failed to initialize nft: Protocol not supported") // not containerd's
	write("notes.txt", kmsgLine)
	srcs, err := SourcesIn(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(srcs) != 3 || srcs[1].Component != KubeProxy {
		t.Fatalf("sources %+v", srcs)
	}
	hits, err := ScanFiles(append(srcs, Source{filepath.Join(dir, "gone.log"), Etcd}))
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, h := range hits {
		codes = append(codes, h.Signature.Code+"@"+filepath.Base(h.File))
	}
	want := "SIG-IPTABLES-NFT@kube-proxy.log SIG-KMSG-ENOENT@kubelet.log SIG-SWAP-ON@kubelet.log"
	if strings.Join(codes, " ") != want {
		t.Fatalf("hits %v, want %s", codes, want)
	}
	h, err := Scan(strings.NewReader(kmsgLine), Kubelet) // no final newline
	if err != nil || len(h) != 1 {
		t.Fatalf("Scan: %v %v", h, err)
	}
}
