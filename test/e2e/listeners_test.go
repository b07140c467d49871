package e2e

// Issue 11: as user nobody, no port of the cluster answers a request
// without credentials, except the health endpoints. checkListeners finds
// every TCP port and unix socket the cluster's processes listen on, from
// /proc, and re-runs this test binary as nobody to knock on each one.

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kprobe/kprobe/adapters/supervise"
)

// probeEnv carries the listeners to a re-executed test binary running as
// nobody; its presence switches TestMain to prober mode.
const probeEnv = "KPROBE_E2E_PROBE_LISTENERS"

func TestMain(m *testing.M) {
	if targets := os.Getenv(probeEnv); targets != "" {
		var ls []listener
		if err := json.Unmarshal([]byte(targets), &ls); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		out := make([]knock, 0, len(ls))
		for _, l := range ls {
			out = append(out, knockOn(l))
		}
		_ = json.NewEncoder(os.Stdout).Encode(out)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// listener is one listening socket of a cluster process.
type listener struct {
	Process string `json:"process"`
	// TCP is host:port to dial; Unix is a socket path ("@name" abstract).
	TCP  string `json:"tcp,omitempty"`
	Unix string `json:"unix,omitempty"`
}

func (l listener) String() string {
	if l.TCP != "" {
		return l.Process + " tcp " + l.TCP
	}
	return l.Process + " unix " + l.Unix
}

// knock is what an unauthenticated client got from a listener.
type knock struct {
	Listener listener `json:"listener"`
	// Answers are "PATH: STATUS" or "PATH: error" for each request.
	Answers []string `json:"answers"`
	// Accepted lists the requests that were served without credentials
	// (a 2xx or 3xx answer to a path other than a health endpoint; a
	// unix socket nobody may connect to).
	Accepted []string `json:"accepted"`
}

// healthPaths may answer anyone.
var healthPaths = []string{"/healthz", "/livez", "/readyz"}

// probePaths are what a curious local user would ask for: the API's
// secrets, etcd's keys, the kubelet's pods, every component's metrics,
// configuration, flags and profiler.
var probePaths = []string{
	"/", "/version", "/metrics", "/configz", "/flagz", "/statusz", "/debug/pprof/", "/proxyMode", "/logs/",
	"/api/v1/namespaces/kube-system/secrets", "/pods", "/runningpods/", "/stats/summary",
	"/v3/kv/range", "/v2/keys", "/members",
}

func knockOn(l listener) knock {
	k := knock{Listener: l}
	if l.Unix != "" {
		addr := l.Unix
		if strings.HasPrefix(addr, "@") {
			addr = "\x00" + addr[1:]
		}
		c, err := net.DialTimeout("unix", addr, 2*time.Second)
		if err != nil {
			k.Answers = append(k.Answers, "connect: "+err.Error())
			return k
		}
		c.Close()
		k.Answers = append(k.Answers, "connect: ok")
		k.Accepted = append(k.Accepted, "connect")
		return k
	}
	for _, scheme := range []string{"https", "http"} {
		cl := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // no credentials, no trust: a stranger's view
		}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		for _, p := range append(slices.Clone(probePaths), healthPaths...) {
			resp, err := cl.Get(scheme + "://" + l.TCP + p)
			if err != nil {
				k.Answers = append(k.Answers, fmt.Sprintf("%s %s: %v", scheme, p, shortErr(err)))
				continue
			}
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			k.Answers = append(k.Answers, fmt.Sprintf("%s %s: %d", scheme, p, resp.StatusCode))
			if resp.StatusCode < 400 && !slices.Contains(healthPaths, p) {
				k.Accepted = append(k.Accepted, fmt.Sprintf("%s %s: %d", scheme, p, resp.StatusCode))
			}
		}
	}
	return k
}

func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && len(s) > 120 {
		s = s[i+2:]
	}
	return s
}

// clusterPIDs are the supervisor's descendants and every process whose
// command line names the data dir (containerd's shims are re-parented),
// in this network namespace (pods listen in their own).
func clusterPIDs(t *testing.T, dataDir string) map[int]string {
	t.Helper()
	st, err := supervise.ReadState(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	self, _ := os.Readlink("/proc/self/ns/net")
	parent := map[int]int{}
	name := map[int]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces.
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		f := strings.Fields(s[i+1:])
		if i < 0 || len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		parent[pid], name[pid] = ppid, s[strings.IndexByte(s, '(')+1:i]
	}
	out := map[int]string{}
	for pid := range parent {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		in := strings.Contains(string(cmdline), dataDir)
		for p := pid; !in && p > 1; p = parent[p] {
			in = p == st.SupervisorPID
		}
		if ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid)); in && ns == self {
			out[pid] = name[pid]
		}
	}
	return out
}

