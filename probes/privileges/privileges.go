// Package privileges probes who kprobe runs as: uid, user namespace,
// capabilities, seccomp, no_new_privs and the LSM confinement.
//
// These decide the first fork of the fallback ladder. A Kubernetes worker
// needs CAP_SYS_ADMIN to mount, either in the initial user namespace (a
// privileged container, a VM) or inside its own user namespace (rootless
// mode). Without CAP_SYS_RESOURCE runc cannot lower oom_score_adj as the
// kubelet asks. Everything is read from /proc/self/status and
// /proc/self/uid_map, so the probe is passive and replays from a capture.
package privileges

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"syscall"

	"github.com/moby/sys/capability"

	"github.com/kprobe/kprobe/probes"
)

// Probe is the privileges probe.
type Probe struct{}

var _ probes.Probe = Probe{}

// Codes of the privileges probe.
var (
	CodeNoSysResource = probes.Code{Code: "KP-PRIV-001", Severity: probes.Warn,
		Title:   "CAP_SYS_RESOURCE is missing",
		Meaning: "the kubelet asks for oom_score_adj -998 on pod sandboxes; lowering it needs CAP_SYS_RESOURCE in the initial user namespace, so runc fails with \"can't get final child's PID from pipe: EOF\" and no pod starts.",
		Fix:     "nothing to do: kprobe launch sets containerd's restrict_oom_score_adj = true itself (containerd then clamps the kubelet's oom_score_adj)"}
	CodeNoSysAdmin = probes.Code{Code: "KP-PRIV-002", Severity: probes.Block,
		Title:   "CAP_SYS_ADMIN is missing outside a user namespace",
		Meaning: "a worker mounts (overlay snapshots, cgroups, /proc of pods) and creates namespaces; without CAP_SYS_ADMIN and without a user namespace of its own, containerd and runc cannot start a container.",
		Fix:     "run the sandbox privileged (docker run --privileged ...), or give it a user namespace (podman run --userns=auto ..., or unshare --user --map-root-user --mount --pid --fork)"}
	CodeNotRoot = probes.Code{Code: "KP-PRIV-003", Severity: probes.Warn,
		Title:   "not root and not in a user namespace",
		Meaning: "k3s and the kubelet need root; an ordinary user can only run them in rootless mode, which builds a user namespace with rootlesskit.",
		Fix:     "run kprobe as root (sudo kprobe launch), or as root of a user namespace (unshare --user --map-root-user --mount --pid --fork)"}
	CodeSeccompFilter = probes.Code{Code: "KP-PRIV-004", Severity: probes.Info,
		Title:   "a seccomp filter is active",
		Meaning: "container-runtime seccomp profiles refuse unshare, mount, setns and keyctl without CAP_SYS_ADMIN; the namespaces probe measures which calls are refused.",
		Fix:     "docker run --security-opt seccomp=unconfined ... (podman: the same flag)"}
	CodeSeccompUnreliable = probes.Code{Code: "KP-PRIV-005", Severity: probes.Info,
		Title:   "seccomp state cannot be read (gVisor)",
		Meaning: "gVisor prints Seccomp: 0 whatever the policy and has no NoNewPrivs line; kprobe relies on the active probes to see what is refused."}
	CodeNoNewPrivs = probes.Code{Code: "KP-PRIV-006", Severity: probes.Info,
		Title:   "no_new_privs is set",
		Meaning: "setuid and file-capability helpers cannot raise privileges, so newuidmap/newgidmap cannot map subordinate IDs and rootless mode is limited to mapping one uid.",
		Fix:     "start the sandbox without no_new_privs (docker run or podman run without --security-opt no-new-privileges), or set process.noNewPrivileges = false in the OCI config.json"}
	CodeAppArmor = probes.Code{Code: "KP-PRIV-007", Severity: probes.Info,
		Title:   "confined by an AppArmor profile",
		Meaning: "profiles such as docker-default deny mount and writes to /proc/sys and /sys; the active probes show which operations are refused.",
		Fix:     "docker run --security-opt apparmor=unconfined ... (podman: the same flag)"}
	CodeSELinux = probes.Code{Code: "KP-PRIV-008", Severity: probes.Info,
		Title:   "SELinux is enforcing",
		Meaning: "containerd must label container files and processes; k3s does that only with its SELinux support enabled and the k3s-selinux policy installed.",
		Fix:     "run the sandbox with SELinux permissive (setenforce 0), or give it an unconfined label (docker run --security-opt label=disable)"}
)

