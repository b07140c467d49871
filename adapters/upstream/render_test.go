package upstream

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/adapters/runspec"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func testConfig() Config {
	return Config{
		DataDir: "/var/lib/kprobe", NodeIP: "192.0.2.2", NodeAgent: "/opt/kprobe/bin/kprobe-node-agent", ImagesDir: "/opt/kprobe/bin/images",
		Bin: Binaries{Etcd: "/usr/bin/etcd", Containerd: "/usr/bin/containerd", Runc: "/usr/sbin/runc",
			APIServer: "/opt/kprobe/bin/engine/kube-apiserver", ControllerManager: "/opt/kprobe/bin/engine/kube-controller-manager",
			Scheduler: "/opt/kprobe/bin/engine/kube-scheduler", Kubelet: "/opt/kprobe/bin/engine/kubelet",
			KubeProxy: "/opt/kprobe/bin/engine/kube-proxy", NetworkPolicies: "/opt/kprobe/bin/engine/kube-network-policies", CNIDir: "/usr/lib/cni"},
		Certs: Certs{CA: "/var/lib/kprobe/pki/ca.crt", CAKey: "/var/lib/kprobe/pki/ca.key",
			APIServerCert: "/var/lib/kprobe/pki/apiserver.crt", APIServerKey: "/var/lib/kprobe/pki/apiserver.key",
			KubeletClientCert: "/var/lib/kprobe/pki/apiserver-kubelet-client.crt", KubeletClientKey: "/var/lib/kprobe/pki/apiserver-kubelet-client.key",
			KubeletServingCert: "/var/lib/kprobe/pki/kubelet-serving.crt", KubeletServingKey: "/var/lib/kprobe/pki/kubelet-serving.key",
			SAPub: "/var/lib/kprobe/pki/sa.pub", SAKey: "/var/lib/kprobe/pki/sa.key",
			EtcdCA:         "/var/lib/kprobe/pki/etcd-ca.crt",
			EtcdServerCert: "/var/lib/kprobe/pki/etcd-server.crt", EtcdServerKey: "/var/lib/kprobe/pki/etcd-server.key",
			EtcdPeerCert: "/var/lib/kprobe/pki/etcd-peer.crt", EtcdPeerKey: "/var/lib/kprobe/pki/etcd-peer.key",
			APIServerEtcdClientCert: "/var/lib/kprobe/pki/apiserver-etcd-client.crt", APIServerEtcdClientKey: "/var/lib/kprobe/pki/apiserver-etcd-client.key",
			AdminKubeconfig: "/var/lib/kprobe/kubeconfigs/admin.conf", ControllerManagerKubeconfig: "/var/lib/kprobe/kubeconfigs/controller-manager.conf",
			SchedulerKubeconfig: "/var/lib/kprobe/kubeconfigs/scheduler.conf", KubeletKubeconfig: "/var/lib/kprobe/kubeconfigs/kubelet.conf",
			KubeProxyKubeconfig: "/var/lib/kprobe/kubeconfigs/kube-proxy.conf"},
	}
}

// plans are built by hand as the rule table would build them.
var plans = map[string]*adapters.Plan{
	"host": {Engine: "kubernetes", Rung: "T0", Settings: []adapters.Setting{
		{Component: adapters.Containerd, Name: "restrict_oom_score_adj", Value: "true", Reason: "R-OOM-SCORE"},
		{Component: adapters.Kubelet, Name: "fail-cgroupv1", Value: "false", Reason: "R-CGROUP-V1"},
	}},
	"degraded": {Engine: "kubernetes", Rung: "T2", Settings: []adapters.Setting{
		{Component: adapters.Cluster, Name: "snapshotter", Value: "native"},
		{Component: adapters.Cluster, Name: "disable-kube-proxy", Value: "true"},
		{Component: adapters.Containerd, Name: "enable_unprivileged_ports", Value: "false"},
		{Component: adapters.Kubelet, Name: "local-storage-capacity-isolation", Value: "false"},
		{Component: adapters.Kubelet, Name: "feature-gates", Value: "KubeletInUserNamespace=true"},
	}},
	"control-plane": {Engine: "kubernetes", Rung: "T3", Settings: []adapters.Setting{
		{Component: adapters.Cluster, Name: "disable-agent", Value: "true"},
	}},
	"process-pods": {Engine: "kubernetes", Rung: "TP", Settings: []adapters.Setting{
		{Component: adapters.Cluster, Name: "disable-agent", Value: "true"},
		{Component: adapters.Cluster, Name: "disable-kube-proxy", Value: "true"},
		{Component: adapters.NodeAgent, Name: "isolation", Value: "userns", Reason: "R-TP-ISOLATION-USERNS"},
	}},
}

