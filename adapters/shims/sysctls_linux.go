//go:build linux

package shims

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The kubelet sets KubeletSysctls at start and fails when it cannot
// ("failed to set kernel tunables"), unless it detects a user namespace;
// runc reads kernel/cap_last_cap. gVisor lacks most of /proc/sys (EIO on
// vm/overcommit_memory, no kernel/panic, kernel/keys), containers mount
// it read-only. In the engine's private namespace fake-sysctls shows the
// wanted values there: a file bound over an entry that cannot be written,
// and for missing entries a tmpfs over the nearest existing directory with
// the original entries bound back (copied where binding fails) and the
// missing ones added. Entries that can be written are left to the kubelet.

// DefaultSysctls is what fake-sysctls shows when Env.Sysctls is nil:
// KubeletSysctls plus kernel.cap_last_cap (runc reads it; its value is
// the highest bit of this process's capability bounding set).
func DefaultSysctls() map[string]string {
	m := map[string]string{}
	for k, v := range KubeletSysctls() {
		m[k] = v
	}
	m["kernel.cap_last_cap"] = strconv.Itoa(lastCap())
	return m
}

func lastCap() int {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 40
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapBnd:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err == nil && n != 0 {
				return bits.Len64(n) - 1
			}
		}
	}
	return 40
}

type fakeEntry struct {
	key, rel, value string
}

func applyFakeSysctls(ctx context.Context, env *Env, a *Applied) error {
	root := env.procSys()
	if r, err := filepath.EvalSymlinks(root); err == nil {
		root = r
	} else {
		return fmt.Errorf("%s: %w", root, ErrNotApplicable)
	}
	want := env.Sysctls
	if want == nil {
		want = DefaultSysctls()
	}
	over, missing := planSysctls(root, want, a)
	if len(over)+len(missing) == 0 {
		a.note("every wanted sysctl has its value or can be written")
		return nil
	}
	// Missing entries: a tmpfs over the nearest existing ancestor. Entries
	// to fake that lie under such a directory are written there too.
	groups := map[string]map[string]string{} // dir rel -> entry rel (within dir) -> value
	for _, e := range missing {
		d := filepath.Dir(e.rel)
		for d != "." {
			if _, err := os.Stat(filepath.Join(root, d)); err == nil {
				break
			}
			d = filepath.Dir(d)
		}
		if d == "." {
			// Covering /proc/sys itself: rare (a missing top-level
			// directory); allowed, it is the engine's namespace.
			d = ""
		}
		addGroup(groups, d, e)
	}
	mergeNested(groups)
	var rest []fakeEntry
	for _, e := range over {
		if g := groupOf(groups, e.rel); g != "" || groups[""] != nil {
			addGroup(groups, g, e)
			continue
		}
		rest = append(rest, e)
	}
	dirs := make([]string, 0, len(groups))
	for d := range groups {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		if err := coverDir(ctx, a, filepath.Join(root, d), groups[d]); err != nil {
			return err
		}
	}
	if len(rest) > 0 {
		if err := bindFakes(a, env, root, rest); err != nil {
			return err
		}
	}
	a.output("procSys", root)
	return nil
}

// SysctlFake is a /proc/sys entry a fake must answer; Rel is its path
// under /proc/sys.
type SysctlFake struct{ Key, Rel, Value string }

// PlanSysctlFakes sorts want as fake-sysctls does and returns the entries
// under root a fake must answer (those that cannot be written or read,
// and the missing ones), with a note on each decision. The ptrace
// prototype hack/sysctltrace answers them by redirecting opens.
func PlanSysctlFakes(root string, want map[string]string) ([]SysctlFake, []string) {
	a := &Applied{}
	over, missing := planSysctls(root, want, a)
	var out []SysctlFake
	for _, e := range append(over, missing...) {
		out = append(out, SysctlFake{Key: e.key, Rel: e.rel, Value: e.value})
	}
	return out, a.Notes
}