// listeners maps the processes' socket inodes to /proc/net's listening
// TCP sockets and unix sockets.
func listeners(t *testing.T, pids map[int]string) []listener {
	t.Helper()
	owner := map[string]string{} // socket inode -> process name
	for pid, name := range pids {
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		for _, fd := range fds {
			link, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
			if strings.HasPrefix(link, "socket:[") {
				owner[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = name
			}
		}
	}
	var out []listener
	seen := map[string]bool{}
	add := func(l listener) {
		if !seen[l.String()] {
			seen[l.String()] = true
			out = append(out, l)
		}
	}
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(file)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			// sl local rem st tx:rx tr:when retrnsmt uid timeout inode
			fl := strings.Fields(sc.Text())
			if len(fl) < 10 || fl[3] != "0A" { // LISTEN
				continue
			}
			name, ok := owner[fl[9]]
			if !ok {
				continue
			}
			add(listener{Process: name, TCP: dialable(fl[1])})
		}
		f.Close()
	}
	f, err := os.Open("/proc/net/unix")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	for sc.Scan() {
		// Num RefCount Protocol Flags Type St Inode Path
		fl := strings.Fields(sc.Text())
		if len(fl) < 8 || fl[3] != "00010000" { // __SO_ACCEPTCON: listening
			continue
		}
		if name, ok := owner[fl[6]]; ok {
			add(listener{Process: name, Unix: fl[7]})
		}
	}
	slices.SortFunc(out, func(a, b listener) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// dialable turns /proc/net/tcp's "0100007F:0CEA" into "127.0.0.1:3306",
// the wildcard addresses into loopback.
func dialable(hexAddr string) string {
	a, p, _ := strings.Cut(hexAddr, ":")
	port, _ := strconv.ParseUint(p, 16, 16)
	raw := make([]byte, len(a)/2)
	for i := range raw {
		b, _ := strconv.ParseUint(a[2*i:2*i+2], 16, 8)
		raw[i] = byte(b)
	}
	// The kernel prints each 32-bit word in host (little-endian) order.
	for w := 0; w+4 <= len(raw); w += 4 {
		raw[w], raw[w+1], raw[w+2], raw[w+3] = raw[w+3], raw[w+2], raw[w+1], raw[w]
	}
	ip := net.IP(raw)
	switch {
	case ip.IsUnspecified() && len(raw) == 4:
		ip = net.IPv4(127, 0, 0, 1)
	case ip.IsUnspecified():
		ip = net.IPv6loopback
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(int(port)))
}

// checkListeners knocks, as nobody, on every listener of the cluster
// running from dataDir and fails for each that served a request without
// credentials.
func checkListeners(t *testing.T, dataDir string) {
	t.Helper()
	ls := listeners(t, clusterPIDs(t, dataDir))
	if len(ls) == 0 {
		t.Fatal("found no listening socket of the cluster's processes")
	}
	var tcp int
	for _, l := range ls {
		if l.TCP != "" {
			tcp++
		}
	}
	if tcp == 0 {
		t.Fatalf("found no TCP listener of the cluster (the API server at least): %v", ls)
	}
	// The test binary runs again as nobody: from a directory nobody may
	// read (go test's own is 0700).
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "kprobe-e2e-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "e2e.test")
	data, err := os.ReadFile(self)
	if err == nil {
		err = os.WriteFile(bin, data, 0o755)
	}
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	targets, _ := json.Marshal(ls)
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = []string{probeEnv + "=" + string(targets), "PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("prober as nobody: %v\n%s", err, stderr.String())
	}
	var knocks []knock
	if err := json.Unmarshal(out, &knocks); err != nil {
		t.Fatalf("prober output %q: %v", out, err)
	}
	for _, k := range knocks {
		t.Logf("%s: %s", k.Listener, strings.Join(k.Answers, "; "))
		if len(k.Accepted) > 0 {
			t.Errorf("as nobody, %s served without credentials: %s", k.Listener, strings.Join(k.Accepted, "; "))
		}
	}
}

// TestListenersRefuseStrangers runs checkListeners against a cluster
// already running from $KPROBE_E2E_DATA_DIR (TestLaunchVerifyStop runs it
// on the cluster it launches).
func TestListenersRefuseStrangers(t *testing.T) {
	dataDir := os.Getenv("KPROBE_E2E_DATA_DIR")
	if os.Getenv("KPROBE_E2E") != "1" || dataDir == "" {
		t.Skip("set KPROBE_E2E=1 and KPROBE_E2E_DATA_DIR to the data dir of a running cluster, as root")
	}
	if os.Geteuid() != 0 {
		t.Fatal("needs root (to read every process's sockets and to become nobody)")
	}
	checkListeners(t, dataDir)
}
