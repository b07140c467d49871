package kernel

import (
	"context"
	"testing"
	"testing/fstest"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/probetest/obstest"
)

// unameSys answers uname(2) with a fixed release; the rest of Syscalls is
// not used by the kernel probe.
type unameSys struct {
	probes.Syscalls
	release string
}

func (u unameSys) Uname() (probes.Uname, error) { return probes.Uname{Release: u.release}, nil }

func TestKernelProbe(t *testing.T) {
	cases := []struct {
		name, release, version string
		files                  fstest.MapFS
		emulated               probes.Tri
		codes                  []string
		config                 string
		summary                string
	}{
		{name: "firecracker host", release: "6.18.44-fc-v782",
			version: "Linux version 6.18.44-fc-v782 (builder@sandboxing) (gcc (GCC) 15.3.0) #1 SMP PREEMPT_DYNAMIC",
			files:   fstest.MapFS{"proc/modules": {Data: []byte("")}}, emulated: probes.No, config: "absent",
			summary: "6.18.44-fc-v782, real kernel, config absent"},
		{name: "gvisor 2022", release: "4.4.0", version: "Linux version 4.4.0 #1 SMP Sun Jan 10 15:06:54 PST 2016",
			emulated: probes.Yes, codes: []string{"KP-KERN-001", "KP-KERN-002"}, config: "absent",
			summary: "4.4.0, emulated by gVisor, older than 4.11, config absent"},
		{name: "gvisor current", release: "4.19.0-gvisor", version: "Linux version 4.19.0-gvisor #1 SMP",
			emulated: probes.Yes, codes: []string{"KP-KERN-001"}, config: "absent",
			summary: "4.19.0-gvisor, emulated by gVisor, config absent"},
		{name: "debian with config", release: "6.1.0-18-amd64", version: "Linux version 6.1.0-18-amd64",
			files:    fstest.MapFS{"boot/config-6.1.0-18-amd64": {Data: []byte("CONFIG_OVERLAY_FS=m")}},
			emulated: probes.No, config: "/boot/config-6.1.0-18-amd64",
			summary: "6.1.0-18-amd64, real kernel, config /boot/config-6.1.0-18-amd64"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			files := fstest.MapFS{"proc/version": {Data: []byte(c.version + "\n")}}
			for k, v := range c.files {
				files[k] = v
			}
			env := &probes.Env{Root: files, Sys: unameSys{release: c.release}}
			o, err := Probe{}.Run(context.Background(), env)
			if err != nil {
				t.Fatal(err)
			}
			if got := o.Facts.String("kernel.release"); got != c.release {
				t.Errorf("release %q", got)
			}
			if got := o.Facts.Tri("kernel.emulated"); got != c.emulated {
				t.Errorf("emulated %s, want %s", got, c.emulated)
			}
			if got := o.Facts.String("kernel.config"); got != c.config {
				t.Errorf("config %q, want %q", got, c.config)
			}
			if o.Summary != c.summary {
				t.Errorf("summary %q, want %q", o.Summary, c.summary)
			}
			codes := obstest.Codes(o.Findings)
			if len(codes) != len(c.codes) {
				t.Fatalf("codes %v, want %v", codes, c.codes)
			}
			for i := range codes {
				if codes[i] != c.codes[i] {
					t.Errorf("codes %v, want %v", codes, c.codes)
				}
			}
		})
	}
}

func TestMajorMinor(t *testing.T) {
	for in, want := range map[string][2]int{"6.18.44-fc": {6, 18}, "4.4.0": {4, 4}, "4.19.0-gvisor": {4, 19}, "5.15": {5, 15}} {
		maj, min, ok := MajorMinor(in)
		if !ok || maj != want[0] || min != want[1] {
			t.Errorf("MajorMinor(%q) = %d %d %v", in, maj, min, ok)
		}
	}
	for _, bad := range []string{"", "six", "6", ".1"} {
		if _, _, ok := MajorMinor(bad); ok {
			t.Errorf("MajorMinor(%q) accepted", bad)
		}
	}
}

func FuzzMajorMinor(f *testing.F) {
	f.Add("6.18.44-fc-v782")
	f.Add("4.4.0")
	f.Fuzz(func(t *testing.T, s string) {
		maj, min, ok := MajorMinor(s)
		if ok && (maj < 0 || min < 0) {
			t.Fatalf("negative version from %q", s)
		}
	})
}
