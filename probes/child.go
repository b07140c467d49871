package probes

import (
	"errors"
	"strings"
	"syscall"
)

// Op is a small action run in a re-exec'd grandchild, typically inside new
// namespaces that the clone created (see SpawnOp). It returns a line of
// output or an error whose errno is reported to the parent.
type Op func(args []string) (string, error)

// OpName is the re-exec name (argv[0]) under which this binary runs an Op;
// the container probe starts a container whose process is this binary
// under that name.
const OpName = "kprobe-op"

var ops = map[string]Op{}

// RegisterOps records the ops a probe package runs in grandchildren. It is
// called from the suite's explicit registration, never from init.
func RegisterOps(m map[string]Op) {
	for k, v := range m {
		if _, dup := ops[k]; dup {
			panic("duplicate op " + k)
		}
		ops[k] = v
	}
}

// errnoValues maps errno names back, so that replayed and child-reported
// errors keep their identity (errors.Is(err, syscall.EPERM)).
var errnoValues = func() map[string]syscall.Errno {
	m := map[string]syscall.Errno{}
	for v, n := range errnoNames {
		m[n] = v
	}
	return m
}()

// ErrFromText rebuilds an error reported as text by a child or a capture.
// A bare errno name becomes that syscall.Errno.
func ErrFromText(s string) error {
	if s == "" {
		return nil
	}
	if e, ok := errnoValues[s]; ok {
		return e
	}
	return errors.New(s)
}

// ErrorText is the inverse of ErrFromText: an errno name when there is one.
func ErrorText(err error) string {
	if err == nil {
		return ""
	}
	name := Errno(err)
	if _, ok := errnoValues[name]; ok {
		return name
	}
	return strings.TrimSpace(err.Error())
}
