package network

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/probetest/obstest"
)

// fakeSys answers LookPath and Exec from tables; the rest is unused here.
type fakeSys struct {
	paths map[string]string
	exec  map[string]probes.ExecResult
	env   []string
}

func (fakeSys) Statfs(string) (probes.Statfs, error) { return probes.Statfs{}, errors.ErrUnsupported }
func (fakeSys) Uname() (probes.Uname, error)         { return probes.Uname{}, errors.ErrUnsupported }
func (fakeSys) Syslog(int) (string, error)           { return "", errors.ErrUnsupported }
func (fakeSys) TryOpen(string, int) error            { return errors.ErrUnsupported }
func (f fakeSys) LookPath(name string) (string, error) {
	if p, ok := f.paths[name]; ok {
		return p, nil
	}
	return "", exec.ErrNotFound
}
func (f fakeSys) Exec(_ context.Context, name string, args ...string) (probes.ExecResult, error) {
	if r, ok := f.exec[name+" "+strings.Join(args, " ")]; ok {
		return r, nil
	}
	return probes.ExecResult{}, exec.ErrNotFound
}
func (f fakeSys) Environ() []string { return f.env }
func (fakeSys) Getuid() int         { return 0 }

// denyFS makes some paths fail with EACCES, as a seccomp'd or
// permission-restricted /proc does.
type denyFS struct {
	fs.FS
	deny map[string]bool
}

func (d denyFS) Open(name string) (fs.File, error) {
	if d.deny[name] {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
	}
	return d.FS.Open(name)
}

func hostTree() fstest.MapFS {
	return fstest.MapFS{
		"proc/net/dev":                 {Data: []byte(hostNetDev)},
		"proc/net/route":               {Data: []byte(hostRoute)},
		"proc/net/ipv6_route":          {Data: []byte(hostIPv6Route)},
		"proc/net/tcp":                 {Data: []byte(strings.Replace(hostTCP, "0100007F:280A", "0100007F:1F90", 1))},
		"proc/net/tcp6":                {Data: []byte(strings.Replace(hostTCP6, ":192B", ":1F91", 1))},
		"proc/sys/net/ipv4/ip_forward": {Data: []byte("0\n")},
		"sys/class/net/lo/mtu":         {Data: []byte("65536\n")},
		"sys/class/net/ifb0/mtu":       {Data: []byte("1500\n")},
		"sys/class/net/ifb1/mtu":       {Data: []byte("1500\n")},
		"sys/class/net/eth0/mtu":       {Data: []byte("1400\n")},
		"proc/net/fib_trie":            {Data: readFile("testdata/fib_trie.lo-up")},
	}
}

func readFile(name string) []byte {
	b, err := os.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return b
}

// A fresh network namespace (unshare --net, an LXC container with an
// empty network): lo is listed but down. The fib_trie files were read in
// such namespaces on this machine, before and after `ip link set lo up`.
func TestRunLoopbackDown(t *testing.T) {
	root := hostTree()
	root["proc/net/fib_trie"] = &fstest.MapFile{Data: readFile("testdata/fib_trie.lo-down")}
	o := run(t, root)
	if got := o.Facts.Tri("net.lo_up"); got != probes.No {
		t.Errorf("net.lo_up = %v, want no", got)
	}
	if got := obstest.Codes(o.Findings); !reflect.DeepEqual(got, []string{CodeLoopbackDown.Code}) {
		t.Errorf("codes %v", got)
	}
	if !strings.Contains(o.Summary, "lo down") {
		t.Errorf("summary %q", o.Summary)
	}
	delete(root, "proc/net/fib_trie")
	if got := run(t, root).Facts.Tri("net.lo_up"); got != probes.Unknown {
		t.Errorf("no fib_trie: net.lo_up = %v, want unknown", got)
	}
}

