package addons

import (
	"bytes"
	"context"
	"flag"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/kprobe/kprobe/adapters/images"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func testConfig(upstreams []string) Config {
	return Config{DataDir: "/var/lib/kprobe", ClusterDNS: "10.96.0.10", NodeName: "kprobe-node", NodeIP: "192.0.2.2", Upstreams: upstreams}
}

// TestRenderGolden renders the manifests with and without upstream
// resolvers and compares them with testdata/*.golden (-update rewrites).
func TestRenderGolden(t *testing.T) {
	for name, ups := range map[string][]string{"forward": {"192.0.2.53", "198.51.100.53"}, "offline": {}} {
		t.Run(name, func(t *testing.T) {
			objs, err := Render(testConfig(ups))
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			for _, u := range objs {
				y, err := yaml.Marshal(u.Object)
				if err != nil {
					t.Fatal(err)
				}
				b.WriteString("=== " + u.GetKind() + " " + u.GetNamespace() + "/" + u.GetName() + "\n")
				b.Write(y)
			}
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Errorf("%s differs from the rendering (run with -update and check the diff)", golden)
			}
		})
	}
}

// TestRenderTyped decodes every rendered object into its typed API struct
// (strictly: an unknown field fails) and checks the values that tie the
// add-ons to the launch: the DNS Service address, the storage dir, the
// images the launcher imports and the default StorageClass.
func TestRenderTyped(t *testing.T) {
	objs, err := Render(testConfig([]string{"192.0.2.53"}))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, u := range objs {
		kinds[u.GetKind()]++
		var typed runtime.Object
		switch u.GetKind() {
		case "Service":
			typed = &corev1.Service{}
		case "Deployment":
			typed = &appsv1.Deployment{}
		case "StorageClass":
			typed = &storagev1.StorageClass{}
		case "ConfigMap":
			typed = &corev1.ConfigMap{}
		default:
			continue
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, typed, true); err != nil {
			t.Errorf("%s %s: %v", u.GetKind(), u.GetName(), err)
			continue
		}
		switch o := typed.(type) {
		case *corev1.Service:
			if o.Spec.ClusterIP != "10.96.0.10" || o.Namespace != Namespace || o.Name != "kube-dns" {
				t.Errorf("Service %s/%s at %s", o.Namespace, o.Name, o.Spec.ClusterIP)
			}
		case *appsv1.Deployment:
			c := o.Spec.Template.Spec.Containers[0]
			if c.ImagePullPolicy != corev1.PullNever || (c.Image != CoreDNSImageName && c.Image != LocalPathImageName) {
				t.Errorf("Deployment %s runs %s (%s)", o.Name, c.Image, c.ImagePullPolicy)
			}
		case *storagev1.StorageClass:
			if o.Name != "local-path" || o.Annotations["storageclass.kubernetes.io/is-default-class"] != "true" {
				t.Errorf("StorageClass %s %v", o.Name, o.Annotations)
			}
		case *corev1.ConfigMap:
			switch o.Name {
			case "local-path-config":
				if !strings.Contains(o.Data["config.json"], `"/var/lib/kprobe/storage"`) ||
					!strings.Contains(o.Data["helperPod.yaml"], HelperImageName) {
					t.Errorf("local-path-config: %v", o.Data)
				}
			case "coredns":
				if o.Data["NodeHosts"] != "192.0.2.2 kprobe-node\n" || !strings.Contains(o.Data["Corefile"], "forward . 192.0.2.53 {") {
					t.Errorf("coredns ConfigMap: %v", o.Data)
				}
			}
		}
	}
	for _, k := range []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "Service", "StorageClass"} {
		if kinds[k] == 0 {
			t.Errorf("no %s rendered", k)
		}
	}
	if kinds["Deployment"] != len(Deployments) {
		t.Errorf("%d Deployments, Available waits for %d", kinds["Deployment"], len(Deployments))
	}
}

func TestRenderRefusesMissingValues(t *testing.T) {
	for _, c := range []Config{
		{ClusterDNS: "10.96.0.10", NodeName: "n", NodeIP: "192.0.2.2"},
		{DataDir: "relative", ClusterDNS: "10.96.0.10", NodeName: "n", NodeIP: "192.0.2.2"},
		{DataDir: "/d", NodeName: "n", NodeIP: "192.0.2.2"},
	} {
		if _, err := Render(c); err == nil {
			t.Errorf("Render(%+v) accepted", c)
		}
	}
}

