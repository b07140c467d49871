package devices

import (
	"context"

	"github.com/kprobe/kprobe/probes"
)

// MknodProbe is the active devices probe: in the re-exec'd child it creates
// a character device (1,3, the null device) and an overlay whiteout (0,0)
// in its temp dir, opens the first, and removes both.
type MknodProbe struct{}

var _ probes.Probe = MknodProbe{}

// CodeWhiteoutDenied is emitted when an overlay whiteout cannot be created.
var CodeWhiteoutDenied = probes.Code{Code: "KP-DEV-003", Severity: probes.Warn,
	Title:   "overlay whiteouts (mknod 0,0) cannot be created",
	Meaning: "containerd's overlayfs snapshotter turns the .wh. files of image layers into 0,0 character devices while unpacking; when mknod is denied the pull fails with \"failed to convert whiteout file ...: operation not permitted\".",
	Fix:     "nothing to do: kprobe launch picks containerd's fuse-overlayfs snapshotter when /dev/fuse and the fuse-overlayfs binary are present, otherwise the native one"}

// SharesChild implements probes.ChildSharer: a light probe that may run
// in one child with the other light ones.
func (MknodProbe) SharesChild() {}

func (MknodProbe) ID() string            { return "devices.mknod" }
func (MknodProbe) Domain() probes.Domain { return probes.DomainDevices }
func (MknodProbe) Mode() probes.Mode     { return probes.Active }
func (MknodProbe) Codes() []probes.Code  { return []probes.Code{CodeWhiteoutDenied} }
func (MknodProbe) Facts() []probes.FactSpec {
	return []probes.FactSpec{
		{Key: "dev.mknod", Type: probes.TypeTri, Doc: "mknod of a character device (c 1 3) works in a scratch dir"},
		{Key: "dev.mknod_open", Type: probes.TypeTri, Doc: "the created device node opens read-write (not denied by nodev or the devices cgroup)"},
		{Key: "dev.mknod_whiteout", Type: probes.TypeTri, Doc: "mknod of an overlay whiteout (c 0 0) works in a scratch dir"},
	}
}

// Run runs the mknod trials; only meaningful inside the active child.
func (MknodProbe) Run(ctx context.Context, env *probes.Env) (*probes.Observation, error) {
	return runMknod(ctx, env)
}

// MknodTri judges a mknod(2): a denial (EPERM, EACCES) is a certain no;
// any other error says nothing about the permission.
func MknodTri(err error) probes.Tri {
	if err == nil {
		return probes.Yes
	}
	switch probes.Errno(err) {
	case "EPERM", "EACCES":
		return probes.No
	}
	return probes.Unknown
}

// mknodSummary says what the trials did: "mknod c 1 3 ok (opens), whiteout
// c 0 0 ok".
func mknodSummary(f probes.Facts) string {
	word := map[probes.Tri]string{probes.Yes: "ok", probes.No: "refused", probes.Unknown: "unknown"}
	s := "mknod c 1 3 " + word[f.Tri("dev.mknod")]
	switch f.Tri("dev.mknod_open") {
	case probes.Yes:
		s += " (opens)"
	case probes.No:
		s += " (does not open)"
	}
	return s + ", whiteout c 0 0 " + word[f.Tri("dev.mknod_whiteout")]
}