func (Probe) ID() string            { return "privileges" }
func (Probe) Domain() probes.Domain { return probes.DomainPrivileges }
func (Probe) Mode() probes.Mode     { return probes.Passive }
func (Probe) Codes() []probes.Code {
	return []probes.Code{CodeNoSysResource, CodeNoSysAdmin, CodeNotRoot, CodeSeccompFilter,
		CodeSeccompUnreliable, CodeNoNewPrivs, CodeAppArmor, CodeSELinux}
}

func (Probe) Facts() []probes.FactSpec {
	return []probes.FactSpec{
		{Key: "priv.uid", Type: probes.TypeInt, Doc: "effective uid (Uid line of /proc/self/status; the real uid when status is unreadable)"},
		{Key: "priv.gid", Type: probes.TypeInt, Doc: "effective gid (Gid line of /proc/self/status)"},
		{Key: "priv.userns", Type: probes.TypeTri, Doc: "running in a user namespace: /proc/self/uid_map is not \"0 0 4294967295\" (moby/sys/userns rule)"},
		{Key: "priv.uid_map", Type: probes.TypeString, Doc: "/proc/self/uid_map on one line, ranges separated by \", \" (\"0 1001 1, 1 100000 65536\")"},
		{Key: "priv.caps", Type: probes.TypeList, Doc: "effective capabilities by moby/sys/capability name (\"sys_admin\"); unknown bits as cap_<n>"},
		{Key: "priv.cap_count", Type: probes.TypeInt, Doc: "number of effective capabilities"},
		{Key: "priv.cap_eff", Type: probes.TypeString, Doc: "CapEff mask as /proc/self/status prints it"},
		{Key: "priv.cap_bnd", Type: probes.TypeString, Doc: "CapBnd (bounding set) mask as /proc/self/status prints it"},
		{Key: "priv.cap_sys_admin", Type: probes.TypeTri, Doc: "CAP_SYS_ADMIN is effective (in the current user namespace)"},
		{Key: "priv.cap_net_admin", Type: probes.TypeTri, Doc: "CAP_NET_ADMIN is effective (in the current user namespace)"},
		{Key: "priv.cap_sys_resource", Type: probes.TypeTri, Doc: "CAP_SYS_RESOURCE is effective (needed to lower oom_score_adj)"},
		{Key: "priv.cap_sys_module", Type: probes.TypeTri, Doc: "CAP_SYS_MODULE is effective (launch loads br_netfilter where the kernel has it as a module; the kernel checks it in the initial user namespace)"},
		{Key: "priv.seccomp", Type: probes.TypeString, Doc: "seccomp mode: disabled|strict|filter, or unreliable where the kernel (gVisor) does not report it"},
		{Key: "priv.seccomp_filters", Type: probes.TypeInt, Doc: "number of seccomp filters attached (Linux 5.9+)"},
		{Key: "priv.no_new_privs", Type: probes.TypeTri, Doc: "the no_new_privs bit is set; unknown where status has no NoNewPrivs line (gVisor, Linux < 4.10)"},
		{Key: "priv.apparmor", Type: probes.TypeString, Doc: "AppArmor label (\"unconfined\", \"docker-default (enforce)\"), \"none\" without AppArmor, \"unknown\" when unreadable"},
		{Key: "priv.selinux", Type: probes.TypeString, Doc: "enforcing|permissive|enabled (labelled but mode unreadable)|disabled|unknown"},
	}
}