// planSysctls sorts the wanted entries: those to fake over (they cannot be
// written or read) and those missing. Entries that have the value or can
// be written are left alone.
func planSysctls(root string, want map[string]string, a *Applied) (over, missing []fakeEntry) {
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		e := fakeEntry{key: k, rel: sysctlPath(k), value: want[k]}
		p := filepath.Join(root, e.rel)
		cur, err := os.ReadFile(p)
		switch {
		case err == nil && strings.TrimSpace(string(cur)) == e.value:
			continue
		case err == nil:
			if werr := writeBack(p, cur); werr == nil {
				a.note("%s = %s is writable: left to the kubelet", k, strings.TrimSpace(string(cur)))
				continue
			} else {
				a.note("%s = %s cannot be written (%v): faked as %s", k, strings.TrimSpace(string(cur)), errnoOf(werr), e.value)
			}
			over = append(over, e)
		case errors.Is(err, os.ErrNotExist):
			a.note("%s is missing: created as %s", k, e.value)
			missing = append(missing, e)
		default:
			a.note("%s cannot be read (%v): faked as %s", k, errnoOf(err), e.value)
			over = append(over, e)
		}
	}
	return over, missing
}

func addGroup(groups map[string]map[string]string, d string, e fakeEntry) {
	if groups[d] == nil {
		groups[d] = map[string]string{}
	}
	rel := e.rel
	if d != "" {
		rel = strings.TrimPrefix(e.rel, d+"/")
	}
	groups[d][rel] = e.value
}

// mergeNested folds a group lying under another group's directory into
// that one: its tmpfs would otherwise be mounted inside a bound-back
// directory.
func mergeNested(groups map[string]map[string]string) {
	for d, m := range groups {
		outer := groupOf(groups, d)
		if outer == d || (outer == "" && groups[""] == nil) {
			continue
		}
		if d == "" {
			continue
		}
		for rel, v := range m {
			full := d + "/" + rel
			if outer != "" {
				full = strings.TrimPrefix(full, outer+"/")
			}
			groups[outer][full] = v
		}
		delete(groups, d)
	}
}

// groupOf returns the group directory that strictly contains rel ("" when
// the root group covers it or none does; check groups[""]).
func groupOf(groups map[string]map[string]string, rel string) string {
	best := ""
	for d := range groups {
		if d != "" && d != rel && strings.HasPrefix(rel, d+"/") && len(d) > len(best) {
			best = d
		}
	}
	return best
}

func writeBack(p string, cur []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.Write(cur)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func errnoOf(err error) error {
	var en unix.Errno
	if errors.As(err, &en) {
		return en
	}
	return err
}

// coverDir mounts a tmpfs on dir holding dir's entries (bound back from the
// covered directory, or copied) and the fakes (relative path -> value).
func coverDir(ctx context.Context, a *Applied, dir string, fakes map[string]string) error {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return err
	}
	under, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer under.Close()
	if err := mountStep(a, "kprobe-sysctl", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=755", true); err != nil {
		return err
	}
	origin := fmt.Sprintf("/proc/self/fd/%d", under.Fd())
	var c populateCount
	if err := populate(ctx, origin, dir, fakes, &c); err != nil {
		return fmt.Errorf("fill the tmpfs on %s: %w", dir, err)
	}
	if err := os.Chmod(dir, os.FileMode(st.Mode&0o777)); err != nil {
		return err
	}
	a.note("tmpfs on %s: %d entries bound back, %d copied, %d faked", dir, c.bound, c.copied, c.faked)
	return nil
}

type populateCount struct{ bound, copied, faked int }

