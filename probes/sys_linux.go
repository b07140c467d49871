//go:build linux

package probes

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"

	"golang.org/x/sys/unix"
)

type liveSys struct{}

// LiveSys returns the Syscalls of the running kernel.
func LiveSys() Syscalls { return liveSys{} }

func (liveSys) Statfs(path string) (Statfs, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return Statfs{}, &os.PathError{Op: "statfs", Path: path, Err: err}
	}
	return Statfs{
		Type: int64(st.Type), Bsize: st.Bsize, Blocks: st.Blocks, Bfree: st.Bfree,
		Bavail: st.Bavail, Files: st.Files, Ffree: st.Ffree, Flags: st.Flags,
	}, nil
}

func (liveSys) Uname() (Uname, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return Uname{}, err
	}
	return Uname{
		Sysname: unix.ByteSliceToString(u.Sysname[:]),
		Release: unix.ByteSliceToString(u.Release[:]),
		Version: unix.ByteSliceToString(u.Version[:]),
		Machine: unix.ByteSliceToString(u.Machine[:]),
	}, nil
}

func (liveSys) Syslog(n int) (string, error) {
	buf := make([]byte, n)
	got, err := unix.Klogctl(unix.SYSLOG_ACTION_READ_ALL, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:got]), nil
}

func (liveSys) TryOpen(path string, flags int) error {
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	return unix.Close(fd)
}

func (liveSys) LookPath(name string) (string, error) { return exec.LookPath(name) }

// Exec runs a command; version queries are answered from the version
// cache while the executable's file is unchanged.
func (liveSys) Exec(ctx context.Context, name string, args ...string) (ExecResult, error) {
	return liveVersions.cachedExec(ctx, func() (ExecResult, error) { return run(ctx, name, args) }, name, args)
}

func run(ctx context.Context, name string, args []string) (ExecResult, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	err := cmd.Run()
	res := ExecResult{Stdout: out.String(), Stderr: errb.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		res.ExitCode = ee.ExitCode()
		return res, nil
	}
	return res, err
}

func (liveSys) Environ() []string { return os.Environ() }

func (liveSys) Getuid() int { return os.Getuid() }
