package container

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/kprobe/kprobe/probes"
)

// Probe starts a minimal container with libcontainer in up to three
// configurations and reports which ones work.
type Probe struct{}

var _ probes.Probe = Probe{}

// The configurations, best first. Their names are the values of
// container.best.
const (
	ModeFull      = "full"
	ModeNoCgroups = "no-cgroups"
	ModeRootless  = "rootless"
	ModeNone      = "none"
)

// Modes lists the configurations in the order they are tried.
var Modes = []string{ModeFull, ModeNoCgroups, ModeRootless}

// factKey maps a configuration to its tri-state fact.
var factKey = map[string]string{
	ModeFull:      "container.full",
	ModeNoCgroups: "container.no_cgroups",
	ModeRootless:  "container.rootless",
}

// Codes of the container probe.
var (
	CodeCannotStart = probes.Code{Code: "KP-CT-001", Severity: probes.Block,
		Title:   "containers cannot start here",
		Meaning: "runc's libcontainer could not start a minimal container in any configuration (with cgroups, without cgroups, in a user namespace): no kubelet can run pods here, only the control plane.",
		Fix:     "no container can run here: kprobe launch --profile auto runs pods as processes (TP) or the control plane only (T3)"}
	CodeNoCgroupsOnly = probes.Code{Code: "KP-CT-002", Severity: probes.Warn,
		Title:   "containers start only without cgroups",
		Meaning: "a container starts when runc may skip the cgroups it cannot create; the kubelet must not ask for per-QoS cgroups or enforce node allocatable.",
		Fix:     "nothing to do: kprobe launch sets the kubelet's cgroupsPerQOS: false and enforceNodeAllocatable: [] itself"}
	CodeRootlessOnly = probes.Code{Code: "KP-CT-003", Severity: probes.Warn,
		Title:   "containers start only inside a user namespace",
		Meaning: "a container starts only in a new user namespace with rootless cgroup handling: run k3s in rootless mode (rootlesskit), as a non-root user.",
		Fix:     "run kprobe as root of a user namespace (unshare --user --map-root-user --mount --pid --fork), where kprobe launch sets the kubelet's KubeletInUserNamespace feature gate itself; otherwise it runs pods as processes (TP)"}
)

// fixUserns is the fix of KP-CT-001 when user namespaces are blocked too:
// enabling them would open the rootless route.
const fixUserns = "allow user namespaces, then run kprobe as root of one (unshare --user --map-root-user --mount --pid --fork): " +
	"on the host `sysctl -w user.max_user_namespaces=15000 kernel.unprivileged_userns_clone=1`; " +
	"for a Docker sandbox `docker run --security-opt seccomp=unconfined ...`. " +
	"Until then no container can run here: kprobe launch --profile auto runs pods as processes (TP) or the control plane only (T3)"

func (Probe) ID() string            { return "container" }
func (Probe) Domain() probes.Domain { return probes.DomainContainer }
func (Probe) Mode() probes.Mode     { return probes.Active }
func (Probe) Codes() []probes.Code {
	return []probes.Code{CodeCannotStart, CodeNoCgroupsOnly, CodeRootlessOnly}
}
func (Probe) Facts() []probes.FactSpec {
	return []probes.FactSpec{
		{Key: "container.full", Type: probes.TypeTri, Doc: "a container with mnt, pid, ipc, uts and net namespaces and its own cgroups (cgroupfs driver) started and printed ok"},
		{Key: "container.no_cgroups", Type: probes.TypeTri, Doc: "the same container started with cgroup failures tolerated (runc's rootless cgroup handling)"},
		{Key: "container.rootless", Type: probes.TypeTri, Doc: "the same container started in a new user namespace mapping root to our uid, cgroup failures tolerated"},
		{Key: "container.best", Type: probes.TypeString, Doc: "the best configuration that started: full, no-cgroups, rootless or none"},
	}
}

// Attempt is the outcome of starting the container in one configuration.
type Attempt struct {
	Mode   string
	Result probes.Tri // Yes: started and printed ok; No: failed; Unknown: not attempted
	Err    error      // why it failed or was not attempted
	Output string     // what the container printed
	Took   time.Duration

	cgroups string // the cgroups the container joined, for evidence
	phases  string // how long start, run and destroy took, for evidence
}

// Judge turns the attempts into facts and findings. usernsErr is the
// outcome of creating a bare user namespace, consulted only when no
// configuration started (nil: user namespaces work).
func Judge(o *probes.Observation, attempts []Attempt, usernsErr error) {
	best := ""
	allNo := len(attempts) == len(Modes)
	var failed []string
	var tl probes.Tally
	for _, a := range attempts {
		o.Set(factKey[a.Mode], a.Result)
		switch a.Result {
		case probes.Yes:
			if best == "" {
				best = a.Mode
			}
			tl.Add(a.Mode, "ok")
		case probes.No:
			failed = append(failed, a.Mode+": "+errText(a.Err))
			if e := errnoOf(a.Err); e != "" {
				tl.Add(a.Mode, "fail ("+e+")")
			} else {
				tl.Add(a.Mode, "fail")
			}
		default:
			allNo = false
			tl.Add(a.Mode, "not tried")
		}
	}
	o.Summary = "runc containers: " + tl.String()
	if best == "" && allNo {
		best = ModeNone
	}
	if best != "" {
		o.Set("container.best", best)
	}
	ev := probes.Evidence{Source: "libcontainer", Excerpt: strings.Join(failed, "; ")}
	switch best {
	case ModeNoCgroups:
		o.Find(CodeNoCgroupsOnly, "a container starts only when cgroup failures are tolerated", ev)
	case ModeRootless:
		o.Find(CodeRootlessOnly, "a container starts only inside a user namespace", ev)
	case ModeNone:
		ev.Errno = errnoOf(attempts[0].Err)
		if usernsErr != nil {
			o.FindFix(CodeCannotStart, "no container configuration starts, and user namespaces are blocked ("+
				probes.Errno(usernsErr)+")", ev, fixUserns)
		} else {
			o.Find(CodeCannotStart, "no container configuration starts", ev)
		}
	}
}

// errnoOf names the errno in err, or "" when it carries none (a
// libcontainer message such as "no cgroup mount found in mountinfo").
func errnoOf(err error) string {
	e := probes.Errno(err)
	if err == nil || e == err.Error() {
		return ""
	}
	return e
}

// note adds evidence with the errno only when there is one, so that an
// errno-less message is not repeated as its errno.
func note(o *probes.Observation, source, excerpt string, err error) {
	o.Evidence = append(o.Evidence, probes.Evidence{Source: source, Excerpt: excerpt, Errno: errnoOf(err)})
}

func errText(err error) string {
	if err == nil {
		return "no error"
	}
	return strings.TrimSpace(err.Error())
}

// Output of the op run inside the container.
const helloOK = "ok"

// Ops returns the ops of this package: the container's process and the
// bare user namespace check.
func Ops() map[string]probes.Op {
	return map[string]probes.Op{
		"container.hello":  hello,
		"container.userns": func([]string) (string, error) { return helloOK, nil },
	}
}

// hello is the container's process. It proves the PID namespace: it must
// be pid 1.
func hello([]string) (string, error) {
	if pid := os.Getpid(); pid != 1 {
		return "", fmt.Errorf("container process is pid %d, not 1", pid)
	}
	return helloOK, nil
}