func TestRenderGolden(t *testing.T) {
	for name, plan := range plans {
		t.Run(name, func(t *testing.T) {
			r, err := Render(plan, testConfig())
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			paths := make([]string, 0, len(r.Files))
			for p := range r.Files {
				paths = append(paths, p)
			}
			sort.Strings(paths)
			for _, p := range paths {
				b.WriteString("=== " + p + "\n" + r.Files[p])
				if strings.HasSuffix(p, ".toml") {
					var v map[string]any
					if _, err := toml.Decode(r.Files[p], &v); err != nil {
						t.Errorf("%s is not valid TOML: %v", p, err)
					}
				}
				if strings.HasSuffix(p, ".conflist") {
					var v map[string]any
					if err := json.Unmarshal([]byte(r.Files[p]), &v); err != nil {
						t.Errorf("%s is not valid JSON: %v", p, err)
					}
				}
			}
			procs, _ := json.MarshalIndent(r.Processes, "", "  ")
			b.WriteString("=== processes\n" + string(procs) + "\n")
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test ./adapters/upstream -update)", err)
			}
			if string(want) != b.String() {
				t.Errorf("%s differs from the rendering; rerun with -update and review the diff", golden)
			}
		})
	}
}

func TestRenderChoices(t *testing.T) {
	r, err := Render(plans["degraded"], testConfig())
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]supervisePos{}
	for i, p := range r.Processes {
		names[p.Name] = supervisePos{i, p.Args}
	}
	if _, ok := names["kube-proxy"]; ok {
		t.Error("disable-kube-proxy still starts kube-proxy")
	}
	if !contains(names["kubelet"].args, "--feature-gates=KubeletInUserNamespace=true") ||
		!contains(names["kubelet"].args, "--local-storage-capacity-isolation=false") {
		t.Errorf("kubelet flags from the plan missing: %v", names["kubelet"].args)
	}
	cfg := r.Files["/var/lib/kprobe/containerd/config.toml"]
	if !strings.Contains(cfg, `snapshotter = "native"`) || !strings.Contains(cfg, "enable_unprivileged_ports = false") {
		t.Errorf("containerd config ignores the plan:\n%s", cfg)
	}
	// The store starts before the API server and so stops after it.
	if names["etcd"].i > names["kube-apiserver"].i {
		t.Error("etcd must start before (and stop after) the API server")
	}
	cp, err := Render(plans["control-plane"], testConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range cp.Processes {
		switch p.Name {
		case "kubelet", "containerd", "kube-proxy":
			t.Errorf("disable-agent still starts %s", p.Name)
		}
	}
	pp, err := Render(plans["process-pods"], testConfig())
	if err != nil {
		t.Fatal(err)
	}
	var agent []string
	for _, p := range pp.Processes {
		switch p.Name {
		case "kubelet", "containerd", "kube-proxy":
			t.Errorf("process pods still start %s", p.Name)
		case "node-agent":
			if p.Path != "/opt/kprobe/bin/kprobe-node-agent" {
				t.Errorf("the node agent runs %s, not kprobe-node-agent", p.Path)
			}
			agent = p.Args
		}
	}
	// The contract with kprobe-node-agent (cmd/kprobe-node-agent).
	for _, a := range []string{"--kubeconfig=/var/lib/kprobe/kubeconfigs/kubelet.conf", "--node-name=kprobe-node",
		"--data-dir=/var/lib/kprobe/node-agent", "--node-ip=192.0.2.2",
		"--tls-cert-file=/var/lib/kprobe/pki/kubelet-serving.crt", "--tls-private-key-file=/var/lib/kprobe/pki/kubelet-serving.key",
		"--client-ca-file=/var/lib/kprobe/pki/ca.crt", "--images-dir=/opt/kprobe/bin/images", "--isolation=userns"} {
		if !contains(agent, a) {
			t.Errorf("node agent args lack %s: %v", a, agent)
		}
	}
	for path := range pp.Files {
		if strings.Contains(path, "kubelet") || strings.Contains(path, "containerd") || strings.Contains(path, "cni") {
			t.Errorf("process pods write no kubelet, containerd or CNI files: %s", path)
		}
	}
	noSelf := testConfig()
	noSelf.NodeAgent = ""
	if _, err := Render(plans["process-pods"], noSelf); err == nil {
		t.Error("a node agent without its executable was rendered")
	}
	if _, err := Render(plans["host"], Config{DataDir: "relative"}); err == nil {
		t.Error("a relative data dir was accepted")
	}
	long := "/" + strings.Repeat("d", 120)
	if s := ContainerdSocket(long); len(s) >= 100 || !strings.HasPrefix(s, "/run/kprobe-") {
		t.Errorf("socket path for a long data dir: %s", s)
	}
}

