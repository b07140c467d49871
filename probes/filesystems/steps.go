package filesystems

import (
	"strings"

	"github.com/kprobe/kprobe/probes"
)

// Steps records what an active trial (the overlay and mounts.rshared
// probes) did, step by step: step name -> "ok" or an errno name
// ("EINVAL"), in the order the steps ran. Trials run in grandchildren and
// print Steps as one line.
type Steps struct {
	Names  []string
	Result map[string]string
}

// Add records a step and reports whether it succeeded.
func (s *Steps) Add(name string, err error) bool {
	if s.Result == nil {
		s.Result = map[string]string{}
	}
	v := "ok"
	if err != nil {
		v = strings.ReplaceAll(probes.Errno(err), " ", "_")
		if v == "" || v == "ok" {
			v = "error"
		}
	}
	s.Names = append(s.Names, name)
	s.Result[name] = v
	return err == nil
}

// String encodes steps as one line: "tmpfs=ok prepare=ok mount=EINVAL".
func (s Steps) String() string {
	parts := make([]string, 0, len(s.Names))
	for _, n := range s.Names {
		parts = append(parts, n+"="+s.Result[n])
	}
	return strings.Join(parts, " ")
}

// ParseSteps decodes the line an op printed.
func ParseSteps(line string) Steps {
	var s Steps
	for _, tok := range strings.Fields(line) {
		k, v, ok := strings.Cut(tok, "=")
		if !ok || k == "" || v == "" {
			continue
		}
		if s.Result == nil {
			s.Result = map[string]string{}
		}
		if _, dup := s.Result[k]; !dup {
			s.Names = append(s.Names, k)
		}
		s.Result[k] = v
	}
	return s
}

// Tri reads one step: Yes when it succeeded, No when it failed, Unknown
// when it did not run.
func (s Steps) Tri(name string) probes.Tri {
	if v, ok := s.Result[name]; ok {
		return probes.TriOf(v == "ok")
	}
	return probes.Unknown
}

// Failure names the first failed step and its errno ("mount: EINVAL").
func (s Steps) Failure() string {
	for _, n := range s.Names {
		if v := s.Result[n]; v != "ok" {
			return n + ": " + v
		}
	}
	return ""
}