func TestNameservers(t *testing.T) {
	p := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(p, []byte(`# comment
search example.org
nameserver 127.0.0.53
nameserver 192.0.2.53
nameserver ::1
nameserver fe80::1%eth0
nameserver not-an-ip
options edns0
nameserver 198.51.100.53
`), 0o644); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(Nameservers(p), " ")
	if got != "192.0.2.53 fe80::1 198.51.100.53" {
		t.Errorf("Nameservers = %q", got)
	}
	if Nameservers(filepath.Join(t.TempDir(), "missing")) != nil {
		t.Error("a missing resolv.conf gave nameservers")
	}
}

// serveDNS answers every query on a loopback UDP socket with rcode.
func serveDNS(t *testing.T, rcode byte) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			resp := append([]byte(nil), buf[:n]...)
			resp[2] |= 0x80 // QR: a response
			resp[3] = resp[3]&0xf0 | rcode
			_, _ = pc.WriteTo(resp, addr)
		}
	}()
	return pc.LocalAddr().String()
}

// TestAnswers queries real UDP sockets: a resolver that answers (even
// NXDOMAIN) counts, one that refuses or never answers does not.
func TestAnswers(t *testing.T) {
	ctx := context.Background()
	try := func(addr string) bool {
		host, port, _ := net.SplitHostPort(addr)
		return answersAt(ctx, host, port, 500*time.Millisecond)
	}
	if !try(serveDNS(t, 0)) || !try(serveDNS(t, 3)) {
		t.Error("an answering resolver was not seen")
	}
	if try(serveDNS(t, 5)) {
		t.Error("a refusing resolver counted")
	}
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	start := time.Now()
	if try(silent.LocalAddr().String()) {
		t.Error("a silent socket counted")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the probe of a silent resolver took %v", d)
	}
}

// TestImages builds both add-on images around a static binary (Debian's
// static busybox, or this test when built without cgo, in place of the
// component: the packaging is what is tested) and reads the archives
// back.
func TestImages(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if checkStatic(exe) != nil {
		exe = "/bin/busybox"
		if checkStatic(exe) != nil {
			t.Skip("no static binary to package: apt-get install busybox-static, or CGO_ENABLED=0")
		}
	}
	for _, mk := range []func(string) (images.Image, error){CoreDNSImage, LocalPathImage} {
		img, err := mk(exe)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := images.BuildOCI(&buf, img); err != nil {
			t.Fatal(err)
		}
		info, err := images.Inspect(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		if info.Name != img.Name {
			t.Errorf("archive names %s, want %s", info.Name, img.Name)
		}
	}
}

func TestImagesRefuseDynamic(t *testing.T) {
	for _, p := range []string{"/bin/sh", "/usr/bin/env"} {
		if checkStatic(p) == nil {
			continue // a static shell: nothing to learn here
		}
		if _, err := CoreDNSImage(p); err == nil || !strings.Contains(err.Error(), "dynamically linked") {
			t.Errorf("CoreDNSImage(%s): %v", p, err)
		}
		return
	}
	t.Skip("no dynamically linked binary on this machine")
}

func TestArchives(t *testing.T) {
	dir := t.TempDir()
	if _, err := Archives(dir); err == nil || !strings.Contains(err.Error(), "make addons") {
		t.Errorf("missing archives: %v", err)
	}
	for _, f := range []string{CoreDNSArchive, LocalPathArchive} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Archives(dir)
	if err != nil || len(got) != 2 || got[0] != filepath.Join(dir, CoreDNSArchive) {
		t.Errorf("Archives = %v, %v", got, err)
	}
}

// TestRenderDNSPort: at TP CoreDNS listens on a high port and kube-dns
// still answers on 53, forwarding to it.
func TestRenderDNSPort(t *testing.T) {
	c := testConfig(nil)
	c.DNSPort = 1053
	objs, err := Render(c)
	if err != nil {
		t.Fatal(err)
	}
	var corefile, service string
	for _, u := range objs {
		y, _ := yaml.Marshal(u.Object)
		switch u.GetKind() + "/" + u.GetName() {
		case "ConfigMap/coredns":
			corefile = string(y)
		case "Service/kube-dns":
			service = string(y)
		}
	}
	if !strings.Contains(corefile, ".:1053 {") {
		t.Errorf("Corefile does not listen on 1053:\n%s", corefile)
	}
	if !strings.Contains(service, "port: 53") || !strings.Contains(service, "targetPort: 1053") {
		t.Errorf("kube-dns does not forward 53 to 1053:\n%s", service)
	}
}