// Run reads /proc/self/status, /proc/self/uid_map and the LSM attributes.
func (Probe) Run(_ context.Context, env *probes.Env) (*probes.Observation, error) {
	o := probes.NewObservation()

	// uid_map first: whether we are in a user namespace changes how the
	// capabilities are judged.
	userns := probes.Unknown
	if b, err := fs.ReadFile(env.Root, "proc/self/uid_map"); err != nil {
		o.Note("/proc/self/uid_map", "", err)
	} else {
		text := string(b)
		userns = InUserNS(text)
		m, perr := ParseIDMap(text)
		excerpt := strings.TrimSpace(text)
		if perr == nil {
			excerpt = FormatIDMap(m)
			o.Set("priv.uid_map", excerpt)
		}
		o.Set("priv.userns", userns)
		o.Note("/proc/self/uid_map", fmt.Sprintf("%s (user namespace: %s)", excerpt, userns), perr)
	}

	b, serr := fs.ReadFile(env.Root, "proc/self/status")
	if serr != nil {
		o.Note("/proc/self/status", "", serr)
		uid := env.Sys.Getuid()
		o.Set("priv.uid", uid)
		o.Note("getuid(2)", strconv.Itoa(uid), nil)
		setLSM(o, env)
		if _, ok := o.Facts["priv.userns"]; !ok {
			return o, fmt.Errorf("read /proc/self/status: %w", serr)
		}
		o.Summary = Summary(o.Facts)
		return o, nil
	}
	st, perr := ParseStatus(strings.NewReader(string(b)))
	if perr != nil {
		o.Note("/proc/self/status", "", perr)
	}
	uid := int64(env.Sys.Getuid())
	if st.Has("Uid") {
		uid = st.UID[1]
		o.Note("/proc/self/status", "Uid: "+joinIDs(st.UID), nil)
	} else {
		o.Note("getuid(2)", strconv.FormatInt(uid, 10), nil)
	}
	o.Set("priv.uid", uid)
	if st.Has("Gid") {
		o.Set("priv.gid", st.GID[1])
	}

	if st.Has("CapEff") {
		judgeCaps(o, st, uid, userns)
	}
	if st.Has("CapBnd") {
		o.Set("priv.cap_bnd", fmt.Sprintf("%016x", st.CapBnd))
	}

	judgeSeccomp(o, st)
	if uid != 0 && userns == probes.No {
		o.Find(CodeNotRoot, fmt.Sprintf("running as uid %d in the initial user namespace", uid),
			probes.Evidence{Source: "/proc/self/uid_map", Excerpt: "0 0 4294967295"})
	}
	setLSM(o, env)
	o.Summary = Summary(o.Facts)
	return o, nil
}

// Summary says who the process is in one line: "uid 0, initial user
// namespace, 40 capabilities without CAP_SYS_RESOURCE, seccomp disabled".
func Summary(f probes.Facts) string {
	var parts []string
	if uid, ok := f.Int("priv.uid"); ok {
		parts = append(parts, fmt.Sprintf("uid %d", uid))
	}
	switch f.Tri("priv.userns") {
	case probes.Yes:
		parts = append(parts, "in a user namespace ("+f.String("priv.uid_map")+")")
	case probes.No:
		parts = append(parts, "initial user namespace")
	}
	if n, ok := f.Int("priv.cap_count"); ok {
		caps := fmt.Sprintf("%d capabilities", n)
		var without []string
		for _, c := range []string{"sys_admin", "net_admin", "sys_resource"} {
			if n > 0 && f.Tri("priv.cap_"+c) == probes.No {
				without = append(without, "CAP_"+strings.ToUpper(c))
			}
		}
		if len(without) > 0 {
			caps += " without " + strings.Join(without, ", ")
		}
		parts = append(parts, caps)
	}
	if m := f.String("priv.seccomp"); m != "" {
		parts = append(parts, "seccomp "+m)
	}
	if f.Tri("priv.no_new_privs") == probes.Yes {
		parts = append(parts, "no_new_privs")
	}
	if a := f.String("priv.apparmor"); a != "none" && a != "unknown" && a != "" {
		parts = append(parts, "AppArmor "+a)
	}
	if s := f.String("priv.selinux"); s == "enforcing" || s == "permissive" {
		parts = append(parts, "SELinux "+s)
	}
	return strings.Join(parts, ", ")
}