type supervisePos struct {
	i    int
	args []string
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// TestRenderPortOffset: with launch --port-offset every port the control
// plane and the node agent listen on moves by the offset (a second
// cluster beside another), readiness checks included; nothing still
// names a default port.
func TestRenderPortOffset(t *testing.T) {
	c := testConfig()
	c.PortOffset = 100
	r, err := Render(plans["process-pods"], c)
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, p := range r.Processes {
		all.WriteString(p.Name + " " + strings.Join(p.Args, " ") + " ready " + p.Ready.TCP + p.Ready.HTTP + "\n")
	}
	s := all.String()
	for _, want := range []string{
		"--secure-port=6543", "https://127.0.0.1:6543/readyz", "--listen-client-urls=https://127.0.0.1:2479",
		"--listen-peer-urls=https://127.0.0.1:2480", "--secure-port=10357", "https://127.0.0.1:10357/healthz",
		"--secure-port=10359", "https://127.0.0.1:10359/healthz", "--listen=192.0.2.2:10350", "ready 192.0.2.2:10350",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("rendered processes lack %s:\n%s", want, s)
		}
	}
	for _, old := range []string{":6443", ":2379", ":2380", ":10250", ":10257", ":10259"} {
		if strings.Contains(s, old) {
			t.Errorf("a default port %s is still rendered:\n%s", old, s)
		}
	}
}

// Two clusters on one host (--port-offset) must not share the enforcer's
// nfqueue or nf_tables table: stop of one would delete the other's.
func TestNetworkPolicyProcessPortOffset(t *testing.T) {
	p := NetworkPolicyProcess("/bin/knp", "/kc", "n", 0, NetworkPolicyQueueNFT, DefaultPodCIDR)
	if strings.Contains(strings.Join(p.Args, " "), "--queue-path") {
		t.Errorf("nft path: args %q", p.Args)
	}
	if got := strings.Join(NetworkPolicyCleanupArgs(p.Args), " "); got != "--cleanup" {
		t.Errorf("offset 0: cleanup args %q", got)
	}
	p = NetworkPolicyProcess("/bin/knp", "/kc", "n", 20000, NetworkPolicyQueueIptables, DefaultPodCIDR)
	args := strings.Join(p.Args, " ")
	for _, want := range []string{"--nfqueue-id=20100", "--nftables-table=kube-network-policies-20000",
		"--iptables-chain=KPROBE-NETPOL-20000", "--queue-path=iptables --pod-cidr=" + DefaultPodCIDR} {
		if !strings.Contains(args, want) {
			t.Errorf("offset 20000: args %q lack %q", args, want)
		}
	}
	if got := strings.Join(NetworkPolicyCleanupArgs(p.Args), " "); got != "--cleanup --nftables-table=kube-network-policies-20000 --iptables-chain=KPROBE-NETPOL-20000" {
		t.Errorf("offset 20000: cleanup args %q", got)
	}
}

// TestRenderOneControlPlaneProcess: with kube-control-plane installed the
// API server, controller manager and scheduler run as one process that
// takes each one's arguments, in a section of its own, and is ready when
// the API server is; every other process is as with the three.
func TestRenderOneControlPlaneProcess(t *testing.T) {
	for name, plan := range plans {
		three, err := Render(plan, testConfig())
		if err != nil {
			t.Fatal(err)
		}
		c := testConfig()
		c.Bin.ControlPlane = "/opt/kprobe/bin/engine/kube-control-plane"
		one, err := Render(plan, c)
		if err != nil {
			t.Fatal(err)
		}
		byName := map[string]int{}
		for i, p := range three.Processes {
			byName[p.Name] = i
		}
		var want []string
		for i, n := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
			if i > 0 {
				want = append(want, "--")
			}
			want = append(append(want, n), three.Processes[byName[n]].Args...)
		}
		var names []string
		for _, p := range one.Processes {
			names = append(names, p.Name)
			if p.Name != ControlPlaneProcessName {
				continue
			}
			api := three.Processes[byName["kube-apiserver"]]
			if p.Path != c.Bin.ControlPlane || !slices.Equal(p.Args, want) || p.Ready != api.Ready || p.NoWait {
				t.Errorf("%s: the combined process %+v, want the arguments %q and the readiness %+v", name, p, want, api.Ready)
			}
			if !contains(p.Env, "GOMEMLIMIT=232MiB") {
				t.Errorf("%s: env %q", name, p.Env)
			}
		}
		var wantNames []string
		for _, p := range three.Processes {
			switch p.Name {
			case "kube-apiserver":
				wantNames = append(wantNames, ControlPlaneProcessName)
			case "kube-controller-manager", "kube-scheduler":
			default:
				wantNames = append(wantNames, p.Name)
			}
		}
		if !slices.Equal(names, wantNames) {
			t.Errorf("%s: processes %q, want %q", name, names, wantNames)
		}
	}
}

