package procfs

import (
	"strings"
	"testing"
)

func TestParseCgroup(t *testing.T) {
	ms, err := ParseCgroup(strings.NewReader("12:memory:/docker/a\n1:name=systemd:/x\n0::/a:b\nbad line\n4:cpu,cpuacct:/c\n"))
	if err == nil || !strings.Contains(err.Error(), "line 4") {
		t.Errorf("malformed line 4 not reported: %v", err)
	}
	if len(ms) != 4 || ms[2].Path != "/a:b" || !ms[2].V2() || ms[0].V2() {
		t.Fatalf("lines: %+v", ms)
	}
	p := CgroupPaths(ms)
	if p["memory"] != "/docker/a" || p["name=systemd"] != "/x" || p[""] != "/a:b" || p["cpuacct"] != "/c" {
		t.Errorf("paths: %v", p)
	}
	if ms, err := ParseCgroup(strings.NewReader("")); err != nil || len(ms) != 0 {
		t.Errorf("empty (gVisor): %v %v", ms, err)
	}
	for _, bad := range []string{"x::/", "4:memory", "-1::/"} {
		if _, err := ParseCgroup(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseCgroup(%q) accepted a malformed line", bad)
		}
	}
}
