package mounts

import (
	"context"
	"io/fs"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/probetest/obstest"
)

func TestPropagation(t *testing.T) {
	// Optional fields as this machine prints them after mount
	// --make-rshared / --make-slave / --make-unbindable.
	for in, want := range map[string]string{
		"":                          "private",
		"shared:2":                  "shared",
		"master:2":                  "slave",
		"shared:23 master:2":        "shared",
		"unbindable":                "private",
		"propagate_from:3 master:2": "slave",
		"shared":                    "shared",
		"  garbage  :: ":            "private",
	} {
		if got := Propagation(in); got != want {
			t.Errorf("Propagation(%q) = %s, want %s", in, got, want)
		}
	}
}

// Real mountinfo lines of / on this machine (Debian 12 Firecracker VM):
// as booted (private), after `mount --make-rshared /` in a new mount
// namespace, and in a slave namespace of that one.
const (
	rootPrivate = "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534\n"
	rootShared  = "44 43 254:0 / / rw,relatime shared:2 - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534\n"
	rootSlave   = "66 65 254:0 / / rw,relatime master:2 - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534\n"
	procLine    = "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
)

func TestRunPassive(t *testing.T) {
	dir := &fstest.MapFile{Mode: fs.ModeDir | 0o755}
	for _, tc := range []struct {
		name          string
		mountinfo     string
		dirs          []string
		root, kubelet string
		finding       bool
		sum           string
	}{
		{"host, private", procLine + rootPrivate, nil, "private", "private", true, "/ is private; /var/lib/kubelet is on /"},
		{"rshared", rootShared + procLine, nil, "shared", "shared", false, "/ is shared (shared:2); /var/lib/kubelet is on /"},
		{"slave", rootSlave, nil, "slave", "slave", true, "/ is slave (master:2); /var/lib/kubelet is on /"},
		{"kubelet dir on its own shared mount", rootPrivate + "80 27 254:0 /k /var/lib/kubelet rw shared:9 - ext4 /dev/vda rw\n",
			[]string{"var/lib/kubelet"}, "private", "shared", false, "/ is private; /var/lib/kubelet is on /var/lib/kubelet, shared"},
		{"kubelet dir on a private mount under a shared /", rootShared + "80 44 0:50 / /var/lib/kubelet rw - tmpfs tmpfs rw\n",
			[]string{"var/lib/kubelet"}, "shared", "private", true, "/ is shared (shared:2); /var/lib/kubelet is on /var/lib/kubelet, private"},
		{"garbage around", "junk\n" + rootShared + "1 2\n", nil, "shared", "shared", false, "/ is shared (shared:2); /var/lib/kubelet is on /"},
		{"no root mount", procLine, nil, "unknown", "", false, "propagation of / unknown: no mount for / in mountinfo"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := fstest.MapFS{"proc/self/mountinfo": {Data: []byte(tc.mountinfo)}}
			for _, d := range tc.dirs {
				root[d] = dir
			}
			o, err := Probe{}.Run(context.Background(), &probes.Env{Root: root})
			if err != nil {
				t.Fatal(err)
			}
			if got := o.Facts.String("mount.root_propagation"); got != tc.root {
				t.Errorf("root_propagation = %q, want %q", got, tc.root)
			}
			if got := o.Facts.String("mount.kubelet_propagation"); got != tc.kubelet {
				t.Errorf("kubelet_propagation = %q, want %q", got, tc.kubelet)
			}
			if o.Summary != tc.sum {
				t.Errorf("summary %q, want %q", o.Summary, tc.sum)
			}
			if got := len(o.Findings) == 1 && o.Findings[0].Code == "KP-MNT-001"; got != tc.finding {
				t.Errorf("findings %+v, want KP-MNT-001: %v", o.Findings, tc.finding)
			}
			for _, f := range o.Findings {
				if f.Fix != CodeNotShared.Fix || f.Evidence.Excerpt == "" {
					t.Errorf("finding %+v", f)
				}
			}
		})
	}
	o, err := Probe{}.Run(context.Background(), &probes.Env{Root: fstest.MapFS{}})
	if err == nil || o.Facts.String("mount.root_propagation") != "unknown" {
		t.Errorf("unreadable mountinfo: %v %v", err, o.Facts)
	}
}

