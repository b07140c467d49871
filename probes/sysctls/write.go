package sysctls

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/kprobe/kprobe/probes"
)

// WriteProbe is the active probe that learns whether each sysctl of Names
// is writable by writing its current value back unchanged.
type WriteProbe struct{}

var _ probes.Probe = WriteProbe{}

// States of sysctl.<name>.
const (
	Writable = "writable"
	Readonly = "readonly"
	Absent   = "absent"
	Unknown  = "unknown"
)

// Codes of the active probe.
var (
	CodeKubeletReadonly = probes.Code{Code: "KP-SYS-006", Severity: probes.Warn,
		Title:   "the kubelet cannot write its kernel tunables",
		Meaning: "The kubelet writes vm.overcommit_memory=1, vm.panic_on_oom=0, kernel.panic=10, kernel.panic_on_oops=1, kernel.keys.root_maxkeys=1000000 and root_maxbytes=25000000 when they differ; here some differ and are read-only, so it fails with \"Failed to start ContainerManager\" (k3s: \"open /proc/sys/vm/overcommit_memory: read-only file system\").",
		Fix:     "set the values on the host (sysctl -w vm.overcommit_memory=1 kernel.panic=10 kernel.panic_on_oops=1), or nothing: kprobe launch applies its fake-sysctl shim itself, and in a user namespace sets the kubelet's KubeletInUserNamespace feature gate"}
	CodeConntrackReadonly = probes.Code{Code: "KP-SYS-007", Severity: probes.Warn,
		Title:   "net.netfilter.nf_conntrack_max is read-only",
		Meaning: "kube-proxy writes nf_conntrack_max at start-up and exits when it cannot (containers, LXC, kernels >= 5.12.2 outside the initial network namespace).",
		Fix:     "nothing to do: kprobe launch sets kube-proxy's conntrack maxPerCore: 0 itself"}
	CodeIPForwardOff = probes.Code{Code: "KP-SYS-008", Severity: probes.Block,
		Title:   "IP forwarding is off and cannot be turned on",
		Meaning: "net.ipv4.ip_forward is 0 and read-only: packets between pods and from pods to the outside are not routed, and the CNI plugins (bridge, flannel) cannot enable it.",
		Fix:     "on the host: sysctl -w net.ipv4.ip_forward=1 (Docker: docker run --sysctl net.ipv4.ip_forward=1)"}
)

// SharesChild implements probes.ChildSharer: a light probe that may run
// in one child with the other light ones.
func (WriteProbe) SharesChild() {}

func (WriteProbe) ID() string            { return "sysctls.write" }
func (WriteProbe) Domain() probes.Domain { return probes.DomainSysctls }
func (WriteProbe) Mode() probes.Mode     { return probes.Active }
func (WriteProbe) Codes() []probes.Code {
	return []probes.Code{CodeKubeletReadonly, CodeConntrackReadonly, CodeIPForwardOff}
}

func (WriteProbe) Facts() []probes.FactSpec {
	var specs []probes.FactSpec
	for _, n := range Names {
		doc := "writable, readonly, absent or unknown: the current value of /" + Path(n) + " written back unchanged"
		if n == capLastCap {
			doc = "readonly by nature (mode 0444, never written) when readable; absent or unknown otherwise"
		}
		specs = append(specs, probes.FactSpec{Key: "sysctl." + n, Type: probes.TypeString, Doc: doc})
	}
	return specs
}

// Trial is the outcome of the write-back of one sysctl.
type Trial struct {
	Reading
	State    string
	WriteErr error
	// After is the value read after the write; it must equal Value.
	After string
}

// State classifies a write-back error. Writes refused because /proc/sys
// is mounted read-only (EROFS), by permissions or a user namespace
// (EACCES, EPERM) or by gVisor (EIO on vm.overcommit_memory) mean
// read-only; a vanished file means absent; anything else is unknown.
func State(writeErr error) string {
	if writeErr == nil {
		return Writable
	}
	switch probes.Errno(writeErr) {
	case "EROFS", "EACCES", "EPERM", "EIO":
		return Readonly
	case "ENOENT":
		return Absent
	}
	return Unknown
}

// writeBack is the syscall part, replaced in tests.
type writeBackFunc func(path string, data []byte) error

// runWrites reads each sysctl through root and, when the read worked,
// writes exactly the bytes read back with write, then reads again.
func runWrites(root fs.FS, write writeBackFunc) []Trial {
	var ts []Trial
	for _, n := range Names {
		t := Trial{Reading: Read(root, n)}
		switch {
		case t.Err != nil:
			// Never write what could not be read.
			t.State = Unknown
			if t.Present() == probes.No {
				t.State = Absent
			}
		case n == capLastCap:
			t.State = Readonly
		case len(t.Raw) == 0:
			t.State = Unknown
		default:
			t.WriteErr = write("/"+Path(n), t.Raw)
			t.State = State(t.WriteErr)
			t.After = Read(root, n).Value
		}
		ts = append(ts, t)
	}
	return ts
}

