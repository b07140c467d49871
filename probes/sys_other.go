//go:build !linux

package probes

import (
	"context"
	"errors"
	"os"
	"os/exec"
)

type liveSys struct{}

// LiveSys returns a Syscalls that only answers what is portable; kprobe
// observes Linux sandboxes.
func LiveSys() Syscalls { return liveSys{} }

func (liveSys) Statfs(string) (Statfs, error)     { return Statfs{}, errors.ErrUnsupported }
func (liveSys) Uname() (Uname, error)             { return Uname{}, errors.ErrUnsupported }
func (liveSys) Syslog(int) (string, error)        { return "", errors.ErrUnsupported }
func (liveSys) TryOpen(string, int) error         { return errors.ErrUnsupported }
func (liveSys) LookPath(n string) (string, error) { return exec.LookPath(n) }
func (liveSys) Exec(context.Context, string, ...string) (ExecResult, error) {
	return ExecResult{}, errors.ErrUnsupported
}
func (liveSys) Environ() []string { return os.Environ() }
func (liveSys) Getuid() int       { return os.Getuid() }
