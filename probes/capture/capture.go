// Package capture records what the probes observed in a sandbox into a
// fixture tree, and replays such a tree.
//
// A capture directory holds:
//
//	root/            exactly the files and directory listings the passive
//	                 probes read, redacted
//	syscalls.json    the answers of every Syscalls call, redacted
//	active.json      the observation of every active probe
//	PROVENANCE.toml  where, when and how it was captured
//
// Replaying gives passive probes the same files and syscall answers, and
// active probes their recorded observations, so anyone can see what kprobe
// concludes about a sandbox they are not in.
package capture

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/bounded"
	"github.com/kprobe/kprobe/probes/redact"
)

// Provenance says where a capture comes from.
type Provenance struct {
	Name          string    `toml:"name"`
	Kernel        string    `toml:"kernel"`
	KprobeVersion string    `toml:"kprobe_version"`
	Captured      time.Time `toml:"captured"`
	Command       string    `toml:"command"`
	DataDir       string    `toml:"data_dir"`
	Note          string    `toml:"note,omitempty"`
}

// call is one recorded Syscalls answer.
type call struct {
	Result json.RawMessage `json:"result,omitempty"`
	Err    string          `json:"err,omitempty"`
}

// activeRecord is one recorded active observation.
type activeRecord struct {
	Observation *probes.Observation `json:"observation"`
	Err         string              `json:"err,omitempty"`
}

// Recorder wraps a live Env and remembers everything probes asked.
type Recorder struct {
	// Users are more user names to redact, besides the people of the
	// live root's /etc/passwd: names the sandbox cannot show, such as
	// the user who started a rootless container from outside.
	Users []string

	mu     sync.Mutex
	paths  map[string]bool
	calls  map[string]call
	active map[string]activeRecord
	inner  *probes.Env
}

// NewRecorder returns a Recorder and the Env probes should run against.
func NewRecorder(inner *probes.Env) (*Recorder, *probes.Env) {
	r := &Recorder{paths: map[string]bool{}, calls: map[string]call{}, active: map[string]activeRecord{}, inner: inner}
	env := *inner
	env.Root = &recordFS{inner: inner.Root, r: r}
	env.Sys = &recordSys{inner: inner.Sys, r: r}
	env.Active = &recordActive{inner: inner.Active, r: r}
	return r, &env
}

func (r *Recorder) notePath(p string) {
	r.mu.Lock()
	r.paths[p] = true
	r.mu.Unlock()
}

func (r *Recorder) noteCall(key string, res any, err error) {
	c := call{Err: probes.ErrorText(err)}
	if res != nil {
		c.Result, _ = json.Marshal(res)
	}
	r.mu.Lock()
	if _, seen := r.calls[key]; !seen { // the first answer is what probes reasoned on
		r.calls[key] = c
	}
	r.mu.Unlock()
}

type recordFS struct {
	inner fs.FS
	r     *Recorder
}

func (f *recordFS) Open(name string) (fs.File, error) {
	f.r.notePath(name)
	return f.inner.Open(name)
}

// ReadFile must go to the inner fs.ReadFile: the generic fallback reads a
// zero-sized /proc file one byte first, and /proc/sys handlers answer EOF
// to any read at a non-zero offset ("128" would come back as "1").
func (f *recordFS) ReadFile(name string) ([]byte, error) {
	f.r.notePath(name)
	return fs.ReadFile(f.inner, name)
}

func (f *recordFS) ReadDir(name string) ([]fs.DirEntry, error) {
	f.r.notePath(name)
	return fs.ReadDir(f.inner, name)
}

func (f *recordFS) Stat(name string) (fs.FileInfo, error) {
	f.r.notePath(name)
	return fs.Stat(f.inner, name)
}

func (f *recordFS) ReadLink(name string) (string, error) {
	f.r.notePath(name)
	return fs.ReadLink(f.inner, name)
}

func (f *recordFS) Lstat(name string) (fs.FileInfo, error) {
	f.r.notePath(name)
	return fs.Lstat(f.inner, name)
}

type recordSys struct {
	inner probes.Syscalls
	r     *Recorder
}

func (s *recordSys) Statfs(path string) (probes.Statfs, error) {
	v, err := s.inner.Statfs(path)
	s.r.noteCall("statfs "+path, v, err)
	return v, err
}

func (s *recordSys) Uname() (probes.Uname, error) {
	v, err := s.inner.Uname()
	s.r.noteCall("uname", v, err)
	return v, err
}

func (s *recordSys) Syslog(n int) (string, error) {
	v, err := s.inner.Syslog(n)
	s.r.noteCall(fmt.Sprintf("syslog %d", n), v, err)
	return v, err
}

func (s *recordSys) TryOpen(path string, flags int) error {
	err := s.inner.TryOpen(path, flags)
	s.r.noteCall(fmt.Sprintf("open %s %d", path, flags), nil, err)
	return err
}

func (s *recordSys) LookPath(name string) (string, error) {
	v, err := s.inner.LookPath(name)
	s.r.noteCall("lookpath "+name, v, err)
	return v, err
}

func (s *recordSys) Exec(ctx context.Context, name string, args ...string) (probes.ExecResult, error) {
	v, err := s.inner.Exec(ctx, name, args...)
	s.r.noteCall(execKey(name, args), v, err)
	return v, err
}

func execKey(name string, args []string) string {
	return "exec " + strings.Join(append([]string{name}, args...), " ")
}

func (s *recordSys) Environ() []string {
	v := s.inner.Environ()
	s.r.noteCall("environ", v, nil)
	return v
}

func (s *recordSys) Getuid() int {
	v := s.inner.Getuid()
	s.r.noteCall("getuid", v, nil)
	return v
}