func judgeCaps(o *probes.Observation, st Status, uid int64, userns probes.Tri) {
	eff := st.CapEff
	names := CapNames(eff)
	o.Set("priv.caps", names)
	o.Set("priv.cap_count", len(names))
	hex := fmt.Sprintf("%016x", eff)
	o.Set("priv.cap_eff", hex)
	o.Note("/proc/self/status", fmt.Sprintf("CapEff: %s (%d capabilities)", hex, len(names)), nil)
	ev := probes.Evidence{Source: "/proc/self/status", Excerpt: "CapEff: " + hex}

	sysAdmin := HasCap(eff, capability.CAP_SYS_ADMIN)
	o.Set("priv.cap_sys_admin", probes.TriOf(sysAdmin))
	o.Set("priv.cap_net_admin", probes.TriOf(HasCap(eff, capability.CAP_NET_ADMIN)))
	sysResource := HasCap(eff, capability.CAP_SYS_RESOURCE)
	o.Set("priv.cap_sys_resource", probes.TriOf(sysResource))
	o.Set("priv.cap_sys_module", probes.TriOf(HasCap(eff, capability.CAP_SYS_MODULE)))

	switch {
	case !sysResource:
		o.Find(CodeNoSysResource, "CAP_SYS_RESOURCE is not in the effective set: runc cannot set oom_score_adj -998 on pod sandboxes", ev)
	case userns == probes.Yes:
		// fs/proc/base.c checks capable(CAP_SYS_RESOURCE), which means
		// the initial user namespace: a namespaced capability does not do.
		o.Find(CodeNoSysResource, "CAP_SYS_RESOURCE is held only inside a user namespace, which does not allow lowering oom_score_adj", ev)
	}
	// A non-root user without a user namespace is told about rootless mode
	// (KP-PRIV-003) instead: it can still build a user namespace.
	if !sysAdmin && userns == probes.No && uid == 0 {
		o.Find(CodeNoSysAdmin, "root without CAP_SYS_ADMIN in the initial user namespace (an unprivileged container)", ev)
	}
}

func judgeSeccomp(o *probes.Observation, st Status) {
	mode, why := SeccompMode(st)
	excerpt := fmt.Sprintf("Seccomp: %s, Seccomp_filters: %s, NoNewPrivs: %s",
		lineValue(st, "Seccomp", st.Seccomp), lineValue(st, "Seccomp_filters", st.SeccompFilters),
		lineValue(st, "NoNewPrivs", st.NoNewPrivs))
	ev := probes.Evidence{Source: "/proc/self/status", Excerpt: excerpt}
	if why != "" {
		o.Note("/proc/self/status", why, nil)
	}
	o.Note("/proc/self/status", excerpt, nil)
	if mode != "" {
		o.Set("priv.seccomp", mode)
	}
	switch mode {
	case SeccompUnreliable:
		o.Find(CodeSeccompUnreliable, "seccomp state is not reported by this kernel (gVisor)", ev)
	case SeccompFilter, SeccompStrict:
		o.Find(CodeSeccompFilter, "seccomp is in "+mode+" mode", ev)
	}
	if st.Has("Seccomp_filters") {
		o.Set("priv.seccomp_filters", st.SeccompFilters)
	}
	if st.Has("NoNewPrivs") {
		o.Set("priv.no_new_privs", probes.TriOf(st.NoNewPrivs != 0))
		if st.NoNewPrivs != 0 {
			o.Find(CodeNoNewPrivs, "no_new_privs is set: setuid newuidmap/newgidmap cannot raise privileges", ev)
		}
	} else {
		o.Set("priv.no_new_privs", probes.Unknown)
		o.Note("/proc/self/status", "no NoNewPrivs line: no_new_privs unknown (gVisor omits it; Linux < 4.10 lacks it)", nil)
	}
}

