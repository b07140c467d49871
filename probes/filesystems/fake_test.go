package filesystems

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
	"testing/fstest"

	"github.com/kprobe/kprobe/probes"
)

// fakeSys answers statfs by the longest matching path prefix.
type fakeSys struct {
	statfs map[string]probes.Statfs // path prefix -> answer
	errs   map[string]error         // path prefix -> error
	path   map[string]string        // LookPath answers
	exec   map[string]probes.ExecResult
}

func (f *fakeSys) Statfs(p string) (probes.Statfs, error) {
	best, bestErr, bestLen := probes.Statfs{}, error(&os.PathError{Op: "statfs", Path: p, Err: syscall.ENOENT}), -1
	for pre, st := range f.statfs {
		if (pre == "/" || p == pre || strings.HasPrefix(p, pre+"/")) && len(pre) > bestLen {
			best, bestErr, bestLen = st, nil, len(pre)
		}
	}
	for pre, err := range f.errs {
		if (pre == "/" || p == pre || strings.HasPrefix(p, pre+"/")) && len(pre) >= bestLen {
			best, bestErr, bestLen = probes.Statfs{}, err, len(pre)
		}
	}
	return best, bestErr
}
func (f *fakeSys) Uname() (probes.Uname, error) { return probes.Uname{}, errors.ErrUnsupported }
func (f *fakeSys) Syslog(int) (string, error)   { return "", errors.ErrUnsupported }
func (f *fakeSys) TryOpen(string, int) error    { return syscall.ENOENT }
func (f *fakeSys) Environ() []string            { return nil }
func (f *fakeSys) Getuid() int                  { return 0 }
func (f *fakeSys) LookPath(name string) (string, error) {
	if p, ok := f.path[name]; ok {
		return p, nil
	}
	return "", &os.PathError{Op: "lookpath", Path: name, Err: fs.ErrNotExist}
}
func (f *fakeSys) Exec(_ context.Context, name string, args ...string) (probes.ExecResult, error) {
	if r, ok := f.exec[name+" "+strings.Join(args, " ")]; ok {
		return r, nil
	}
	return probes.ExecResult{}, fs.ErrNotExist
}

// statfsOf builds a statfs answer: magic, total and available bytes.
func statfsOf(magic int64, total, avail uint64) probes.Statfs {
	return probes.Statfs{Type: magic, Bsize: 4096, Blocks: total / 4096, Bfree: avail / 4096, Bavail: avail / 4096}
}

// tree builds a root filesystem with a mountinfo and directories.
func tree(mountinfo string, dirs ...string) fstest.MapFS {
	m := fstest.MapFS{}
	if mountinfo != "" {
		m["proc/self/mountinfo"] = &fstest.MapFile{Data: []byte(mountinfo)}
	}
	for _, d := range dirs {
		m[strings.TrimPrefix(path.Clean(d), "/")] = &fstest.MapFile{Mode: fs.ModeDir | 0o755}
	}
	return m
}

const (
	gib = 1 << 30
	mib = 1 << 20
)
