package devices

import (
	"context"
	"errors"
	"reflect"
	"syscall"
	"testing"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/probetest/obstest"
)

// fakeSys answers TryOpen from a table; paths not in it give ENOENT.
type fakeSys struct {
	probes.Syscalls // nil: any other call panics, which the test would show
	open            map[string]error
}

func (f fakeSys) TryOpen(path string, flags int) error {
	if err, ok := f.open[path]; ok {
		return err
	}
	return syscall.ENOENT
}

// What each sandbox of sandbox-zoo.md answers to the opens.
var sandboxes = map[string]map[string]error{
	"host": {"/dev/kmsg": nil, "/dev/fuse": nil, "/dev/net/tun": nil, "/dev/kvm": nil, "/dev/loop-control": nil},
	// gVisor: no /dev/kmsg, but fuse and tun.
	"gvisor": {"/dev/fuse": nil, "/dev/net/tun": nil},
	// Rootless userns: the nodes exist, the kernel refuses.
	"userns-user": {"/dev/kmsg": syscall.EPERM, "/dev/fuse": syscall.EACCES, "/dev/net/tun": syscall.EACCES,
		"/dev/kvm": syscall.EACCES, "/dev/loop-control": syscall.EACCES},
	"runc-docker": {},
	// A read that says nothing about the device.
	"odd": {"/dev/kmsg": syscall.EINVAL, "/dev/fuse": errors.New("boom")},
}

func TestRunSandboxes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		facts probes.Facts
		codes []string
		sum   string // the Observation.Summary
	}{
		{"host", probes.Facts{"dev.kmsg": "readable", "dev.kmsg_readable": probes.Yes, "dev.fuse": probes.Yes,
			"dev.net_tun": probes.Yes, "dev.kvm": probes.Yes, "dev.loop_control": probes.Yes}, nil, "open /dev/: kmsg fuse net/tun kvm loop-control ok"},
		{"gvisor", probes.Facts{"dev.kmsg": "ENOENT", "dev.kmsg_readable": probes.No, "dev.fuse": probes.Yes,
			"dev.net_tun": probes.Yes, "dev.kvm": probes.No, "dev.loop_control": probes.No}, []string{"KP-DEV-001"}, "open /dev/: kmsg kvm loop-control ENOENT, fuse net/tun ok"},
		{"userns-user", probes.Facts{"dev.kmsg": "EPERM", "dev.kmsg_readable": probes.No, "dev.fuse": probes.No,
			"dev.net_tun": probes.No, "dev.kvm": probes.No, "dev.loop_control": probes.No}, []string{"KP-DEV-002"}, "open /dev/: kmsg EPERM, fuse net/tun kvm loop-control EACCES"},
		{"runc-docker", probes.Facts{"dev.kmsg": "ENOENT", "dev.kmsg_readable": probes.No, "dev.fuse": probes.No,
			"dev.net_tun": probes.No}, []string{"KP-DEV-001"}, "open /dev/: kmsg fuse net/tun kvm loop-control ENOENT"},
		{"odd", probes.Facts{"dev.kmsg": "EINVAL", "dev.kmsg_readable": probes.Unknown, "dev.fuse": probes.Unknown}, nil, "open /dev/: kmsg EINVAL, fuse boom, net/tun kvm loop-control ENOENT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := Probe{}.Run(context.Background(), &probes.Env{Sys: fakeSys{open: sandboxes[tc.name]}})
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range tc.facts {
				if got := o.Facts[k]; !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %#v, want %#v", k, got, want)
				}
			}
			if o.Summary != tc.sum {
				t.Errorf("summary %q, want %q", o.Summary, tc.sum)
			}
			if codes := obstest.Codes(o.Findings); !reflect.DeepEqual(codes, tc.codes) {
				t.Errorf("codes = %v, want %v", codes, tc.codes)
			}
			if len(o.Facts) != len(Probe{}.Facts()) {
				t.Errorf("%d facts set, %d declared", len(o.Facts), len(Probe{}.Facts()))
			}
		})
	}
}

func TestKmsgFixes(t *testing.T) {
	o, _ := Probe{}.Run(context.Background(), &probes.Env{Sys: fakeSys{open: sandboxes["userns-user"]}})
	if f := o.Findings[0]; f.Fix != CodeKmsgDenied.Fix || f.Evidence.Errno != "EPERM" {
		t.Errorf("denied finding = %+v", f)
	}
	o, _ = Probe{}.Run(context.Background(), &probes.Env{Sys: fakeSys{open: sandboxes["gvisor"]}})
	if f := o.Findings[0]; f.Fix != CodeKmsgMissing.Fix || f.Evidence.Errno != "ENOENT" {
		t.Errorf("missing finding = %+v", f)
	}
}

func TestTris(t *testing.T) {
	for _, tc := range []struct {
		err         error
		open, mknod probes.Tri
	}{
		{nil, probes.Yes, probes.Yes},
		{syscall.ENOENT, probes.No, probes.Unknown},
		{syscall.ENXIO, probes.No, probes.Unknown},
		{syscall.EPERM, probes.No, probes.No},
		{syscall.EACCES, probes.No, probes.No},
		{syscall.EINVAL, probes.Unknown, probes.Unknown},
	} {
		if got := OpenTri(tc.err); got != tc.open {
			t.Errorf("OpenTri(%v) = %v, want %v", tc.err, got, tc.open)
		}
		if got := MknodTri(tc.err); got != tc.mknod {
			t.Errorf("MknodTri(%v) = %v, want %v", tc.err, got, tc.mknod)
		}
	}
}

func TestMknodSummary(t *testing.T) {
	y, n, u := probes.Yes, probes.No, probes.Unknown
	for _, tc := range []struct {
		mknod, open, whiteout probes.Tri
		want                  string
	}{
		{y, y, y, "mknod c 1 3 ok (opens), whiteout c 0 0 ok"},
		{y, n, n, "mknod c 1 3 ok (does not open), whiteout c 0 0 refused"},
		{n, u, n, "mknod c 1 3 refused, whiteout c 0 0 refused"},
	} {
		f := probes.Facts{"dev.mknod": tc.mknod, "dev.mknod_whiteout": tc.whiteout}
		if tc.open != u {
			f["dev.mknod_open"] = tc.open
		}
		if got := mknodSummary(f); got != tc.want {
			t.Errorf("mknodSummary(%v) = %q, want %q", f, got, tc.want)
		}
	}
}