type recordActive struct {
	inner probes.ActiveRunner
	r     *Recorder
}

func (a *recordActive) RunActive(ctx context.Context, p probes.Probe) (*probes.Observation, error) {
	obs, err := a.inner.RunActive(ctx, p)
	a.r.mu.Lock()
	a.r.active[p.ID()] = activeRecord{Observation: obs, Err: probes.ErrorText(err)}
	a.r.mu.Unlock()
	return obs, err
}

// Write stores what was recorded under dir, redacted. liveRoot is the OS
// path the recorded relative paths are read from ("/"). dir must be new or
// an empty directory of the caller's (CheckDir): Write creates every file
// itself, never follows a symlink out of dir and never deletes anything.
func (r *Recorder) Write(dir, liveRoot string, prov Provenance) error {
	out, err := createDir(dir)
	if err != nil {
		return err
	}
	defer out.Close()
	if prov.DataDir == "" {
		prov.DataDir = r.inner.DataDir
	}
	red := redact.New(hostnames(liveRoot), append(users(liveRoot), r.Users...))
	paths := make([]string, 0, len(r.paths))
	for p := range r.paths {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	if err := copyTree(liveRoot, out, paths, red); err != nil {
		return err
	}
	calls := map[string]call{}
	for k, c := range r.calls {
		calls[red.String(k)] = redactCall(k, c, red)
	}
	if err := writeJSON(out, "syscalls.json", calls); err != nil {
		return err
	}
	active := map[string]activeRecord{}
	for id, a := range r.active {
		if a.Observation != nil {
			redactObservation(a.Observation, red)
		}
		a.Err = red.String(a.Err)
		active[id] = a
	}
	if err := writeJSON(out, "active.json", active); err != nil {
		return err
	}
	prov.Kernel = red.String(prov.Kernel)
	prov.Command = red.String(prov.Command) // it may name the users to redact
	prov.Note = red.String(prov.Note)
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(prov); err != nil {
		return err
	}
	return writeNew(out, "PROVENANCE.toml", buf.Bytes())
}

func redactCall(key string, c call, red *redact.Redactor) call {
	c.Err = red.String(c.Err)
	if len(c.Result) == 0 {
		return c
	}
	if key == "environ" {
		var env []string
		if json.Unmarshal(c.Result, &env) == nil {
			out := make([]string, 0, len(env))
			for _, kv := range env {
				if keepEnv(kv) {
					out = append(out, red.Env(kv))
				}
			}
			c.Result, _ = json.Marshal(out)
		}
		return c
	}
	var s string
	if json.Unmarshal(c.Result, &s) == nil {
		c.Result, _ = json.Marshal(red.String(s))
		return c
	}
	var m map[string]any
	if json.Unmarshal(c.Result, &m) == nil {
		for k, v := range m {
			if sv, ok := v.(string); ok {
				m[k] = red.String(sv)
			}
		}
		c.Result, _ = json.Marshal(m)
	}
	return c
}

// keepEnv keeps the variables that say what kind of sandbox this is; the
// rest of the environment is none of a fixture's business.
func keepEnv(kv string) bool {
	k, _, _ := strings.Cut(kv, "=")
	switch k {
	case "container", "PATH", "CODESPACES", "CODESPACE_NAME", "KUBERNETES_SERVICE_HOST",
		"KUBERNETES_SERVICE_PORT", "KUBERNETES_PORT", "WSL_DISTRO_NAME", "WSL_INTEROP",
		"REMOTE_CONTAINERS", "DEVCONTAINER", "HOME", "USER", "container_uuid":
		return true
	}
	for _, p := range []string{"GITPOD_", "CODESPACE", "CLOUD_SHELL", "REPL_", "KPROBE_", "XDG_RUNTIME"} {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

func redactObservation(o *probes.Observation, red *redact.Redactor) {
	o.Summary = red.String(o.Summary)
	for k, v := range o.Facts {
		switch x := v.(type) {
		case string:
			o.Facts[k] = red.String(x)
		case []string:
			out := make([]string, len(x))
			for i, s := range x {
				out[i] = red.String(s)
			}
			o.Facts[k] = out
		}
	}
	for i := range o.Evidence {
		redactEvidence(&o.Evidence[i], red)
	}
	for i := range o.Findings {
		f := &o.Findings[i]
		f.Summary = red.String(f.Summary)
		f.Fix = red.String(f.Fix)
		redactEvidence(&f.Evidence, red)
	}
}

func redactEvidence(e *probes.Evidence, red *redact.Redactor) {
	e.Source = red.String(e.Source)
	e.Excerpt = red.String(e.Excerpt)
	e.Errno = red.String(e.Errno)
}

func writeJSON(root *os.Root, name string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeNew(root, name, append(data, '\n'))
}

// hostnames are the names this machine answers to.
func hostnames(root string) []string {
	var out []string
	for _, p := range []string{"proc/sys/kernel/hostname", "etc/hostname"} {
		if b, err := bounded.ReadFile(filepath.Join(root, p), bounded.KernelFile); err == nil {
			out = append(out, strings.TrimSpace(string(b)))
		}
	}
	if h, err := os.Hostname(); err == nil {
		out = append(out, h)
	}
	return out
}

// users are the login names of people (uid >= 1000) in /etc/passwd.
func users(root string) []string {
	b, err := bounded.ReadFile(filepath.Join(root, "etc/passwd"), bounded.KernelFile)
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) > 2 && len(f[2]) >= 4 && f[2] != "65534" {
			out = append(out, f[0])
		}
	}
	return out
}

// ErrNotCaptured is returned by a replay for a question the capture never
// answered. Probes record it as unknown.
var ErrNotCaptured = errors.New("not in the capture")