// record sets the facts and evidence of the trials.
func record(o *probes.Observation, ts []Trial) {
	for _, t := range ts {
		o.Set("sysctl."+t.Name, t.State)
		src := "/" + Path(t.Name)
		switch {
		case t.Err != nil:
			o.Note("read "+src, "", t.Err)
		case t.Name == capLastCap:
			o.Note("read "+src, t.Value+" (not written: read-only by nature)", nil)
		default:
			ex := fmt.Sprintf("wrote back %q: %s", t.Value, t.State)
			if t.After != t.Value && t.WriteErr == nil {
				ex += fmt.Sprintf("; value read afterwards is %q", t.After)
			}
			o.Note("write "+src, ex, t.WriteErr)
		}
	}
}

// InUserNamespace reports whether a /proc/self/uid_map shows a user
// namespace other than the initial one, by the logic of moby/sys/userns
// (which the kubelet uses to decide whether KubeletInUserNamespace may
// ignore sysctl errors): an empty map, or any first line other than
// "0 0 4294967295", is a user namespace; an unparsable one is not.
func InUserNamespace(uidMap string) bool {
	line, _, _ := strings.Cut(uidMap, "\n")
	if line == "" {
		return true
	}
	f := strings.Fields(line)
	if len(f) < 3 {
		return false
	}
	var v [3]int64
	for i := range v {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return false
		}
		v[i] = n
	}
	return !(v[0] == 0 && v[1] == 0 && v[2] == 4294967295)
}

// judgeWrites sets the active probe's summary and derives its findings. inUserns selects the
// kubelet fix.
func judgeWrites(o *probes.Observation, ts []Trial, inUserns bool) {
	by := map[string]Trial{}
	var states [][2]string
	for _, t := range ts {
		by[t.Name] = t
		states = append(states, [2]string{t.Name, t.State})
	}
	o.Summary = stateSummary(states)
	var differ []string
	var bad []Tunable
	for _, k := range KubeletTunables {
		t := by[k.Name]
		if t.State != Readonly {
			continue
		}
		if v, err := ParseInt(t.Value); err == nil && v == k.Want {
			continue // the kubelet reads it, finds its value and writes nothing
		}
		bad = append(bad, k)
		differ = append(differ, fmt.Sprintf("%s=%s (wants %d, %s)", k.Name, t.Value, k.Want, probes.Errno(t.WriteErr)))
	}
	if len(bad) > 0 {
		t := by[bad[0].Name]
		ev := probes.Evidence{Source: "/" + Path(t.Name), Excerpt: "wrote back " + t.Value, Errno: probes.Errno(t.WriteErr)}
		o.FindFix(CodeKubeletReadonly, "read-only and not at the kubelet's value: "+strings.Join(differ, ", "), ev, kubeletFix(bad, inUserns))
	}
	if t := by[conntrackMax]; t.State == Readonly {
		o.Find(CodeConntrackReadonly, fmt.Sprintf("%s=%s is read-only (%s)", conntrackMax, t.Value, probes.Errno(t.WriteErr)),
			probes.Evidence{Source: "/" + Path(conntrackMax), Excerpt: "wrote back " + t.Value, Errno: probes.Errno(t.WriteErr)})
	}
	if t := by[ipForward]; t.State == Readonly && t.Value == "0" {
		o.Find(CodeIPForwardOff, fmt.Sprintf("%s=0 and read-only (%s)", ipForward, probes.Errno(t.WriteErr)),
			probes.Evidence{Source: "/" + Path(ipForward), Excerpt: "wrote back 0", Errno: probes.Errno(t.WriteErr)})
	}
}

// kubeletFix renders a paste-ready fix for the tunables in bad.
func kubeletFix(bad []Tunable, inUserns bool) string {
	var host, shim []string
	for _, t := range bad {
		host = append(host, fmt.Sprintf("%s=%d", t.Name, t.Want))
		f := shimDir + "/" + t.Name
		shim = append(shim, fmt.Sprintf("echo %d >%s && mount --bind %s /%s", t.Want, f, f, Path(t.Name)))
	}
	fix := ""
	if inUserns {
		fix = "nothing to do: kprobe launch sets the kubelet's KubeletInUserNamespace feature gate (it then ignores these write errors in a user namespace); or "
	}
	fix += "on the host: sysctl -w " + strings.Join(host, " ") +
		"; or let kprobe launch apply its fake-sysctl shim, by hand (needs CAP_SYS_ADMIN): mkdir -p " + shimDir + " && " + strings.Join(shim, " && ")
	return fix
}

// userns reads proc/self/uid_map through root.
func userns(root fs.FS) (bool, error) {
	f, err := root.Open("proc/self/uid_map")
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if sc.Scan() {
		return InUserNamespace(sc.Text()), nil
	}
	return InUserNamespace(""), sc.Err()
}

// Run reads and writes back every sysctl. It runs in the re-exec'd child.
func (WriteProbe) Run(_ context.Context, env *probes.Env) (*probes.Observation, error) {
	if writeBack == nil {
		return nil, errors.ErrUnsupported
	}
	o := probes.NewObservation()
	ts := runWrites(env.Root, writeBack)
	record(o, ts)
	in, err := userns(env.Root)
	if err != nil {
		o.Note("/proc/self/uid_map", "", err)
	}
	judgeWrites(o, ts, in)
	return o, nil
}
