package podnode

import (
	"context"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/node/api"
)

// execSpec is how a command runs inside a running container: its root
// (for userns, as the container's mount namespace shows it through
// /proc/PID/root), environment, working dir and credentials.
func (c *ctr) execSpec(argv []string) (procSpec, error) {
	c.mu.Lock()
	p := c.proc
	c.mu.Unlock()
	if p == nil {
		return procSpec{}, errNotRunning
	}
	uid, gid := c.ids()
	spec := procSpec{Mode: c.r.prov.cfg.isolation, Root: c.root(), Dir: c.workingDir(), Argv: argv, Env: c.env(), UID: uid, GID: gid, OwnAddr: c.r.ownAddr(), Keep: c.r.prov.cfg.keep, Shift: c.r.prov.cfg.shift}
	switch spec.Mode {
	case IsolationUserns:
		if inUnmappedUserNS() {
			// the helper's own user namespace is a sibling of the
			// container's, and the kernel lets only the same namespace
			// (or CAP_SYS_PTRACE over it) through /proc/PID/root (EACCES,
			// runc --rootless): give the command the container's view in
			// namespaces of its own instead, the same root dir and volumes
			spec.NewNS, spec.Mounts, spec.Hostname = true, c.mounts(), c.r.hostname()
			break
		}
		spec.Root = fmt.Sprintf("/proc/%d/root", p.pid())
	case IsolationNone:
		spec.Root, spec.Dir = "", ""
	}
	return spec, nil
}

// exec runs argv in the container with the attached streams and returns
// its exit code.
func (r *podRun) exec(ctx context.Context, c *ctr, argv []string, attach api.AttachIO) (int, error) {
	spec, err := c.execSpec(argv)
	if err != nil {
		return 0, err
	}
	var p *process
	var master *os.File
	done := make(chan struct{})
	defer close(done)
	if attach.TTY() {
		var slave *os.File
		master, slave, err = openPTY()
		if err != nil {
			return 0, err
		}
		defer master.Close()
		p, err = startProcess(spec, nil, nil, nil, slave)
		slave.Close()
		if err != nil {
			return 0, err
		}
		go func() {
			for {
				select {
				case s, ok := <-attach.Resize():
					if !ok {
						return
					}
					resizePTY(master, s.Width, s.Height)
				case <-done:
					return
				}
			}
		}()
		if in := attach.Stdin(); in != nil {
			go func() { _, _ = io.Copy(master, in) }()
		}
		outDone := make(chan struct{})
		go func() {
			if out := attach.Stdout(); out != nil {
				_, _ = io.Copy(out, master)
			} else {
				_, _ = io.Copy(io.Discard, master)
			}
			close(outDone)
		}()
		code := waitOrKill(ctx, p)
		master.Close()
		select {
		case <-outDone:
		case <-time.After(time.Second):
		}
		return code, nil
	}
	var stdin io.Reader
	if in := attach.Stdin(); in != nil {
		stdin = in
	}
	stdout, stderr := io.Writer(io.Discard), io.Writer(io.Discard)
	if w := attach.Stdout(); w != nil {
		stdout = w
	}
	if w := attach.Stderr(); w != nil {
		stderr = w
	}
	p, err = startProcess(spec, stdin, stdout, stderr, nil)
	if err != nil {
		return 0, err
	}
	return waitOrKill(ctx, p), nil
}

// waitOrKill waits for an exec'd process; if the client goes away first,
// the process and its group are killed.
func waitOrKill(ctx context.Context, p *process) int {
	exited := make(chan int, 1)
	go func() { code, _ := p.wait(); exited <- code }()
	select {
	case code := <-exited:
		return code
	case <-ctx.Done():
		p.signal(syscall.SIGKILL)
		return <-exited
	}
}

// attach streams the container's output from now on (read back from its
// log) and copies the client's input to the container's stdin or tty.
func (c *ctr) attach(ctx context.Context, attach api.AttachIO) error {
	c.mu.Lock()
	running, stdin, tty := c.state.Running != nil, c.stdin, c.tty
	c.mu.Unlock()
	if !running {
		return errNotRunning
	}
	if in := attach.Stdin(); in != nil {
		switch {
		case tty != nil:
			go func() { _, _ = io.Copy(tty, in) }()
		case stdin != nil:
			go func() { _, _ = io.Copy(stdin, in) }()
		}
	}
	path, stillRunning := c.logFile(false)
	if path == "" {
		return errNotRunning
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Seek(st.Size(), io.SeekStart); err != nil {
		return err
	}
	buf := make([]byte, 0, 64*1024)
	for {
		chunk := make([]byte, 32*1024)
		n, _ := f.Read(chunk)
		buf = append(buf, chunk[:n]...)
		for {
			i := indexByte(buf, '\n')
			if i < 0 {
				break
			}
			if e, ok := parseCRILine(buf[:i]); ok {
				w := attach.Stdout()
				if e.stream == "stderr" && attach.Stderr() != nil {
					w = attach.Stderr()
				}
				if w != nil {
					msg := e.msg
					if !e.partial {
						msg = append(msg, '\n')
					}
					if _, err := w.Write(msg); err != nil {
						return nil
					}
				}
			}
			buf = buf[i+1:]
		}
		if n > 0 {
			continue
		}
		if !stillRunning() {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}