func lineValue(st Status, name string, v int64) string {
	if !st.Has(name) {
		return "(absent)"
	}
	return strconv.FormatInt(v, 10)
}

func joinIDs(ids [4]int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(s, " ")
}

// setLSM sets priv.apparmor and priv.selinux. The LSM attribute files fail
// with EINVAL when no LSM provides them: that is "none", not "unknown".
func setLSM(o *probes.Observation, env *probes.Env) {
	apparmor := "unknown"
	otherLabel := "" // a non-AppArmor label seen in attr/current
	b, err := fs.ReadFile(env.Root, "proc/self/attr/apparmor/current")
	switch {
	case err == nil:
		apparmor, _ = AppArmorLabel(string(b))
		o.Note("/proc/self/attr/apparmor/current", apparmor, nil)
	case errors.Is(err, syscall.EINVAL):
		apparmor = "none"
		o.Note("/proc/self/attr/apparmor/current", "AppArmor is not active", err)
	case errors.Is(err, fs.ErrNotExist):
		// Kernels before 5.1 have only the shared attr/current.
		b, err = fs.ReadFile(env.Root, "proc/self/attr/current")
		switch {
		case err == nil:
			if label, ok := AppArmorLabel(string(b)); ok {
				apparmor = label
			} else {
				apparmor, otherLabel = "none", label
			}
			o.Note("/proc/self/attr/current", strings.TrimRight(string(b), "\x00\n "), nil)
		case errors.Is(err, syscall.EINVAL):
			apparmor = "none"
			o.Note("/proc/self/attr/current", "no LSM provides a label", err)
		case errors.Is(err, fs.ErrNotExist):
			apparmor = "none"
			o.Note("/proc/self/attr/current", "no LSM attributes in /proc", err)
		default:
			o.Note("/proc/self/attr/current", "", err)
		}
	default:
		o.Note("/proc/self/attr/apparmor/current", "", err)
	}
	o.Set("priv.apparmor", apparmor)
	if apparmor != "none" && apparmor != "unconfined" && apparmor != "unknown" {
		o.Find(CodeAppArmor, "confined by AppArmor profile "+apparmor,
			probes.Evidence{Source: "/proc/self/attr/current", Excerpt: apparmor})
	}

	selinux := "unknown"
	b, err = fs.ReadFile(env.Root, "sys/fs/selinux/enforce")
	switch {
	case err == nil:
		switch strings.TrimSpace(string(b)) {
		case "1":
			selinux = "enforcing"
		case "0":
			selinux = "permissive"
		}
		o.Note("/sys/fs/selinux/enforce", strings.TrimSpace(string(b)), nil)
	case errors.Is(err, fs.ErrNotExist):
		if otherLabel != "" && SELinuxContext(otherLabel) {
			selinux = "enabled"
			o.Note("/sys/fs/selinux/enforce", "absent, but the process has SELinux context "+otherLabel, err)
		} else if _, serr := fs.Stat(env.Root, "sys/fs"); serr == nil {
			selinux = "disabled"
			o.Note("/sys/fs/selinux/enforce", "selinuxfs not mounted", err)
		} else {
			o.Note("/sys/fs", "cannot tell whether selinuxfs exists", serr)
		}
	default:
		o.Note("/sys/fs/selinux/enforce", "", err)
	}
	o.Set("priv.selinux", selinux)
	if selinux == "enforcing" {
		o.Find(CodeSELinux, "SELinux is enforcing", probes.Evidence{Source: "/sys/fs/selinux/enforce", Excerpt: "1"})
	}
}
