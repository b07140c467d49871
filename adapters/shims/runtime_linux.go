//go:build linux

package shims

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// WrapperName is the file name of the installed wrapper: "runc", so that a
// containerd whose PATH starts with its directory picks it up unchanged.
const WrapperName = "runc"

func applyRuntimeWrapper(_ context.Context, env *Env, a *Applied) error {
	if env.StateDir == "" {
		return fmt.Errorf("no state dir to install the wrapper in: %w", ErrNotApplicable)
	}
	o := DefaultWrapperOptions()
	if env.Wrapper != nil {
		o = *env.Wrapper
	}
	if err := o.validate(); err != nil {
		return err
	}
	cmd := env.WrapperCommand
	if len(cmd) == 0 {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		cmd = []string{self, WrapperSubcommand}
	}
	binDir := filepath.Join(env.StateDir, "bin")
	wrapper := filepath.Join(binDir, WrapperName)
	rt := env.Runtime
	if rt == "" {
		var err error
		if rt, err = lookPathSkipping("runc", binDir); err != nil {
			return fmt.Errorf("find the real runtime: %w", err)
		}
	}
	if rt, _ = filepath.Abs(rt); rt == wrapper {
		return fmt.Errorf("the real runtime cannot be the wrapper itself (%s)", rt)
	}
	args := append([]string(nil), cmd...)
	args = append(args, "--runtime", rt,
		"--cgroupns", string(o.CgroupNS), "--oom-score-adj", string(o.OOMScoreAdj), "--sysctls", string(o.Sysctls),
		"--log", filepath.Join(env.StateDir, "runtime-wrapper.log"))
	if o.IgnoreCgroups {
		args = append(args, "--ignore-cgroups")
	}
	for _, f := range o.RuntimeFlags {
		args = append(args, "--runtime-flag", f)
	}
	script := wrapperScript(rt, args)
	a.output("runtime", wrapper)
	a.output("binDir", binDir)
	a.output("realRuntime", rt)
	if old, err := os.ReadFile(wrapper); err == nil {
		if bytes.Equal(old, script) {
			a.note("%s is installed already", wrapper)
			return nil
		}
		return fmt.Errorf("%s exists with other content: remove it or undo the shim that made it", wrapper)
	}
	if err := mkdirAll(a, binDir, 0o755); err != nil {
		return err
	}
	if err := writeFileStep(a, wrapper, script, 0o755); err != nil {
		return err
	}
	a.note("installed %s: rewrites config.json (%s) then runs %s", wrapper, describeOptions(o), rt)
	return nil
}

func describeOptions(o WrapperOptions) string {
	s := fmt.Sprintf("cgroupns=%s oom-score-adj=%s sysctls=%s", o.CgroupNS, o.OOMScoreAdj, o.Sysctls)
	if o.IgnoreCgroups {
		s += " ignore-cgroups"
	}
	if len(o.RuntimeFlags) > 0 {
		s += " runtime-flags=" + quoteList(o.RuntimeFlags)
	}
	return s
}

func wrapperScript(rt string, args []string) []byte {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n# kprobe runtime-wrapper shim: rewrites the bundle's config.json, then runs " + rt + ".\n# Removed by kprobe stop.\nexec")
	for _, a := range args {
		b.WriteString(" " + shellQuote(a))
	}
	b.WriteString(" -- \"$@\"\n")
	return []byte(b.String())
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// lookPathSkipping finds name in PATH, skipping dir (where the wrapper
// goes).
func lookPathSkipping(name, dir string) (string, error) {
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		if d == "" || filepath.Clean(d) == filepath.Clean(dir) {
			continue
		}
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	for _, p := range []string{"/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc", "/usr/local/bin/runc"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", &exec.Error{Name: name, Err: errors.New("not in PATH")}
}