// TestRenderNodeInControlPlane: with a kube-control-plane that runs the
// node's components too, node 0's kubelet and kube-proxy are two more
// sections of its process, with their own arguments, and the process
// waits for containerd as the kubelet did; kube-proxy's cleanup and the
// Go memory limit follow them.
func TestRenderNodeInControlPlane(t *testing.T) {
	for _, netpol := range []bool{false, true} {
		testRenderNodeInControlPlane(t, netpol)
	}
}

// testRenderNodeInControlPlane: with netpol the NetworkPolicy enforcer,
// where a plan runs it, is one more section, whose cleanup arguments stop
// finds in it.
func testRenderNodeInControlPlane(t *testing.T, netpol bool) {
	for name, plan := range plans {
		name := fmt.Sprintf("%s (enforcer inside: %v)", name, netpol)
		c := testConfig()
		c.Bin.ControlPlaneRunsNetworkPolicies = netpol
		c.Bin.ControlPlane = "/opt/kprobe/bin/engine/kube-control-plane"
		apart, err := Render(plan, c)
		if err != nil {
			t.Fatal(err)
		}
		c.Bin.ControlPlaneRunsNode = true
		one, err := Render(plan, c)
		if err != nil {
			t.Fatal(err)
		}
		byName := map[string]runspec.Process{}
		for _, p := range apart.Processes {
			byName[p.Name] = p
		}
		cp := byName[ControlPlaneProcessName]
		want := slices.Clone(cp.Args)
		var names []string
		limit := 232
		for _, p := range apart.Processes {
			switch p.Name {
			case "kubelet", "kube-proxy":
				want = append(append(want, "--", p.Name), p.Args...)
				limit += goMemoryLimits[p.Name]
			case NetworkPolicyProcessName:
				if !netpol {
					names = append(names, p.Name)
					continue
				}
				want = append(append(want, "--", p.Name), p.Args...)
			default:
				names = append(names, p.Name)
			}
		}
		var got []string
		for _, p := range one.Processes {
			got = append(got, p.Name)
			if p.Name != ControlPlaneProcessName {
				continue
			}
			if !slices.Equal(p.Args, want) {
				t.Errorf("%s: arguments %q, want %q", name, p.Args, want)
			}
			_, kubelet := byName["kubelet"]
			if kubelet != slices.Equal(p.After, []string{"containerd"}) {
				t.Errorf("%s: after %q (kubelet inside: %v)", name, p.After, kubelet)
			}
			if !contains(p.Env, fmt.Sprintf("GOMEMLIMIT=%dMiB", limit)) {
				t.Errorf("%s: env %q, want GOMEMLIMIT=%dMiB", name, p.Env, limit)
			}
			if settled := fmt.Sprintf("%s=%d", settledMemoryLimitEnv, 224<<20); !contains(p.Env, settled) {
				t.Errorf("%s: env %q, want %s", name, p.Env, settled)
			}
			_, proxy := byName["kube-proxy"]
			if RunsComponent(p, "kube-proxy") != proxy {
				t.Errorf("%s: RunsComponent(kube-proxy) = %v, want %v", name, !proxy, proxy)
			}
			if path, args := ComponentCommand(p, "kube-proxy", "--cleanup"); path != c.Bin.ControlPlane || !slices.Equal(args, []string{"kube-proxy", "--cleanup"}) {
				t.Errorf("%s: kube-proxy's cleanup %s %q", name, path, args)
			}
			enforcer, enforces := byName[NetworkPolicyProcessName]
			if RunsComponent(p, NetworkPolicyProcessName) != (netpol && enforces) {
				t.Errorf("%s: RunsComponent(%s) = %v", name, NetworkPolicyProcessName, !(netpol && enforces))
			}
			if netpol && enforces && !slices.Equal(ComponentArgs(p, NetworkPolicyProcessName), enforcer.Args) {
				t.Errorf("%s: the enforcer's section %q, want %q", name, ComponentArgs(p, NetworkPolicyProcessName), enforcer.Args)
			}
			if got := ComponentArgs(p, "kube-proxy"); proxy && !slices.Equal(got, byName["kube-proxy"].Args) {
				t.Errorf("%s: kube-proxy's section %q, want %q", name, got, byName["kube-proxy"].Args)
			}
		}
		if !slices.Equal(got, names) {
			t.Errorf("%s: processes %q, want %q", name, got, names)
		}
	}
}
