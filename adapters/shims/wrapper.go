package shims

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kprobe/kprobe/probes/procfs"
)

// WrapperSubcommand is the (hidden) kprobe subcommand that runs
// WrapperMain; the runtime-wrapper shim's script calls it unless
// Env.WrapperCommand says otherwise.
const WrapperSubcommand = "runtime-wrapper"

// WrapperMain is the OCI runtime wrapper: containerd runs it instead of
// runc. args (without the program name) are the wrapper's own flags, "--"
// and the runtime's arguments:
//
//	--runtime PATH        the real runtime (required)
//	--cgroupns MODE       auto|drop|keep (auto)
//	--oom-score-adj MODE  auto|drop|keep (auto)
//	--sysctls MODE        auto|drop|keep (auto)
//	--ignore-cgroups      drop resources, cgroupsPath, cgroup mounts and namespace
//	--runtime-flag FLAG   a global flag for the runtime (repeatable)
//	--log FILE            append what was rewritten, one line per change
//
// For create and run it rewrites the bundle's config.json with RewriteSpec,
// then it execs the runtime with the same arguments. A rewrite that fails is
// logged and the runtime still runs on the original spec, so that its own
// error reaches containerd. It returns only on error, with an exit code.
func WrapperMain(args []string) int {
	fs := flag.NewFlagSet(WrapperSubcommand, flag.ContinueOnError)
	var o WrapperOptions
	var runtime, logPath string
	fs.StringVar(&runtime, "runtime", "", "the real OCI runtime")
	fs.StringVar((*string)(&o.CgroupNS), "cgroupns", string(Auto), "auto|drop|keep")
	fs.StringVar((*string)(&o.OOMScoreAdj), "oom-score-adj", string(Auto), "auto|drop|keep")
	fs.StringVar((*string)(&o.Sysctls), "sysctls", string(Auto), "auto|drop|keep")
	fs.BoolVar(&o.IgnoreCgroups, "ignore-cgroups", false, "drop the container's cgroup configuration")
	fs.Func("runtime-flag", "a global flag for the runtime (repeatable)", func(s string) error {
		o.RuntimeFlags = append(o.RuntimeFlags, s)
		return nil
	})
	fs.StringVar(&logPath, "log", "", "append the changes to this file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if runtime == "" {
		fmt.Fprintln(os.Stderr, "runtime-wrapper: --runtime is required")
		return 2
	}
	if err := o.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "runtime-wrapper:", err)
		return 2
	}
	rargs := fs.Args()
	if sub, bundle, id := parseRuntimeArgs(rargs); sub == "create" || sub == "run" {
		changes, err := rewriteBundle(bundle, o, HostFactsNow())
		logChanges(logPath, id, changes, err)
		if err != nil {
			fmt.Fprintf(os.Stderr, "runtime-wrapper: %v (running %s on the original spec)\n", err, runtime)
		}
	}
	argv := append([]string{runtime}, o.RuntimeFlags...)
	argv = append(argv, rargs...)
	err := syscall.Exec(runtime, argv, os.Environ())
	fmt.Fprintf(os.Stderr, "runtime-wrapper: exec %s: %v\n", runtime, err)
	return 127
}

// runcValueFlags are runc's global flags that take a value.
var runcValueFlags = map[string]bool{"--root": true, "--log": true, "--log-format": true, "--criu": true, "--rootless": true}

// parseRuntimeArgs finds the subcommand, the bundle (default: the current
// directory, as runc) and the container id in runc's arguments.
func parseRuntimeArgs(args []string) (sub, bundle, id string) {
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			break
		}
		if runcValueFlags[a] {
			i++
		}
	}
	if i >= len(args) {
		return "", "", ""
	}
	sub, bundle = args[i], "."
	for j := i + 1; j < len(args); j++ {
		a := args[j]
		switch {
		case a == "--bundle" || a == "-b":
			if j+1 < len(args) {
				bundle = args[j+1]
				j++
			}
		case strings.HasPrefix(a, "--bundle="):
			bundle = strings.TrimPrefix(a, "--bundle=")
		case strings.HasPrefix(a, "-b="):
			bundle = strings.TrimPrefix(a, "-b=")
		case a == "--pid-file" || a == "--console-socket" || a == "--preserve-fds":
			j++
		case !strings.HasPrefix(a, "-"):
			id = a
		}
	}
	return sub, bundle, id
}

// rewriteBundle applies RewriteSpec to bundle/config.json, writing it back
// (atomically, same mode) only when something changed.
func rewriteBundle(bundle string, o WrapperOptions, h HostFacts) ([]string, error) {
	p := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	changes := RewriteSpec(&s, o, h)
	if len(changes) == 0 {
		return nil, nil
	}
	out, err := json.Marshal(&s)
	if err != nil {
		return nil, err
	}
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(p); err == nil {
		mode = fi.Mode().Perm()
	}
	tmp := p + ".kprobe-tmp"
	if err := os.WriteFile(tmp, out, mode); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return nil, err
	}
	return changes, nil
}

func logChanges(path, id string, changes []string, err error) {
	if path == "" || (len(changes) == 0 && err == nil) {
		return
	}
	f, ferr := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if ferr != nil {
		return
	}
	defer f.Close()
	ts := time.Now().UTC().Format(time.RFC3339)
	for _, c := range changes {
		fmt.Fprintf(f, "%s %s: %s\n", ts, id, c)
	}
	if err != nil {
		fmt.Fprintf(f, "%s %s: rewrite failed: %v\n", ts, id, err)
	}
}

// HostFactsNow reads the facts RewriteSpec's auto modes need from /proc.
func HostFactsNow() HostFacts {
	h := HostFacts{}
	_, err := os.Stat("/proc/self/ns/cgroup")
	h.CgroupNS = err == nil
	if b, err := os.ReadFile("/proc/self/oom_score_adj"); err == nil {
		h.OOMScoreAdj, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		// Writing our own value back changes nothing and tells whether
		// the file can be written at all.
		if f, err := os.OpenFile("/proc/self/oom_score_adj", os.O_WRONLY, 0); err == nil {
			_, werr := f.Write(b)
			h.OOMScoreAdjWritable = werr == nil
			f.Close()
		}
	}
	h.CapSysResource = procfs.SelfHasCap(capability.CAP_SYS_RESOURCE)
	h.SysctlExists = func(name string) bool {
		_, err := os.Stat(filepath.Join("/proc/sys", sysctlPath(name)))
		return !errors.Is(err, os.ErrNotExist)
	}
	h.GIDMapped = idMapped("/proc/self/gid_map")
	h.UIDMapped = idMapped("/proc/self/uid_map")
	return h
}

// idMapped answers from an id map file; nil when it cannot be read.
func idMapped(path string) func(uint32) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	ranges := parseIDMap(string(b))
	return func(id uint32) bool {
		for _, r := range ranges {
			if id >= r[0] && id-r[0] < r[1] {
				return true
			}
		}
		return false
	}
}

// parseIDMap reads /proc/self/gid_map lines "inside outside count" into
// [inside, count] ranges.
func parseIDMap(s string) [][2]uint32 {
	var out [][2]uint32
	for _, l := range strings.Split(s, "\n") {
		f := strings.Fields(l)
		if len(f) != 3 {
			continue
		}
		in, err1 := strconv.ParseUint(f[0], 10, 32)
		n, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 == nil && err2 == nil {
			out = append(out, [2]uint32{uint32(in), uint32(n)})
		}
	}
	return out
}
