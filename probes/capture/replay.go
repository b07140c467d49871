package capture

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"

	"github.com/BurntSushi/toml"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/bounded"
)

// ReplayEnv loads a capture directory as an Env: passive probes read its
// files and syscall answers, active probes get their recorded observation.
// A capture is untrusted input: every file is read bounded (regular
// files, probes/bounded limits) and no symlink leads out of dir.
func ReplayEnv(dir string, all []probes.Probe) (*probes.Env, error) {
	meta, err := bounded.Dir(dir)
	if err != nil {
		return nil, fmt.Errorf("%s is not a kprobe capture: %v", dir, err)
	}
	defer meta.Close()
	var prov Provenance
	if err := readCaptureFile(meta, "PROVENANCE.toml", func(data []byte) error {
		_, err := toml.Decode(string(data), &prov)
		return err
	}); err != nil {
		return nil, fmt.Errorf("%s is not a kprobe capture (PROVENANCE.toml: %v); make one with 'kprobe capture DIR'", dir, err)
	}
	calls := map[string]call{}
	if err := readJSON(meta, "syscalls.json", &calls); err != nil {
		return nil, err
	}
	active := map[string]activeRecord{}
	if err := readJSON(meta, "active.json", &active); err != nil {
		return nil, err
	}
	errs := map[string]string{}
	if err := readJSON(meta, "errors.json", &errs); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	byID := map[string]probes.Probe{}
	for _, p := range all {
		byID[p.ID()] = p
	}
	dataDir := prov.DataDir
	if dataDir == "" {
		dataDir = probes.DefaultDataDir
	}
	tree, err := bounded.Dir(filepath.Join(dir, treeDir))
	if err != nil {
		return nil, fmt.Errorf("capture is missing %s: %v", treeDir, err)
	}
	return &probes.Env{
		Root:    &errFS{inner: tree, errs: errs},
		Sys:     &replaySys{calls: calls},
		DataDir: dataDir,
		Active:  &replayActive{records: active, probes: byID},
		Replay:  true,
	}, nil
}

// readCaptureFile reads one file of the capture's top level (no symlink
// out of it, at most bounded.CaptureJSON bytes) and decodes it.
func readCaptureFile(meta *bounded.FS, name string, decode func([]byte) error) error {
	f, err := meta.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	data, err := bounded.ReadAll(f, bounded.CaptureJSON)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return decode(data)
}

func readJSON(meta *bounded.FS, name string, v any) error {
	err := readCaptureFile(meta, name, func(data []byte) error {
		if err := json.Unmarshal(data, v); err != nil {
			return fmt.Errorf("%s: %v", name, err)
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) && name != "errors.json" {
		return fmt.Errorf("capture is missing %s", name)
	}
	return err
}

// errFS answers recorded errors (EACCES, EPERM...) for the paths that
// failed with them when captured.
type errFS struct {
	inner fs.FS
	errs  map[string]string
}

func (f *errFS) err(op, name string) error {
	if e, ok := f.errs[name]; ok {
		return &fs.PathError{Op: op, Path: name, Err: probes.ErrFromText(e)}
	}
	return nil
}

func (f *errFS) Open(name string) (fs.File, error) {
	if err := f.err("open", name); err != nil {
		return nil, err
	}
	if path.Base(name) == KeepFile {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	file, err := f.inner.Open(name)
	if err != nil {
		return nil, err
	}
	if d, ok := file.(fs.ReadDirFile); ok {
		return keepHidingDir{d}, nil
	}
	return file, nil
}

// keepHidingDir hides KeepFile from directory listings.
type keepHidingDir struct{ fs.ReadDirFile }

func (d keepHidingDir) ReadDir(n int) ([]fs.DirEntry, error) {
	ents, err := d.ReadDirFile.ReadDir(n)
	return withoutKeep(ents), err
}

func withoutKeep(ents []fs.DirEntry) []fs.DirEntry {
	out := ents[:0]
	for _, e := range ents {
		if e.Name() != KeepFile {
			out = append(out, e)
		}
	}
	return out
}

func (f *errFS) ReadFile(name string) ([]byte, error) {
	if err := f.err("open", name); err != nil {
		return nil, err
	}
	return fs.ReadFile(f.inner, name)
}

func (f *errFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if err := f.err("open", name); err != nil {
		return nil, err
	}
	ents, err := fs.ReadDir(f.inner, name)
	return withoutKeep(ents), err
}

func (f *errFS) Stat(name string) (fs.FileInfo, error) {
	if err := f.err("stat", name); err != nil {
		return nil, err
	}
	return fs.Stat(f.inner, name)
}

func (f *errFS) ReadLink(name string) (string, error) {
	if err := f.err("readlink", name); err != nil {
		return "", err
	}
	return fs.ReadLink(f.inner, name)
}

func (f *errFS) Lstat(name string) (fs.FileInfo, error) {
	if err := f.err("lstat", name); err != nil {
		return nil, err
	}
	return fs.Lstat(f.inner, name)
}

type replaySys struct{ calls map[string]call }

func (s *replaySys) get(key string, out any) error {
	c, ok := s.calls[key]
	if !ok {
		return fmt.Errorf("%s: %w", key, ErrNotCaptured)
	}
	if len(c.Result) > 0 && out != nil {
		if err := json.Unmarshal(c.Result, out); err != nil {
			return err
		}
	}
	return probes.ErrFromText(c.Err)
}

func (s *replaySys) Statfs(path string) (probes.Statfs, error) {
	var v probes.Statfs
	err := s.get("statfs "+path, &v)
	return v, err
}

func (s *replaySys) Uname() (probes.Uname, error) {
	var v probes.Uname
	err := s.get("uname", &v)
	return v, err
}

func (s *replaySys) Syslog(n int) (string, error) {
	var v string
	err := s.get(fmt.Sprintf("syslog %d", n), &v)
	return v, err
}

func (s *replaySys) TryOpen(path string, flags int) error {
	return s.get(fmt.Sprintf("open %s %d", path, flags), nil)
}

func (s *replaySys) LookPath(name string) (string, error) {
	var v string
	err := s.get("lookpath "+name, &v)
	return v, err
}

func (s *replaySys) Exec(_ context.Context, name string, args ...string) (probes.ExecResult, error) {
	var v probes.ExecResult
	err := s.get(execKey(name, args), &v)
	return v, err
}

func (s *replaySys) Environ() []string {
	var v []string
	_ = s.get("environ", &v)
	return v
}

func (s *replaySys) Getuid() int {
	v := -1
	_ = s.get("getuid", &v)
	return v
}

type replayActive struct {
	records map[string]activeRecord
	probes  map[string]probes.Probe
}

func (a *replayActive) RunActive(_ context.Context, p probes.Probe) (*probes.Observation, error) {
	rec, ok := a.records[p.ID()]
	if !ok || rec.Observation == nil {
		if ok && rec.Err != "" {
			return nil, probes.ErrFromText(rec.Err)
		}
		return nil, fmt.Errorf("active probe %s: %w", p.ID(), ErrNotCaptured)
	}
	obs := *rec.Observation
	obs.Facts = probes.Facts{}
	for k, v := range rec.Observation.Facts {
		obs.Facts[k] = v
	}
	if err := probes.CoerceObservation(p, &obs); err != nil {
		return nil, err
	}
	return &obs, probes.ErrFromText(rec.Err)
}
