//go:build linux

package shims

import "fmt"

func (e *Env) kmsg() string    { return or(e.Kmsg, "/dev/kmsg") }
func (e *Env) procSys() string { return or(e.ProcSys, "/proc/sys") }

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (a *Applied) add(s Step) { a.Steps = append(a.Steps, s) }

func (a *Applied) note(format string, args ...any) {
	a.Notes = append(a.Notes, fmt.Sprintf(format, args...))
}

func (a *Applied) output(k, v string) {
	if a.Outputs == nil {
		a.Outputs = map[string]string{}
	}
	a.Outputs[k] = v
}