func TestJudge(t *testing.T) {
	y, n, u := probes.Yes, probes.No, probes.Unknown
	for _, tc := range []struct {
		name             string
		rs, rb, urs, urb probes.Tri
		codes            string
		sum              string
	}{
		{"host", y, y, y, y, "", "rshared / and rbind ok, also in a user namespace"},
		{"gVisor: rbind EINVAL, userns mounts EPERM", n, n, n, n, "KP-MNT-002,KP-MNT-003", "rshared / and rbind refused, also in a user namespace"},
		{"bwrap/podman: no caps, userns works", u, n, y, y, "KP-MNT-004", "rshared / not tried, rbind refused; in a user namespace rshared / and rbind ok"},
		{"docker-like: everything EPERM", u, n, n, n, "KP-MNT-003", "rshared / not tried, rbind refused; in a user namespace rshared / and rbind refused"},
		{"blind", u, u, u, u, "", "rshared / and rbind not tried, also in a user namespace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := probes.NewObservation()
			o.Set("mount.rshared_possible", tc.rs)
			o.Set("mount.rbind", tc.rb)
			o.Set("mount.userns_rshared", tc.urs)
			o.Set("mount.userns_rbind", tc.urb)
			judge(o, probes.Evidence{Source: "test"})
			if got := strings.Join(obstest.Codes(o.Findings), ","); got != tc.codes {
				t.Errorf("codes %q, want %q", got, tc.codes)
			}
			if o.Summary != tc.sum {
				t.Errorf("summary %q, want %q", o.Summary, tc.sum)
			}
		})
	}
}

func TestDeclarations(t *testing.T) {
	for _, p := range []probes.Probe{Probe{}, RShared{}} {
		if !probes.ValidID(p.ID()) {
			t.Errorf("bad ID %q", p.ID())
		}
		for _, c := range p.Codes() {
			if !strings.HasPrefix(c.Code, "KP-MNT-") || c.Fix == "" || c.Meaning == "" {
				t.Errorf("bad code %+v", c)
			}
		}
	}
	if (Probe{}).Mode() != probes.Passive || (RShared{}).Mode() != probes.Active {
		t.Error("modes")
	}
	keys := map[string]bool{}
	for _, p := range []probes.Probe{Probe{}, RShared{}} {
		for _, s := range p.Facts() {
			if keys[s.Key] {
				t.Errorf("duplicate %s", s.Key)
			}
			keys[s.Key] = true
		}
	}
	for _, k := range []string{"mount.root_propagation", "mount.rshared_possible", "mount.rbind"} {
		if !keys[k] {
			t.Errorf("contract fact %s not declared", k)
		}
	}
}

func FuzzPropagation(f *testing.F) {
	for _, s := range []string{"", "shared:1", "master:2", "shared:1 master:2", "unbindable", "propagate_from:3 master:2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, optional string) {
		switch p := Propagation(optional); p {
		case "shared", "slave", "private":
		default:
			t.Fatalf("Propagation(%q) = %q", optional, p)
		}
	})
}

func FuzzRunPassive(f *testing.F) {
	f.Add(rootShared + procLine)
	f.Add("1 1 0:0 / / rw master:1 shared - x y z\n")
	f.Fuzz(func(t *testing.T, text string) {
		if runtime.GOOS != "linux" {
			t.Skip("mountinfo parser is Linux-only")
		}
		o, _ := Probe{}.Run(context.Background(), &probes.Env{Root: fstest.MapFS{"proc/self/mountinfo": {Data: []byte(text)}}})
		if o == nil {
			t.Fatal("nil observation")
		}
	})
}