func run(t *testing.T, root fs.FS) *probes.Observation {
	t.Helper()
	o, err := Probe{}.Run(context.Background(), &probes.Env{Root: root, Sys: fakeSys{}})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestRunHost(t *testing.T) {
	o := run(t, hostTree())
	want := probes.Facts{
		"net.interfaces":        []string{"lo", "ifb0", "ifb1", "eth0"},
		"net.default_interface": "eth0",
		// The default route's interface wins over the larger ifb MTU.
		"net.mtu":                 int64(1400),
		"net.ip_forward":          probes.No,
		"net.lo_up":               probes.Yes,
		"net.proxy":               probes.No,
		"net.routes_into_cluster": []string{},
		"net.localhost_loopback":  probes.Unknown,
		"net.hostname_in_hosts":   probes.Unknown,
		"net.engine_sockets":      probes.No,
		"net.port_6443_free":      probes.Yes, "net.port_10250_free": probes.Yes, "net.port_2379_free": probes.Yes,
		"net.port_2380_free": probes.Yes, "net.port_10257_free": probes.Yes, "net.port_10259_free": probes.Yes,
	}
	if !reflect.DeepEqual(o.Facts, want) {
		t.Errorf("facts\n got %v\nwant %v", o.Facts, want)
	}
	if len(o.Findings) != 0 {
		t.Errorf("findings %v", o.Findings)
	}
	if want := "4 interfaces, default route via eth0 (MTU 1400), ip_forward off; ports 6443 10250 2379 2380 10257 10259 free"; o.Summary != want {
		t.Errorf("summary %q, want %q", o.Summary, want)
	}
}

// gVisor with --network=none, bwrap --unshare-net: lo only, no routes.
func TestRunIsolated(t *testing.T) {
	root := fstest.MapFS{
		"proc/net/dev":        {Data: []byte("Inter-|   Receive |  Transmit\n face |bytes |bytes\n    lo:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0\n")},
		"proc/net/route":      {Data: []byte("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n")},
		"proc/net/ipv6_route": {Data: []byte(isolatedIPv6Route)},
		"proc/net/tcp":        {Data: []byte(strings.SplitN(hostTCP, "\n", 2)[0] + "\n")},
		// No tcp6 (IPv6 off) and no /sys (bwrap): still decidable.
		"proc/sys/net/ipv4/ip_forward": {Data: []byte("1\n")},
	}
	o := run(t, root)
	if got := o.Facts.String("net.default_interface"); got != "" {
		t.Errorf("default interface %q", got)
	}
	if _, ok := o.Facts.Int("net.mtu"); ok {
		t.Errorf("net.mtu set without any non-lo MTU: %v", o.Facts["net.mtu"])
	}
	if o.Facts.Tri("net.port_6443_free") != probes.Yes || o.Facts.Tri("net.ip_forward") != probes.Yes {
		t.Errorf("facts %v", o.Facts)
	}
	if got := obstest.Codes(o.Findings); !reflect.DeepEqual(got, []string{CodeNoDefaultRoute.Code}) {
		t.Errorf("codes %v", got)
	}
	if want := "only lo, no default route, ip_forward on; ports 6443 10250 2379 2380 10257 10259 free"; o.Summary != want {
		t.Errorf("summary %q, want %q", o.Summary, want)
	}
}

// The control plane's other ports (issue #18): a scheduler listening on
// 10259 (0x2813) is found like the API server's port.
func TestRunSchedulerPortTaken(t *testing.T) {
	root := hostTree()
	root["proc/net/tcp"] = &fstest.MapFile{Data: []byte(strings.Replace(hostTCP, "0100007F:280A", "0100007F:2813", 1))}
	o := run(t, root)
	if o.Facts.Tri("net.port_10259_free") != probes.No || o.Facts.Tri("net.port_10250_free") != probes.Yes {
		t.Fatalf("facts %v", o.Facts)
	}
	if got := obstest.Codes(o.Findings); !reflect.DeepEqual(got, []string{CodePort10259.Code}) {
		t.Errorf("codes %v", got)
	}
}

func TestRunPortsTaken(t *testing.T) {
	root := hostTree()
	root["proc/net/tcp"] = &fstest.MapFile{Data: []byte(hostTCP)}   // 127.0.0.1:10250
	root["proc/net/tcp6"] = &fstest.MapFile{Data: []byte(hostTCP6)} // [::]:6443
	root["proc/4242/comm"] = &fstest.MapFile{Data: []byte("k3s-server\n")}
	root["proc/4242/fd/7"] = &fstest.MapFile{Data: []byte("socket:[42978]"), Mode: fs.ModeSymlink}
	root["proc/4242/fd/0"] = &fstest.MapFile{Data: []byte("/dev/null"), Mode: fs.ModeSymlink}
	root["proc/self"] = &fstest.MapFile{Data: []byte("4242"), Mode: fs.ModeSymlink}
	o := run(t, root)
	if o.Facts.Tri("net.port_6443_free") != probes.No || o.Facts.Tri("net.port_10250_free") != probes.No ||
		o.Facts.Tri("net.port_2379_free") != probes.Yes {
		t.Fatalf("facts %v", o.Facts)
	}
	if got := obstest.Codes(o.Findings); !reflect.DeepEqual(got, []string{CodePort6443.Code, CodePort10250.Code}) {
		t.Fatalf("codes %v", got)
	}
	f := o.Findings[0]
	if f.Severity != probes.Block || !strings.Contains(f.Summary, "pid 4242 (k3s-server)") ||
		!strings.HasPrefix(f.Fix, "kill 4242 ") || !strings.Contains(f.Fix, "kprobe stop --data-dir DIR") {
		t.Errorf("6443 finding %+v", f)
	}
	// No owner found for 10250: the generic fix.
	if f := o.Findings[1]; f.Severity != probes.Warn || f.Fix != CodePort10250.Fix {
		t.Errorf("10250 finding %+v", f)
	}
}

// A port held by a process of a running kprobe cluster (Env.Own) is
// reported as the cluster's, and is no blocker: a report taken after a
// launch blamed the launch's own kube-apiserver.
func TestRunPortsOwnCluster(t *testing.T) {
	root := hostTree()
	root["proc/net/tcp6"] = &fstest.MapFile{Data: []byte(hostTCP6)} // [::]:6443
	root["proc/4242/comm"] = &fstest.MapFile{Data: []byte("kube-apiserver\n")}
	root["proc/4242/fd/7"] = &fstest.MapFile{Data: []byte("socket:[42978]"), Mode: fs.ModeSymlink}
	own := func(pid int) string {
		if pid == 4242 {
			return "the kprobe cluster of /var/lib/kprobe"
		}
		return ""
	}
	o, err := Probe{}.Run(context.Background(), &probes.Env{Root: root, Sys: fakeSys{}, Own: own})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Findings) != 1 {
		t.Fatalf("findings %+v", o.Findings)
	}
	f := o.Findings[0]
	if f.Code != CodePort6443.Code || !f.Ignored || !strings.Contains(f.Summary, "held by the kprobe cluster of /var/lib/kprobe") ||
		strings.HasPrefix(f.Fix, "kill") {
		t.Errorf("6443 finding %+v", f)
	}
	// Someone else's process stays a blocker.
	o, err = Probe{}.Run(context.Background(), &probes.Env{Root: root, Sys: fakeSys{}, Own: func(int) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	if f := o.Findings[0]; f.Ignored || !strings.HasPrefix(f.Fix, "kill 4242") {
		t.Errorf("a foreign owner: %+v", f)
	}
}

func TestRunUnreadable(t *testing.T) {
	root := denyFS{FS: hostTree(), deny: map[string]bool{
		"proc/net/tcp": true, "proc/net/route": true, "proc/sys/net/ipv4/ip_forward": true,
	}}
	o := run(t, root)
	// EACCES is not "free": the ports are unknown, never yes.
	for _, p := range Ports {
		if got := o.Facts.Tri(portKey(p.Port)); got != probes.Unknown {
			t.Errorf("%s = %v, want unknown", portKey(p.Port), got)
		}
	}
	if o.Facts.Tri("net.ip_forward") != probes.Unknown {
		t.Errorf("ip_forward %v", o.Facts["net.ip_forward"])
	}
	// The IPv6 table still names the default route; no "no route" finding.
	if o.Facts.String("net.default_interface") != "eth0" || len(o.Findings) != 0 {
		t.Errorf("facts %v findings %v", o.Facts, o.Findings)
	}
	var sawEACCES bool
	for _, e := range o.Evidence {
		if e.Source == "/proc/net/tcp" && e.Errno == "EACCES" {
			sawEACCES = true
		}
	}
	if !sawEACCES {
		t.Errorf("no EACCES evidence for /proc/net/tcp: %v", o.Evidence)
	}
}

func TestRunNoProcNetDev(t *testing.T) {
	root := hostTree()
	delete(root, "proc/net/dev")
	o := run(t, root)
	if got := o.Facts.List("net.interfaces"); !reflect.DeepEqual(got, []string{"eth0", "ifb0", "ifb1", "lo"}) {
		t.Errorf("interfaces from sysfs: %v", got)
	}
}

func TestMetadata(t *testing.T) {
	for _, p := range []probes.Probe{Probe{}, NetnsProbe{}} {
		if !probes.ValidID(p.ID()) {
			t.Errorf("bad ID %q", p.ID())
		}
		seen := map[string]bool{}
		for _, c := range p.Codes() {
			if !strings.HasPrefix(c.Code, "KP-NET-") || c.Fix == "" || c.Meaning == "" || c.Title == "" || seen[c.Code] {
				t.Errorf("%s: bad code %+v", p.ID(), c)
			}
			seen[c.Code] = true
		}
	}
	probes.SchemaOf([]probes.Probe{Probe{}, NetnsProbe{}}) // panics on duplicate keys
}

// A corporate proxy without the cluster's ranges in NO_PROXY (issue #18).
func TestRunProxyCapturesCluster(t *testing.T) {
	env := []string{"HTTPS_PROXY=http://192.0.2.1:3128", "NO_PROXY=localhost,127.0.0.1,10.96.0.0/12"}
	o, err := Probe{}.Run(context.Background(), &probes.Env{Root: hostTree(), Sys: fakeSys{env: env}})
	if err != nil {
		t.Fatal(err)
	}
	if o.Facts.Tri("net.proxy") != probes.Yes || o.Facts.Tri("net.no_proxy_covers_cluster") != probes.No {
		t.Errorf("facts %v", o.Facts)
	}
	if got := obstest.Codes(o.Findings); !reflect.DeepEqual(got, []string{CodeProxyCapture.Code}) {
		t.Errorf("codes %v", got)
	}
	if m := NoProxyMissing("127.0.0.0/8,10.0.0.0/8"); len(m) != 0 {
		t.Errorf("10.0.0.0/8 covers the ranges: missing %v", m)
	}
	if m := NoProxyMissing("localhost,10.96.0.0/12"); len(m) != 4 || m[0] != "127.0.0.1" {
		t.Errorf("missing %v", m)
	}
}

// A route into the pod or Service range sends cluster traffic out of the
// node. testdata/route-overlap is /proc/net/route read in a network
// namespace made here (unshare -n) with 10.244.5.1/24 on a veth, a route
// to 10.96.0.0/16 via a gateway and a default route.
func TestRunRouteOverlapsCluster(t *testing.T) {
	tree := hostTree()
	tree["proc/net/route"] = &fstest.MapFile{Data: readFile("testdata/route-overlap")}
	o := run(t, tree)
	want := []string{"10.96.0.0/16 dev kpd0 (10.96.0.0/12)", "10.244.5.0/24 dev kpd0 (10.244.0.0/16)"}
	if got := o.Facts["net.routes_into_cluster"]; !reflect.DeepEqual(got, want) {
		t.Errorf("net.routes_into_cluster = %v, want %v", got, want)
	}
	if got := obstest.Codes(o.Findings); !reflect.DeepEqual(got, []string{"KP-NET-017"}) {
		t.Errorf("codes %v, want KP-NET-017", got)
	}
	// The host's routes (default, 192.0.2.0/24) stay quiet.
	if o := run(t, hostTree()); len(o.Findings) != 0 || len(o.Facts.List("net.routes_into_cluster")) != 0 {
		t.Errorf("host: findings %v, routes %v", o.Findings, o.Facts["net.routes_into_cluster"])
	}
}

// /etc/hosts decides how localhost resolves before DNS is asked (glibc's
// files source, Go's resolver): etcd, the API server's health checks and
// the kubelet dial localhost. The second file is what a sandbox built
// from a bare root (bwrap --ro-bind over a minimal /etc) can have.
func TestRunNames(t *testing.T) {
	tree := hostTree()
	tree["proc/sys/kernel/hostname"] = &fstest.MapFile{Data: []byte("node-a\n")}
	tree["etc/hosts"] = &fstest.MapFile{Data: []byte("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n192.0.2.10 node-a.example node-a\n")}
	o := run(t, tree)
	if o.Facts.Tri("net.localhost_loopback") != probes.Yes || o.Facts.Tri("net.hostname_in_hosts") != probes.Yes || len(o.Findings) != 0 {
		t.Errorf("good hosts: facts %v, findings %v", o.Facts, o.Findings)
	}
	tree["etc/hosts"] = &fstest.MapFile{Data: []byte("# no localhost here\n10.0.0.5 localhost.example\n")}
	o = run(t, tree)
	if o.Facts.Tri("net.localhost_loopback") != probes.No || o.Facts.Tri("net.hostname_in_hosts") != probes.No {
		t.Errorf("bare hosts: facts %v", o.Facts)
	}
	if got := obstest.Codes(o.Findings); !reflect.DeepEqual(got, []string{"KP-NET-018"}) {
		t.Errorf("codes %v, want KP-NET-018", got)
	}
	tree["etc/hosts"] = &fstest.MapFile{Data: []byte("10.0.0.5 localhost\n")}
	if o := run(t, tree); o.Facts.Tri("net.localhost_loopback") != probes.No {
		t.Errorf("localhost on a non-loopback address: %v", o.Facts["net.localhost_loopback"])
	}
	delete(tree, "etc/hosts")
	if o := run(t, tree); o.Facts.Tri("net.localhost_loopback") != probes.Unknown || len(o.Findings) != 0 {
		t.Errorf("no /etc/hosts (the resolver's own fallback answers localhost): %v %v", o.Facts["net.localhost_loopback"], o.Findings)
	}
}

// A Docker socket mounted into the sandbox (docker-outside-of-docker) is
// found by connecting to it: a real listener on a unix socket at the
// place Docker's is, under a directory standing for the root.
func TestOuterEngineSocket(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(root+"/var/run", 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", root+"/var/run/docker.sock")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// A stale socket nobody listens on is not reachable.
	if err := os.MkdirAll(root+"/run/containerd", 0o755); err != nil {
		t.Fatal(err)
	}
	stale, err := net.Listen("unix", root+"/run/containerd/containerd.sock")
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()

	o := probes.NewObservation()
	outerEngine(&probes.Env{Root: os.DirFS(root)}, o, root)
	if o.Facts.Tri("net.engine_sockets") != probes.Yes {
		t.Errorf("net.engine_sockets = %v", o.Facts["net.engine_sockets"])
	}
	if len(o.Findings) != 1 || o.Findings[0].Code != "KP-NET-019" || !strings.Contains(o.Findings[0].Summary, "/var/run/docker.sock") ||
		strings.Contains(o.Findings[0].Summary, "containerd") {
		t.Errorf("findings %+v", o.Findings)
	}
	l.Close()
	o = probes.NewObservation()
	outerEngine(&probes.Env{Root: os.DirFS(root)}, o, root)
	if o.Facts.Tri("net.engine_sockets") != probes.No || len(o.Findings) != 0 {
		t.Errorf("no listener: %v %v", o.Facts, o.Findings)
	}
}
