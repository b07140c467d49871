package procfs

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// CgroupMember is one line of /proc/<pid>/cgroup:
// "hierarchy-ID:controllers:path". The cgroup2 line has ID 0 and no
// controllers.
type CgroupMember struct {
	ID          int
	Controllers []string // "memory", "cpu", "cpuacct", "name=systemd"
	Path        string
}

// V2 reports whether the line is the cgroup2 one ("0::/path").
func (m CgroupMember) V2() bool { return m.ID == 0 && len(m.Controllers) == 0 }

// ParseCgroup parses /proc/<pid>/cgroup. It returns every well-formed line
// and, when a line is malformed, an error naming the first one (strict
// callers drop the result, lenient ones keep it). An empty text (gVisor)
// gives no lines and no error. A path keeps its colons ("0::/a:b").
func ParseCgroup(r io.Reader) ([]CgroupMember, error) {
	var out []CgroupMember
	var first error
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	n := 0
	for s.Scan() {
		n++
		line := strings.TrimSpace(s.Text())
		if line == "" {
			continue
		}
		id, rest, ok1 := strings.Cut(line, ":")
		ctl, p, ok2 := strings.Cut(rest, ":")
		num, err := strconv.Atoi(id)
		switch {
		case !ok1 || !ok2:
			err = fmt.Errorf("/proc/self/cgroup line %d: want ID:controllers:path, got %q", n, line)
		case err != nil || num < 0:
			err = fmt.Errorf("/proc/self/cgroup line %d: bad hierarchy ID %q", n, id)
		}
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		m := CgroupMember{ID: num, Path: p}
		if ctl != "" {
			m.Controllers = strings.Split(ctl, ",")
		}
		out = append(out, m)
	}
	if err := s.Err(); err != nil {
		return out, err
	}
	return out, first
}

// CgroupPaths maps each controller of the lines to its path; the cgroup2
// line's path is under "".
func CgroupPaths(ms []CgroupMember) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		if len(m.Controllers) == 0 {
			out[""] = m.Path
			continue
		}
		for _, c := range m.Controllers {
			out[c] = m.Path
		}
	}
	return out
}