func populate(ctx context.Context, orig, dst string, fakes map[string]string, c *populateCount) error {
	ents, err := os.ReadDir(orig)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		name := e.Name()
		o, d := filepath.Join(orig, name), filepath.Join(dst, name)
		if v, ok := fakes[name]; ok {
			if err := os.WriteFile(d, []byte(v+"\n"), 0o644); err != nil {
				return err
			}
			delete(fakes, name)
			c.faked++
			continue
		}
		if e.IsDir() {
			sub := map[string]string{}
			for rel, v := range fakes {
				if r, ok := strings.CutPrefix(rel, name+"/"); ok {
					sub[r] = v
					delete(fakes, rel)
				}
			}
			if err := os.Mkdir(d, 0o555); err != nil {
				return err
			}
			if len(sub) > 0 {
				if err := populate(ctx, o, d, sub, c); err != nil {
					return err
				}
				continue
			}
			if unix.Mount(o, d, "", unix.MS_BIND, "") == nil {
				c.bound++
				continue
			}
			if err := copyProcDir(o, d, c); err != nil {
				return err
			}
			continue
		}
		if err := os.WriteFile(d, nil, 0o644); err != nil {
			return err
		}
		if unix.Mount(o, d, "", unix.MS_BIND, "") == nil {
			c.bound++
			continue
		}
		if err := copyProcFile(o, d); err != nil {
			return err
		}
		c.copied++
	}
	// What is left does not exist underneath: new files.
	for rel, v := range fakes {
		p := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o555); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(v+"\n"), 0o644); err != nil {
			return err
		}
		c.faked++
	}
	return nil
}

func copyProcDir(o, d string, c *populateCount) error {
	ents, err := os.ReadDir(o)
	if err != nil {
		return nil // an unreadable directory stays empty
	}
	for _, e := range ents {
		oo, dd := filepath.Join(o, e.Name()), filepath.Join(d, e.Name())
		if e.IsDir() {
			if err := os.Mkdir(dd, 0o555); err != nil {
				return err
			}
			if err := copyProcDir(oo, dd, c); err != nil {
				return err
			}
			continue
		}
		if err := copyProcFile(oo, dd); err != nil {
			return err
		}
		c.copied++
	}
	return nil
}

// copyProcFile copies a /proc/sys file's value and mode; an unreadable
// one becomes an empty file.
func copyProcFile(o, d string) error {
	b, _ := os.ReadFile(o)
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(o); err == nil {
		mode = fi.Mode().Perm()
	}
	if err := os.WriteFile(d, b, 0o644); err != nil {
		return err
	}
	return os.Chmod(d, mode)
}

// bindFakes binds a file holding each value over the entry. The files sit
// on a staging tmpfs that is detached once they are bound (the binds keep
// it alive), so nothing stays on disk; without tmpfs they go to StateDir.
func bindFakes(a *Applied, env *Env, root string, es []fakeEntry) error {
	base := env.StateDir
	if base == "" {
		base = os.TempDir()
	}
	if err := mkdirAll(a, base, 0o700); err != nil {
		return err
	}
	stage, err := os.MkdirTemp(base, "kprobe-sysctls-")
	if err != nil {
		return err
	}
	onTmpfs := unix.Mount("kprobe-sysctl", stage, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=700") == nil
	if onTmpfs {
		defer func() {
			_ = unix.Unmount(stage, unix.MNT_DETACH)
			_ = os.Remove(stage)
		}()
	} else {
		created(a, "mkdir", stage, "")
	}
	for _, e := range es {
		f := filepath.Join(stage, strings.ReplaceAll(e.rel, "/", "."))
		if onTmpfs {
			if err := os.WriteFile(f, []byte(e.value+"\n"), 0o644); err != nil {
				return err
			}
		} else if err := writeFileStep(a, f, []byte(e.value+"\n"), 0o644); err != nil {
			return err
		}
		if err := mountStep(a, f, filepath.Join(root, e.rel), "", unix.MS_BIND, "", false); err != nil {
			return err
		}
	}
	where := "a detached staging tmpfs"
	if !onTmpfs {
		where = stage
	}
	a.note("bound %d fake files over their entries (files on %s)", len(es), where)
	return nil
}
