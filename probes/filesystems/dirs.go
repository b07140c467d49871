package filesystems

import (
	"context"
	"strings"

	"github.com/kprobe/kprobe/probes"
)

// DirsProbe tries, as kubeadm's DirAvailable preflight checks do, whether
// the fixed directories a worker's components write whatever their
// configuration says (containerd, libcni, the kubelet) can be created or
// written here: in a user namespace that maps one uid, /var/lib belongs to
// an unmapped owner and the kubelet stops on "mkdir /var/lib/kubelet:
// permission denied" although every other check passes. It creates a
// scratch directory in each one (or in its nearest existing ancestor) and
// removes it again.
type DirsProbe struct{}

var _ probes.Probe = DirsProbe{}

// EngineDirs are the fixed directories a worker writes (the list
// adapters/hoststate journals as FixedDirs).
var EngineDirs = []string{
	"/var/lib/kubelet", "/var/lib/cni", "/var/log/pods", "/var/log/containers",
	"/etc/cni", "/run/containerd", "/run/netns",
}

// CodeEngineDirs is the finding of a directory that cannot be created.
var CodeEngineDirs = probes.Code{Code: "KP-FS-008", Severity: probes.Block,
	Title:   "a directory the kubelet or containerd needs cannot be created",
	Meaning: "The kubelet (/var/lib/kubelet, /var/log/pods), containerd (/run/containerd) and the CNI plugins (/var/lib/cni, /etc/cni, /run/netns) write these paths whatever their configuration says; where they cannot be created (a user namespace whose root does not own /var, a read-only /etc) no worker starts and only the control plane runs.",
	Fix:     "run kprobe as real root, or create the directories beforehand and give them to the sandbox's user (as root: mkdir -p /var/lib/kubelet /var/log/pods && chown USER /var/lib/kubelet /var/log/pods)"}

// SharesChild implements probes.ChildSharer: a light probe that may run
// in one child with the other light ones.
func (DirsProbe) SharesChild() {}

func (DirsProbe) ID() string            { return "filesystems.dirs" }
func (DirsProbe) Domain() probes.Domain { return probes.DomainFS }
func (DirsProbe) Mode() probes.Mode     { return probes.Active }
func (DirsProbe) Codes() []probes.Code  { return []probes.Code{CodeEngineDirs} }

func (DirsProbe) Facts() []probes.FactSpec {
	return []probes.FactSpec{
		{Key: "fs.engine_dirs", Type: probes.TypeTri, Doc: "every fixed directory a worker writes (" + strings.Join(EngineDirs, " ") + ") exists writable or can be created: a scratch directory was made in it, or in its nearest existing ancestor, and removed"},
		{Key: "fs.engine_dirs_denied", Type: probes.TypeList, Doc: "the fixed directories that cannot be created or written, with the errno"},
	}
}

// Run tries each directory; only meaningful inside the active child.
func (DirsProbe) Run(_ context.Context, env *probes.Env) (*probes.Observation, error) {
	o := probes.NewObservation()
	res := probes.Yes
	denied := []string{}
	for _, d := range EngineDirs {
		where, err := tryDir(d)
		o.Note("mkdir in "+where, "for "+d, err)
		switch t := triOfDir(err); t {
		case probes.No:
			res = probes.No
			denied = append(denied, d+" ("+probes.Errno(err)+" in "+where+")")
		case probes.Unknown:
			if res == probes.Yes {
				res = probes.Unknown
			}
		}
	}
	o.Set("fs.engine_dirs", res)
	o.Set("fs.engine_dirs_denied", denied)
	if len(denied) > 0 {
		o.Find(CodeEngineDirs, "cannot create: "+strings.Join(denied, ", "),
			probes.Evidence{Source: "mkdir", Excerpt: strings.Join(denied, ", ")})
	}
	switch res {
	case probes.Yes:
		o.Summary = "the kubelet's, containerd's and CNI's fixed directories can be created"
	case probes.No:
		o.Summary = "cannot create " + strings.Join(denied, ", ")
	default:
		o.Summary = "fixed directories not all tried"
	}
	return o, nil
}

// triOfDir: a denial is a certain no; other errors say nothing.
func triOfDir(err error) probes.Tri {
	if err == nil {
		return probes.Yes
	}
	switch probes.Errno(err) {
	case "EACCES", "EPERM", "EROFS", "ENOSPC", "EDQUOT":
		return probes.No
	}
	return probes.Unknown
}
